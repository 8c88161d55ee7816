"""ATOM IoU-Net: target-conditioned IoU prediction and box refinement by gradient ascent.

Reference: M. Danelljan, G. Bhat, F. S. Khan, M. Felsberg, "ATOM: Accurate Tracking by Overlap
Maximization", CVPR 2019, sec. 3.1-3.2 (architecture, fig. 3) and sec. 3.4 (refinement); used unchanged
by DiMP (Bhat et al., ICCV 2019, sec. 3.5: "We use the same network architecture as in [6]").

Two feature levels enter, stride 8 and stride 16 (ATOM: ResNet block3/block4; here EfficientNet-Lite0
``s8``/``s16``):

* **reference branch** (first frame and its box): per level a 3x3 conv block, then PrRoIPool of the box
  (3x3 at stride 8, 1x1 at stride 16), a fully connected block on the stride-8 pool, concatenation,
  and one 1x1 "fc" per level giving the **modulation vectors** ``c3, c4``;
* **test branch**: 3x3 conv blocks per level (the "IoU features": one at stride 8, two at stride 16;
  ATOM has two at both -- the stride-8 map is the costliest on a CPU); for each candidate box, PrRoIPool
  (5x5 at stride 8, 3x3 at stride 16), channel-wise multiplication by the modulation vector, a fully
  connected block per level, concatenation and a linear layer giving the predicted IoU.

The prediction is differentiable w.r.t. the box coordinates (PrRoIPool is), so candidate boxes are
refined by gradient ascent on the predicted IoU (ATOM sec. 3.4): ``b <- b + step * (w, h, w, h) *
dIoU/db`` for a few iterations; the tracker then averages the best candidates.

Refinement in eval mode computes ``dIoU/db`` in closed form instead of by autograd
(:meth:`IoUNet.iou_and_box_grad`): the head after pooling is ``iou = w . relu(BN(W3 p3)), relu(BN(W4
p4)) + b`` (BatchNorm folded into the linear layers), so ``dIoU/dp_l = W_l^T (w_l . 1[z_l > 0])``, and
PrRoIPool's closed-form box derivative (:func:`~adaptrack.nn.prroi_pool.prroi_pool_boxes_with_grad`)
carries it to the box (both levels' bin weights in one stacked computation). The folded head is formed
once and reused while the weights are unchanged; per frame the modulation is folded into the test
features (``pool(f) * m == pool(f * m)`` channel-wise, pooling being linear); between steps the boxes
stay in NumPy (the step is overhead-bound: every PyTorch operation saved counts). :class:`RefineGraph`
is the same refinement as fixed-shape tensor operations for export to ONNX Runtime (the DiMP tracker's
default path), which runs its many small operations with less overhead still.

Sizes are reduced from ATOM's (which were built for ResNet-18's 128/256 channels and 256-512 wide
layers) to suit EfficientNet-Lite0 (40 channels at stride 8, 112 at stride 16) and a CPU: reference
convs 64 (s8) / 128 (s16), test convs 128 / 128, modulation and fc widths 128 / 128 (``width``).

Boxes are ``(x, y, w, h)`` in pixels of the image crop the features were computed from.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .prroi_pool import LevelsBoxPool, _bin_weights_and_grads, prroi_pool_boxes

__all__ = ["IoUNet", "RefineGraph", "boxes_to_rois"]


def _conv_block(cin: int, cout: int, k: int = 3, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _LinearBlock(nn.Module):
    """Fully connected layer on a pooled ``(C, k, k)`` map + BatchNorm + ReLU (ATOM's LinearBlock)."""

    def __init__(self, cin: int, cout: int, k: int):
        super().__init__()
        self.linear = nn.Linear(cin * k * k, cout, bias=False)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.linear(x.flatten(1))))

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode ``(weight, bias)`` with BatchNorm folded in: ``forward(x) == relu(x @ weight.T + bias)``."""
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        return self.linear.weight * scale[:, None], bn.bias - bn.running_mean * scale


def boxes_to_rois(boxes: torch.Tensor) -> torch.Tensor:
    """``(B, P, 4)`` xywh boxes to ``(B*P, 5)`` PrRoIPool rows ``(batch_index, x1, y1, x2, y2)``."""
    B, P, _ = boxes.shape
    bidx = torch.arange(B, dtype=boxes.dtype, device=boxes.device).repeat_interleave(P)[:, None]
    b = boxes.reshape(-1, 4)
    return torch.cat([bidx, b[:, :2], b[:, :2] + b[:, 2:]], dim=1)


def _xyxy(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([boxes[..., :2], boxes[..., :2] + boxes[..., 2:]], dim=-1)


class IoUNet(nn.Module):
    """Target-conditioned IoU predictor on stride-8 and stride-16 features (see module docstring)."""

    def __init__(self, in_channels: tuple[int, int] = (40, 112), strides: tuple[int, int] = (8, 16), width: int = 128,
                 offsets: tuple[float, float] = (0.5, 0.5)):
        super().__init__()
        c8, c16 = in_channels
        self.strides = tuple(strides)
        # PrRoIPool ``offset`` per level: feature 0 sits at crop pixel ``offset * stride`` (0.5: cell centres)
        self.offsets = tuple(float(o) for o in offsets)
        w = width
        # reference branch
        self.conv3_r = _conv_block(c8, w // 2)
        self.conv4_r = _conv_block(c16, w)
        self.fc3_r = _LinearBlock(w // 2, w, 3)
        self.mod3 = nn.Linear(w + w, w)
        self.mod4 = nn.Linear(w + w, w)
        # test branch
        self.conv3_t = _conv_block(c8, w)  # one block at stride 8 (ATOM: two) -- the costliest map
        self.conv4_t = nn.Sequential(_conv_block(c16, w), _conv_block(w, w))
        self.fc3_t = _LinearBlock(w, w, 5)
        self.fc4_t = _LinearBlock(w, w, 3)
        self.iou_predictor = nn.Linear(w + w, 1)

    # -- reference ---------------------------------------------------------------------------------
    def get_modulation(self, feat8: torch.Tensor, feat16: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Modulation vectors ``(B, width)`` x 2 from reference features and their ``(B, 4)`` boxes."""
        xyxy = _xyxy(boxes.reshape(-1, 1, 4))
        r3 = prroi_pool_boxes(self.conv3_r(feat8), xyxy, 3, 1.0 / self.strides[0], self.offsets[0])[:, 0]
        r4 = prroi_pool_boxes(self.conv4_r(feat16), xyxy, 1, 1.0 / self.strides[1], self.offsets[1])[:, 0]
        joint = torch.cat([self.fc3_r(r3), r4.flatten(1)], dim=1)
        return self.mod3(joint), self.mod4(joint)

    # -- test ----------------------------------------------------------------------------------------
    def get_iou_features(self, feat8: torch.Tensor, feat16: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Test-branch feature maps (computed once per frame, reused for every candidate box)."""
        return self.conv3_t(feat8), self.conv4_t(feat16)

    def predict_iou(self, modulation, iou_features, boxes: torch.Tensor) -> torch.Tensor:
        """Predicted IoU ``(B, P)`` of candidate ``boxes`` ``(B, P, 4)`` given per-image modulation ``(B, w)``."""
        B, P, _ = boxes.shape
        m3, m4 = modulation
        f3, f4 = iou_features
        xyxy = _xyxy(boxes)
        p3 = prroi_pool_boxes(f3, xyxy, 5, 1.0 / self.strides[0], self.offsets[0]) * m3[:, None, :, None, None]
        p4 = prroi_pool_boxes(f4, xyxy, 3, 1.0 / self.strides[1], self.offsets[1]) * m4[:, None, :, None, None]
        joint = torch.cat([self.fc3_t(p3.flatten(0, 1)), self.fc4_t(p4.flatten(0, 1))], dim=1)
        return self.iou_predictor(joint).reshape(B, P)

    def forward(self, ref_feats, ref_boxes, test_feats, proposals, seq_index: torch.Tensor | None = None) -> torch.Tensor:
        """Training forward: reference ``(S, ...)`` features/boxes ``(S, 4)``; test ``(B, ...)`` features
        and proposals ``(B, P, 4)``; ``seq_index`` ``(B,)`` says which reference each test image uses
        (default: ``B == S``, one-to-one). Returns predicted IoUs ``(B, P)``."""
        m3, m4 = self.get_modulation(ref_feats[0], ref_feats[1], ref_boxes)
        if seq_index is not None:
            m3, m4 = m3[seq_index], m4[seq_index]
        return self.predict_iou((m3, m4), self.get_iou_features(test_feats[0], test_feats[1]), proposals)

    # -- refinement ----------------------------------------------------------------------------------
    def _head_constants(self) -> tuple:
        """The head after pooling with BatchNorm folded in (eval mode), per level ``(W, W^T, b, w)``: ``W``
        ``(width, pw*ph*C)`` with its input columns in :class:`~adaptrack.nn.prroi_pool.LevelsBoxPool`'s
        ``(pw, ph, C)`` order, ``b`` the folded bias, ``w`` (NumPy) that level's part of the IoU predictor's
        weight; and the predictor's bias. Computed once and reused while the weights are unchanged (keyed
        on the parameters' and buffers' version counters, which every in-place change bumps)."""
        tensors = [self.iou_predictor.weight, self.iou_predictor.bias]
        for block in (self.fc3_t, self.fc4_t):
            tensors += [block.linear.weight, block.bn.weight, block.bn.bias, block.bn.running_mean, block.bn.running_var]
        key = tuple((t.data_ptr(), t._version, t.dtype) for t in tensors)
        cached = getattr(self, "_head_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        head = []
        wp = self.iou_predictor.weight.detach()[0]
        start = 0
        for block, k in ((self.fc3_t, 5), (self.fc4_t, 3)):
            w, b = block.folded()
            w = w.detach().reshape(w.shape[0], -1, k, k).permute(0, 3, 2, 1).reshape(w.shape[0], -1).contiguous()
            head.append((w, w.t(), b.detach().clone(), wp[start : start + w.shape[0]].numpy().copy()))
            start += w.shape[0]
        consts = (tuple(head), float(self.iou_predictor.bias.detach()))
        self._head_cache = (key, consts)
        return consts

    def _refine_context(self, modulation, iou_features) -> tuple:
        """Per-frame constants of :meth:`iou_and_box_grad`: the pooling of the test features times the
        modulation (:class:`~adaptrack.nn.prroi_pool.LevelsBoxPool`) and the folded head
        (:meth:`_head_constants`)."""
        feats = [f.detach() * m.detach()[:, :, None, None] for f, m in zip(iou_features, modulation)]
        pool = LevelsBoxPool(feats, (5, 3), [1.0 / s for s in self.strides], self.offsets)
        head, bias = self._head_constants()
        return pool, head, bias

    @staticmethod
    def _iou_and_grad(ctx: tuple, b: np.ndarray, need_grad: bool = True):
        """Predicted IoU ``(K,)`` of the NumPy ``(K, 4)`` xywh boxes ``b`` and (with ``need_grad``) its
        gradient w.r.t. them ``(K, 4)``, both NumPy."""
        pool, head, bias = ctx
        K = b.shape[0]
        pooled, vjp = pool.pool(b, with_grad=need_grad, xywh=True)
        # the head on the pooled features (products in PyTorch, the small elementwise rest in NumPy)
        zs = [torch.addmm(bb, p.view(K, -1), wt).numpy() for p, (_, wt, bb, _) in zip(pooled, head)]
        iou = bias + sum((np.maximum(z, 0.0) * wp).sum(1) for z, (*_, wp) in zip(zs, head))
        iou = np.asarray(iou, dtype=zs[0].dtype)
        if not need_grad:
            return iou, None
        # dIoU / d pooled (modulated) features, through relu and the folded linear layers, then to the box
        gs = [torch.mm(torch.from_numpy((z > 0) * wp), w) for z, (w, _, _, wp) in zip(zs, head)]
        return iou, vjp(gs)  # w.r.t. (x, y, w, h)

    @torch.no_grad()
    def iou_and_box_grad(self, modulation, iou_features, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted IoU ``(B, P)`` of ``boxes`` ``(B, P, 4)`` xywh and its gradient w.r.t. the boxes ``(B, P,
        4)``, in closed form (eval mode only: BatchNorm with running statistics). Equals
        :meth:`predict_iou` and autograd through it (tested)."""
        if self.training:
            raise RuntimeError("iou_and_box_grad needs eval mode (BatchNorm folded with running statistics)")
        B, P, _ = boxes.shape
        ctx = self._refine_context(modulation, iou_features)
        b = boxes.detach().reshape(B * P, 4).cpu().numpy().astype(ctx[0].np_dtype)
        iou, grad = self._iou_and_grad(ctx, b)
        return (torch.from_numpy(iou).reshape(B, P).to(boxes.device, boxes.dtype),
                torch.from_numpy(grad.copy()).reshape(B, P, 4).to(boxes.device, boxes.dtype))

    def refine(self, modulation, iou_features, boxes: torch.Tensor, iterations: int = 5, step_length: float = 1.0,
               step_decay: float = 1.0, min_size: float = 1.0, score_final: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient ascent on the predicted IoU w.r.t. box coordinates (ATOM sec. 3.4).

        ``boxes`` ``(B, P, 4)`` xywh. Each step moves ``b += step * (w, h, w, h) * dIoU/db`` (the gradient is
        scaled by the box size so the step is relative). Returns the refined boxes and their predicted IoU:
        of the returned boxes with ``score_final``, else (cheaper, as ATOM does) the IoU predicted in the
        last iteration, just before its step. In eval mode on CPU the gradient is the closed form of
        :meth:`iou_and_box_grad` (one context per call, the boxes kept in NumPy between steps); otherwise
        (training mode, other devices) autograd through :meth:`predict_iou`.
        """
        if self.training or iou_features[0].device.type != "cpu":
            return self._refine_autograd(modulation, iou_features, boxes, iterations, step_length, step_decay, min_size,
                                         score_final)
        with torch.no_grad():
            B, P, _ = boxes.shape
            ctx = self._refine_context(modulation, iou_features)
            b = boxes.detach().reshape(B * P, 4).cpu().numpy().astype(ctx[0].np_dtype)  # a copy
            dtype = b.dtype.type
            step = float(step_length)
            iou = None
            for _ in range(iterations):
                iou, grad = self._iou_and_grad(ctx, b)
                b = b + dtype(step) * np.concatenate([b[:, 2:], b[:, 2:]], axis=1) * grad
                b[:, 2:] = np.maximum(b[:, 2:], dtype(min_size))
                step *= step_decay
            if score_final or iou is None:
                iou, _ = self._iou_and_grad(ctx, b, need_grad=False)
        return (torch.from_numpy(b).reshape(B, P, 4).to(boxes.device, boxes.dtype),
                torch.from_numpy(iou).reshape(B, P).to(boxes.device, boxes.dtype))

    @torch.enable_grad()
    def _refine_autograd(self, modulation, iou_features, boxes, iterations, step_length, step_decay, min_size, score_final):
        mod = tuple(m.detach() for m in modulation)
        feats = tuple(f.detach() for f in iou_features)
        b = boxes.detach().clone()
        step = float(step_length)
        for _ in range(iterations):
            b.requires_grad_(True)
            iou = self.predict_iou(mod, feats, b)
            (grad,) = torch.autograd.grad(iou.sum(), b)
            with torch.no_grad():
                scale = b[..., 2:].repeat(1, 1, 2)
                b = b + step * scale * grad
                b[..., 2:] = b[..., 2:].clamp(min=min_size)
            step *= step_decay
        if score_final or iterations <= 0:
            with torch.no_grad():
                iou = self.predict_iou(mod, feats, b)
        return b.detach(), iou.detach()


class RefineGraph(nn.Module):
    """:meth:`IoUNet.refine` of one image (eval mode, closed-form gradient) as fixed-shape tensor operations
    on windows of the two test maps -- the same computation as :class:`~adaptrack.nn.prroi_pool.LevelsBoxPool`
    and :meth:`IoUNet._iou_and_grad`, written for export to ONNX Runtime, which runs the ~400 small
    operations of a 5-step refinement with a fraction of PyTorch's per-operation overhead (measured on 59
    demo frames, 1 thread: 3.1-3.5 ms against 5.2-5.3 for the eager refinement).

    Built from the settings only (``strides``, ``offsets`` as :class:`IoUNet`'s); the network's weights
    come in as inputs (:meth:`head_inputs`), so one exported graph serves every tracker. Inputs: ``f3``,
    ``f4`` windows ``(1, h, w, C)`` (channels-last) of the unmodulated test maps, ``m3``, ``m4`` the
    modulation vectors ``(1, C)``, ``boxes`` ``(K, 4)`` xywh in crop pixels, ``shift3``, ``shift4`` ``(2,)``
    the feature coordinates (x, y) of each window's first sample (``offset + j0``, ``offset + i0``), then
    the head. Outputs: the refined boxes ``(K, 4)``, their IoU ``(K,)`` (as ``refine``), and ``extent``
    ``(4,)``: the smallest x1, y1 and largest x2, y2 of every box evaluated, so the caller can check the
    windows held every box's support (then the result is exact: samples farther than one cell from a box
    have zero weight).
    """

    def __init__(self, strides=(8, 16), iterations: int = 5, step_length: float = 1.0, step_decay: float = 1.0,
                 min_size: float = 1.0, score_final: bool = True):
        super().__init__()
        self.iterations, self.step_length, self.step_decay = int(iterations), float(step_length), float(step_decay)
        self.min_size, self.score_final = float(min_size), bool(score_final)
        self.scales = tuple(1.0 / st for st in strides)
        self.sizes = (5, 3)

    @staticmethod
    def head_inputs(iou_net: IoUNet) -> tuple:
        """The head's inputs of :meth:`forward` (BatchNorm folded, eval mode): per level the weight, its
        transpose, the bias and the predictor's weights, then the predictor's bias ``(1,)``."""
        head, bias = iou_net._head_constants()
        out = []
        for w, _, b, wp in head:
            out += [w, w.t().contiguous(), b, torch.from_numpy(wp)]
        return tuple(out) + (torch.tensor([bias], dtype=head[0][0].dtype),)

    def _level(self, F, b, shift, k: int, s: float, w, wt, bias, wp, with_grad: bool):
        H, W, C = F.shape
        K = b.shape[0]
        q = torch.arange(k + 1, dtype=F.dtype) / k
        lo, hi = b[:, :2] * s - shift, b[:, 2:] * s - shift  # (K, 2) feature coordinates in the window
        wx, dxlo, dxhi = _bin_weights_and_grads(lo[:, 0], hi[:, 0], q, k, W, with_grad)  # (K, k, W)
        wy, dylo, dyhi = _bin_weights_and_grads(lo[:, 1], hi[:, 1], q, k, H, with_grad)
        Fm = F.reshape(H, W * C)
        t = torch.matmul(wy.reshape(K * k, H), Fm).reshape(K, k, W, C).transpose(1, 2).reshape(K, W, k * C)
        pooled = torch.bmm(wx, t)  # (K, pw, ph*C)
        z = torch.addmm(bias, pooled.reshape(K, -1), wt)
        iou = (torch.relu(z) * wp).sum(1)
        if not with_grad:
            return iou, None
        g = torch.mm((z > 0).to(z.dtype) * wp, w).reshape(K, k, k * C)
        gx = torch.bmm(g, t.transpose(1, 2))  # (K, pw, W)
        r = torch.bmm(wx.transpose(1, 2), g).reshape(K, W, k, C).transpose(1, 2).reshape(K * k, W * C)
        gy = torch.matmul(r, Fm.t()).reshape(K, k, H)
        grad = torch.stack([(gx * dxlo).sum((1, 2)), (gy * dylo).sum((1, 2)), (gx * dxhi).sum((1, 2)),
                            (gy * dyhi).sum((1, 2))], 1)
        return iou, grad * s

    def _iou_and_grad(self, F3, F4, shift3, shift4, head, b, with_grad: bool):
        xyxy = torch.cat([b[:, :2], b[:, :2] + b[:, 2:]], 1)
        i3, g3 = self._level(F3, xyxy, shift3, self.sizes[0], self.scales[0], *head[0:4], with_grad)
        i4, g4 = self._level(F4, xyxy, shift4, self.sizes[1], self.scales[1], *head[4:8], with_grad)
        iou = head[8] + i3 + i4
        ext = torch.cat([xyxy[:, :2].min(0).values, xyxy[:, 2:].max(0).values])
        if not with_grad:
            return iou, None, ext
        g = g3 + g4  # w.r.t. (x1, y1, x2, y2)
        return iou, torch.cat([g[:, :2] + g[:, 2:], g[:, 2:]], 1), ext  # w.r.t. (x, y, w, h)

    def forward(self, f3, f4, m3, m4, boxes, shift3, shift4, *head):
        F3, F4 = f3[0] * m3[0], f4[0] * m4[0]
        b = boxes
        step = self.step_length
        iou, exts = None, []
        for _ in range(self.iterations):
            iou, grad, ext = self._iou_and_grad(F3, F4, shift3, shift4, head, b, True)
            exts.append(ext)
            b = b + step * torch.cat([b[:, 2:], b[:, 2:]], 1) * grad
            b = torch.cat([b[:, :2], b[:, 2:].clamp(min=self.min_size)], 1)
            step *= self.step_decay
        if self.score_final or iou is None:
            iou, _, ext = self._iou_and_grad(F3, F4, shift3, shift4, head, b, False)
            exts.append(ext)
        e = torch.stack(exts)
        return b, iou, torch.cat([e[:, :2].min(0).values, e[:, 2:].max(0).values])
