"""SiamFC++: targets (eq. 9), PSS (eq. 10), loss (eq. 8), assignment, the network and the tracker."""

import math
import os

import numpy as np
import pytest
import torch

import adaptrack
from adaptrack.trackers.siamfcpp import SiamFCppNet, SiamFCppTracker, score_positions
from adaptrack.training.recipes.siamfcpp import ltrb_targets, prior_spatial_score, siamfcpp_loss, siamfcpp_targets

torch.set_num_threads(1)


def test_score_positions_centre_cell_is_crop_centre():
    pos = score_positions(9, 16, 128)
    assert pos[0] == 64 and pos[4] == 128 and pos[-1] == 192  # 9 cells cover 128 +- 64


def test_ltrb_targets_hand_computed():
    # box x0=50, y0=60, x1=150, y1=140; cell (u=0, v=0) at (64, 64); cell (u=2, v=1) at (96, 80)
    t = ltrb_targets(torch.tensor([[50.0, 60.0, 100.0, 80.0]]), torch.tensor(score_positions(9, 16, 128)))
    assert t.shape == (1, 4, 9, 9)
    assert t[0, :, 0, 0].tolist() == [14.0, 4.0, 86.0, 76.0]
    assert t[0, :, 1, 2].tolist() == [46.0, 20.0, 54.0, 60.0]  # [v, u] indexing: row 1, column 2


def test_pss_hand_computed():
    d = torch.tensor([[10.0, 5.0, 30.0, 5.0], [20.0, 10.0, 20.0, 40.0], [-1.0, 5.0, 3.0, 5.0]]).view(3, 4, 1)
    q = prior_spatial_score(d).view(-1)
    assert q[0].item() == pytest.approx(math.sqrt(10 / 30 * 5 / 5))
    assert q[1].item() == pytest.approx(math.sqrt(1.0 * 10 / 40))  # the second ratio is min/max, not min/min
    assert q[2].item() == 0.0  # outside the box


def test_assignment_on_small_map():
    # 64x64 box centred at the crop centre: cells at 112, 128, 144 are in its central half (|d| <= 16)
    t = siamfcpp_targets(torch.tensor([[96.0, 96.0, 64.0, 64.0]]), 9, 16, 128, center_ratio=0.5)
    pos = t["pos"][0, 0]
    expected = torch.zeros(9, 9, dtype=torch.bool)
    expected[3:6, 3:6] = True
    assert torch.equal(pos, expected)
    # the whole box (center_ratio 1): 96 < p < 160 -> cells 112, 128, 144 too (96 lies on the border: l* = 0)
    t1 = siamfcpp_targets(torch.tensor([[96.0, 96.0, 64.0, 64.0]]), 9, 16, 128, center_ratio=1.0)
    assert torch.equal(t1["pos"][0, 0], expected)
    # a box wider than tall and off-centre: x 130..230, y 100..140, centre (180, 120)
    t2 = siamfcpp_targets(torch.tensor([[130.0, 100.0, 100.0, 40.0]]), 9, 16, 128, center_ratio=0.5)
    rows, cols = torch.nonzero(t2["pos"][0, 0], as_tuple=True)
    # |x - 180| <= 25 -> 160, 176, 192 (cols 6, 7, 8; 144 is 36 away); |y - 120| <= 10 -> 112, 128 (rows 3, 4)
    assert sorted(set(cols.tolist())) == [6, 7, 8] and sorted(set(rows.tolist())) == [3, 4]
    # a tiny box still gets its nearest cell; a negative pair gets none; peak_only gives one cell
    tiny = siamfcpp_targets(torch.tensor([[140.0, 139.0, 4.0, 4.0]]), 9, 16, 128)
    assert tiny["pos"].sum() == 1 and tiny["pos"][0, 0, 5, 5]
    neg = siamfcpp_targets(torch.tensor([[96.0, 96.0, 64.0, 64.0]]), 9, 16, 128, is_pos=torch.tensor([0.0]))
    assert neg["pos"].sum() == 0 and neg["cls"].sum() == 0
    peak = siamfcpp_targets(torch.tensor([[96.0, 96.0, 64.0, 64.0]]), 9, 16, 128, peak_only=True)
    assert peak["pos"].sum() == 1 and peak["pos"][0, 0, 4, 4]


def test_loss_terms_hand_computed():
    # one positive cell (peak_only) at (4, 4), point (128, 128); target box 96..160 -> ltrb* = 32 each
    targets = siamfcpp_targets(torch.tensor([[96.0, 96.0, 64.0, 64.0]]), 9, 16, 128, peak_only=True)
    ltrb = torch.full((1, 4, 9, 9), 32.0)
    ltrb[0, :, 4, 4] = torch.tensor([32.0, 32.0, 96.0, 32.0])  # IoU = 64*64 / (128*64) = 0.5
    cls = torch.zeros(1, 1, 9, 9)  # p = 0.5 everywhere
    quality = torch.zeros(1, 1, 9, 9)
    out = siamfcpp_loss(cls, quality, ltrb, targets, lam=1.0)
    assert out["reg"].item() == pytest.approx(-math.log(0.5), rel=1e-5)
    assert out["quality"].item() == pytest.approx(math.log(2.0), rel=1e-5)  # BCE(0.5, PSS*=1)
    # focal: positive cell 0.25 * 0.25 * ln2, each of the 80 negatives 0.75 * 0.25 * ln2; / N_pos = 1
    focal = 0.25 * 0.25 * math.log(2) + 80 * 0.75 * 0.25 * math.log(2)
    assert out["cls"].item() == pytest.approx(focal, rel=1e-5)
    assert out["loss"].item() == pytest.approx(focal + math.log(2) - math.log(0.5), rel=1e-5)


