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

**Closed-form gradient w.r.t. the box** (:func:`prroi_pool_boxes_with_grad`, used by the IoU-Net box
refinement instead of autograd). A bin edge ``e_q = lo + (hi - lo) q / bins`` moves with the bounds
(``de_q/dlo = 1 - q/bins``, ``de_q/dhi = q/bins``) and ``dH(e - j)/de = hat(e - j)``, so with
``mass_qj = H(e_{q+1} - j) - H(e_q - j)`` and ``width = (hi - lo) / bins``

    dw_qj/dlo = [hat(e_{q+1} - j)(1 - (q+1)/bins) - hat(e_q - j)(1 - q/bins)] / width + w_qj / (bins width)
    dw_qj/dhi = [hat(e_{q+1} - j)(q+1)/bins - hat(e_q - j) q/bins] / width - w_qj / (bins width)

(the interpolated map integrated along the moving bin edges, divided by the bin area, minus the
pooled value times d(area)/area). The output gradient ``G`` (``ph x pw`` per channel) reaches the
weights through the two matrix products: ``dL/dWy = G (F Wx^T)^T`` and ``dL/dWx = G^T (Wy F)``
summed over channels; contracting these with the weight derivatives gives ``dL/dbox``. (The pooling
functions run on any device; :class:`LevelsBoxPool` and the ``*_with_grad`` helpers built on it take CPU
tensors: their small per-box arithmetic runs in NumPy.)

