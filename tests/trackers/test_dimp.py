import numpy as np
import pytest
import torch

from adaptrack.trackers.dimp import (
    LearnedLoss,
    apply_filter,
    filter_correlation,
    loss_gradient,
    loss_value,
    steepest_descent_step,
)

torch.set_num_threads(1)


def _problem(seed=0, n=3, S=2, C=5, H=7, k=4, mask=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, S, C, H, H, generator=g, dtype=torch.float64)
    f = torch.randn(S, C, k, k, generator=g, dtype=torch.float64) * 0.3
    Ho = H + 1
    y = torch.rand(n, S, Ho, Ho, generator=g, dtype=torch.float64)
    m = torch.rand(n, S, Ho, Ho, generator=g, dtype=torch.float64) if mask is None else torch.full((n, S, Ho, Ho), mask, dtype=torch.float64)
    v = 0.5 + torch.rand(n, S, Ho, Ho, generator=g, dtype=torch.float64)
    w = torch.rand(n, S, generator=g, dtype=torch.float64)
    return x, f, y, m, v, torch.tensor(0.07, dtype=torch.float64) ** 2, w / w.sum(0)


def test_apply_filter_matches_per_sequence_conv():
    x, f, *_ = _problem()
    s = apply_filter(x, f)
    assert s.shape == (3, 2, 8, 8)
    for j in range(2):
        ref = torch.nn.functional.conv2d(x[:, j], f[j : j + 1], padding=2)[:, 0]
        torch.testing.assert_close(s[:, j], ref)


def test_filter_correlation_is_the_transposed_jacobian():
    x, f, *_ = _problem(1)
    g = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    f = f.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad((apply_filter(x, f) * g).sum(), f)
    torch.testing.assert_close(filter_correlation(x, g, 4), auto)


@pytest.mark.parametrize("weighted", [False, True])
def test_closed_form_gradient_matches_autograd(weighted):
    x, f, y, m, v, reg, w = _problem(2)
    w = w if weighted else None
    f = f.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(loss_value(x, f, y, m, v, reg, w).sum(), f)
    grad, _, _ = loss_gradient(x, f.detach(), y, m, v, reg, w)
    torch.testing.assert_close(grad, auto)


def test_step_length_minimises_the_gauss_newton_model():
    x, f, y, m, v, reg, w = _problem(3)
    f_new, alpha, grad = steepest_descent_step(x, f, y, m, v, reg, w)
    # Gauss-Newton model along -grad: the residuals linearised at f, xi(a) = xi0 - a * J grad
    s = apply_filter(x, f)
    q = v * (m + (1 - m) * (s > 0).double())
    r0 = v * (m * s + (1 - m) * torch.relu(s) - y)
    jg = q * apply_filter(x, grad)
    alphas = torch.linspace(0, 3, 30001, dtype=torch.float64)[:, None] * alpha
    model = []
    for a in alphas:
        r = r0 - a[None, :, None, None] * jg
        fa = f - a[:, None, None, None] * grad
        model.append((w * (r * r).sum((-2, -1))).sum(0) + reg * (fa * fa).sum((1, 2, 3)))
    best = alphas[torch.stack(model).argmin(0), torch.arange(2)]
    torch.testing.assert_close(best, alpha, rtol=2e-4, atol=0)
    torch.testing.assert_close(f_new, f - alpha[:, None, None, None] * grad)


def test_step_length_is_exact_line_minimiser_for_pure_least_squares():
    # m = 1: the loss is exactly quadratic, so alpha must minimise the true loss along -grad
    x, f, y, m, v, reg, w = _problem(4, mask=1.0)
    _, alpha, grad = steepest_descent_step(x, f, y, m, v, reg, w)
    for scale in (0.98, 1.02):
        better = loss_value(x, f - alpha[:, None, None, None] * grad, y, m, v, reg, w)
        worse = loss_value(x, f - scale * alpha[:, None, None, None] * grad, y, m, v, reg, w)
        assert (better < worse).all()
    # and a descent: the loss drops
    assert (loss_value(x, f - alpha[:, None, None, None] * grad, y, m, v, reg, w) < loss_value(x, f, y, m, v, reg, w)).all()


