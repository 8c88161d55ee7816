import numpy as np
import pytest
import torch

import adaptrack
from adaptrack.export import OnnxBranches, export_onnx, torch_threads

torch.set_num_threads(1)
ort = pytest.importorskip("onnxruntime")


def _close(a, b, tol=1e-4):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.abs(a - b).max() <= tol * max(1.0, np.abs(b).max())


def test_export_onnx_files_match_pytorch(tmp_path):
    onnx = pytest.importorskip("onnx")
    torch.manual_seed(1)
    paths = export_onnx("siamfc", tmp_path, weights=None)
    torch.manual_seed(1)
    tracker = adaptrack.create("siamfc", weights=None, channels_last=False)
    net, zs, xs = tracker.net.eval(), tracker.params.exemplar_size, tracker.params.instance_size
    for p in paths.values():
        model = onnx.load(str(p))
        onnx.checker.check_model(model)
        # TF-'same' pads were folded into the convs (fuse_pads_into_convs), none left to break NCHWc
        assert not [n for n in model.graph.node if n.op_type == "Pad"]
        assert any(n.op_type == "Conv" for n in model.graph.node)
    z = (torch.rand(1, 3, zs, zs) * 255).numpy()
    x = (torch.rand(3, 3, xs, xs) * 255).numpy()
    st = ort.InferenceSession(str(paths["template"]), providers=["CPUExecutionProvider"])
    ss = ort.InferenceSession(str(paths["search"]), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        ref_z = net.template(torch.from_numpy(z)).numpy()
        ref_x = net.search(torch.from_numpy(x)).numpy()
    assert _close(st.run(None, {"image": z})[0], ref_z)
    assert _close(ss.run(None, {"image": x})[0], ref_x)


def test_onnx_backend_tracks_like_pytorch():
    from adaptrack.demo_clip import make_demo_clip

    clip = make_demo_clip(8)
    torch.manual_seed(2)
    a = adaptrack.create("siamfc", weights=None, backend="torch")
    torch.manual_seed(2)
    b = adaptrack.create("siamfc", weights=None)
    assert b.backend == "onnx" and isinstance(b._branches, OnnxBranches)  # the default for users
    a.initialize(clip.frames[0], clip.boxes[0])
    b.initialize(clip.frames[0], clip.boxes[0])
    assert _close(b.zf.numpy(), a.zf.numpy())
    for f in clip.frames[1:]:
        oa, ob = a.track(f), b.track(f)
        assert np.allclose(oa.box, ob.box, atol=0.05)
        assert abs(oa.score - ob.score) < 1e-3


def test_branches_without_frame_graph_refuse_frame():
    tr = adaptrack.create("siamfc", weights=None)  # SiamFC runs its search branch alone (no fused graph)
    assert not tr._branches.has_frame
    with pytest.raises(RuntimeError, match="frame=True"):
        x, z = tr.params.instance_size, tr.params.exemplar_size
        tr._branches.frame(torch.zeros(3, 3, x, x), tr.net.template(torch.zeros(1, 3, z, z)))


def test_export_rejects_trackers_without_branches(tmp_path):
    with pytest.raises(ValueError, match="template/search"):
        export_onnx("kcf", tmp_path, weights=None)


def test_torch_threads_sets_and_restores_the_count():
    old = torch.get_num_threads()
    other = 1 if old != 1 else 2
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == old
    with torch_threads(None):
        assert torch.get_num_threads() == old
    with pytest.raises(RuntimeError):
        with torch_threads(other):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == old


def test_branches_keep_the_thread_count_of_their_construction():
    # sessions open lazily; a tracker's per-frame torch_threads(1) block must not shrink them
    tracker = adaptrack.create("siamfc", weights=None)
    branches = tracker._branches
    with torch_threads(1):
        x = tracker.params.instance_size
        branches.search(torch.zeros(tracker.search_batch, 3, x, x))
    assert branches.num_threads == torch.get_num_threads()


def test_tracker_frames_leave_the_thread_count_unchanged():
    tracker = adaptrack.create("siamfc", weights=None)
    frame = np.full((120, 160, 3), 90, np.uint8)
    frame[40:80, 60:100] = 220
    tracker.initialize(frame, (60, 40, 40, 40))
    old = torch.get_num_threads()
    tracker.track(frame)
    assert torch.get_num_threads() == old


def test_cached_export_reuses_identical_networks_and_follows_weight_changes():
    from adaptrack.export import cached_export

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval()
    x = torch.zeros(1, 3, 8, 8)
    a = cached_export(net, "forward", x)
    assert cached_export(net, "forward", x) is a  # same weights, method and shape: no second export
    assert cached_export(net, "forward", torch.zeros(2, 3, 8, 8)) is not a  # another shape
    with torch.no_grad():
        net[0].weight.add_(1.0)
    b = cached_export(net, "forward", x)
    assert b is not a
    sess = ort.InferenceSession(b, providers=["CPUExecutionProvider"])
    xr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert _close(sess.run(None, {"image": xr.numpy()})[0], net(xr).numpy())


def test_correlation_model_equals_scaled_xcorr():
    from adaptrack.export import correlation_model, ort_session
    from adaptrack.nn.correlation import xcorr

    torch.manual_seed(0)
    z, x = torch.randn(1, 8, 5, 4), torch.randn(3, 8, 11, 9)
    sess = ort_session(correlation_model(z, x.shape, 0.3, -0.7), 1)
    got = sess.run(None, {"features": x.numpy()})[0]
    assert got.shape == (3, 1, 7, 6)
    assert _close(got, (0.3 * xcorr(z, x) - 0.7).numpy(), 1e-5)
    with pytest.raises(ValueError, match="does not fit"):
        correlation_model(z, (3, 7, 11, 9))
    with pytest.raises(ValueError, match="template"):
        correlation_model(torch.randn(2, 8, 5, 4), x.shape)


def test_export_branch_keeps_every_module_mode_and_takes_names():
    # a fresh wrapper (training mode) around an eval-mode network must not put the network into training
    # mode (its BatchNorm would then use batch statistics in PyTorch while the graph uses running ones)
    from adaptrack.export import export_branch

    inner = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    wrapper = torch.nn.Sequential(inner)
    assert wrapper.training and not inner.training
    data = export_branch(wrapper, "forward", torch.zeros(2, 3, 8, 8), input_names=("x",), output_names=("y",),
                         dynamic_axes={"x": {0: "batch"}})
    assert wrapper.training and not inner.training and not inner[1].training
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["x"] and [o.name for o in sess.get_outputs()] == ["y"]
    xr = torch.rand(5, 3, 8, 8)  # another batch size: the dynamic axis
    with torch.no_grad():
        assert _close(sess.run(None, {"x": xr.numpy()})[0], inner(xr).numpy())
