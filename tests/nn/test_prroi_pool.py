import numpy as np
import pytest
import torch

from adaptrack.nn.prroi_pool import PrRoIPool2d, prroi_pool2d

torch.set_num_threads(1)


def _bilinear(fmap: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``fmap`` (C, H, W) at feature coords (u=x, v=y), zero outside the grid."""
    C, H, W = fmap.shape
    out = np.zeros((C,) + u.shape)
    j0 = np.floor(u).astype(int)
    i0 = np.floor(v).astype(int)
    for di in (0, 1):
        for dj in (0, 1):
            i, j = i0 + di, j0 + dj
            w = np.clip(1 - np.abs(v - i), 0, None) * np.clip(1 - np.abs(u - j), 0, None)
            ok = (i >= 0) & (i < H) & (j >= 0) & (j < W)
            vals = np.where(ok[None], fmap[:, np.clip(i, 0, H - 1), np.clip(j, 0, W - 1)], 0.0)
            out += vals * w[None]
    return out


def _dense_pool(fmap, box, ph, pw, scale, offset, n=300):
    """Midpoint-rule integration of the bilinear map over each bin, n x n samples per bin."""
    x1, y1, x2, y2 = [c * scale - offset for c in box]
    out = np.zeros((fmap.shape[0], ph, pw))
    for p in range(ph):
        for q in range(pw):
            ya, yb = y1 + (y2 - y1) * p / ph, y1 + (y2 - y1) * (p + 1) / ph
            xa, xb = x1 + (x2 - x1) * q / pw, x1 + (x2 - x1) * (q + 1) / pw
            ys = ya + (np.arange(n) + 0.5) * (yb - ya) / n
            xs = xa + (np.arange(n) + 0.5) * (xb - xa) / n
            u, v = np.meshgrid(xs, ys)
            out[:, p, q] = _bilinear(fmap, u, v).mean(axis=(1, 2))
    return out


@pytest.mark.parametrize(
    "box",
    [
        (3.0, 5.0, 40.0, 33.0),  # inside
        (-20.0, -9.0, 30.0, 25.0),  # partly outside (top-left)
        (50.0, 40.0, 90.0, 80.0),  # partly outside (bottom-right)
    ],
)
def test_equals_dense_numerical_integration(box):
    rng = np.random.default_rng(0)
    fmap = rng.normal(size=(3, 7, 8))
    scale, offset = 1 / 8, 0.5
    feats = torch.from_numpy(fmap)[None]
    rois = torch.tensor([[0.0, *box]], dtype=torch.float64)
    got = prroi_pool2d(feats, rois, (3, 2), spatial_scale=scale, offset=offset)[0].numpy()
    want = _dense_pool(fmap, box, 3, 2, scale, offset)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_constant_map_inside_gives_constant_and_outside_gives_zero():
    feats = torch.full((1, 2, 6, 6), 3.0, dtype=torch.float64)
    # fully interior (feature coords 1..4): average of a constant is the constant
    inside = prroi_pool2d(feats, torch.tensor([[0, 1.0, 1.0, 4.0, 4.0]], dtype=torch.float64), 2, 1.0, 0.0)
    torch.testing.assert_close(inside, torch.full_like(inside, 3.0))
    # fully beyond the last sample + 1 cell: zero
    outside = prroi_pool2d(feats, torch.tensor([[0, 7.0, 7.0, 9.0, 9.0]], dtype=torch.float64), 2, 1.0, 0.0)
    assert outside.abs().max().item() == 0.0
    # half a cell beyond the border on one side: hand-computed 1D weight.
    # integral of the interpolated map over [4.5, 5.5] is 3 * (1 - 0.125) (the hat of sample 5 decays past 5)
    edge = prroi_pool2d(feats, torch.tensor([[0, 4.5, 1.0, 5.5, 4.0]], dtype=torch.float64), 1, 1.0, 0.0)
    torch.testing.assert_close(edge, torch.full_like(edge, 3.0 * 0.875))


def test_batched_with_batch_index_matches_per_image():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 4, 9, 10, generator=g)
    rois = torch.tensor(
        [[2, 10.0, 12.0, 60.0, 50.0], [0, -5.0, 0.0, 20.0, 30.0], [2, 30.0, 30.0, 70.0, 75.0], [1, 0.0, 0.0, 80.0, 72.0]]
    )
    pool = PrRoIPool2d(3, spatial_scale=1 / 8)
    out = pool(feats, rois)
    assert out.shape == (4, 4, 3, 3)
    for k in range(4):
        b = int(rois[k, 0])
        single = pool(feats[b : b + 1], torch.cat([torch.zeros(1), rois[k, 1:]])[None])
        torch.testing.assert_close(out[k : k + 1], single)


def test_gradcheck_features_and_boxes():
    g = torch.Generator().manual_seed(2)
    feats = torch.randn(2, 2, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    # coordinates avoid exact knots (the weights are C1 but have kinks in the 2nd derivative only)
    coords = torch.tensor(
        [[3.3, 2.1, 31.7, 27.9], [-6.2, 4.4, 20.3, 45.1], [10.6, -3.7, 52.9, 33.3]], dtype=torch.float64, requires_grad=True
    )
    bidx = torch.tensor([[0.0], [1.0], [1.0]], dtype=torch.float64)

    def fn(f, c):
        return prroi_pool2d(f, torch.cat([bidx, c], dim=1), (2, 3), spatial_scale=1 / 8)

    assert torch.autograd.gradcheck(fn, (feats, coords), eps=1e-6, atol=1e-6)


def test_bad_rois_raise():
    feats = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="rois"):
        prroi_pool2d(feats, torch.zeros(2, 4), 2)
    with pytest.raises(ValueError, match="batch indices"):
        prroi_pool2d(feats, torch.tensor([[1.0, 0, 0, 2, 2]]), 2)


def test_grouped_boxes_equal_general_rois():
    from adaptrack.nn.prroi_pool import prroi_pool_boxes

    g = torch.Generator().manual_seed(3)
    feats = torch.randn(2, 3, 9, 11, generator=g, dtype=torch.float64)
    xy = torch.rand(2, 4, 2, generator=g, dtype=torch.float64) * 70 - 10
    wh = torch.rand(2, 4, 2, generator=g, dtype=torch.float64) * 40 + 5
    boxes = torch.cat([xy, xy + wh], -1)
    out = prroi_pool_boxes(feats, boxes, (2, 3), 1 / 8, 0.9375)
    torch.testing.assert_close(out, prroi_pool_boxes(feats, boxes, (2, 3), 1 / 8, 0.9375, crop_to_boxes=False))
    # a cluster of small boxes (the cropped window is a fraction of the map), and boxes off the map
    small = torch.tensor([[[20.0, 22.0, 31.0, 35.0], [24.0, 20.0, 30.0, 28.0]]] * 2, dtype=torch.float64)
    torch.testing.assert_close(prroi_pool_boxes(feats, small, 2, 1 / 8), prroi_pool_boxes(feats, small, 2, 1 / 8, crop_to_boxes=False))
    off = torch.tensor([[[200.0, 200.0, 230.0, 240.0]]] * 2, dtype=torch.float64)
    assert prroi_pool_boxes(feats, off, 2, 1 / 8).abs().max() == 0
    rois = torch.cat([torch.arange(2, dtype=torch.float64).repeat_interleave(4)[:, None], boxes.reshape(-1, 4)], 1)
    ref = prroi_pool2d(feats, rois, (2, 3), 1 / 8, 0.9375)
    torch.testing.assert_close(out.reshape(8, 3, 2, 3), ref)


def test_hat_weight_derivatives_match_autograd():
    from adaptrack.nn.prroi_pool import hat_integral_weights, hat_integral_weights_and_grads

    # bounds away from knots, partly outside the samples, and one empty (zero-width) and one reversed row
    lo = torch.tensor([0.37, -1.61, 2.23, 5.5, 7.3], dtype=torch.float64, requires_grad=True)
    hi = torch.tensor([4.91, 1.17, 9.87, 5.5, 6.1], dtype=torch.float64, requires_grad=True)
    w_ref = hat_integral_weights(lo, hi, 8, 3)
    w, dlo, dhi = hat_integral_weights_and_grads(lo.detach(), hi.detach(), 8, 3)
    torch.testing.assert_close(w, w_ref.detach())
    for k in range(lo.shape[0]):
        for p in range(3):
            for j in range(8):
                glo, ghi = torch.autograd.grad(w_ref[k, p, j], (lo, hi), retain_graph=True)
                assert abs(dlo[k, p, j] - glo[k]) < 1e-12 and abs(dhi[k, p, j] - ghi[k]) < 1e-12
    assert w[3:].abs().max() == 0 and dlo[3:].abs().max() == 0 and dhi[3:].abs().max() == 0


@pytest.mark.parametrize("size", [(2, 3), 5])
def test_closed_form_box_gradient_matches_autograd(size):
    from adaptrack.nn.prroi_pool import prroi_pool_boxes, prroi_pool_boxes_with_grad

    g = torch.Generator().manual_seed(4)
    feats = torch.randn(2, 3, 9, 11, generator=g, dtype=torch.float64)
    xy = torch.rand(2, 5, 2, generator=g, dtype=torch.float64) * 80 - 15  # some boxes reach past the map
    wh = torch.rand(2, 5, 2, generator=g, dtype=torch.float64) * 40 + 3
    boxes = torch.cat([xy, xy + wh], -1).requires_grad_(True)
    ref = prroi_pool_boxes(feats, boxes, size, 1 / 8, 0.9375)
    out_grad = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    (want,) = torch.autograd.grad((ref * out_grad).sum(), boxes)
    pooled, vjp = prroi_pool_boxes_with_grad(feats, boxes.detach(), size, 1 / 8, 0.9375)
    torch.testing.assert_close(pooled, ref.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(vjp(out_grad), want, rtol=0, atol=1e-12)
    assert want.abs().max() > 0.1  # a non-trivial gradient was compared
    # every box off the map: zero output and zero gradient
    off = torch.full((2, 1, 4), 500.0, dtype=torch.float64) + torch.tensor([0.0, 0, 30, 30], dtype=torch.float64)
    pooled, vjp = prroi_pool_boxes_with_grad(feats, off, size, 1 / 8)
    assert pooled.abs().max() == 0 and vjp(torch.ones_like(pooled)).abs().max() == 0


def test_levels_with_grad_equals_one_map_at_a_time():
    from adaptrack.nn.prroi_pool import prroi_pool_boxes_with_grad, prroi_pool_levels_with_grad

    g = torch.Generator().manual_seed(5)
    f8 = torch.randn(1, 4, 20, 22, generator=g, dtype=torch.float64)
    f16 = torch.randn(1, 6, 10, 11, generator=g, dtype=torch.float64)
    xy = torch.rand(1, 6, 2, generator=g, dtype=torch.float64) * 100 + 20
    boxes = torch.cat([xy, xy + torch.rand(1, 6, 2, generator=g, dtype=torch.float64) * 50 + 10], -1)
    scales, offsets = (1 / 8, 1 / 16), (0.9375, 0.96875)
    pooled, vjp = prroi_pool_levels_with_grad([f8, f16], boxes, (5, (3, 2)), scales, offsets)
    grads = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in pooled]
    total = torch.zeros_like(boxes)
    for f, size, s, o, p, gr in zip((f8, f16), (5, (3, 2)), scales, offsets, pooled, grads):
        ref, ref_vjp = prroi_pool_boxes_with_grad(f, boxes, size, s, o)
        torch.testing.assert_close(p.permute(0, 1, 4, 3, 2), ref, rtol=0, atol=1e-12)  # (B, P, pw, ph, C)
        total += ref_vjp(gr.permute(0, 1, 4, 3, 2))
    torch.testing.assert_close(vjp(grads), total, rtol=0, atol=1e-12)
    _, none = prroi_pool_levels_with_grad([f8], boxes, (5,), scales[:1], offsets[:1], with_grad=False)
    assert none is None
