"""Cross-correlation of template features with search features (SiamFC, Bertinetto et al. 2016,
eq. 2: ``f(z, x) = phi(z) * phi(x) + b``, here without the bias).

``xcorr(z, x)`` is the full correlation over channels, ``(B, C, hz, wz) x (B, C, hx, wx) -> (B, 1, h, w)``
with ``h = hx - hz + 1``: ``out[b, 0, i, j] = sum_{c, u, v} z[b, c, u, v] * x[b, c, i + u, j + v]``.
Three exact implementations are kept, with parity tests:

* ``method="grouped"``: one grouped conv, the B templates as the weights of B groups (SiamFC's trick);
* ``method="depthwise"``: depthwise correlation (``B * C`` groups) then a sum over channels;
* ``method="fft"``: in the Fourier domain (:func:`xcorr_fft`); used in training, where its backward and
  double backward (GradNet) are several times faster here than those of large-kernel convolutions. Its
  kernel can be kept (:func:`fft_kernel`, :func:`xcorr_fft_kernel`) and can carry a circular filter of the
  search map (DSiam's ``W``), applied at no extra cost.

On this CPU the depthwise form is measured several times faster (``benchmarks/speed.py --xcorr``;
numbers in docs/backbones.md), so it is the default. A single template (``z`` with batch 1) against
several search maps (a multi-scale batch) broadcasts: the template is shared by all of them.

``xcorr_depthwise(z, x) -> (B, C, h, w)`` keeps the channels (SiamRPN++ / SiamFC++ style heads).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["xcorr", "xcorr_depthwise", "xcorr_grouped", "xcorr_fft", "fft_kernel", "xcorr_fft_kernel", "xcorr_naive"]


def _check(z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if z.dim() != 4 or x.dim() != 4:
        raise ValueError(f"xcorr expects 4-D (B, C, H, W) tensors, got z {tuple(z.shape)} and x {tuple(x.shape)}")
    if z.shape[1] != x.shape[1]:
        raise ValueError(f"xcorr channel mismatch: z has {z.shape[1]}, x has {x.shape[1]}")
    if z.shape[-2] > x.shape[-2] or z.shape[-1] > x.shape[-1]:
        raise ValueError(f"xcorr template {tuple(z.shape[-2:])} is larger than the search map {tuple(x.shape[-2:])}")
    if z.shape[0] != x.shape[0]:
        if z.shape[0] != 1:
            raise ValueError(f"xcorr batch mismatch: z has {z.shape[0]}, x has {x.shape[0]} (z may have batch 1)")
        z = z.expand(x.shape[0], *z.shape[1:])
    return z, x


def xcorr_depthwise(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-channel correlation: ``(B, C, hz, wz) x (B, C, hx, wx) -> (B, C, hx-hz+1, wx-wz+1)``."""
    if z.dim() == 4 and z.shape[0] == 1 and x.dim() == 4:
        # one template for the whole batch: it is the (C, 1, hz, wz) depthwise kernel as it stands (a
        # transpose, no reshape, so an ONNX export keeps the kernel's static shape)
        _check(z, x)
        return F.conv2d(x, z.transpose(0, 1), groups=z.shape[1])
    z, x = _check(z, x)
    b, c, hz, wz = z.shape
    out = F.conv2d(x.reshape(1, b * c, x.shape[2], x.shape[3]), z.reshape(b * c, 1, hz, wz), groups=b * c)
    return out.reshape(b, c, out.shape[2], out.shape[3])


