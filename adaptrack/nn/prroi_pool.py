"""Precise RoI Pooling (PrRoIPool) in plain PyTorch, running on any device.

Reference: B. Jiang, R. Luo, J. Mao, T. Xiao, Y. Jiang, "Acquisition of Localization Confidence for
Accurate Object Detection", ECCV 2018 (the IoU-Net paper), sec. 3.3. DiMP (Bhat et al., ICCV 2019,
sec. 3.3) uses it in the filter initializer and ATOM/DiMP use it in the IoU-Net.

The feature map is seen as a continuous function by bilinear interpolation of its samples,

    f(x, y) = sum_{i,j} F[i, j] * hat(y - i) * hat(x - j),     hat(t) = max(0, 1 - |t|),

(zero outside the map), and each output bin is the exact average of ``f`` over the bin:

    PrPool(bin) = (1 / area) * integral_{y1}^{y2} integral_{x1}^{x2} f(x, y) dx dy.

Because ``f`` is a sum of separable products, the integral factorises. With ``H(t)`` the antiderivative
of ``hat`` (0 below -1, (t+1)^2/2 on [-1,0], 1-(1-t)^2/2 on [0,1], 1 above), the weight of column ``j``
in a bin ``[x1, x2]`` is ``wx_j = (H(x2 - j) - H(x1 - j)) / (x2 - x1)`` and likewise for rows, so

    pooled[k, c] = Wy[k] @ F[b_k, c] @ Wx[k]^T         (Wy: (ph, H), Wx: (pw, W))

which is exact, vectorised, and differentiable w.r.t. the features and the box coordinates (the
derivative of ``H`` is ``hat``, continuous).

Coordinates: ``rois`` are ``(K, 5)`` rows ``(batch_index, x1, y1, x2, y2)`` in input-image pixels
(continuous, 0-based). A box coordinate ``x`` maps to feature coordinates ``u = x * spatial_scale -
offset``. With the default ``offset = 0.5`` feature sample ``j`` sits at the centre of its receptive
cell, image position ``(j + 0.5) / spatial_scale`` (RoIAlign's ``aligned=True`` convention);
``offset = 0`` gives the original PrRoIPool convention.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["prroi_pool2d", "prroi_pool_boxes", "PrRoIPool2d", "hat_integral_weights"]


def _hat_antiderivative(t: torch.Tensor) -> torch.Tensor:
    """``H(t) = integral_{-inf}^{t} max(0, 1 - |s|) ds`` (piecewise quadratic, C1)."""
    t = t.clamp(-1.0, 1.0)
    neg = 0.5 * (t + 1.0) ** 2
    pos = 1.0 - 0.5 * (1.0 - t) ** 2
    return torch.where(t < 0, neg, pos)


def hat_integral_weights(lo: torch.Tensor, hi: torch.Tensor, n: int, bins: int) -> torch.Tensor:
    """Averaging weights of ``n`` samples over ``bins`` equal bins splitting ``[lo, hi]``.

    ``lo, hi``: ``(K,)`` feature coordinates. Returns ``(K, bins, n)``: row ``p`` holds
    ``(H(e_{p+1} - j) - H(e_p - j)) / (e_{p+1} - e_p)`` for ``j = 0..n-1``. Bins of zero width get
    zero weights (their output is 0, as in the reference implementation).
    """
    steps = torch.arange(bins + 1, dtype=lo.dtype, device=lo.device) / bins
    edges = lo[:, None] + (hi - lo)[:, None] * steps  # (K, bins+1)
    j = torch.arange(n, dtype=lo.dtype, device=lo.device)
    cdf = _hat_antiderivative(edges[:, :, None] - j)  # (K, bins+1, n)
    mass = cdf[:, 1:] - cdf[:, :-1]  # (K, bins, n)
    width = ((hi - lo) / bins)[:, None, None]
    safe = torch.where(width > 0, width, torch.ones_like(width))
    return torch.where(width > 0, mass / safe, torch.zeros_like(mass))


def prroi_pool2d(
    features: torch.Tensor,
    rois: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    offset: float = 0.5,
) -> torch.Tensor:
    """Precise RoI pooling of ``features`` ``(B, C, H, W)`` over ``rois`` ``(K, 5)``.

    Returns ``(K, C, ph, pw)``. Boxes may reach outside the map (the interpolated map is zero there).
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5) rows (batch_index, x1, y1, x2, y2), got shape {tuple(rois.shape)}")
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    B, C, H, W = features.shape
    rois = rois.to(features.dtype)
    bidx = rois[:, 0].long()
    if rois.shape[0] and (bidx.min() < 0 or bidx.max() >= B):
        raise ValueError(f"roi batch indices must be in [0, {B}), got {bidx.min().item()}..{bidx.max().item()}")
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    x2 = rois[:, 3] * spatial_scale - offset
    y2 = rois[:, 4] * spatial_scale - offset
    wx = hat_integral_weights(x1, x2, W, pw)  # (K, pw, W)
    wy = hat_integral_weights(y1, y2, H, ph)  # (K, ph, H)
    feats = features[bidx]  # (K, C, H, W)
    rows = torch.matmul(wy[:, None], feats)  # (K, C, ph, W)
    return torch.matmul(rows, wx.transpose(1, 2)[:, None])  # (K, C, ph, pw)


