"""DiMP: discriminative model prediction for tracking, in pure PyTorch on a CPU.

Paper: G. Bhat, M. Danelljan, L. Van Gool, R. Timofte, "Learning Discriminative Model Prediction for
Tracking", ICCV 2019 (``shared/papers/002_*``). What lives here, top to bottom:

* **Classification features** (sec. 3, "Cls Feat"): a conv block + a residual block on the stride-16
  backbone features, then a projection to ``cls_dim`` channels and an instance L2 normalisation
  (each sample's map scaled to mean square ``1 / (cls_dim * k * k)``, so a unit-norm ``k x k`` filter
  gives O(1) scores).
* **Target model** ``f``: the ``cls_dim x 4 x 4`` weights of a conv layer; scores ``s = x * f``.
* **Learned loss** (eqs. 1, 2, 6, 7): ``L(f) = 1/|S| sum ||r(x*f, c)||^2 + ||lambda f||^2`` with
  ``r = v_c * (m_c s + (1 - m_c) max(0, s) - y_c)``; ``y_c``, ``m_c`` (through a sigmoid) and ``v_c``
  are functions of the distance to the target centre expanded in N = 100 triangular radial basis
  functions with knot spacing Delta = 0.1 feature cells (eq. 7; the last one is the "far" plateau),
  initialised as in sec. 3.4: ``y_c`` = the training label Gaussian ``z_c``, ``v_c = 1``, ``m_c =
  sigmoid(4 tanh(2 - d))`` (a scaled tanh). ``lambda`` is learned too.
* **Model predictor D** (Alg. 1): the initializer (sec. 3.3: conv + PrRoIPool of the target box to
  4x4, averaged over the training samples) gives ``f^(0)``; then steepest descent iterations
  ``f <- f - alpha grad L`` with
    - the closed-form gradient (supp. S1, eq. S5): ``grad L = 2/n sum (ds/df)^T (q_c . r) + 2 lambda^2 f``,
      ``q_c = v_c (m_c + (1 - m_c) 1[s > 0])`` (the derivative of ``r`` w.r.t. ``s``; the supplement's
      eq. S4 prints ``v_c m_c + (1 - m_c) 1[s>0]``, which drops a ``v_c`` -- ours is checked against
      autograd in the tests), the transposed Jacobian being a correlation of the features with the
      weighted residual;
    - the Gauss-Newton step length (eq. 5, supp. S2/S6): ``alpha = ||grad L||^2 / (2 ||J grad L||^2)``
      with ``||J g||^2 = 1/n sum ||q_c . (x * g)||^2 + lambda^2 ||g||^2``. The factor 2 comes from the
      Gauss-Newton model of ``L = ||xi||^2`` being ``||xi + J d||^2`` (so ``Q = 2 J^T J`` in eq. 4, whose
      minimiser along ``-grad L`` is this alpha; with the paper's literal ``Q = J^T J`` the step would be
      twice the line minimiser). The tests check alpha against a direct line minimisation.
  The ``gd`` variant (paper Table 1, "GD") replaces alpha by learned coefficient-wise step lengths.
* **Box estimation** (sec. 3.5): the ATOM IoU-Net (:mod:`adaptrack.nn.iou_net`) on stride-8 and
  stride-16 features of the same crop (with the ``onnxruntime`` backend its refinement loop runs in ONNX
  Runtime on windows of the maps, :class:`_OrtRefine`; the same computation, checked to be exact).
* **Online tracking** (sec. 3.7): :class:`DiMPTracker` -- 15 augmented samples on the first frame and
  10 steepest-descent recursions; a memory of 50 samples (oldest discarded); 2 recursions every 20
  frames, or 1 at once when a distractor peak is detected; samples added only when the target was
  found with confidence; target-lost handling (position kept, no update); the box from IoU-Net
  refinement of jittered candidates around the classifier's peak.

Offline training (sec. 3.6, eqs. 8-9) is in :mod:`adaptrack.training.recipes.dimp`; nothing here
trains. The backbone (EfficientNet-Lite0, ImageNet) is frozen; bundled weights hold only the
trained parts.

Coordinates: crops are ``image_size`` pixels square (a multiple of 16). EfficientNet-Lite0 with TF
'same' padding centres feature ``i`` of stride ``st`` at crop pixel ``st * i + st - 0.5``
(continuous coordinates; :func:`feature_center0`). With the 4x4 filter and padding 2, score ``k``
(output size ``H + 1``) is the filter centred between features ``k - 1`` and ``k``, i.e. at
``st * (k - 0.5) + st - 0.5`` pixels.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..export import torch_threads
from ..nn.iou_net import IoUNet
from ..nn.prroi_pool import prroi_pool_boxes, sample_window
from ..nn.siamese import frames_to_tensor

__all__ = [
    "feature_center0",
    "ClsFeatureBlock",
    "LearnedLoss",
    "FilterInitializer",
    "apply_filter",
    "filter_correlation",
    "loss_value",
    "loss_gradient",
    "steepest_descent_step",
    "DiMPNet",
    "DiMPParams",
    "DiMPTracker",
    "SampleMemory",
]


def feature_center0(stride: int) -> float:
    """Continuous crop-pixel position of feature 0 of an EfficientNet-Lite0 map of ``stride``
    (TF 'same' padding: each stride-2 conv centres output ``i`` on input ``2i + 1``)."""
    return stride - 0.5


# ----------------------------------------------------------------------------------------------------
# Classification features
# ----------------------------------------------------------------------------------------------------
class ClsFeatureBlock(nn.Module):
    """3x3 conv-BN-ReLU, a residual basic block (two 3x3 convs), a 1x1 projection to ``out_dim`` and an
    instance L2 norm."""

    def __init__(self, in_dim: int = 112, mid_dim: int = 128, out_dim: int = 64, filter_size: int = 4):
        super().__init__()
        self.conv_in = nn.Sequential(nn.Conv2d(in_dim, mid_dim, 3, padding=1, bias=False), nn.BatchNorm2d(mid_dim), nn.ReLU(inplace=True))
        self.res1 = nn.Sequential(nn.Conv2d(mid_dim, mid_dim, 3, padding=1, bias=False), nn.BatchNorm2d(mid_dim), nn.ReLU(inplace=True))
        self.res2 = nn.Sequential(nn.Conv2d(mid_dim, mid_dim, 3, padding=1, bias=False), nn.BatchNorm2d(mid_dim))
        self.proj = nn.Conv2d(mid_dim, out_dim, 1)
        self.norm_scale = math.sqrt(1.0 / (out_dim * filter_size * filter_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        x = torch.relu(x + self.res2(self.res1(x)))
        x = self.proj(x)
        C, H, W = x.shape[-3:]
        sq = (x * x).sum(dim=(-3, -2, -1), keepdim=True)
        return x * (self.norm_scale * torch.sqrt(C * H * W / (sq + 1e-5)))


# ----------------------------------------------------------------------------------------------------
# Learned discriminative loss (eqs. 2, 6, 7)
# ----------------------------------------------------------------------------------------------------
class LearnedLoss(nn.Module):
    """``y_c``, ``m_c``, ``v_c`` as triangular radial-basis expansions of the distance to the centre.

    ``label_sigma`` (feature cells) is the Gaussian the label is initialised to; the mask starts as
    ``sigmoid(mask_init_factor * tanh(mask_radius - d))``; the weight as 1. ``lambda`` (``filter_reg``)
    starts at ``init_filter_reg``.
    """

    def __init__(self, num_bins: int = 100, bin_displacement: float = 0.1, label_sigma: float = 0.9,
                 mask_init_factor: float = 4.0, mask_radius: float = 2.0, init_filter_reg: float = 0.05,
                 min_filter_reg: float = 1e-3):
        super().__init__()
        self.num_bins, self.bin_displacement = int(num_bins), float(bin_displacement)
        self.min_filter_reg = float(min_filter_reg)
        d = torch.arange(self.num_bins, dtype=torch.float32) * self.bin_displacement
        self.phi_y = nn.Parameter(torch.exp(-0.5 * (d / label_sigma) ** 2))
        self.phi_m = nn.Parameter(mask_init_factor * torch.tanh(mask_radius - d))
        self.phi_v = nn.Parameter(torch.ones(self.num_bins))
        self.filter_reg = nn.Parameter(torch.tensor(float(init_filter_reg)))

    def basis(self, dist: torch.Tensor) -> torch.Tensor:
        """Eq. 7: ``(..., N)`` triangular basis values at distances ``dist`` (feature cells)."""
        k = torch.arange(self.num_bins, dtype=dist.dtype, device=dist.device)
        t = dist[..., None] / self.bin_displacement - k  # (d - k Delta) / Delta
        rho = (1.0 - t.abs()).clamp(min=0.0)
        last = (1.0 + t[..., -1]).clamp(0.0, 1.0)
        return torch.cat([rho[..., :-1], last[..., None]], dim=-1)

    def forward(self, dist: torch.Tensor):
        """Label ``y``, mask ``m`` (in [0, 1]) and weight ``v`` at distances ``dist`` (eq. 6).

        ``sum_k phi_k rho_k(d)`` has at most two non-zero terms -- the triangles of the knots either side of
        ``d`` (beyond the last knot only the plateau) -- so it is evaluated as the linear interpolation of
        the coefficients at ``u = d / Delta`` clamped to ``[0, N - 1]`` (the same function as ``basis(d) @
        phi`` with the same derivatives w.r.t. ``phi``, tested; no ``(..., N)`` basis tensor).
        """
        u = (dist / self.bin_displacement).clamp(0.0, self.num_bins - 1)
        k0 = u.detach().floor().clamp(max=self.num_bins - 2).long()
        frac = u - k0.to(u.dtype)
        phi = torch.stack([self.phi_y, self.phi_m, self.phi_v]).to(dist.dtype)  # (3, N)
        vals = phi[:, k0] * (1.0 - frac) + phi[:, k0 + 1] * frac  # (3, ...)
        return vals[0], torch.sigmoid(vals[1]), vals[2]

    def reg_weight(self) -> torch.Tensor:
        """``lambda^2`` (lambda clamped to at least ``min_filter_reg``)."""
        lam = self.filter_reg.clamp(min=self.min_filter_reg)
        return lam * lam


# ----------------------------------------------------------------------------------------------------
# Filter application and the closed-form gradient / step length
# ----------------------------------------------------------------------------------------------------
def _seq_major(x: torch.Tensor) -> torch.Tensor:
    """``(n, S, C, H, W)`` -> ``(S, n*H*W, C)``."""
    n, S, C, H, W = x.shape
    return x.permute(1, 0, 3, 4, 2).reshape(S, n * H * W, C)


def apply_filter(x: torch.Tensor, f: torch.Tensor, xs: torch.Tensor | None = None) -> torch.Tensor:
    """Scores ``s = x * f``. ``x`` ``(n, S, C, H, W)`` (n samples of S sequences), ``f`` ``(S, C, k, k)``;
    returns ``(n, S, H', W')`` (correlation with padding ``k // 2``; ``H' = H + 1`` for even ``k``).

    Computed as one batched product over channels, ``y[.., a, b] = sum_c x[c] f[c, a, b]``, followed by
    ``k*k`` shifted sums of the small ``y`` maps: on a CPU this is several times faster (forward and
    backward) than per-sequence grouped convolutions or im2col, which are dominated by overheads.
    ``xs``: ``_seq_major(x)`` when the caller already has it (the optimizer forms it once per call).
    """
    n, S, C, H, W = x.shape
    k = f.shape[-1]
    p = k // 2
    Ho, Wo = H + 2 * p - k + 1, W + 2 * p - k + 1
    y = torch.bmm(_seq_major(x) if xs is None else xs, f.reshape(S, C, k * k))  # (S, n*H*W, k*k)
    y = y.reshape(S, n, H, W, k, k).permute(0, 1, 4, 5, 2, 3)
    y = F.pad(y, (p, p, p, p))  # (S, n, k, k, H + 2p, W + 2p)
    out = 0
    for a in range(k):
        for b in range(k):
            out = out + y[:, :, a, b, a : a + Ho, b : b + Wo]
    return out.transpose(0, 1)


def filter_correlation(x: torch.Tensor, g: torch.Tensor, k: int, weights: torch.Tensor | None = None,
                       xs: torch.Tensor | None = None) -> torch.Tensor:
    """The transposed Jacobian ``(ds/df)^T g`` summed over samples: ``(S, C, k, k)``.

    ``x`` ``(n, S, C, H, W)``, ``g`` ``(n, S, H', W')`` (a map on the score grid), ``weights`` ``(n, S)``
    optional per-sample factors. ``grad[c, a, b] = sum_{n, h, w} x[n, c, h, w] g[n, h - a + p, w - b + p]``:
    ``k*k`` shifted copies of ``g`` and one batched product over samples and positions.
    """
    n, S, C, H, W = x.shape
    if weights is not None:
        g = g * weights[:, :, None, None]
    p = k // 2
    gp = F.pad(g, (k - 1, k - 1, k - 1, k - 1))
    shifted = [gp[:, :, p + k - 1 - a : p + k - 1 - a + H, p + k - 1 - b : p + k - 1 - b + W] for a in range(k) for b in range(k)]
    G = torch.stack(shifted, dim=-1)  # (n, S, H, W, k*k)
    G = G.transpose(0, 1).reshape(S, n * H * W, k * k)
    return torch.bmm((_seq_major(x) if xs is None else xs).transpose(1, 2), G).reshape(S, C, k, k)


def _sample_weights(n: int, S: int, weights, like: torch.Tensor) -> torch.Tensor:
    if weights is None:
        return torch.full((n, S), 1.0 / n, dtype=like.dtype, device=like.device)
    return weights.to(like.dtype)


def loss_value(x, f, y, m, v, reg, weights=None) -> torch.Tensor:
    """Eq. 1 per sequence ``(S,)``: ``sum_j w_j ||r_j||^2 + lambda^2 ||f||^2`` (``w_j = 1/n`` by default)."""
    w = _sample_weights(x.shape[0], x.shape[1], weights, f)
    s = apply_filter(x, f)
    r = v * (m * s + (1 - m) * torch.relu(s) - y)
    return (w * (r * r).sum(dim=(-2, -1))).sum(0) + reg * (f * f).sum(dim=(1, 2, 3))


def loss_gradient(x, f, y, m, v, reg, weights=None, xs=None):
    """Closed-form ``grad L`` (eq. S5) and the pieces the step length needs: returns ``(grad, q, w)``.
    ``xs``: optional ``_seq_major(x)`` (see :func:`apply_filter`)."""
    w = _sample_weights(x.shape[0], x.shape[1], weights, f)
    s = apply_filter(x, f, xs)
    pos = (s > 0).to(s.dtype)
    r = v * (m * s + (1 - m) * torch.relu(s) - y)
    q = v * (m + (1 - m) * pos)
    grad = 2.0 * filter_correlation(x, q * r, f.shape[-1], w, xs) + 2.0 * reg * f
    return grad, q, w


def steepest_descent_step(x, f, y, m, v, reg, weights=None, eps: float = 1e-8, xs=None):
    """One Gauss-Newton steepest-descent iteration (Alg. 1, lines 4-7). Returns ``(f_new, alpha, grad)``.

    ``alpha = ||grad||^2 / (2 ||J grad||^2)`` per sequence, the exact minimiser of the Gauss-Newton
    model ``||xi - alpha J grad||^2`` of the loss along ``-grad`` (see the module docstring).
    """
    grad, q, w = loss_gradient(x, f, y, m, v, reg, weights, xs)
    h = q * apply_filter(x, grad, xs)  # J grad on the data residuals (up to sqrt(w))
    jg2 = (w * (h * h).sum(dim=(-2, -1))).sum(0) + reg * (grad * grad).sum(dim=(1, 2, 3))
    g2 = (grad * grad).sum(dim=(1, 2, 3))
    alpha = g2 / (2.0 * jg2).clamp(min=eps)
    return f - alpha[:, None, None, None] * grad, alpha, grad


# ----------------------------------------------------------------------------------------------------
# Initializer (sec. 3.3)
# ----------------------------------------------------------------------------------------------------
class FilterInitializer(nn.Module):
    """conv, then PrRoIPool of the target box to ``k x k``, averaged over the training samples."""

    def __init__(self, dim: int = 64, filter_size: int = 4, stride: int = 16):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.filter_size, self.stride = int(filter_size), int(stride)

    def forward(self, feat: torch.Tensor, boxes: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """``feat`` ``(n, S, C, H, W)``, ``boxes`` ``(n, S, 4)`` xywh crop pixels -> ``(S, C, k, k)``."""
        n, S, C, H, W = feat.shape
        z = self.conv(feat.reshape(n * S, C, H, W))
        b = boxes.reshape(n * S, 1, 4).to(z.dtype)
        xyxy = torch.cat([b[..., :2], b[..., :2] + b[..., 2:]], dim=-1)
        offset = feature_center0(self.stride) / self.stride
        pooled = prroi_pool_boxes(z, xyxy, self.filter_size, 1.0 / self.stride, offset)
        pooled = pooled.reshape(n, S, C, self.filter_size, self.filter_size)
        if weights is None:
            return pooled.mean(0)
        w = weights / weights.sum(0, keepdim=True)
        return (pooled * w[:, :, None, None, None]).sum(0)


# ----------------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------------
class DiMPNet(nn.Module):
    """Backbone (frozen, EfficientNet-Lite0 s8/s16) + classification branch + model predictor + IoU-Net.

    ``state_dict_trainable()`` / ``load_trainable()`` handle the bundled weights (backbone excluded).
    """

    def __init__(self, backbone=None, cls_dim: int = 64, cls_mid: int = 128, filter_size: int = 4,
                 iou_width: int = 128, image_size: int = 288, area_factor: float = 5.0, num_bins: int = 100,
                 bin_displacement: float = 0.1, pretrained_backbone: bool = True):
        super().__init__()
        if backbone is None:
            from ..nn.backbones import build_backbone

            backbone = build_backbone("efficientnet_lite0", pretrained=pretrained_backbone, layers=("s8", "s16"))
        self.backbone = backbone.freeze()
        c8, c16 = backbone.channels["s8"], backbone.channels["s16"]
        self.stride = backbone.strides["s16"]
        self.filter_size = int(filter_size)
        self.image_size = int(image_size)
        self.area_factor = float(area_factor)
        # label sigma: 1/4 of the base target size, in feature cells (sec. 3.6)
        self.label_sigma = 0.25 * self.image_size / self.area_factor / self.stride
        self.config = dict(cls_dim=cls_dim, cls_mid=cls_mid, filter_size=filter_size, iou_width=iou_width,
                           image_size=image_size, area_factor=area_factor, num_bins=num_bins,
                           bin_displacement=bin_displacement)
        self.cls_feat = ClsFeatureBlock(c16, cls_mid, cls_dim, filter_size)
        self.initializer = FilterInitializer(cls_dim, filter_size, self.stride)
        self.loss = LearnedLoss(num_bins, bin_displacement, label_sigma=self.label_sigma)
        # coefficient-wise learned step lengths of the "gd" variant (paper Table 1); log-parametrised
        self.gd_log_step = nn.Parameter(torch.full((cls_dim, filter_size, filter_size), math.log(0.01)))
        s8 = backbone.strides["s8"]
        self.iou_net = IoUNet((c8, c16), (s8, self.stride), width=iou_width,
                              offsets=(feature_center0(s8) / s8, feature_center0(self.stride) / self.stride))

    # -- weights -----------------------------------------------------------------------------------
    def trainable_state_dict(self) -> dict:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def load_trainable(self, state: dict) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("backbone.")]
        if missing or unexpected:
            raise ValueError(f"DiMP weights do not match the network: missing {missing[:5]}, unexpected {unexpected[:5]}")

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # frozen: BatchNorm statistics stay
        return self

    # -- geometry ----------------------------------------------------------------------------------
    def score_size(self, feat_size: int) -> int:
        k = self.filter_size
        return feat_size + 2 * (k // 2) - k + 1

    def score_origin(self) -> float:
        """Crop-pixel position of score 0 (see the module docstring)."""
        k = self.filter_size
        return self.stride * ((k - 1) / 2.0 - k // 2) + feature_center0(self.stride)

    def centers_to_score(self, centers: torch.Tensor) -> torch.Tensor:
        """Crop-pixel centres ``(..., 2)`` to score-grid coordinates."""
        return (centers - self.score_origin()) / self.stride

    def distance_maps(self, centers: torch.Tensor, size: int) -> torch.Tensor:
        """``(..., size, size)`` distances (score cells) of every score location to ``centers`` ``(..., 2)``."""
        c = self.centers_to_score(centers)
        k = torch.arange(size, dtype=c.dtype, device=c.device)
        dx = k - c[..., 0:1]
        dy = k - c[..., 1:2]
        return torch.sqrt(dy[..., :, None] ** 2 + dx[..., None, :] ** 2)

    # -- pieces ------------------------------------------------------------------------------------
    def extract(self, images: torch.Tensor) -> dict:
        """Backbone features of ``(B, 3, H, W)`` RGB 0..255 crops."""
        return self.backbone(images)

    def classification_features(self, s16: torch.Tensor) -> torch.Tensor:
        return self.cls_feat(s16)

    def frame_branch(self, images: torch.Tensor):
        """Everything a tracked frame needs from its crop, in one fixed-shape call (exported to ONNX for
        the ``onnxruntime`` backend): classification features and the IoU-Net test features."""
        feats = self.backbone(images)
        f3, f4 = self.iou_net.get_iou_features(feats["s8"], feats["s16"])
        return self.cls_feat(feats["s16"]), f3, f4

    def predict_filter(self, feat, boxes, iterations: int, mode: str = "sd", weights=None, f0=None,
                       loss_params=None) -> list:
        """Alg. 1: ``feat`` ``(n, S, C, H, W)``, ``boxes`` ``(n, S, 4)``. Returns the iterates
        ``[f^(0), ..., f^(iterations)]``; ``mode`` is ``"sd"`` (steepest descent), ``"gd"`` (learned
        coefficient-wise steps) or ``"none"``. ``f0`` overrides the initializer (online updates);
        ``loss_params`` = ``(y, m, v, reg)`` overrides the learned loss (the ``fixed_loss`` variant)."""
        f = self.initializer(feat, boxes, weights) if f0 is None else f0
        iterates = [f]
        if iterations <= 0 or mode == "none":
            return iterates
        y, m, v, reg = self.loss_maps(boxes, feat.shape[-1]) if loss_params is None else loss_params(boxes, feat.shape[-1])
        xs = _seq_major(feat)  # the features in the layout of the filter products, formed once for all iterations
        for _ in range(iterations):
            if mode == "sd":
                f, _, _ = steepest_descent_step(feat, f, y, m, v, reg, weights, xs=xs)
            elif mode == "gd":
                grad, _, _ = loss_gradient(feat, f, y, m, v, reg, weights, xs)
                f = f - torch.exp(self.gd_log_step) * grad
            else:
                raise ValueError(f"unknown optimizer mode {mode!r} (sd, gd, none)")
            iterates.append(f)
        return iterates

    def loss_maps(self, boxes: torch.Tensor, feat_size: int, loss: LearnedLoss | None = None):
        """``y, m, v`` maps ``(n, S, H', W')`` for target ``boxes`` ``(n, S, 4)`` and ``lambda^2``."""
        loss = self.loss if loss is None else loss
        centers = boxes[..., :2] + boxes[..., 2:] / 2
        d = self.distance_maps(centers, self.score_size(feat_size))
        y, m, v = loss(d)
        return y, m, v, loss.reg_weight()

    def gaussian_label(self, boxes: torch.Tensor, feat_size: int) -> torch.Tensor:
        """Training label ``z_c``: a Gaussian of std ``label_sigma`` cells at the box centre."""
        centers = boxes[..., :2] + boxes[..., 2:] / 2
        d = self.distance_maps(centers, self.score_size(feat_size))
        return torch.exp(-0.5 * (d / self.label_sigma) ** 2)


# ----------------------------------------------------------------------------------------------------
# Online tracking (sec. 3.7)
# ----------------------------------------------------------------------------------------------------
class SampleMemory:
    """The online training set ``S_train``: at most ``capacity`` (feature map, box) samples; when full,
    the oldest sample is discarded (sec. 3.7)."""

    def __init__(self, capacity: int = 50):
        if capacity < 1:
            raise ValueError(f"memory capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.features: torch.Tensor | None = None  # (capacity, C, H, W), stored channels-last (see tensors())
        self.boxes = torch.zeros(self.capacity, 4)
        self.age = np.full(self.capacity, -1, dtype=np.int64)  # insertion counter per slot (-1: empty)
        self._counter = 0
        self._gathered: torch.Tensor | None = None  # tensors()' output buffer

    def __len__(self) -> int:
        return int((self.age >= 0).sum())

    def add(self, features: torch.Tensor, boxes: torch.Tensor) -> None:
        """Add samples ``(k, C, H, W)`` with boxes ``(k, 4)``, each replacing the oldest when full."""
        if self.features is None:
            self.features = torch.zeros((self.capacity,) + tuple(features.shape[1:]), dtype=features.dtype).contiguous(
                memory_format=torch.channels_last)
        for feat, box in zip(features, boxes):
            empty = np.flatnonzero(self.age < 0)
            slot = int(empty[0]) if len(empty) else int(np.argmin(self.age))
            self.features[slot] = feat
            self.boxes[slot] = box
            self.age[slot] = self._counter
            self._counter += 1

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Stored samples as ``(n, 1, C, H, W)`` features and ``(n, 1, 4)`` boxes, oldest first (the features
        valid until the next call).

        The features are a view of a channels-last gather, so the optimizer's filter-product layout
        (:func:`_seq_major`) is a free reshape of them: measured on 50 samples, NCHW gather + permuting copy
        1.5 ms, channels-last ``index_select`` 0.2 ms."""
        order = np.argsort(np.where(self.age < 0, np.iinfo(np.int64).max, self.age))[: len(self)]
        idx = torch.from_numpy(order)
        # gathered into a buffer kept between calls (measured in a loop of updates: into a fresh 4 MB tensor
        # 2.2 ms, into the kept buffer 0.44 ms); the returned features are valid until the next call
        src = self.features.permute(0, 2, 3, 1)
        if self._gathered is None or self._gathered.shape[0] < len(order):
            self._gathered = torch.empty_like(src)
        feats = torch.index_select(src, 0, idx, out=self._gathered[: len(order)]).permute(0, 3, 1, 2)  # channels-last
        return feats[:, None], self.boxes[idx][:, None]


@dataclass
class DiMPParams:
    """Online tracking settings (sec. 3.7; defaults follow the paper, the rest pytracking-like)."""

    image_size: int = 288  # crop side (multiple of 16)
    search_area_scale: float = 5.0  # crop side = scale * sqrt(w * h)
    optimizer: str = "sd"  # "sd" steepest descent | "gd" learned steps | "none" (initializer only)
    loss: str = "learned"  # "learned" | "fixed" (the hand-set initial loss: Gaussian y, tanh mask, v = 1)
    update: str = "memory"  # "memory" (sec. 3.7) | "none" | "averaging" (linear model averaging)
    averaging_rate: float = 0.05  # model_averaging: f <- (1 - rate) f + rate D({new sample})
    num_augmentations: int = 15  # first-frame samples (identity, flip, 4 rotations, 3 blurs, 4 shifts, 2 dropouts)
    init_iterations: int = 10
    update_iterations: int = 2
    update_interval: int = 20
    hard_negative_iterations: int = 1
    memory_size: int = 50
    target_not_found_threshold: float = 0.25  # max score below: target lost (no move, no update)
    hard_negative_threshold: float = 0.5  # second peak above this x max: distractor detected
    distractor_threshold: float = 0.8  # second peak above this x max: ambiguous, pick the nearer
    target_neighborhood_scale: float = 2.2  # suppression radius (x target size) around the peak
    update_threshold: float = 0.0  # confident-sample gating: add samples only when max score >= this
    use_iou_net: bool = True
    num_init_random_boxes: int = 9
    box_jitter_pos: float = 0.1
    box_jitter_sz: float = 0.5
    box_refinement_iterations: int = 5
    box_refinement_step: float = 1.0
    iou_select_topk: int = 3
    maximal_aspect_ratio: float = 6.0
    min_size: float = 4.0  # pixels
    size_update_rate: float = 0.3  # new size = old^(1-rate) * IoU-Net size^rate (1: the IoU-Net box as is)
    iou_accept: float = 0.0  # IoU-Net box used only if its predicted IoU >= this, else peak + old size
    seed: int = 0
    threads: int | None = None  # torch threads (None: leave as is)
    backend: str = "auto"  # per-frame branch: "auto" (onnxruntime if it imports) | "torch" | "onnxruntime"


def _load_config(weights) -> dict:
    from ..weights import bundled_path

    if weights is None:
        return {}
    path = bundled_path("dimp") if weights == "default" else weights
    if not os.path.isfile(path):
        return {}
    blob = torch.load(path, map_location="cpu", weights_only=True)
    return dict(blob.get("config", {})) if isinstance(blob, dict) else {}


class _ChannelsLastFrame(nn.Module):
    """:meth:`DiMPNet.frame_branch` with channels-last ``(B, H, W, C)`` outputs: the layout every consumer
    wants (the filter products, the memory, the IoU-Net's pooling); ONNX Runtime leaves its blocked layout for
    it as cheaply as for NCHW, and the per-frame permuting copies in PyTorch go away."""

    def __init__(self, net: DiMPNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        return tuple(t.permute(0, 2, 3, 1) for t in self.net.frame_branch(x))


class _OrtFrameBranch:
    """:meth:`DiMPNet.frame_branch` exported to ONNX at a fixed crop size and run by ONNX Runtime
    (BatchNorm folded, faster CPU kernels; see DESIGN.md's measured levers)."""

    def __init__(self, net: DiMPNet, size: int, num_threads: int = 0):
        from ..export import cached_export, ort_session

        # EfficientNet's asymmetric 'same' pads are folded into the convs by the export (same function;
        # 18.1 -> 15.3 CPU ms per frame measured, 1 thread); exported once per process and weights
        model = cached_export(_ChannelsLastFrame(net), "forward", torch.zeros(1, 3, size, size), input_names=("x",),
                              output_names=("cls", "iou3", "iou4"))
        self.session = ort_session(model, num_threads)

    def __call__(self, x: torch.Tensor):
        """``(B, C, H, W)`` maps (as :meth:`DiMPNet.frame_branch`) with channels-last strides."""
        outs = self.session.run(None, {"x": np.ascontiguousarray(x.numpy(), dtype=np.float32)})
        return tuple(torch.from_numpy(o).permute(0, 3, 1, 2) for o in outs)


@functools.lru_cache(maxsize=4)
def _refine_graph_onnx(strides: tuple, iterations: int, step_length: float, min_size: float, channels: tuple) -> bytes:
    """The exported :class:`~adaptrack.nn.iou_net.RefineGraph` (settings only; the weights are inputs):
    exported once per process and settings (tracing the ~3,400 nodes of the unrolled loop takes ~2 s)."""
    from ..export import export_branch
    from ..nn.iou_net import RefineGraph

    graph = RefineGraph(strides, iterations, step_length, min_size=min_size).eval()
    C3, C4 = channels
    head = []
    for C, k in ((C3, 5), (C4, 3)):
        head += [torch.zeros(C, C * k * k), torch.zeros(C * k * k, C), torch.zeros(C), torch.zeros(C)]
    ex = (torch.zeros(1, 12, 12, C3), torch.zeros(1, 8, 8, C4), torch.ones(1, C3), torch.ones(1, C4),
          torch.tensor([[40.0, 40.0, 30.0, 30.0]] * 2), torch.zeros(2), torch.zeros(2), *head, torch.zeros(1))
    names = ["f3", "f4", "m3", "m4", "boxes", "shift3", "shift4", "w3", "w3t", "b3", "p3", "w4", "w4t", "b4", "p4", "bias"]
    return export_branch(graph, "forward", ex, input_names=names, output_names=("boxes_out", "iou", "extent"),
                         dynamic_axes={"f3": {1: "h3", 2: "w3"}, "f4": {1: "h4", 2: "w4"}, "boxes": {0: "K"}})


class _OrtRefine:
    """The IoU-Net box refinement (:meth:`IoUNet.refine`, one image) run by ONNX Runtime on windows of the
    test maps (:class:`~adaptrack.nn.iou_net.RefineGraph`), with an exactness check: the windows are the
    candidates' extent plus ``margin`` times the first box's size, and if any box the refinement evaluated
    reached past them the refinement is redone by :meth:`IoUNet.refine` (never on the 180 demo frames; the
    union of the boxes grows by at most 9% of the box size over the 5 steps there). One thread: the
    ~400 small operations do not gain from a second one. The head's weights are taken when this is built."""

    def __init__(self, iou_net, iterations: int, step_length: float, min_size: float, margin: float = 0.25):
        from ..export import ort_session
        from ..nn.iou_net import RefineGraph

        self.iou_net, self.margin = iou_net, float(margin)
        self.args = (int(iterations), float(step_length))
        self.min_size = float(min_size)
        head = RefineGraph.head_inputs(iou_net)
        names = ["w3", "w3t", "b3", "p3", "w4", "w4t", "b4", "p4", "bias"]
        self.head = {n: np.ascontiguousarray(h.detach().numpy(), dtype=np.float32) for n, h in zip(names, head)}
        channels = (self.head["w3"].shape[0], self.head["w4"].shape[0])
        model = _refine_graph_onnx(tuple(iou_net.strides), self.args[0], self.args[1], self.min_size, channels)
        self.session = ort_session(model, 1)
        self.scales = [1.0 / st for st in iou_net.strides]
        self.offsets = list(iou_net.offsets)

    @staticmethod
    def _window(lo_x, lo_y, hi_x, hi_y, s, off, H, W):
        """LevelsBoxPool's window (:func:`~adaptrack.nn.prroi_pool.sample_window`) of an extent in crop px."""
        return sample_window(lo_x * s - off, lo_y * s - off, hi_x * s - off, hi_y * s - off, H, W)

    def __call__(self, modulation, iou_features, boxes: torch.Tensor):
        """Same arguments and result as ``iou_net.refine(modulation, iou_features, boxes, iterations,
        step_length, min_size=min_size)`` for one image, up to float rounding."""
        b = boxes.detach().reshape(-1, 4).numpy().astype(np.float32)
        xyxy = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1)
        pad = self.margin * float(np.sqrt(abs(b[0, 2] * b[0, 3])))
        ext = (float(xyxy[:, 0::2].min()) - pad, float(xyxy[:, 1::2].min()) - pad, float(xyxy[:, 0::2].max()) + pad,
               float(xyxy[:, 1::2].max()) + pad)
        feed = dict(self.head, boxes=b, m3=modulation[0].detach().numpy(), m4=modulation[1].detach().numpy())
        wins = []
        for name, f, s, off in (("3", iou_features[0], self.scales[0], self.offsets[0]),
                                ("4", iou_features[1], self.scales[1], self.offsets[1])):
            nhwc = f.detach().permute(0, 2, 3, 1)  # a view of the ONNX frame branch's channels-last maps
            H, W = nhwc.shape[1:3]
            i0, i1, j0, j1 = win = self._window(*ext, s, off, H, W)
            if i1 <= i0 or j1 <= j0:  # the boxes are off the map: the general path handles it
                return self.iou_net.refine(modulation, iou_features, boxes, *self.args, min_size=self.min_size)
            wins.append(win)
            feed["f" + name] = np.ascontiguousarray(nhwc[:, i0:i1, j0:j1].numpy())
            feed["shift" + name] = np.array([off + j0, off + i0], dtype=np.float32)
        out_b, iou, e = self.session.run(None, feed)
        for (i0, i1, j0, j1), f, s, off in zip(wins, iou_features, self.scales, self.offsets):
            need = self._window(*[float(v) for v in e], s, off, f.shape[2], f.shape[3])
            if need[0] < i0 or need[1] > i1 or need[2] < j0 or need[3] > j1:  # a box left the window: redo exactly
                return self.iou_net.refine(modulation, iou_features, boxes, *self.args, min_size=self.min_size)
        return torch.from_numpy(out_b)[None], torch.from_numpy(iou)[None]


def _rotate(img: np.ndarray, angle: float) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _blur(img: np.ndarray, sx: float, sy: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigmaX=sx, sigmaY=sy)


from .base import Tracker, TrackOutput, register_tracker  # noqa: E402


@register_tracker("dimp", DiMPParams, "DiMP (Bhat et al. ICCV 2019): steepest-descent model prediction with a learned loss + ATOM IoU-Net", "adaptrack")
class DiMPTracker(Tracker):
    """Online DiMP tracker (sec. 3.7). See the module docstring."""

    def __init__(self, params: DiMPParams | None = None, weights="default"):
        self.params = p = params or DiMPParams()
        if p.optimizer not in ("sd", "gd", "none"):
            raise ValueError(f"dimp: optimizer must be 'sd', 'gd' or 'none', got {p.optimizer!r}")
        if p.loss not in ("learned", "fixed"):
            raise ValueError(f"dimp: loss must be 'learned' or 'fixed', got {p.loss!r}")
        if p.update not in ("memory", "none", "averaging"):
            raise ValueError(f"dimp: update must be 'memory', 'none' or 'averaging', got {p.update!r}")
        if p.image_size % 16:
            raise ValueError(f"dimp: image_size must be a multiple of 16, got {p.image_size}")
        if p.backend not in ("auto", "torch", "onnxruntime"):
            raise ValueError(f"dimp: backend must be 'auto', 'torch' or 'onnxruntime', got {p.backend!r}")
        if p.threads:
            torch.set_num_threads(int(p.threads))
        from ..weights import load_weights

        cfg = _load_config(weights)
        cfg.pop("image_size", None)
        cfg.pop("area_factor", None)
        self.net = DiMPNet(image_size=p.image_size, area_factor=p.search_area_scale, **cfg)
        load_weights(self.net, weights, "dimp")
        self.net.eval()
        # the hand-set loss of the fixed_loss variant: the learned loss at its initialisation
        self.fixed_loss = LearnedLoss(self.net.loss.num_bins, self.net.loss.bin_displacement, label_sigma=self.net.label_sigma).eval()
        self.rng = np.random.default_rng(p.seed)
        self.backend = "torch"
        self._ort = None
        self._ort_refine = None
        if p.backend != "torch":
            try:
                self._ort = _OrtFrameBranch(self.net, p.image_size, int(p.threads or 0))
                if p.use_iou_net and p.box_refinement_iterations > 0:
                    self._ort_refine = _OrtRefine(self.net.iou_net, p.box_refinement_iterations, p.box_refinement_step, 1.0)
                self.backend = "onnxruntime"
            except ImportError:
                if p.backend == "onnxruntime":
                    raise

    def _frame_branch(self, images: torch.Tensor):
        return self._ort(images) if self._ort is not None else self.net.frame_branch(images)

    # -- helpers -----------------------------------------------------------------------------------
    def _crop(self, frame, pos, side, size=None):
        from ..image import crop_and_resize

        return crop_and_resize(frame, pos, side, size or self.params.image_size)

    def _frame_to_crop(self, box, pos, side):
        """Frame xywh box -> crop pixels of the crop centred at ``pos`` with ``side``."""
        s = self.params.image_size / side
        return np.array([(box[0] - pos[0]) * s + self.params.image_size / 2, (box[1] - pos[1]) * s + self.params.image_size / 2,
                         box[2] * s, box[3] * s])

    def _crop_to_frame(self, box, pos, side):
        s = side / self.params.image_size
        return np.array([(box[0] - self.params.image_size / 2) * s + pos[0], (box[1] - self.params.image_size / 2) * s + pos[1],
                         box[2] * s, box[3] * s])

    def _side(self) -> float:
        return float(np.sqrt(self.size[0] * self.size[1]) * self.params.search_area_scale)

    def _loss_params(self):
        if self.params.loss == "fixed":
            return lambda boxes, fs: self.net.loss_maps(boxes, fs, self.fixed_loss)
        return None

    def _optimize(self, f, iterations: int, feats=None, boxes=None) -> torch.Tensor:
        if self.params.optimizer == "none" or iterations <= 0:
            return f
        if feats is None:
            feats, boxes = self.memory.tensors()
        return self.net.predict_filter(feats, boxes, iterations, mode=self.params.optimizer, f0=f,
                                       loss_params=self._loss_params())[-1]

    # -- first frame -------------------------------------------------------------------------------
    def _first_frame_samples(self, frame, box):
        """The augmented first-frame samples: crops and their target boxes (crop pixels)."""
        p = self.params
        side = self._side()
        base = self._crop(frame, self.pos, side)
        bbox = self._frame_to_crop(box, self.pos, side)
        S = p.image_size
        imgs, boxes, dropout = [base], [bbox], 0
        flipped = bbox.copy()
        flipped[0] = S - bbox[0] - bbox[2]
        augs = [("flip", None)] + [("rot", a) for a in (10, -10, 45, -45)] + [("blur", s) for s in ((3, 1), (1, 3), (2, 2))]
        augs += [("shift", s) for s in ((0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6))] + [("dropout", None)] * 2
        for kind, a in augs[: max(0, p.num_augmentations - 1)]:
            if kind == "flip":
                imgs.append(np.ascontiguousarray(base[:, ::-1]))
                boxes.append(flipped)
            elif kind == "rot":
                imgs.append(_rotate(base, a))
                boxes.append(bbox)
            elif kind == "blur":
                imgs.append(_blur(base, *a))
                boxes.append(bbox)
            elif kind == "shift":
                # the crop window moves by a fraction of half its side; the target moves the other way
                d = np.array(a) * side / 4
                imgs.append(self._crop(frame, self.pos + d, side))
                boxes.append(self._frame_to_crop(box, self.pos + d, side))
            else:
                dropout += 1
        return imgs, boxes, dropout

    @torch.no_grad()
    def _initialize(self, frame, box):
        p = self.params
        self.pos = np.asarray(box[:2] + box[2:] / 2, dtype=np.float64)
        self.size = np.maximum(np.asarray(box[2:], dtype=np.float64), p.min_size)
        self.init_size = self.size.copy()
        self.frame_num = 1
        imgs, boxes, n_drop = self._first_frame_samples(frame, box)
        feats = self.net.extract(frames_to_tensor(np.stack(imgs)))
        x = self.net.classification_features(feats["s16"])
        b = torch.tensor(np.asarray(boxes), dtype=torch.float32)
        if n_drop:
            g = torch.Generator().manual_seed(p.seed)
            keep = (torch.rand(n_drop, x.shape[1], 1, 1, generator=g) > 0.2).float() / 0.8
            x = torch.cat([x, x[:1] * keep])
            b = torch.cat([b, b[:1].repeat(n_drop, 1)])
        self.memory = SampleMemory(p.memory_size)
        self.memory.add(x, b)
        iters = p.init_iterations if p.optimizer != "none" else 0
        self.filter = self.net.predict_filter(x[:, None], b[:, None], iters, mode=p.optimizer if iters else "none",
                                              loss_params=self._loss_params())[-1]
        # IoU-Net modulation from the un-augmented first crop
        self.modulation = self.net.iou_net.get_modulation(feats["s8"][:1], feats["s16"][:1], b[:1])
        self.box = np.asarray(box, dtype=np.float64)

    # -- later frames ------------------------------------------------------------------------------
    def _score_map(self, x: torch.Tensor) -> np.ndarray:
        """The score map ``x * f`` of the tracked crop ``x`` ``(1, C, H, W)`` as a NumPy ``(H', W')`` array:
        :func:`apply_filter` with its 16 shifted sums of the small maps done in NumPy (the same operations in
        the same order, so the same values; a fraction of PyTorch's per-operation overhead: the peak search with
        the score map took 0.22 ms, now 0.13)."""
        C, H, W = x.shape[1:]
        k = self.filter.shape[-1]
        p = k // 2
        Ho, Wo = H + 2 * p - k + 1, W + 2 * p - k + 1
        y = torch.bmm(_seq_major(x[:, None]), self.filter.reshape(1, C, k * k)).numpy().reshape(H, W, k, k)
        yp = np.zeros((H + 2 * p, W + 2 * p, k, k), dtype=y.dtype)
        yp[p : p + H, p : p + W] = y
        out = 0
        for a in range(k):
            for b in range(k):
                out = out + yp[a : a + Ho, b : b + Wo, a, b]
        return out

    def _localize(self, scores: np.ndarray, side: float):
        """Peak, flag and the displacement (crop px) of the chosen peak in the score map ``scores`` (NumPy
        ``(H', W')``), with distractor detection."""
        p = self.params
        sc = scores  # small map: NumPy (a fraction of PyTorch's op overhead)
        Hs, Ws = sc.shape
        flat = int(np.argmax(sc))
        k1 = np.array([flat // Ws, flat % Ws], dtype=np.float64)  # (row, col)
        max1 = float(sc.flat[flat])
        origin, st = self.net.score_origin(), self.net.stride
        center = p.image_size / 2.0
        if max1 < p.target_not_found_threshold:
            return max1, "not_found", None
        # suppress the target neighbourhood, look for a second peak
        tsz = self.size * p.image_size / side / st  # target size in score cells
        r = np.maximum(tsz * p.target_neighborhood_scale / 2, 1.0)
        rows = np.arange(Hs, dtype=np.float32)[:, None]
        cols = np.arange(Ws, dtype=np.float32)[None, :]
        mask = (np.abs(rows - k1[0]) <= r[1]) & (np.abs(cols - k1[1]) <= r[0])
        sc2 = np.where(mask, -np.inf, sc)
        flat2 = int(np.argmax(sc2))
        max2 = float(sc2.flat[flat2])
        k2 = np.array([flat2 // Ws, flat2 % Ws], dtype=np.float64)
        disp1 = origin + st * k1[::-1] - center  # (x, y) crop px from the crop centre
        disp2 = origin + st * k2[::-1] - center
        if max2 > p.distractor_threshold * max1 and max2 > p.target_not_found_threshold:
            # two similar peaks: keep the one nearer the previous position; uncertain -> no update
            if np.linalg.norm(disp2) < np.linalg.norm(disp1):
                return max2, "uncertain", disp2
            return max1, "uncertain", disp1
        if max2 > p.hard_negative_threshold * max1 and max2 > p.target_not_found_threshold:
            return max1, "hard_negative", disp1
        return max1, "normal", disp1

    def _estimate_box(self, iou_feat, init_box: np.ndarray) -> np.ndarray:
        """IoU-Net refinement of jittered candidates around ``init_box`` (crop px) -> crop-px box."""
        p = self.params
        boxes = [init_box]
        c = init_box[:2] + init_box[2:] / 2
        sz = init_box[2:]
        for _ in range(p.num_init_random_boxes):
            cj = c + self.rng.uniform(-1, 1, 2) * p.box_jitter_pos * np.sqrt(sz.prod())
            sj = sz * np.exp(self.rng.uniform(-1, 1, 2) * p.box_jitter_sz * 0.5)
            boxes.append(np.concatenate([cj - sj / 2, sj]))
        b = torch.tensor(np.asarray(boxes), dtype=torch.float32)[None]
        if self._ort_refine is not None:
            refined, iou = self._ort_refine(self.modulation, iou_feat, b)
        else:
            refined, iou = self.net.iou_net.refine(self.modulation, iou_feat, b, p.box_refinement_iterations,
                                                   p.box_refinement_step, min_size=1.0)
        refined, iou = refined[0].numpy(), iou[0].numpy()
        ar = refined[:, 2] / refined[:, 3]
        ok = (ar < p.maximal_aspect_ratio) & (ar > 1.0 / p.maximal_aspect_ratio)
        if not ok.any():
            return init_box
        refined, iou = refined[ok], iou[ok]
        top = np.argsort(-iou)[: p.iou_select_topk]
        if float(iou[top].mean()) < p.iou_accept:
            return init_box
        return refined[top].mean(0)

    @torch.no_grad()
    def _track(self, frame):
        self.frame_num += 1
        side = self._side()
        crop_pos = self.pos.copy()
        crop = self._crop(frame, crop_pos, side)
        # uint8 -> float32 in NumPy (frames_to_tensor): a PyTorch ``.float()`` here ran on 2 threads, outside
        # the one-thread block below, and its spinning OpenMP workers slowed the ONNX Runtime frame branch
        # (measured 3.5-4 ms for the conversion itself, 2 threads, 288^2)
        x, f3, f4 = self._frame_branch(frames_to_tensor(crop))  # x: (1, C, H, W)
        # the rest of the frame is small PyTorch work (score map, IoU-Net refinement ~80 ops per step, model
        # update): one thread. A second thread gains nothing on such ops, and each parallel region waits for
        # it: measured on 2 threads with the machine loaded, IoU-Net refinement 809 ms/frame against 25.
        with torch_threads(1):
            return self._track_rest(frame, crop_pos, side, x, f3, f4)

    def _track_rest(self, frame, crop_pos, side, x, f3, f4):
        """Everything of a tracked frame after the frame branch (score map, peak, box, update)."""
        p = self.params
        score, flag, disp = self._localize(self._score_map(x), side)
        if flag == "not_found":  # target lost: keep the last box, learn nothing from this frame
            return TrackOutput(self.box.copy(), score, {"flag": flag})
        scale = side / p.image_size
        new_pos = crop_pos + disp * scale
        init = self._frame_to_crop(np.concatenate([new_pos - self.size / 2, self.size]), crop_pos, side)
        est = self._estimate_box((f3, f4), init) if p.use_iou_net else init
        box = self._crop_to_frame(est, crop_pos, side)
        H, W = frame.shape[:2]
        r = p.size_update_rate
        size = np.exp((1 - r) * np.log(self.size) + r * np.log(np.maximum(box[2:], 1e-3)))
        self.size = np.clip(size, p.min_size, [W, H])
        self.pos = np.clip(box[:2] + box[2:] / 2, 0, [W, H])
        self.box = np.concatenate([self.pos - self.size / 2, self.size])
        # the new training sample: this crop, labelled with the estimated box (crop px)
        sample_box = torch.tensor(self._frame_to_crop(self.box, crop_pos, side), dtype=torch.float32)
        self._update(x, sample_box, flag, score)
        return TrackOutput(self.box.copy(), score, {"flag": flag})

    def _update(self, x: torch.Tensor, box: torch.Tensor, flag: str, score: float) -> None:
        """Sec. 3.7 model update (or the ``no_update`` / ``model_averaging`` variants)."""
        p = self.params
        if p.update == "none":
            return
        confident = flag in ("normal", "hard_negative") and score >= p.update_threshold
        if p.update == "averaging":
            if confident:  # f <- (1 - rate) f + rate D({new sample})
                iters = p.update_iterations if p.optimizer != "none" else 0
                f_new = self.net.predict_filter(x[:, None], box[None, None], iters, mode=p.optimizer if iters else "none",
                                                loss_params=self._loss_params())[-1]
                self.filter = (1 - p.averaging_rate) * self.filter + p.averaging_rate * f_new
            return
        if confident:
            self.memory.add(x, box[None])
        if flag == "hard_negative":
            self.filter = self._optimize(self.filter, p.hard_negative_iterations)
        elif (self.frame_num - 1) % p.update_interval == 0:
            self.filter = self._optimize(self.filter, p.update_iterations)