Coordinates: ``rois`` are ``(K, 5)`` rows ``(batch_index, x1, y1, x2, y2)`` in input-image pixels
(continuous, 0-based). A box coordinate ``x`` maps to feature coordinates ``u = x * spatial_scale -
offset``. With the default ``offset = 0.5`` feature sample ``j`` sits at the centre of its receptive
cell, image position ``(j + 0.5) / spatial_scale`` (RoIAlign's ``aligned=True`` convention);
``offset = 0`` gives the original PrRoIPool convention.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["prroi_pool2d", "prroi_pool_boxes", "prroi_pool_boxes_with_grad", "prroi_pool_levels_with_grad", "LevelsBoxPool", "PrRoIPool2d", "hat_integral_weights",
           "hat_integral_weights_and_grads", "sample_window"]


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


def _bin_weights_and_grads(lo, hi, q, bins, n: int, with_grad: bool = True):
    """Core of :func:`hat_integral_weights_and_grads` for rows ``lo, hi`` ``(...)`` whose bin edges are
    ``lo + (hi - lo) * q`` (``q`` ``(..., nb + 1)`` broadcastable, non-decreasing fractions; ``bins`` the
    divisor of the bin width, a number or an array broadcastable to ``lo``). Repeating the last fraction
    pads a row with empty bins whose weights and derivatives are exactly zero. Works on PyTorch tensors
    (any device) and on NumPy arrays (:class:`LevelsBoxPool` uses NumPy for these small arrays: a third
    of PyTorch's per-operation overhead)."""
    xp = np if isinstance(lo, np.ndarray) else torch
    span = hi - lo
    edges = lo[..., None] + span[..., None] * q  # (..., nb+1)
    j = np.arange(n, dtype=lo.dtype) if xp is np else torch.arange(n, dtype=lo.dtype, device=lo.device)
    d = edges[..., None] - j  # (..., nb+1, n)
    t = np.minimum(np.maximum(d, -1.0), 1.0) if xp is np else d.clamp(-1.0, 1.0)  # (np.clip's wrapper is slow)
    hat = 1.0 - xp.abs(t)  # H'(t), zero beyond |t| = 1 (t is clamped there)
    cdf = 0.5 + 0.5 * t * (1.0 + hat)  # H(t) = 1/2 + t - t|t|/2 on [-1, 1]
    mass = cdf[..., 1:, :] - cdf[..., :-1, :]
    width = span / bins
    valid = width > 0
    inv = xp.where(valid, 1.0 / xp.where(valid, width, 1.0), 0.0)[..., None, None]
    w = mass * inv
    if not with_grad:
        return w, None, None
    hq = hat * q[..., None]
    dmass_dhi = hq[..., 1:, :] - hq[..., :-1, :]
    dmass_dlo = (hat[..., 1:, :] - hat[..., :-1, :]) - dmass_dhi
    wb = w * (inv / (bins if isinstance(bins, (int, float)) else bins[..., None, None]))
    return w, dmass_dlo * inv + wb, dmass_dhi * inv - wb


def hat_integral_weights_and_grads(lo: torch.Tensor, hi: torch.Tensor, n: int, bins: int):
    """:func:`hat_integral_weights` and its derivatives w.r.t. ``lo`` and ``hi`` in closed form (see the
    module docstring). Returns ``(w, dw_dlo, dw_dhi)``, each ``(K, bins, n)``; zero-width bins get zero
    weights and zero derivatives (as autograd gives through :func:`hat_integral_weights`)."""
    q = torch.arange(bins + 1, dtype=lo.dtype, device=lo.device) / bins
    return _bin_weights_and_grads(lo, hi, q, bins, n)


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


def sample_window(lo_x: float, lo_y: float, hi_x: float, hi_y: float, height: int, width: int) -> tuple[int, int, int, int]:
    """``(i0, i1, j0, j1)``: the rows ``i0:i1`` and columns ``j0:j1`` of a ``height x width`` map that boxes
    within the extent ``lo_x..hi_x``, ``lo_y..hi_y`` (feature coordinates) can touch. Samples farther than
    one cell from every box get zero weight under the bilinear hat. Empty when ``i1 <= i0`` or ``j1 <= j0``."""
    return (max(0, math.floor(lo_y) - 1), min(height, math.ceil(hi_y) + 2),
            max(0, math.floor(lo_x) - 1), min(width, math.ceil(hi_x) + 2))


def _box_window(features: torch.Tensor, b: torch.Tensor):
    """Cut ``features`` to the window of samples any of the boxes ``b`` ``(K, 4)`` (feature coordinates,
    x1 y1 x2 y2) can touch -- samples farther than one cell from every box get zero weight -- and shift
    the boxes into the window. Returns ``(features, boxes)``, or None when every box is off the map."""
    lo_x, lo_y = torch.minimum(b[:, 0], b[:, 2]).min(), torch.minimum(b[:, 1], b[:, 3]).min()
    hi_x, hi_y = torch.maximum(b[:, 0], b[:, 2]).max(), torch.maximum(b[:, 1], b[:, 3]).max()
    lo_x, lo_y, hi_x, hi_y = torch.stack([lo_x, lo_y, hi_x, hi_y]).tolist()
    i0, i1, j0, j1 = sample_window(lo_x, lo_y, hi_x, hi_y, features.shape[-2], features.shape[-1])
    if j1 <= j0 or i1 <= i0:
        return None
    if (i0, j0, i1, j1) != (0, 0) + tuple(features.shape[-2:]):
        features = features[..., i0:i1, j0:j1]
    if i0 or j0:
        b = b - torch.tensor([j0, i0, j0, i0], dtype=b.dtype, device=b.device)
    return features, b


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
        window = _box_window(features, b)
        if window is None:  # every box is off the map
            return features.new_zeros(features.shape[0], P, features.shape[1], ph, pw)
        features, b = window
    B, C, H, W = features.shape
    wx = hat_integral_weights(b[:, 0], b[:, 2], W, pw).reshape(B, P * pw, W)
    wy = hat_integral_weights(b[:, 1], b[:, 3], H, ph).reshape(B * P, ph, H)
    cols = torch.matmul(features.reshape(B, C * H, W), wx.transpose(1, 2))  # (B, C*H, P*pw)
    cols = cols.reshape(B, C, H, P, pw).permute(0, 3, 2, 1, 4).reshape(B * P, H, C * pw)
    out = torch.matmul(wy, cols)  # (B*P, ph, C*pw)
    return out.reshape(B, P, ph, C, pw).permute(0, 1, 3, 2, 4)


class LevelsBoxPool:
    """PrRoIPool of the same boxes on several fixed feature maps, with the closed-form box gradient (no
    autograd; the features are constants). Built once (e.g. once per frame), called for each set of boxes
    (e.g. each refinement step); :func:`prroi_pool_levels_with_grad` is the one-shot form.

    ``features``: a list of ``(B, C, H, W)`` CPU maps; ``output_sizes`` (int or ``(ph, pw)``),
    ``spatial_scales`` and ``offsets`` one per map. Calling with ``boxes`` ``(B, P, 4)`` ``(x1, y1, x2,
    y2)`` in image pixels returns ``(pooled, box_vjp)``: ``pooled`` a list of ``(B, P, pw, ph, C)`` tensors
    -- note the order (bin columns outermost, channels innermost); ``pooled[l].permute(0, 1, 4, 3, 2)`` is
    :func:`prroi_pool_boxes`' output -- and ``box_vjp(grads)`` taking a list of output gradients of those
    shapes to the ``(B, P, 4)`` box gradient (None without ``with_grad``). :meth:`pool` is the same on a
    NumPy ``(K, 4)`` array of boxes (no conversions; the IoU-Net refinement loop uses it).

    How it is computed (this is the IoU-Net refinement's inner loop: a few small matrix products per map,
    where the shapes of the products and the number of operations, not the arithmetic, set the time):
    the maps are stored once as ``(B, H, W, C)``; each call cuts each map to the window of samples the
    boxes can touch and forms the bin weights of all maps and both axes, and their derivatives, in one
    stacked NumPy computation. Then per map ``T = Wy F`` for all boxes in one product ``(P ph, H) x (H, W
    C)``, and ``pooled = Wx T`` per box with ``T`` laid out ``(W, ph C)`` (a wide product; the transposed
    form ``T Wx^T`` with its 5-column output is several times slower on this CPU). The gradient: ``dL/dWx =
    G T^T`` and ``dL/dWy = (Wx^T G) F^T`` (the same layouts), contracted with the weight derivatives.
    """

    def __init__(self, features, output_sizes, spatial_scales, offsets):
        L = len(features)
        if not L or len(output_sizes) != L or len(spatial_scales) != L or len(offsets) != L:
            raise ValueError("expected one output size, scale and offset per feature map")
        B = features[0].shape[0]
        for f in features:
            if f.dim() != 4 or f.shape[0] != B or f.dtype != features[0].dtype:
                raise ValueError(f"features must be (B, C, H, W) maps of one batch size and dtype, got {tuple(f.shape)}")
            if f.device.type != "cpu":
                raise ValueError(f"LevelsBoxPool runs on CPU tensors, got a map on {f.device}")
        self.batch = B
        self.features = [f.detach().permute(0, 2, 3, 1).contiguous() for f in features]  # (B, H, W, C)
        self.sizes = [(o, o) if isinstance(o, int) else tuple(o) for o in output_sizes]
        self.scales = [float(s) for s in spatial_scales]
        self.offsets = [float(o) for o in offsets]
        self.dtype = features[0].dtype
        npd = self.np_dtype = torch.empty(0, dtype=self.dtype).numpy().dtype
        nb = max(max(sz) for sz in self.sizes)
        # rows (map, axis): axis 0 = x (pw bins), axis 1 = y (ph bins); padded bins repeat the last edge (empty)
        q = [[[k / n for k in range(n + 1)] + [1.0] * (nb - n) for n in (pw, ph)] for ph, pw in self.sizes]
        self.q = np.array(q, dtype=npd)[:, :, None, :]  # (L, 2, 1, nb+1)
        self.nbins = np.array([[pw, ph] for ph, pw in self.sizes], dtype=npd)[:, :, None]  # (L, 2, 1)
        self.scale = np.array([[s, s] for s in self.scales], dtype=npd)[:, :, None]

    def __call__(self, boxes: torch.Tensor, with_grad: bool = True, box_format: str = "xyxy"):
        """Pool ``boxes`` (``box_format`` ``"xyxy"``, or ``"xywh"`` for ``(x, y, w, h)`` boxes, whose gradient
        is then w.r.t. ``(x, y, w, h)``); see the class docstring."""
        if box_format not in ("xyxy", "xywh"):
            raise ValueError(f"box_format must be 'xyxy' or 'xywh', got {box_format!r}")
        B = self.batch
        if boxes.dim() != 3 or boxes.shape[-1] != 4 or boxes.shape[0] != B:
            raise ValueError(f"boxes must be (B, P, 4) with B = {B}, got {tuple(boxes.shape)}")
        P = boxes.shape[1]
        b = boxes.detach().reshape(B * P, 4).cpu().numpy().astype(self.np_dtype, copy=False)
        pooled, vjp = self.pool(b, with_grad, box_format == "xywh")
        pooled = [p.view(B, P, *p.shape[1:]) for p in pooled]
        if not with_grad:
            return pooled, None

        def box_vjp(grads) -> torch.Tensor:
            out = torch.from_numpy(vjp(grads).reshape(B, P, 4))
            return out.to(device=boxes.device, dtype=boxes.dtype)

        return pooled, box_vjp

    def pool(self, b: np.ndarray, with_grad: bool = True, xywh: bool = False):
        """The pooling of ``b`` ``(K, 4)`` (NumPy, the maps' dtype; ``K = B * P``, image by image): returns
        ``(pooled, vjp)`` with ``pooled`` a list of ``(K, pw, ph, C)`` tensors and ``vjp(grads)`` a NumPy
        ``(K, 4)`` gradient w.r.t. the box rows (x1, y1, x2, y2; or x, y, w, h with ``xywh``), or None."""
        feats, sizes = self.features, self.sizes
        L, B = len(feats), self.batch
        K = b.shape[0]
        if K % B:
            raise ValueError(f"expected B * P = {B} * P box rows, got {K}")
        P = K // B
        if xywh:
            b = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
        windows = [None] * L
        if K:
            # the boxes' extent (image px) -> per map the window of samples within one cell of a box
            mn, mx = b.min(0).tolist(), b.max(0).tolist()
            ext = (min(mn[0], mn[2]), min(mn[1], mn[3]), max(mx[0], mx[2]), max(mx[1], mx[3]))
            for m, f in enumerate(feats):
                s, off = self.scales[m], self.offsets[m]
                i0, i1, j0, j1 = sample_window(ext[0] * s - off, ext[1] * s - off, ext[2] * s - off, ext[3] * s - off,
                                               f.shape[1], f.shape[2])
                if j1 > j0 and i1 > i0:
                    windows[m] = (i0, i1, j0, j1)
        if all(w is None for w in windows):  # no box, or every box off every map
            pooled = [f.new_zeros(K, pw, ph, f.shape[3]) for f, (ph, pw) in zip(feats, sizes)]
            return pooled, ((lambda grads: np.zeros((K, 4), dtype=self.np_dtype)) if with_grad else None)
        nmax = max(max(i1 - i0, j1 - j0) for i0, i1, j0, j1 in (w for w in windows if w is not None))
        shift = np.array([[o + (w or (0, 0, 0, 0))[2], o + (w or (0, 0, 0, 0))[0]] for o, w in zip(self.offsets, windows)],
                         dtype=self.np_dtype)[:, :, None]  # (L, 2, 1)
        lo = b[:, :2].T * self.scale - shift  # (L, 2, K) feature coordinates within each window
        hi = b[:, 2:].T * self.scale - shift
        w, dlo, dhi = _bin_weights_and_grads(lo, hi, self.q, self.nbins, nmax, with_grad)  # (L, 2, K, nb, nmax)

        pooled, saved = [], []
        for m, (f, (ph, pw), win) in enumerate(zip(feats, sizes, windows)):
            C = f.shape[3]
            if win is None:
                pooled.append(f.new_zeros(K, pw, ph, C))
                saved.append(None)
                continue
            i0, i1, j0, j1 = win
            H, W = i1 - i0, j1 - j0
            fw = f[:, i0:i1, j0:j1].reshape(B, H, W * C)
            wy = torch.from_numpy(np.ascontiguousarray(w[m, 1, :, :ph, :H]).reshape(B, P * ph, H))
            wx = torch.from_numpy(np.ascontiguousarray(w[m, 0, :, :pw, :W]))  # (K, pw, W)
            t = torch.bmm(wy, fw).view(K, ph, W, C).transpose(1, 2).reshape(K, W, ph * C)  # (Wy F) as (W, ph C)
            pooled.append(torch.bmm(wx, t).view(K, pw, ph, C))  # Wx (Wy F)
            saved.append((fw, t, wx, H, W, C, ph, pw))
        if not with_grad:
            return pooled, None

        def vjp(grads) -> np.ndarray:
            acc = np.zeros((2, 2, K), dtype=self.np_dtype)  # (lo/hi, axis, box)
            for m, sv in enumerate(saved):
                if sv is None:
                    continue
                fw, t, wx, H, W, C, ph, pw = sv
                g = grads[m].reshape(K, pw, ph * C)
                gx = torch.bmm(g, t.transpose(1, 2)).numpy()  # dL/dWx = G (Wy F)^T: (K, pw, W)
                r = torch.bmm(wx.transpose(1, 2), g).view(K, W, ph, C).transpose(1, 2).reshape(B, P * ph, W * C)  # Wx^T G
                gy = torch.bmm(r, fw.transpose(1, 2)).view(K, ph, H).numpy()  # dL/dWy = (Wx^T G) F^T
                for side, d in enumerate((dlo[m], dhi[m])):  # (axis, K, nb, nmax) derivatives w.r.t. lo, hi
                    acc[side, 0] += (gx * d[0, :, :pw, :W]).sum((1, 2)) * self.scales[m]  # image-pixel units
                    acc[side, 1] += (gy * d[1, :, :ph, :H]).sum((1, 2)) * self.scales[m]
            if xywh:  # x2 = x + w: d/dx = d/dx1 + d/dx2, d/dw = d/dx2
                acc[0] += acc[1]
            return acc.reshape(4, K).T  # rows x1, y1, x2, y2 (or x, y, w, h)

        return pooled, vjp


def prroi_pool_levels_with_grad(features, boxes: torch.Tensor, output_sizes, spatial_scales, offsets,
                                with_grad: bool = True):
    """One call of :class:`LevelsBoxPool` (see there): pooled maps ``(B, P, pw, ph, C)`` of ``boxes`` on each
    of ``features`` ``(B, C, H, W)`` and the closed-form box gradient."""
    return LevelsBoxPool(features, output_sizes, spatial_scales, offsets)(boxes, with_grad)


def prroi_pool_boxes_with_grad(
    features: torch.Tensor,
    boxes: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    offset: float = 0.5,
):
    """:func:`prroi_pool_boxes` (``crop_to_boxes``) plus the closed-form gradient w.r.t. the boxes, without
    autograd. Returns ``(pooled, box_vjp)``: ``pooled`` ``(B, P, C, ph, pw)`` and ``box_vjp(grad)``
    mapping a ``(B, P, C, ph, pw)`` output gradient to the ``(B, P, 4)`` gradient w.r.t. the ``(x1, y1,
    x2, y2)`` boxes (the features are treated as constants). Equal to autograd through
    :func:`prroi_pool_boxes` (tested). One map; see :func:`prroi_pool_levels_with_grad`.
    """
    if features.dim() != 4 or boxes.dim() != 3 or boxes.shape[-1] != 4 or boxes.shape[0] != features.shape[0]:
        raise ValueError(f"expected features (B, C, H, W) and boxes (B, P, 4), got {tuple(features.shape)} and {tuple(boxes.shape)}")
    (pooled,), vjp = prroi_pool_levels_with_grad([features], boxes, [output_size], [spatial_scale], [offset])
    return pooled.permute(0, 1, 4, 3, 2), lambda grad: vjp([grad.permute(0, 1, 4, 3, 2)])


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