def prroi_pool_boxes(
    features: torch.Tensor,
    boxes: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    offset: float = 0.5,
    crop_to_boxes: bool = True,
) -> torch.Tensor:
    """The same pooling for ``P`` boxes per image: ``features`` ``(B, C, H, W)``, ``boxes`` ``(B, P, 4)``
    as ``(x1, y1, x2, y2)``; returns ``(B, P, C, ph, pw)``.

    Equal to :func:`prroi_pool2d` with batch indices ``0..B-1`` repeated ``P`` times, but contracts the
    columns of each image's map with all its boxes in one large matrix product instead of copying the
    map once per box (several times faster for IoU-Net candidate batches). With ``crop_to_boxes`` the
    map is first cut to the window of samples any box can touch (exact; much cheaper when the boxes
    cover a small part of the map, as in the tracker's box refinement).
    """
    if features.dim() != 4 or boxes.dim() != 3 or boxes.shape[-1] != 4 or boxes.shape[0] != features.shape[0]:
        raise ValueError(f"expected features (B, C, H, W) and boxes (B, P, 4), got {tuple(features.shape)} and {tuple(boxes.shape)}")
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    P = boxes.shape[1]
    b = boxes.to(features.dtype).reshape(-1, 4) * spatial_scale - offset
    if crop_to_boxes and b.numel():
        # samples farther than one cell from every box get zero weight: pool from the covering window only
        lo = torch.floor(torch.minimum(b[:, 0], b[:, 2]).min()).item() - 1
        hi = torch.ceil(torch.maximum(b[:, 0], b[:, 2]).max()).item() + 2
        j0, j1 = max(0, int(lo)), min(features.shape[-1], int(hi))
        lo = torch.floor(torch.minimum(b[:, 1], b[:, 3]).min()).item() - 1
        hi = torch.ceil(torch.maximum(b[:, 1], b[:, 3]).max()).item() + 2
        i0, i1 = max(0, int(lo)), min(features.shape[-2], int(hi))
        if j1 <= j0 or i1 <= i0:  # every box is off the map
            return features.new_zeros(features.shape[0], P, features.shape[1], ph, pw)
        features = features[..., i0:i1, j0:j1]
        b = b - torch.tensor([j0, i0, j0, i0], dtype=b.dtype, device=b.device)
    B, C, H, W = features.shape
    wx = hat_integral_weights(b[:, 0], b[:, 2], W, pw).reshape(B, P * pw, W)
    wy = hat_integral_weights(b[:, 1], b[:, 3], H, ph).reshape(B * P, ph, H)
    cols = torch.matmul(features.reshape(B, C * H, W), wx.transpose(1, 2))  # (B, C*H, P*pw)
    cols = cols.reshape(B, C, H, P, pw).permute(0, 3, 2, 1, 4).reshape(B * P, H, C * pw)
    out = torch.matmul(wy, cols)  # (B*P, ph, C*pw)
    return out.reshape(B, P, ph, C, pw).permute(0, 1, 3, 2, 4)


class PrRoIPool2d(nn.Module):
    """Module form of :func:`prroi_pool2d` (no parameters)."""

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float = 1.0, offset: float = 0.5):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = float(spatial_scale)
        self.offset = float(offset)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return prroi_pool2d(features, rois, self.output_size, self.spatial_scale, self.offset)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, offset={self.offset}"