def test_steepest_descent_reduces_loss_monotonically_with_hinge():
    x, f, y, m, v, reg, w = _problem(5)
    prev = loss_value(x, f, y, m, v, reg, w)
    for _ in range(10):
        f, _, _ = steepest_descent_step(x, f, y, m, v, reg, w)
        cur = loss_value(x, f, y, m, v, reg, w)
        assert (cur <= prev + 1e-12).all()
        prev = cur


def test_triangular_basis_partition_of_unity_and_last_plateau():
    loss = LearnedLoss(num_bins=100, bin_displacement=0.1)
    d = torch.tensor([0.0, 0.05, 0.37, 5.0, 9.9, 12.0, 40.0])
    rho = loss.basis(d)
    torch.testing.assert_close(rho.sum(-1), torch.ones(7))
    assert rho[-1, -1] == 1.0 and rho[-2, -1] == 1.0  # far away: only the last basis function
    torch.testing.assert_close(rho[1, :2], torch.tensor([0.5, 0.5]))


def test_learned_loss_initialisation_shapes():
    sigma = 0.9
    loss = LearnedLoss(label_sigma=sigma)
    d = torch.tensor([0.0, 0.45, 1.0, 3.0, 6.0, 15.0])
    y, m, v = loss(d)
    # label: the Gaussian z_c (piecewise-linear interpolation between knots of 0.1 cells)
    torch.testing.assert_close(y, torch.exp(-0.5 * (d / sigma) ** 2), atol=3e-3, rtol=0)
    torch.testing.assert_close(v, torch.ones(6))
    assert m[0] > 0.97 and m[-1] < 0.02 and m[-2] < 0.03  # scaled tanh: target ~1, background ~0
    assert m[3] < 0.5 < m[2]
    # residual shape: L2 at the centre, hinge far away
    s = torch.tensor([-2.0, -0.5, 0.5, 2.0])
    r_center = v[0] * (m[0] * s + (1 - m[0]) * torch.relu(s) - y[0])
    torch.testing.assert_close(r_center, s - 1.0, atol=0.05, rtol=0)
    r_far = v[-1] * (m[-1] * s + (1 - m[-1]) * torch.relu(s) - y[-1])
    assert r_far[:2].abs().max() < 0.04  # negative scores in the background cost (almost) nothing
    torch.testing.assert_close(r_far[2:], s[2:], atol=0.01, rtol=0)


# ------------------------------------------------------------------------------------------------
# online tracking
# ------------------------------------------------------------------------------------------------
import os  # noqa: E402

import adaptrack  # noqa: E402
from adaptrack.errors import InvalidBoxError  # noqa: E402
from adaptrack.trackers.dimp import SampleMemory  # noqa: E402

VARIANTS = ["init_only", "gd", "fixed_loss", "no_update", "model_averaging", "fast"]


def _scene(cx, cy, H=200, W=260, seed=0):
    rng = np.random.default_rng(seed)
    f = (rng.random((H, W, 3)) * 60 + 70).astype(np.uint8)
    f[int(cy - 14) : int(cy + 14), int(cx - 18) : int(cx + 18)] = (230, 40, 40)
    f[int(cy - 5) : int(cy + 5), int(cx - 7) : int(cx + 7)] = (30, 30, 220)
    return f


def _small(variant=None, weights=None, **kw):
    # a smaller crop keeps the test fast; everything else is the real tracker
    kw.setdefault("backend", "torch")
    return adaptrack.create("dimp", variant=variant, weights=weights, image_size=160, num_init_random_boxes=4, **kw)


