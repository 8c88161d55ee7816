import numpy as np
import pytest
import torch

import adaptrack
from adaptrack.geometry import rect_iou
from adaptrack.export import ort_session
from adaptrack.nn.correlation import xcorr
from adaptrack.trackers.siamfc import SiamFCNet, SiamFCParams, SiamFCTracker
from adaptrack.weights import WeightsNotFoundError, has_bundled, load_weights, save_weights, trainable_state_dict

torch.set_num_threads(1)


def test_net_pieces_shapes_default_and_alexnet():
    net = SiamFCNet().eval()
    with torch.inference_mode():
        zf = net.template(torch.rand(1, 3, 128, 128) * 255)
        xf = net.search(torch.rand(3, 3, 256, 256) * 255)
        r = net.score(zf, xf)
    assert zf.shape == (1, 128, 16, 16) and xf.shape == (3, 128, 32, 32) and r.shape == (3, 1, 17, 17)
    alex = SiamFCNet("alexnet_half", adjust="none", freeze=None).eval()
    with torch.inference_mode():
        r = alex(torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255)
    assert r.shape == (2, 1, 17, 17)


def test_score_is_scaled_correlation():
    net = SiamFCNet("alexnet_half", adjust="none", freeze=None)
    with torch.no_grad():
        net.out_scale.fill_(0.5)
        net.out_bias.fill_(-1.0)
    zf, xf = torch.randn(1, 4, 2, 2), torch.randn(1, 4, 3, 3)
    ref = 0.5 * (zf * xf[:, :, 1:3, 0:2]).sum() - 1.0
    assert torch.allclose(net.score(zf, xf)[0, 0, 1, 0], ref, atol=1e-5)


@pytest.mark.parametrize("layers", [("s8",), ("s8", "s16")])
def test_folded_template_gives_the_same_scores(layers):
    # the search branch without its final 1x1 conv + BN, that layer moved onto the template (fold_template)
    torch.manual_seed(0)
    net = SiamFCNet(layers=layers).eval()
    with torch.no_grad():  # non-trivial BN statistics and scale/bias, so the fold has something to get wrong
        bn = net.adjust.refine[4]
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.normal_()
        bn.bias.normal_()
        net.out_scale.fill_(0.3)
        net.out_bias.fill_(-0.7)
    z, x = torch.rand(1, 3, 112, 112) * 255, torch.rand(3, 3, 224, 224) * 255
    with torch.inference_mode():
        zf = net.template(z)
        ref = net.score(zf, net.search(x))
        h = net.search_trunk(x)
        zk, k = net.fold_template(zf)
        folded = net.out_scale * (xcorr(zk, h) + k) + net.out_bias
    sess = ort_session(net.folded_correlation_model(zf, h.shape), 1)  # what the tracker runs
    got = torch.from_numpy(sess.run(None, {"features": h.numpy()})[0])
    assert net.foldable and got.shape == ref.shape == (3, 1, 15, 15)
    assert torch.allclose(folded, ref, rtol=1e-4, atol=1e-3 * ref.abs().max().item())
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-3 * ref.abs().max().item())
    assert not SiamFCNet("alexnet_half", adjust="none", freeze=None).foldable


def test_frozen_backbone_gets_no_gradient_and_is_not_saved(tmp_path):
    net = SiamFCNet()
    net.train()
    r = net(torch.rand(2, 3, 128, 128) * 255, torch.rand(2, 3, 256, 256) * 255)
    r.mean().backward()
    assert all(p.grad is None for p in net.backbone.parameters())
    assert net.adjust.proj[0][0].weight.grad is not None and net.out_scale.grad is not None
    state = trainable_state_dict(net)
    assert state and not any(k.startswith("backbone.") for k in state)
    assert "adjust.proj.0.1.running_mean" in state
    # round trip: a fresh net with the saved tensors gives the same responses
    with torch.no_grad():
        net.out_bias.fill_(0.3)
    path = save_weights(net, tmp_path / "w.pt")
    other = load_weights(SiamFCNet(), str(path), "siamfc")
    z, x = torch.rand(1, 3, 128, 128) * 255, torch.rand(3, 3, 256, 256) * 255
    with torch.inference_mode():
        assert torch.allclose(net.eval()(z, x), other.eval()(z, x), atol=1e-5)