def xcorr_grouped(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Full correlation as one grouped conv: ``-> (B, 1, h, w)`` (with one template for the batch, an
    ordinary single-output convolution)."""
    if z.dim() == 4 and z.shape[0] == 1 and x.dim() == 4:
        _check(z, x)
        return F.conv2d(x, z)
    z, x = _check(z, x)
    b, c = z.shape[:2]
    out = F.conv2d(x.reshape(1, b * c, x.shape[2], x.shape[3]), z, groups=b)
    return out.reshape(b, 1, out.shape[2], out.shape[3])


def xcorr(z: torch.Tensor, x: torch.Tensor, method: str = "depthwise") -> torch.Tensor:
    """Full cross-correlation ``(B, C, hz, wz) x (B, C, hx, wx) -> (B, 1, h, w)`` (``z`` may have batch 1).

    ``method``: ``"depthwise"`` (depthwise correlation + channel sum, the faster here at inference),
    ``"grouped"`` or ``"fft"`` (the faster backward, for training).
    """
    if method == "depthwise":
        return xcorr_depthwise(z, x).sum(dim=1, keepdim=True)
    if method == "grouped":
        return xcorr_grouped(z, x)
    if method == "fft":
        return xcorr_fft(z, x)
    raise ValueError(f"xcorr method must be 'depthwise', 'grouped' or 'fft', got {method!r}")


def xcorr_fft(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """SiamFC's full (valid) cross-correlation computed in the Fourier domain, exactly equal to
    :func:`xcorr` (``(B, C, hz, wz) x (B, C, hx, wx) -> (B, 1, hx-hz+1, wx-wz+1)``,
    ``z`` may have batch 1).

    The circular correlation of ``x`` with ``z`` zero-padded to ``x``'s size never wraps at the valid
    offsets ``0 .. hx-hz``, so those are the valid correlation; the channel sum is taken in the Fourier
    domain. Used in training, where its backward (and double backward, GradNet) is several times faster
    on this CPU than that of the depthwise convolution with large kernels.
    """
    _check(z, x)
    return xcorr_fft_kernel(fft_kernel(z, x.shape[-2:]), x, z.shape[-2:])


def fft_kernel(z: torch.Tensor, size, filter_spectrum: torch.Tensor | None = None) -> torch.Tensor:
    """The Fourier-domain kernel of :func:`xcorr_fft` for template ``z`` against search maps of ``size``
    ``(hx, wx)``: ``conj(rfft2(z zero-padded to size))``, complex ``(B, C, hx, wx // 2 + 1)``.

    With ``filter_spectrum = rfft2(r)`` (a per-channel filter of the search map's size) the kernel also
    applies the circular convolution ``r * x`` to the search map first, so
    ``xcorr_fft_kernel(fft_kernel(z, size, rfft2(r)), x, z_hw) == xcorr(z, circular_conv(r, x))``: a filter
    that stays fixed over many search maps (DSiam's background suppression ``W``) and the correlation
    cost one FFT of the search map and one inverse FFT per map, instead of a transform pair per channel.
    """
    kernel = torch.fft.rfft2(z, s=tuple(size)).conj()
    return kernel if filter_spectrum is None else kernel * filter_spectrum


def xcorr_fft_kernel(kernel: torch.Tensor, x: torch.Tensor, template_hw) -> torch.Tensor:
    """The valid correlation ``(B, 1, hx-hz+1, wx-wz+1)`` of search maps ``x`` ``(B, C, hx, wx)`` with the
    template whose :func:`fft_kernel` is ``kernel`` (batch 1 or B); ``template_hw`` = ``(hz, wz)``."""
    hz, wz = template_hw
    hx, wx = x.shape[-2:]
    if kernel.shape[-3:] != (x.shape[1], hx, wx // 2 + 1):
        raise ValueError(f"xcorr_fft_kernel: kernel {tuple(kernel.shape)} does not match search maps {tuple(x.shape)}")
    spec = (kernel * torch.fft.rfft2(x)).sum(dim=1, keepdim=True)
    return torch.fft.irfft2(spec, s=(hx, wx))[..., : hx - hz + 1, : wx - wz + 1]


def xcorr_naive(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reference loop over output positions (slow; for tests)."""
    z, x = _check(z, x)
    b, c, hz, wz = z.shape
    h, w = x.shape[2] - hz + 1, x.shape[3] - wz + 1
    out = x.new_zeros(b, 1, h, w)
    for i in range(h):
        for j in range(w):
            out[:, 0, i, j] = (z * x[:, :, i : i + hz, j : j + wz]).sum(dim=(1, 2, 3))
    return out
