import pytest
import torch

from adaptrack.nn.correlation import xcorr, xcorr_depthwise, xcorr_fft, xcorr_grouped, xcorr_naive

torch.set_num_threads(1)


@pytest.mark.parametrize("bz,bx", [(2, 2), (1, 3)])
def test_xcorr_matches_naive_loop_both_methods(bz, bx):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(bz, 5, 3, 4, generator=g, dtype=torch.float64)
    x = torch.randn(bx, 5, 9, 8, generator=g, dtype=torch.float64)
    ref = xcorr_naive(z, x)
    assert ref.shape == (bx, 1, 7, 5)
    for method in ("grouped", "depthwise"):
        assert torch.allclose(xcorr(z, x, method=method), ref, atol=1e-10)


def test_grouped_and_depthwise_sum_agree_float32():
    z, x = torch.randn(3, 64, 6, 6), torch.randn(3, 64, 22, 22)
    a, b = xcorr_grouped(z, x), xcorr_depthwise(z, x).sum(1, keepdim=True)
    assert torch.allclose(a, b, atol=1e-3, rtol=1e-4)


def test_depthwise_per_channel_values():
    z = torch.zeros(1, 2, 2, 2)
    z[0, 0, 0, 0] = 1.0  # picks x[c=0] at offset (i, j)
    z[0, 1, 1, 1] = 2.0  # 2 * x[c=1] at (i+1, j+1)
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    out = xcorr_depthwise(z, x)
    assert out.shape == (1, 2, 3, 3)
    assert torch.equal(out[0, 0], x[0, 0, :3, :3])
    assert torch.equal(out[0, 1], 2 * x[0, 1, 1:, 1:])


def test_gradients_flow_to_both_inputs():
    z = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: xcorr(a, b), (z, x))


def test_errors():
    with pytest.raises(ValueError, match="channel"):
        xcorr(torch.zeros(1, 3, 2, 2), torch.zeros(1, 4, 5, 5))
    with pytest.raises(ValueError, match="batch"):
        xcorr(torch.zeros(2, 3, 2, 2), torch.zeros(3, 3, 5, 5))
    with pytest.raises(ValueError, match="larger"):
        xcorr(torch.zeros(1, 3, 6, 6), torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match="method"):
        xcorr(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 5, 5), method="winograd")


def test_xcorr_fft_equals_xcorr_with_gradients():
    g = torch.Generator().manual_seed(7)
    z = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 3, 9, 8, generator=g, dtype=torch.float64, requires_grad=True)
    ref = xcorr_naive(z, x)
    out = xcorr_fft(z, x)
    assert out.shape == (2, 1, 6, 4)
    torch.testing.assert_close(xcorr(z, x, method="fft"), out)
    torch.testing.assert_close(out, ref)
    w = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    g_ref = torch.autograd.grad((ref * w).sum(), (z, x))
    g_fft = torch.autograd.grad((out * w).sum(), (z, x))
    for a, b in zip(g_ref, g_fft):
        torch.testing.assert_close(a, b)
    # a single template against a batch of search maps
    torch.testing.assert_close(xcorr_fft(z[:1], x), xcorr_naive(z[:1].expand(2, -1, -1, -1), x))
    assert torch.autograd.gradgradcheck(lambda a, b: xcorr_fft(a, b), (z[:, :, :2, :2].detach().requires_grad_(), x[:, :, :3, :3].detach().requires_grad_()))
    with pytest.raises(ValueError):
        xcorr_fft(torch.zeros(1, 3, 9, 9), torch.zeros(1, 3, 4, 4))


def test_fft_kernel_folds_a_circular_filter_of_the_search_map():
    # xcorr(z, r * x) with r circularly convolved on every search map == one kernel for all of them
    from adaptrack.nn.correlation import fft_kernel, xcorr_fft_kernel
    from adaptrack.nn.fft_rlr import circular_conv

    g = torch.Generator().manual_seed(3)
    z = torch.randn(1, 4, 5, 6, generator=g, dtype=torch.float64)
    x = torch.randn(3, 4, 12, 11, generator=g, dtype=torch.float64)
    r = torch.randn(1, 4, 12, 11, generator=g, dtype=torch.float64)
    ref = xcorr_naive(z, circular_conv(r, x))
    out = xcorr_fft_kernel(fft_kernel(z, x.shape[-2:], torch.fft.rfft2(r)), x, z.shape[-2:])
    assert out.shape == ref.shape == (3, 1, 8, 6)
    assert torch.allclose(out, ref, atol=1e-10)
    # without a filter it is the plain correlation
    assert torch.allclose(xcorr_fft_kernel(fft_kernel(z, x.shape[-2:]), x, z.shape[-2:]), xcorr_naive(z, x), atol=1e-10)
    with pytest.raises(ValueError, match="does not match"):
        xcorr_fft_kernel(fft_kernel(z, (10, 11)), x, z.shape[-2:])