def test_memory_keeps_50_and_discards_oldest():
    mem = SampleMemory(50)
    feats = torch.arange(60, dtype=torch.float32)[:, None, None, None].expand(60, 2, 3, 3).clone()
    boxes = torch.arange(60, dtype=torch.float32)[:, None].expand(60, 4).clone()
    mem.add(feats[:15], boxes[:15])
    assert len(mem) == 15
    for i in range(15, 60):
        mem.add(feats[i : i + 1], boxes[i : i + 1])
    assert len(mem) == 50
    f, b = mem.tensors()
    assert f.shape == (50, 1, 2, 3, 3) and b.shape == (50, 1, 4)
    np.testing.assert_array_equal(b[:, 0, 0].numpy(), np.arange(10, 60))  # oldest 10 gone, oldest first
    np.testing.assert_array_equal(f[:, 0, 0, 0, 0].numpy(), np.arange(10, 60))
    np.testing.assert_array_equal(f[:, 0].numpy(), feats[10:60].numpy())  # every value, not just one
    mem.add(feats[:1] + 100, boxes[:1] + 100)  # the gather buffer is reused: the next call sees the change
    f2, b2 = mem.tensors()
    np.testing.assert_array_equal(f2[:, 0, 0, 0, 0].numpy(), np.r_[np.arange(11, 60), 100])
    np.testing.assert_array_equal(b2[:, 0, 0].numpy(), np.r_[np.arange(11, 60), 100])
    with pytest.raises(ValueError):
        SampleMemory(0)


def test_update_schedule_and_confidence_gating(monkeypatch):
    t = _small()
    t.initialize(_scene(100, 100), (82, 86, 36, 28))
    assert len(t.memory) == 15  # 15 augmented first-frame samples
    calls = []
    monkeypatch.setattr(t, "_optimize", lambda f, it, *a, **k: calls.append(it) or f)
    x = torch.zeros(1, t.memory.features.shape[1], *t.memory.features.shape[2:])
    box = torch.tensor([60.0, 60.0, 30.0, 30.0])
    seen = []
    for frame_num in range(2, 43):
        t.frame_num = frame_num
        calls.clear()
        t._update(x, box, "normal", 0.9)
        seen.append((frame_num, tuple(calls)))
    # two recursions every 20 frames (frames 21 and 41), none otherwise
    assert [fn for fn, c in seen if c] == [21, 41] and all(c == (2,) for fn, c in seen if c)
    assert len(t.memory) == 50
    # a distractor peak: one recursion at once, sample kept
    t.frame_num = 44
    calls.clear()
    before = t.memory._counter
    t._update(x, box, "hard_negative", 0.9)
    assert calls == [1] and t.memory._counter == before + 1
    # uncertain (two similar peaks) or below the gating threshold: no sample
    calls.clear()
    t._update(x, box, "uncertain", 0.9)
    t.params.update_threshold = 0.5
    t._update(x, box, "normal", 0.3)
    assert t.memory._counter == before + 1 and calls == []


def test_target_lost_keeps_box_and_does_not_learn():
    t = _small(target_not_found_threshold=1e9)  # every frame "not found"
    t.initialize(_scene(100, 100), (82, 86, 36, 28))
    n, f0 = t.memory._counter, t.filter.clone()
    out = t.track(_scene(120, 110))
    assert out.extras["flag"] == "not_found"
    np.testing.assert_allclose(out.box, [82, 86, 36, 28])
    assert t.memory._counter == n and torch.equal(t.filter, f0)


@pytest.mark.parametrize("variant", [None] + VARIANTS)
def test_variants_construct_and_track(variant):
    t = _small(variant)
    t.initialize(_scene(100, 100), (82, 86, 36, 28))
    for i in range(1, 4):
        out = t.track(_scene(100 + 4 * i, 100 + 2 * i))
        assert out.box.shape == (4,) and np.isfinite(out.box).all() and out.box[2] > 0 and out.box[3] > 0
        assert np.isfinite(out.score)


def test_variant_parameters():
    from adaptrack.trackers.base import get_entry

    e = get_entry("dimp")
    assert set(VARIANTS) <= set(e.variants())
    assert e.make_params("init_only").optimizer == "none"
    assert e.make_params("gd").optimizer == "gd"
    assert e.make_params("fixed_loss").loss == "fixed"
    assert e.make_params("no_update").update == "none"
    assert e.make_params("model_averaging").update == "averaging"


def test_no_update_keeps_the_first_frame_model():
    t = _small("no_update")
    t.initialize(_scene(100, 100), (82, 86, 36, 28))
    f0 = t.filter.clone()
    for i in range(1, 4):
        t.track(_scene(100 + 3 * i, 100))
    assert torch.equal(t.filter, f0) and len(t.memory) == 15


@pytest.mark.parametrize("box", [(10, 10, 0, 20), (float("nan"), 1, 5, 5), (500, 500, 10, 10)])
def test_invalid_init_box_raises(box):
    t = _small()
    with pytest.raises(InvalidBoxError):
        t.initialize(_scene(100, 100), box)


