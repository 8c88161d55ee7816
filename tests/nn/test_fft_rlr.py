"""fft_rlr (DSiam eq. 4 / eq. 2) against a dense circulant ridge-regression solve, and gradchecks."""

import pytest
import torch

from adaptrack.nn.fft_rlr import FFTRidgeRegression, circular_conv, identity_filter, rlr_solve, softplus_inverse

torch.set_num_threads(1)


def circulant(x: torch.Tensor) -> torch.Tensor:
    """Dense matrix C with C @ vec(r) == vec(r * x) (2-D circular convolution), built from the definition."""
    h, w = x.shape
    idx_i = torch.arange(h)
    idx_j = torch.arange(w)
    # C[(i, j), (mi, mj)] = x[(i - mi) % h, (j - mj) % w]
    di = (idx_i[:, None] - idx_i[None, :]) % h  # (i, mi)
    dj = (idx_j[:, None] - idx_j[None, :]) % w  # (j, mj)
    c = x[di[:, None, :, None], dj[None, :, None, :]]  # (i, j, mi, mj)
    return c.reshape(h * w, h * w)


def dense_ridge(x: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
    """min_r ||C(x) r - y||^2 + lam ||r||^2 for each (B, C) map by torch.linalg.solve."""
    b, c, h, w = x.shape
    out = []
    for xi, yi in zip(x.reshape(-1, h, w), y.reshape(-1, h, w)):
        cm = circulant(xi)
        a = cm.T @ cm + lam * torch.eye(h * w, dtype=x.dtype)
        out.append(torch.linalg.solve(a, cm.T @ yi.reshape(-1)).reshape(h, w))
    return torch.stack(out).reshape(b, c, h, w)


def naive_circular_conv(r: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    h, w = f.shape[-2:]
    out = torch.zeros_like(f)
    for mi in range(h):
        for mj in range(w):
            out = out + r[..., mi : mi + 1, mj : mj + 1] * torch.roll(f, shifts=(mi, mj), dims=(-2, -1))
    return out


def test_circulant_matrix_is_circular_convolution():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 6, generator=g, dtype=torch.float64)
    r = torch.randn(5, 6, generator=g, dtype=torch.float64)
    dense = (circulant(x) @ r.reshape(-1)).reshape(5, 6)
    torch.testing.assert_close(dense, naive_circular_conv(r, x))
    torch.testing.assert_close(circular_conv(r, x), dense)


@pytest.mark.parametrize("lam", [1e-3, 0.5, 7.0])
def test_rlr_solve_equals_dense_solve(lam):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    y = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(rlr_solve(x, y, lam), dense_ridge(x, y, lam), rtol=1e-9, atol=1e-10)


def test_rlr_solution_is_the_minimiser():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 1, 4, 7, generator=g, dtype=torch.float64)
    y = torch.randn(1, 1, 4, 7, generator=g, dtype=torch.float64)
    lam = 0.3
    r = rlr_solve(x, y, lam)

    def objective(t):
        return (circular_conv(t, x) - y).square().sum() + lam * t.square().sum()

    base = objective(r)
    for _ in range(5):
        assert objective(r + 1e-3 * torch.randn(r.shape, generator=g, dtype=r.dtype)) > base


def test_small_lambda_recovers_a_known_filter_and_identity():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 6, 6, generator=g, dtype=torch.float64)
    t = torch.randn(1, 2, 6, 6, generator=g, dtype=torch.float64)
    y = circular_conv(t, x)
    torch.testing.assert_close(rlr_solve(x, y, 1e-10), t, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rlr_solve(x, x, 1e-10), identity_filter(x), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(circular_conv(identity_filter(x), y), y)


def test_gradients_match_dense_solve():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64)
    y = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64)
    f = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64)
    w = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64)
    grads = []
    for solver in (rlr_solve, dense_ridge):
        xs, ys, fs = (v.clone().requires_grad_(True) for v in (x, y, f))
        lam = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
        if solver is dense_ridge:
            # the dense path needs lam as a tensor inside the matrix
            b, c, h, wd = xs.shape
            outs = []
            for xi, yi in zip(xs.reshape(-1, h, wd), ys.reshape(-1, h, wd)):
                cm = circulant(xi)
                a = cm.T @ cm + lam * torch.eye(h * wd, dtype=xs.dtype)
                outs.append(torch.linalg.solve(a, cm.T @ yi.reshape(-1)).reshape(h, wd))
            r = torch.stack(outs).reshape(b, c, h, wd)
            applied = torch.stack(
                [(circulant(fi) @ ri.reshape(-1)).reshape(h, wd) for fi, ri in zip(fs.reshape(-1, h, wd), r.reshape(-1, h, wd))]
            ).reshape(b, c, h, wd)
        else:
            applied = circular_conv(rlr_solve(xs, ys, lam), fs)
        loss = (applied * w).sum()
        grads.append(torch.autograd.grad(loss, (xs, ys, fs, lam)))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_gradcheck_solve_and_apply():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    f = torch.randn(2, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    lam = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c, l: circular_conv(rlr_solve(a, b, l), c), (x, y, f, lam))
    assert torch.autograd.gradgradcheck(lambda a, b, l: rlr_solve(a, b, l), (x, y, lam))


