"""Regularised linear regression by circular convolution, solved in the Fourier domain.

From DSiam — Guo et al., "Learning Dynamic Siamese Network for Visual Object Tracking", ICCV 2017:

* eq. (3): ``R = argmin_T ||T * X - Y||^2 + lambda ||T||^2`` where ``*`` is 2-D circular convolution;
* eq. (4): its closed form ``R = F^-1( conj(F(X)) . F(Y) / (conj(F(X)) . F(X) + lambda) )``;
* eq. (2): applying a learned transform to a feature map, ``T * F`` (circular convolution, same size).

Conventions (checked against a dense solve in ``tests/nn/test_fft_rlr.py``): ``*`` is circular
*convolution*, ``(T * X)[n] = sum_m T[m] X[(n - m) mod N]``, so ``F(T * X) = F(T) F(X)`` with the
unnormalised DFT; the per-frequency ridge solution of ``|T^ X^ - Y^|^2 + lambda |T^|^2`` is then exactly
eq. (4) with the conjugate on ``X`` (Parseval's ``1/N`` appears on both terms and cancels), so ``lambda``
here is the same ``lambda`` as in the spatial-domain objective eq. (3).

Each channel is its own regression (one ``H x W`` filter per channel and batch element), as in the
paper's per-layer, per-channel RLR layer. Everything is ``torch.fft`` and differentiable, so the
gradients of the paper's eqs. (11)-(15) come from autograd (the tests compare them with autograd
through the dense solve).

:class:`FFTRidgeRegression` holds a learnable ``lambda = softplus(raw)``; with ``relative=True`` the
regulariser is ``lambda * mean_k |X^(k)|^2`` (per batch element and channel), which makes it invariant to
the feature scale — useful when the features come from a pretrained backbone whose activations have no
fixed magnitude. The identity transform (a unit impulse at the origin) is :func:`identity_filter`.

Tracking-time forms (same maths, fewer transforms): a learned filter is only ever applied by circular
convolution, so it can stay in the Fourier domain (:func:`rlr_spectrum`, :func:`apply_spectrum`:
``R * F = F^-1(R^ . F^)``). When the regression input is fixed for a whole sequence, as ``f(O_1)`` in eq. (6),
the transformed input ``R * X`` for a new target ``Y`` is ``F^-1(|X^|^2 / (|X^|^2 + lambda) . Y^)``: a
per-sequence real gain on ``Y``'s spectrum (:meth:`FFTRidgeRegression.fixed_input_gain`), one FFT pair
per update instead of solving for ``R`` and convolving.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "rlr_solve", "rlr_spectrum", "circular_conv", "apply", "apply_spectrum", "identity_filter", "FFTRidgeRegression",
    "softplus_inverse",
]


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"fft_rlr: X and Y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.dim() < 2:
        raise ValueError(f"fft_rlr: expected (..., H, W) tensors, got shape {tuple(x.shape)}")


def rlr_spectrum(x: torch.Tensor, y: torch.Tensor, lam, xf: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (4) without the inverse transform: ``rfft2(R)`` (``(..., H, W // 2 + 1)`` complex) of the filter
    :func:`rlr_solve` returns. ``xf``: ``rfft2(x)`` when the caller has it already."""
    _check_pair(x, y)
    xf = torch.fft.rfft2(x) if xf is None else xf
    yf = torch.fft.rfft2(y)
    return xf.conj() * yf / (xf.real.square() + xf.imag.square() + lam)