def test_weights_errors(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="weights=None"):
        load_weights(SiamFCNet(), "default", "no_such_tracker_xyz")
    with pytest.raises(WeightsNotFoundError, match="not found"):
        load_weights(SiamFCNet(), str(tmp_path / "missing.pt"), "siamfc")
    small = SiamFCNet(adjust_channels=32)
    save_weights(small, tmp_path / "small.pt")
    with pytest.raises(adaptrack.errors.AdaptrackError, match="shape"):
        load_weights(SiamFCNet(), str(tmp_path / "small.pt"), "siamfc")


def _moving_square_frames(n=20, size=(320, 240), seed=0):
    """A high-contrast checkered target moving ~6 px/frame on smooth noise."""
    import cv2

    rng = np.random.default_rng(seed)
    bg = cv2.resize(rng.integers(60, 190, (30, 40, 3)).astype(np.uint8), size, interpolation=cv2.INTER_CUBIC)
    tile = np.kron((np.indices((4, 4)).sum(0) % 2), np.ones((10, 10)))
    target = np.stack([tile * 230 + 10, 250 - tile * 240, tile * 120 + 60], -1).astype(np.uint8)
    frames, boxes = [], []
    for t in range(n):
        x, y = 60 + 6 * t, 80 + 3 * t + 10 * np.sin(t / 3)
        f = bg.copy()
        xi, yi = int(round(x)), int(round(y))
        f[yi : yi + 40, xi : xi + 40] = target
        frames.append(f)
        boxes.append((xi, yi, 40, 40))
    return frames, np.array(boxes, float)


@pytest.mark.parametrize("scale_pyramid", ["image", "feature"])
def test_tracker_runs_with_random_weights_and_follows_a_target(scale_pyramid):
    """The ImageNet backbone with a random (near-isometric) adjust head already matches a distinctive
    target: the whole loop (crops, scales, upsampling, window, displacement mapping) must keep it, with
    the scales cropped from the image (SiamFC) or resampled from the unit crop's features."""
    torch.manual_seed(0)
    # onnx parity: tests/test_export.py
    tracker = adaptrack.create("siamfc", weights=None, backend="torch", scale_pyramid=scale_pyramid)
    frames, boxes = _moving_square_frames()
    tracker.initialize(frames[0], boxes[0])
    ious, errs = [], []
    for f, b in zip(frames[1:], boxes[1:]):
        out = tracker.track(f)
        assert out.box.shape == (4,) and 0.0 < out.score < 1.0 and out.extras["scale_index"] in (0, 1, 2)
        ious.append(rect_iou(out.box, b))
        errs.append(np.hypot(*(out.box[:2] + out.box[2:] / 2 - b[:2] - b[2:] / 2)))
    # a displacement mapping off by a factor 2 lags ~6 px behind and fails these
    assert np.mean(ious) > 0.75 and min(ious) > 0.3 and np.median(errs) < 3.0


def test_bad_backend_and_alignment_raise():
    with pytest.raises(ValueError, match="backend"):
        SiamFCTracker(SiamFCParams(backend="tensorrt"), weights=None)
    with pytest.raises(ValueError, match="multiple"):
        SiamFCTracker(SiamFCParams(exemplar_size=127, instance_size=255), weights=None)
    with pytest.raises(ValueError, match="scale_pyramid"):
        SiamFCTracker(SiamFCParams(scale_pyramid="video"), weights=None)


@pytest.mark.parametrize("weights_name,variant", [("siamfc", None), ("siamfc_lite_s8s16", "lite_s8s16")])
def test_bundled_weights_track_the_demo_clip(weights_name, variant):
    if not has_bundled(weights_name):
        pytest.skip(f"bundled {weights_name} weights not trained yet")
    from adaptrack.demo_clip import make_demo_clip

    clip = make_demo_clip(40)
    tracker = adaptrack.create("siamfc", variant=variant)
    tracker.initialize(clip.frames[0], clip.boxes[0])
    ious = [rect_iou(tracker.track(f).box, b) for f, b in zip(clip.frames[1:], clip.boxes[1:])]
    assert np.mean(ious) > 0.6