def test_onnxruntime_frame_branch_matches_torch():
    pytest.importorskip("onnxruntime")
    t = _small(backend="onnxruntime")
    assert t.backend == "onnxruntime"
    x = torch.rand(1, 3, 160, 160) * 255
    with torch.no_grad():
        ref = t.net.frame_branch(x)
    for a, b in zip(ref, t._frame_branch(x)):
        torch.testing.assert_close(b, a, atol=1e-4 * float(a.abs().max()) + 1e-6, rtol=1e-4)
    t.initialize(_scene(100, 100), (82, 86, 36, 28))
    out = t.track(_scene(104, 102))
    assert np.isfinite(out.box).all()


def test_bad_params_raise():
    with pytest.raises(ValueError):
        adaptrack.create("dimp", weights=None, optimizer="newton")
    with pytest.raises(ValueError):
        adaptrack.create("dimp", weights=None, image_size=100)
    with pytest.raises(ValueError):
        adaptrack.create("dimp", weights=None, backend="tensorrt")


@pytest.mark.skipif(not os.path.isfile(os.path.join(os.path.dirname(adaptrack.__file__), "weights", "dimp.pt")),
                    reason="bundled DiMP weights not trained yet")
def test_trained_dimp_follows_moving_target():
    t = adaptrack.create("dimp")
    t.initialize(_scene(70, 80), (52, 66, 36, 28))
    errs, ious = [], []
    for i in range(1, 31):
        cx, cy = 70 + 4 * i, 80 + 2 * i
        out = t.track(_scene(cx, cy))
        b = out.box
        errs.append(np.hypot(b[0] + b[2] / 2 - cx, b[1] + b[3] / 2 - cy))
    assert np.mean(errs) < 6 and errs[-1] < 8


def test_learned_loss_interpolation_equals_the_basis_expansion():
    loss = LearnedLoss(num_bins=20, bin_displacement=0.25).double()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in (loss.phi_y, loss.phi_m, loss.phi_v):
            p.copy_(torch.randn(20, generator=g, dtype=torch.float64))
    # between knots, on knots, at 0, on the last knot and beyond it (the plateau)
    d = torch.cat([torch.rand(50, generator=g, dtype=torch.float64) * 6, torch.tensor([0.0, 0.25, 2.5, 4.75, 5.0, 9.0], dtype=torch.float64)])
    y, m, v = loss(d)
    rho = loss.basis(d)
    torch.testing.assert_close(y, rho @ loss.phi_y, rtol=0, atol=1e-12)
    torch.testing.assert_close(m, torch.sigmoid(rho @ loss.phi_m), rtol=0, atol=1e-12)
    torch.testing.assert_close(v, rho @ loss.phi_v, rtol=0, atol=1e-12)
    w = torch.randn(3, d.shape[0], generator=g, dtype=torch.float64)
    params = [loss.phi_y, loss.phi_m, loss.phi_v]
    got = torch.autograd.grad((w[0] * y + w[1] * m + w[2] * v).sum(), params)
    want = torch.autograd.grad((w[0] * (rho @ loss.phi_y) + w[1] * torch.sigmoid(rho @ loss.phi_m) + w[2] * (rho @ loss.phi_v)).sum(), params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_optimizer_with_precomputed_layout_equals_plain_calls():
    from adaptrack.trackers.dimp import _seq_major

    x, f, y, m, v, reg, w = _problem(n=5, S=2)
    a = steepest_descent_step(x, f, y, m, v, reg, w)
    b = steepest_descent_step(x, f, y, m, v, reg, w, xs=_seq_major(x))
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q)


@pytest.mark.skipif(not os.path.isfile(os.path.join(os.path.dirname(adaptrack.__file__), "weights", "dimp.pt")),
                    reason="bundled DiMP weights not trained yet")