def apply_spectrum(rf: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """:func:`circular_conv` of a filter given by its spectrum ``rf = rfft2(r)`` with ``f`` (``(..., H, W)``)."""
    h, w = f.shape[-2:]
    if rf.shape[-2:] != (h, w // 2 + 1):
        raise ValueError(f"apply_spectrum: spectrum {tuple(rf.shape)} does not match map {tuple(f.shape)}")
    return torch.fft.irfft2(rf * torch.fft.rfft2(f), s=(h, w))


def rlr_solve(x: torch.Tensor, y: torch.Tensor, lam) -> torch.Tensor:
    """Eq. (4): the filter ``R`` minimising ``||R * x - y||^2 + lam ||R||^2`` per leading index.

    ``x``, ``y``: real tensors ``(..., H, W)`` (e.g. ``(B, C, H, W)``); ``lam``: a positive number or a
    tensor broadcastable to ``(..., 1, 1)``. Returns ``R`` with the shape of ``x``.
    """
    _check_pair(x, y)
    h, w = x.shape[-2:]
    xf = torch.fft.rfft2(x)
    yf = torch.fft.rfft2(y)
    num = xf.conj() * yf
    den = xf.real.square() + xf.imag.square() + lam
    return torch.fft.irfft2(num / den, s=(h, w))


def circular_conv(r: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Eq. (2)'s ``R * F``: 2-D circular convolution per leading index (output has ``f``'s size).

    ``r`` broadcasts against ``f`` on the leading dimensions (e.g. one filter per channel of a batch of
    three search scales: ``r`` ``(1, C, H, W)``, ``f`` ``(3, C, H, W)``).
    """
    if r.shape[-2:] != f.shape[-2:]:
        raise ValueError(f"circular_conv: filter and map sizes differ: {tuple(r.shape)} vs {tuple(f.shape)}")
    h, w = f.shape[-2:]
    return torch.fft.irfft2(torch.fft.rfft2(r) * torch.fft.rfft2(f), s=(h, w))


def identity_filter(like: torch.Tensor) -> torch.Tensor:
    """The unit impulse at the origin, the neutral element of :func:`circular_conv`."""
    r = torch.zeros_like(like)
    r[..., 0, 0] = 1.0
    return r


def softplus_inverse(v: float) -> float:
    """``raw`` with ``softplus(raw) == v`` (for initialising a softplus-parametrised positive value)."""
    if v <= 0:
        raise ValueError(f"softplus_inverse needs a positive value, got {v}")
    return v + math.log(-math.expm1(-v))


class FFTRidgeRegression(nn.Module):
    """The paper's 'RLR' layer with a learnable regulariser: ``forward(x, y) -> R`` (eq. 4).

    ``lam`` is the initial value of ``lambda`` (``softplus(raw_lambda)``); ``relative`` scales it by the mean
    power spectrum of ``x`` per batch element and channel (see the module docstring).
    """

    def __init__(self, lam: float = 0.1, relative: bool = True, learnable: bool = True):
        super().__init__()
        raw = torch.tensor(softplus_inverse(float(lam)))
        if learnable:
            self.raw_lambda = nn.Parameter(raw)
        else:
            self.register_buffer("raw_lambda", raw)
        self.relative = bool(relative)

    @property
    def lam(self) -> torch.Tensor:
        return F.softplus(self.raw_lambda)

    def regulariser(self, x: torch.Tensor, xf: torch.Tensor | None = None) -> torch.Tensor:
        """The ``lambda`` added to the denominator of eq. (4) for input ``x`` (``xf = rfft2(x)`` if known)."""
        lam = self.lam.to(x.dtype)
        if not self.relative:
            return lam
        xf = torch.fft.rfft2(x) if xf is None else xf
        power = xf.abs().square().mean(dim=(-2, -1), keepdim=True)
        return lam * (power + torch.finfo(x.dtype).tiny)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return rlr_solve(x, y, self.regulariser(x))

    def spectrum(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``rfft2`` of :meth:`forward`'s filter (apply it with :func:`apply_spectrum`)."""
        xf = torch.fft.rfft2(x)
        return rlr_spectrum(x, y, self.regulariser(x, xf), xf)

    def fixed_input_gain(self, x: torch.Tensor) -> torch.Tensor:
        """For a regression input ``x`` fixed over many fits: the real gain ``g`` with
        ``circular_conv(forward(x, y), x) == irfft2(g * rfft2(y))`` for every target ``y``
        (see :meth:`transform_fixed_input`)."""
        xf = torch.fft.rfft2(x)
        p = xf.real.square() + xf.imag.square()
        return p / (p + self.regulariser(x, xf))

    @staticmethod
    def transform_fixed_input(gain: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``R * x`` for the filter ``R = forward(x, y)`` fitted to target ``y``, given ``gain =
        fixed_input_gain(x)``: eq. (4) then eq. (2) in one FFT pair."""
        h, w = y.shape[-2:]
        return torch.fft.irfft2(gain * torch.fft.rfft2(y), s=(h, w))

    @staticmethod
    def apply_filter(r: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Eq. (2): ``r * f`` (circular convolution)."""
        return circular_conv(r, f)

    def extra_repr(self) -> str:
        return f"lam={self.lam.item():.4g}, relative={self.relative}"


#: eq. (2)'s application of a learned transform, under the name used in the design notes
apply = circular_conv