def test_module_learnable_lambda():
    m = FFTRidgeRegression(lam=0.25, relative=False).double()
    assert abs(m.lam.item() - 0.25) < 1e-6
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    y = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(m(x, y), dense_ridge(x, y, m.lam.item()))
    m(x, y).square().sum().backward()
    assert m.raw_lambda.grad is not None and m.raw_lambda.grad.abs() > 0
    # relative: invariant to the scale of the features (R maps x to y whatever the units of x)
    mr = FFTRidgeRegression(lam=0.1, relative=True).double()
    torch.testing.assert_close(mr(10.0 * x, 10.0 * y), mr(x, y))
    assert softplus_inverse(3.0) == pytest.approx(torch.log(torch.expm1(torch.tensor(3.0))).item())


def test_shape_errors():
    with pytest.raises(ValueError):
        rlr_solve(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5), 1.0)
    with pytest.raises(ValueError):
        circular_conv(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 4, 4))


def test_spectrum_forms_equal_the_spatial_solve_and_convolution():
    # rlr_spectrum / apply_spectrum (filter kept in the Fourier domain) and the fixed-input gain (eq. 6 with
    # f(O_1) fixed over a sequence) give exactly circular_conv(rlr_solve(...), ...)
    from adaptrack.nn.fft_rlr import apply_spectrum, rlr_spectrum

    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64)  # odd width: Nyquist-free last axis
    y = torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64)
    f = torch.randn(4, 3, 6, 7, generator=g, dtype=torch.float64)
    layer = FFTRidgeRegression(0.3).double()
    r = layer(x, y)
    torch.testing.assert_close(torch.fft.irfft2(rlr_spectrum(x, y, 0.3), s=(6, 7)), rlr_solve(x, y, 0.3))
    torch.testing.assert_close(apply_spectrum(layer.spectrum(x[:1], y[:1]), f), circular_conv(r[:1], f))
    gain = layer.fixed_input_gain(x)
    assert gain.dtype == torch.float64 and bool(((gain >= 0) & (gain <= 1)).all())
    for y2 in (y, 3 * y + 1):  # one gain serves every target
        torch.testing.assert_close(layer.transform_fixed_input(gain, y2), circular_conv(layer(x, y2), x))
    # even sizes (DC and Nyquist rows/columns of the half spectrum) too
    x8, y8 = torch.randn(1, 2, 8, 8, generator=g, dtype=torch.float64), torch.randn(1, 2, 8, 8, generator=g, dtype=torch.float64)
    torch.testing.assert_close(layer.transform_fixed_input(layer.fixed_input_gain(x8), y8), circular_conv(layer(x8, y8), x8))
    with pytest.raises(ValueError):
        apply_spectrum(layer.spectrum(x, y), torch.zeros(1, 3, 6, 8))


def test_fixed_input_transform_follows_the_target_shift():
    # eq. (6) with f(O_1) fixed: V * f(O_1) is f(O_{t-1}) filtered by a real, zero-phase gain, so a shift of
    # O_{t-1} shifts the transformed template by exactly as much (the gain never restores O_1's position)
    g = torch.Generator().manual_seed(8)
    x = torch.randn(1, 4, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randn(1, 4, 8, 8, generator=g, dtype=torch.float64)
    layer = FFTRidgeRegression(0.5).double()
    gain = layer.fixed_input_gain(x)
    shifted = layer.transform_fixed_input(gain, torch.roll(y, shifts=(2, -3), dims=(-2, -1)))
    torch.testing.assert_close(shifted, torch.roll(layer.transform_fixed_input(gain, y), shifts=(2, -3), dims=(-2, -1)))
