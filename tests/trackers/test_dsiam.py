"""DSiam: reduction to SiamFC, RLR transforms, fusion weights, the update rule, variants, bad input."""

import numpy as np
import pytest
import torch

from adaptrack.errors import InvalidBoxError
from adaptrack.nn.fft_rlr import circular_conv, identity_filter
from adaptrack.trackers import create, get_entry
from adaptrack.trackers.dsiam import DSiamParams, DSiamTracker, build_dsiam_net, gaussian_weight_map, gaussian_weighted
from adaptrack.trackers.siamfc import SiamFCNet

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def net2():
    # the two-stride pair (s8 + s16, 128/256 crops: 17x17 responses), where the s16 response is resampled
    torch.manual_seed(0)
    return build_dsiam_net(get_entry("dsiam").make_params("s8s16")).eval()


def _moving_square_frames(n=6, size=(200, 240), start=(90, 80), step=(4, 2), side=28, seed=0):
    rng = np.random.default_rng(seed)
    frames, boxes = [], []
    for t in range(n):
        f = (rng.random((*size, 3)) * 60 + 40).astype(np.uint8)
        x, y = start[0] + step[0] * t, start[1] + step[1] * t
        f[y : y + side, x : x + side] = (230, 40, 40)
        f[y + 8 : y + 20, x + 8 : x + 20] = (30, 200, 60)
        frames.append(f)
        boxes.append((x, y, side, side))
    return frames, np.array(boxes, dtype=np.float64)


def test_single_layer_identity_transforms_equal_siamfc():
    torch.manual_seed(1)
    sf = SiamFCNet(pretrained=None).eval()
    with torch.no_grad():
        sf.out_scale.fill_(0.0123)
        sf.out_bias.fill_(-0.7)
    net = build_dsiam_net(DSiamParams(layers=("s8",))).eval()
    net.adjust["s8"].load_state_dict(sf.adjust.state_dict())
    with torch.no_grad():
        net.out_scale["s8"].copy_(sf.out_scale)
        net.out_bias["s8"].copy_(sf.out_bias)
    g = torch.Generator().manual_seed(2)
    z = torch.rand(1, 3, 112, 112, generator=g) * 255
    x = torch.rand(3, 3, 224, 224, generator=g) * 255
    with torch.no_grad():
        ref = sf.score(sf.template(z), sf.search(x))
        zf, xf = net.embed(net.features(z)), net.embed(net.features(x))
        plain = net.response(zf, xf)
        ident = net.response(zf, xf, {"s8": identity_filter(zf["s8"])}, {"s8": identity_filter(xf["s8"][:1])})
    torch.testing.assert_close(plain, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ident, ref, rtol=1e-4, atol=1e-4)
    # the FFT correlation used in training is the same correlation
    net.xcorr_method = "fft"
    with torch.no_grad():
        torch.testing.assert_close(net.response(zf, xf), ref, rtol=1e-4, atol=1e-4)


def test_learned_v_maps_template_to_target_and_w_to_weighted(net2):
    g = torch.Generator().manual_seed(3)
    f1 = {n: torch.randn(1, 128, s, s, generator=g) for n, s in (("s8", 16), ("s16", 8))}
    ft = {n: torch.randn(1, 128, s, s, generator=g) for n, s in (("s8", 16), ("s16", 8))}
    with torch.no_grad():
        for n in net2.layers:
            net2.rlr_v[n].raw_lambda.fill_(-30.0)  # lambda ~ 1e-13 (relative): exact regression
        v = net2.learn_v(f1, ft)
        for n in net2.layers:
            torch.testing.assert_close(circular_conv(v[n], f1[n]), ft[n], rtol=1e-3, atol=1e-3)
        # large lambda shrinks the transform towards zero (eq. 3's regulariser)
        for n in net2.layers:
            net2.rlr_v[n].raw_lambda.fill_(10.0)
        v_big = net2.learn_v(f1, ft)
        for n in net2.layers:
            assert v_big[n].abs().max() < 0.2 * v[n].abs().max()
            net2.rlr_v[n].raw_lambda.fill_(float(np.log(np.expm1(0.5))))