def test_network_shapes_and_positive_distances():
    net = SiamFCppNet(channels=16, tower_convs=1, pretrained=False).eval()
    with torch.no_grad():
        cls, quality, ltrb = net(torch.rand(2, 3, 128, 128) * 255, torch.rand(2, 3, 256, 256) * 255)
    assert cls.shape == (2, 1, 9, 9) and quality.shape == (2, 1, 9, 9) and ltrb.shape == (2, 4, 9, 9)
    assert (ltrb > 0).all()
    # heads only: the backbone is frozen
    assert all(not p.requires_grad for p in net.backbone.parameters())
    assert not any(k.startswith("backbone.") for k in net.trainable_state_dict())


def _textured_frame(h=240, w=320, seed=0):
    rng = np.random.default_rng(seed)
    base = (rng.random((h // 8, w // 8, 3)) * 80 + 60).astype(np.uint8)
    return np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))


def test_random_weights_track_synthetic_frames():
    tr = adaptrack.create("siamfcpp", weights=None, backend="torch", pretrained_backbone=False, channels=16)
    frame = _textured_frame()
    tr.initialize(frame, (100, 80, 40, 30))
    for _ in range(3):
        out = tr.track(frame)
        assert out.box.shape == (4,) and np.isfinite(out.box).all()
        assert 0 <= out.score <= 1
        assert out.box[2] >= tr.params.min_size and out.box[3] >= tr.params.min_size
    with pytest.raises(ValueError):
        tr.initialize(frame, (10, 10, 0, 5))


def test_bad_params_raise():
    with pytest.raises(ValueError, match="multiples"):
        adaptrack.create("siamfcpp", weights=None, template_size=120, pretrained_backbone=False)
    with pytest.raises(ValueError, match="backend"):
        adaptrack.create("siamfcpp", weights=None, backend="tensorrt", pretrained_backbone=False)


def test_weights_roundtrip_and_arch_check(tmp_path):
    from adaptrack.training.recipes.siamfcpp import export

    net = SiamFCppNet(channels=16, tower_convs=1, pretrained=False)
    with torch.no_grad():
        net.reg_bias.fill_(1.25)
    path = tmp_path / "w.pt"
    torch.save(export(net, {}), path)
    tr = adaptrack.create("siamfcpp", weights=str(path), backend="torch", channels=16, tower_convs=1)
    assert tr.net.reg_bias.item() == pytest.approx(1.25)
    with pytest.raises(ValueError, match="differ"):
        adaptrack.create("siamfcpp", weights=str(path), backend="torch", channels=32, tower_convs=1)


def test_onnxruntime_search_branch_matches_torch():
    pytest.importorskip("onnxruntime")
    tr = adaptrack.create("siamfcpp", weights=None, backend="onnxruntime", pretrained_backbone=False, channels=16)
    assert tr.backend == "onnxruntime"
    x = torch.rand(1, 3, 256, 256) * 255
    with torch.no_grad():
        ref = tr.net.search_branch(x)
    got = tr.net.split(tr._branches.search(x))
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, atol=1e-3 * max(1.0, a.abs().max().item()))


def test_onnxruntime_fused_frame_matches_torch_head():
    """The per-frame graph (search branch + correlation + head in one ONNX Runtime run) gives the
    PyTorch head's cls, quality and ltrb for a given template."""
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    tr = adaptrack.create("siamfcpp", weights=None, backend="onnxruntime", pretrained_backbone=False, channels=16)
    assert tr._branches.has_frame
    z, x = torch.rand(1, 3, 128, 128) * 255, torch.rand(1, 3, 256, 256) * 255
    with torch.no_grad():
        for m in tr.net.modules():  # non-trivial BN statistics, so a wrong folding would show
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        tr._branches = type(tr._branches).from_net(tr.net, 128, 256, 1, frame=True)
        zk = tr.net.template(z)
        ref = tr.net.head(tr.net.split(zk), tr.net.search_branch(x))
    out = tr._branches.frame(x, zk)
    assert out.shape == (1, 6, tr.map_size, tr.map_size)
    for a, b in zip(ref, (out[:, :1], out[:, 1:2], out[:, 2:])):
        assert torch.allclose(a, b, atol=1e-3 * max(1.0, a.abs().max().item()))


@pytest.mark.skipif(not SiamFCppTracker.has_default_weights(), reason="bundled SiamFC++ weights not trained yet")
def test_bundled_weights_follow_the_demo_target():
    from adaptrack.demo_clip import make_demo_clip
    from adaptrack.geometry import rect_iou

    clip = make_demo_clip(num_frames=41)  # the moving, scaling target before the occlusion
    tr = adaptrack.create("siamfcpp", backend="torch")
    tr.initialize(clip.frames[0], clip.boxes[0])
    boxes = np.array([tr.track(f).box for f in clip.frames[1:]])
    iou = rect_iou(boxes, clip.boxes[1:])
    assert iou.mean() > 0.5 and iou.min() > 0.3, iou
    # a tracker that stayed put would lose it: the target moves well beyond its own size
    moved = np.hypot(*(clip.boxes[-1, :2] - clip.boxes[0, :2]))
    assert moved > clip.boxes[0, 2]


def test_template_loss_rejects_unknown_label():
    tr = adaptrack.create("siamfcpp", weights=None, backend="torch", pretrained_backbone=False, channels=16)
    frame = _textured_frame()
    z, x, bx = tr.adaptation_pair(frame, np.array([100.0, 80.0, 40.0, 30.0]))
    assert bx.tolist() == pytest.approx([128 - bx[2].item() / 2, 128 - bx[3].item() / 2, bx[2].item(), bx[3].item()])
    with pytest.raises(ValueError, match="label"):
        tr.template_loss(z, x, bx, label="least_likely")