def test_closed_form_box_refinement_equals_autograd_on_tracked_frames():
    """The tracker's IoU-Net refinement (closed-form gradient) against autograd on the real inputs of tracked
    frames: same boxes and scores up to float32 rounding."""
    t = adaptrack.create("dimp", backend="torch", num_augmentations=1)  # one first-frame sample: a quick start
    calls = []
    refine = t.net.iou_net.refine

    def spy(*args, **kw):
        calls.append((args, kw))
        return refine(*args, **kw)

    t.net.iou_net.refine = spy
    t.initialize(_scene(70, 80), (52, 66, 36, 28))
    for i in range(1, 4):
        t.track(_scene(70 + 4 * i, 80 + 2 * i))
    assert len(calls) == 3
    for (mod, feats, boxes, iters, step), kw in calls:
        got_b, got_iou = refine(mod, feats, boxes, iters, step, **kw)
        want_b, want_iou = t.net.iou_net._refine_autograd(mod, feats, boxes, iters, step, 1.0, kw.get("min_size", 1.0), True)
        torch.testing.assert_close(got_b, want_b, rtol=0, atol=2e-3)  # crop pixels
        torch.testing.assert_close(got_iou, want_iou, rtol=0, atol=1e-5)
        assert (got_b - boxes).abs().max() > 0.01  # the boxes did move


def test_tracking_restores_the_torch_thread_count():
    """The per-frame PyTorch work runs on one thread (see DiMPTracker._track) and leaves the count as it was."""
    n0 = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        t = _small()
        t.initialize(_scene(70, 80), (52, 66, 36, 28))
        seen = []
        rest = t._track_rest
        t._track_rest = lambda *a: (seen.append(torch.get_num_threads()), rest(*a))[1]
        t.track(_scene(74, 82))
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(n0)


def test_score_map_equals_apply_filter():
    from adaptrack.trackers.dimp import apply_filter

    t = _small()
    t.initialize(_scene(100, 100), (82, 86, 36, 28))
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, t.filter.shape[1], 10, 10, generator=g)
    want = apply_filter(x[:, None], t.filter)[0, 0].numpy()
    got = t._score_map(x)
    assert got.shape == want.shape == (11, 11)
    np.testing.assert_array_equal(got, want)  # the same operations in the same order
    xcl = x.contiguous(memory_format=torch.channels_last)  # the ONNX Runtime branch's layout
    np.testing.assert_array_equal(t._score_map(xcl), want)


def test_onnxruntime_refinement_equals_refine_and_falls_back_when_a_box_leaves_its_window():
    pytest.importorskip("onnxruntime")
    # the bundled weights (random ones can lose the target or barely move the boxes)
    t = adaptrack.create("dimp", backend="onnxruntime", num_augmentations=1, image_size=160, num_init_random_boxes=4)
    assert t._ort_refine is not None
    calls = []
    ort_refine = t._ort_refine

    def spy(*args):
        calls.append(args)
        return ort_refine(*args)

    t._ort_refine = spy
    t.initialize(_scene(100, 100), (82, 86, 36, 28))
    for i in range(1, 4):
        t.track(_scene(100 + 4 * i, 100 + 2 * i))
    assert len(calls) == 3
    p = t.params
    eager = t.net.iou_net.refine
    for mod, feats, boxes in calls:
        want_b, want_iou = eager(mod, feats, boxes, p.box_refinement_iterations, p.box_refinement_step, min_size=1.0)
        got_b, got_iou = ort_refine(mod, feats, boxes)
        torch.testing.assert_close(got_b, want_b, rtol=0, atol=1e-3)  # crop pixels, float32 rounding
        torch.testing.assert_close(got_iou, want_iou, rtol=0, atol=1e-5)
        assert (got_b - boxes).abs().max() > 0.01  # the boxes did move
    # windows cut inside the boxes: the check sends the frame to the eager refinement (same result exactly)
    ort_refine.margin = -0.3
    mod, feats, boxes = calls[-1]
    fallbacks = []
    t.net.iou_net.refine = lambda *a, **k: fallbacks.append(1) or eager(*a, **k)
    got_b, got_iou = ort_refine(mod, feats, boxes)
    want_b, want_iou = eager(mod, feats, boxes, p.box_refinement_iterations, p.box_refinement_step, min_size=1.0)
    assert fallbacks == [1]
    # the eager path both times (equal up to the matrix library's alignment-dependent rounding)
    torch.testing.assert_close(got_b, want_b, rtol=0, atol=1e-4)
    torch.testing.assert_close(got_iou, want_iou, rtol=0, atol=1e-6)