def test_fusion_weights_sum_to_one_and_fuse_identical_maps(net2):
    with torch.no_grad():
        net2.fusion_logits.copy_(torch.randn(net2.fusion_logits.shape))
    ups = net2.fusion_weights()
    assert ups.shape == (2, 17, 17)
    assert (ups >= 0).all()
    torch.testing.assert_close(ups.sum(0), torch.ones(17, 17))
    s = torch.randn(3, 1, 17, 17)
    torch.testing.assert_close(net2.fuse([s, s]), s)
    a, b = torch.randn(1, 1, 17, 17), torch.randn(1, 1, 17, 17)
    torch.testing.assert_close(net2.fuse([a, b]), ups[0] * a + ups[1] * b)


def test_deep_response_is_resampled_without_moving_the_centre(net2):
    # a template equal to the centre of the search map peaks at the centre cell on both layers
    g = torch.Generator().manual_seed(4)
    x = {"s8": torch.randn(1, 128, 32, 32, generator=g), "s16": torch.randn(1, 128, 16, 16, generator=g)}
    z = {"s8": x["s8"][..., 8:24, 8:24].clone(), "s16": x["s16"][..., 4:12, 4:12].clone()}
    with torch.no_grad():
        for n in net2.layers:
            net2.out_scale[n].fill_(1.0)
            net2.out_bias[n].fill_(0.0)
        maps = net2.layer_responses(z, x)
    for m in maps:
        assert m.shape == (1, 1, 17, 17)
        assert int(m.flatten().argmax()) == 8 * 17 + 8


def test_gaussian_weighting():
    m = gaussian_weight_map(64, (32.0, 32.0), (8.0, 4.0))
    assert m.shape == (64, 64)
    assert float(m.max()) == pytest.approx(np.exp(-(0.5**2) / (2 * 64)) * np.exp(-(0.5**2) / (2 * 16)), rel=1e-5)
    crop = np.full((64, 64, 3), 200, dtype=np.uint8)
    gb = gaussian_weighted(crop, (16.0, 8.0), 0.5)
    assert gb[32, 32, 0] > 190 and gb[0, 0, 0] < 1.0
    assert gb[32, 20, 0] > gb[20, 32, 0]  # wider along x (target twice as wide as high)


def test_tracker_updates_only_after_success():
    frames, boxes = _moving_square_frames(4)
    # the state V acts through: the transformed template V * f(O_1) (fast path) or V itself (reference)
    for fast, state in ((True, "zf"), (False, "v")):
        tr = DSiamTracker(DSiamParams(success_threshold=float("inf"), backend="torch", fast_transforms=fast), weights=None)
        tr.initialize(frames[0], boxes[0])
        v0 = {n: t.clone() for n, t in getattr(tr, state).items()}
        for f in frames[1:]:
            out = tr.track(f)
            assert not out.extras["updated"]
        for n in v0:
            torch.testing.assert_close(getattr(tr, state)[n], v0[n])
        tr = DSiamTracker(DSiamParams(success_threshold=-float("inf"), backend="torch", fast_transforms=fast),
                          weights=None)
        tr.initialize(frames[0], boxes[0])
        v0 = {n: t.clone() for n, t in getattr(tr, state).items()}
        out = tr.track(frames[1])
        assert out.extras["updated"]
        assert any(not torch.allclose(getattr(tr, state)[n], v0[n]) for n in v0)


@pytest.mark.parametrize("variant", [None, "naive_update", "s8s16"])
def test_fast_transforms_match_the_reference_path(variant):
    # V, W in the Fourier domain, V * f(O_1) once per update and W folded into the correlation kernel ==
    # spatial filters convolved every frame, then the direct correlation
    frames, boxes = _moving_square_frames(6, step=(5, 3))
    torch.manual_seed(6)
    net = build_dsiam_net(get_entry("dsiam").make_params(variant)).eval()
    with torch.no_grad():
        for n in net.layers:
            net.out_scale[n].fill_(0.05)
    outs = {}
    for fast in (True, False):
        p = get_entry("dsiam").make_params(variant, {"backend": "torch", "fast_transforms": fast,
                                                     "success_threshold": -float("inf")})
        tr = DSiamTracker(p, weights=None, net=net)
        tr.initialize(frames[0], boxes[0])
        outs[fast] = [tr.track(f) for f in frames[1:]]
        with torch.inference_mode():
            side = p.instance_size
            x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(7)) * 255
            outs[fast].append(tr._response(tr.net.embed(tr.net.features(x))))
    for a, b in zip(outs[True][:-1], outs[False][:-1]):
        assert a.extras["updated"] and b.extras["updated"]
        np.testing.assert_allclose(a.box, b.box, atol=1e-3)
        assert abs(a.extras["peak_logit"] - b.extras["peak_logit"]) < 1e-4 * max(1.0, abs(b.extras["peak_logit"]))
    torch.testing.assert_close(outs[True][-1], outs[False][-1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", ["no_vt", "no_bs", "single_layer", "naive_update", "fast", "s8s16", None])
def test_variants_construct_and_track(variant):
    frames, boxes = _moving_square_frames(4)
    tr = create("dsiam", variant=variant, weights=None, backend="torch")
    tr.initialize(frames[0], boxes[0])
    for f in frames[1:]:
        out = tr.track(f)
        assert out.box.shape == (4,) and np.isfinite(out.box).all() and 0.0 <= out.score <= 1.0
    p = tr.params
    if variant == "no_vt":
        assert not p.use_v and p.use_w
    if variant == "no_bs":
        assert p.use_v and not p.use_w and tr.w is None
    if variant == "single_layer":
        assert tr.net.layers == ("s8",)
    if variant == "fast":
        assert p.scale_pyramid == "feature"
    if variant == "naive_update":
        assert p.naive_update
        assert any(not torch.equal(tr.zf[n], tr.z1[n]) for n in tr.z1)  # template replaced by f(O_{t-1})


def test_variants_are_declared():
    names = set(get_entry("dsiam").variants())
    assert {"no_vt", "no_bs", "single_layer", "naive_update", "s8s16"} <= names


@pytest.mark.parametrize("box", [(10, 10, 0, 20), (float("nan"), 1, 5, 5), (500, 500, 10, 10), (1, 2, 3)])
def test_invalid_init_box_raises(box):
    with pytest.raises(ValueError):
        DSiamParams(scale_pyramid="images")
    frames, _ = _moving_square_frames(1)
    tr = DSiamTracker(DSiamParams(layers=("s8",), backend="torch"), weights=None)
    with pytest.raises(InvalidBoxError):
        tr.initialize(frames[0], box)


def test_bundled_weights_follow_a_moving_target():
    from adaptrack.weights import has_bundled

    if not has_bundled("dsiam"):
        pytest.skip("dsiam weights not bundled yet")
    frames, boxes = _moving_square_frames(12, step=(5, 3))
    # the target moves 64 px; both the background-suppression path (W only) and the full model follow it. (The
    # first bundled weights, trained with crops at the true previous position and an inverted s8 response,
    # ended 55 px off with the full model -- see adaptrack/weights/dsiam_s8s16.md.) s8s16: the previous default's file
    truth = boxes[-1, :2] + boxes[-1, 2:] / 2
    for variant, tol in (("no_vt", 5.0), (None, 12.0), ("s8s16", 12.0)):
        tr = create("dsiam", variant=variant)
        tr.initialize(frames[0], boxes[0])
        for f in frames[1:]:
            out = tr.track(f)
        centre = out.box[:2] + out.box[2:] / 2
        assert np.linalg.norm(centre - truth) < tol, variant


def test_onnx_backend_matches_torch():
    frames, boxes = _moving_square_frames(3)
    torch.manual_seed(5)
    net = build_dsiam_net(DSiamParams())
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d) and not any(m is b for b in net.backbone.modules()):
                m.running_mean.normal_(0, 0.1)
    results = {}
    for backend in ("torch", "onnx"):
        tr = DSiamTracker(DSiamParams(backend=backend), weights=None, net=net)
        tr.initialize(frames[0], boxes[0])
        results[backend] = [tr.track(f) for f in frames[1:]]
    for a, b in zip(results["torch"], results["onnx"]):
        np.testing.assert_allclose(a.box, b.box, atol=0.5)
        assert abs(a.extras["peak_logit"] - b.extras["peak_logit"]) < 1e-2 * max(1.0, abs(a.extras["peak_logit"]))
