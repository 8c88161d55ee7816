"""Training losses shared by the recipes.

* :func:`siamfc_labels` + :func:`balanced_logistic_loss`: SiamFC (Bertinetto et al., 2016, eq. 1-2):
  score cell ``u`` of a ``(h, w)`` map with total stride ``k`` sits at search-crop position
  ``c + k (u - (size - 1) / 2)``; its label is positive when that position is within ``r_pos``
  pixels of the target centre, negative when farther than ``r_neg`` (cells in between are ignored);
  the loss is the logistic loss ``log(1 + exp(-y v))`` averaged over positives and over negatives
  separately, each half weighted 1/2 (balanced), then averaged over the batch. Negative pairs
  (``is_pos = 0``) have no positive cells; their negatives take the full weight.
* :func:`focal_loss`: sigmoid focal loss (Lin et al., 2017) ``-a_t (1 - p_t)^g log p_t``.
* :func:`iou_loss`: IoU loss on ``(l, t, r, b)`` distances (UnitBox / SiamFC++ / FCOS): ``1 - IoU``,
  ``-log IoU`` or ``1 - GIoU``.
* :func:`bce_with_logits`: weighted binary cross entropy on logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["siamfc_labels", "balanced_weights", "balanced_logistic_loss", "focal_loss", "iou_loss", "bce_with_logits"]


def siamfc_labels(
    score_size,
    stride: float,
    r_pos: float = 16.0,
    r_neg: float | None = None,
    offsets=None,
    is_pos=None,
    batch: int | None = None,
    device=None,
):
    """SiamFC label maps and balanced weights.

    Args:
        score_size: ``int`` or ``(h, w)`` of the score map.
        stride: total stride (search-crop pixels per score cell).
        r_pos: positive radius in search-crop pixels (SiamFC: 16 with stride 8, i.e. 2 cells).
        r_neg: negative radius (default ``r_pos``: every non-positive cell is negative).
        offsets: ``(B, 2)`` target-centre offsets ``(dx, dy)`` from the search-crop centre, in crop
            pixels (default zero: target at the centre).
        is_pos: ``(B,)`` 1 for positive pairs, 0 for negative pairs (all cells negative).
        batch: batch size when neither ``offsets`` nor ``is_pos`` is given.

    Returns:
        ``labels`` ``(B, 1, h, w)`` in {0, 1} and ``weights`` ``(B, 1, h, w)`` (0 for ignored cells;
        positives sum to 1/2 and negatives to 1/2 per positive pair, negatives to 1 per negative pair).
    """
    h, w = (score_size, score_size) if isinstance(score_size, int) else (int(score_size[0]), int(score_size[1]))
    r_neg = r_pos if r_neg is None else r_neg
    if offsets is None:
        b = batch if batch is not None else (len(is_pos) if is_pos is not None else 1)
        offsets = torch.zeros(b, 2, device=device)
    offsets = torch.as_tensor(offsets, dtype=torch.float32, device=device).reshape(-1, 2)
    b = offsets.shape[0]
    ys = (torch.arange(h, dtype=torch.float32, device=offsets.device) - (h - 1) / 2) * stride
    xs = (torch.arange(w, dtype=torch.float32, device=offsets.device) - (w - 1) / 2) * stride
    dx = xs.view(1, 1, w) - offsets[:, 0].view(b, 1, 1)
    dy = ys.view(1, h, 1) - offsets[:, 1].view(b, 1, 1)
    dist = torch.sqrt(dx * dx + dy * dy)
    pos = dist <= r_pos
    neg = dist > r_neg
    if is_pos is not None:
        ip = torch.as_tensor(is_pos, device=offsets.device).reshape(b, 1, 1) > 0.5
        pos = pos & ip
        neg = neg | ~ip
    labels = pos.float().unsqueeze(1)
    weights = balanced_weights(labels, neg.unsqueeze(1))
    return labels, weights


def balanced_weights(labels: torch.Tensor, negatives: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample weights: positives share 1/2, negatives 1/2 (all of 1 when a sample has no
    positives). ``negatives`` marks the negative cells (default: ``labels == 0``)."""
    pos = labels > 0.5
    neg = (labels <= 0.5) if negatives is None else negatives.bool() & ~pos
    dims = tuple(range(1, labels.dim()))
    npos = pos.sum(dims, keepdim=True).float()
    nneg = neg.sum(dims, keepdim=True).float()
    wpos = torch.where(npos > 0, 0.5 / npos.clamp(min=1), torch.zeros_like(npos))
    wneg = torch.where(npos > 0, 0.5 / nneg.clamp(min=1), 1.0 / nneg.clamp(min=1))
    return pos.float() * wpos + neg.float() * wneg


def balanced_logistic_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None):
    """``mean_over_batch( sum_cells weight * log(1 + exp(-y v)) )`` with ``y = 2 label - 1``
    (identical to BCE on logits with ``label`` targets). Weights default to :func:`balanced_weights`."""
    if weights is None:
        weights = balanced_weights(labels)
    per_cell = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
    return (per_cell * weights).flatten(1).sum(1).mean()


def bce_with_logits(logits, targets, weight=None, reduction: str = "mean"):
    """Binary cross entropy on logits; ``reduction="mean"`` with a weight divides by the weight sum."""
    loss = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    if weight is not None:
        loss = loss * weight
        if reduction == "mean":
            return loss.sum() / weight.sum().clamp(min=1e-12)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def focal_loss(
    logits, targets, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "sum", normalizer=None
):
    """Sigmoid focal loss ``-a_t (1 - p_t)^gamma log(p_t)``; ``alpha < 0`` disables the a_t weight.

    ``reduction`` "sum" / "mean" / "none"; ``normalizer`` divides the reduced loss (e.g. the number of
    positives, as in RetinaNet / SiamFC++).
    """
    t = targets.to(logits.dtype)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * t + (1 - alpha) * (1 - t))
    if reduction == "sum":
        loss = loss.sum()
    elif reduction == "mean":
        loss = loss.mean()
    if normalizer is not None:
        loss = loss / torch.as_tensor(normalizer, dtype=loss.dtype).clamp(min=1.0)
    return loss


def iou_loss(pred, target, weight=None, mode: str = "linear", eps: float = 1e-6):
    """IoU loss of boxes given as ``(..., 4)`` distances ``(l, t, r, b)`` from a common point.

    ``mode``: "linear" ``1 - IoU``, "log" ``-log IoU``, "giou" ``1 - GIoU``. Returns the weighted
    mean (by ``weight`` when given, normalised by its sum) over boxes.
    """
    pl, pt, pr, pb = pred.unbind(-1)
    tl, tt, tr, tb = target.unbind(-1)
    area_p = (pl + pr) * (pt + pb)
    area_t = (tl + tr) * (tt + tb)
    iw = torch.min(pl, tl) + torch.min(pr, tr)
    ih = torch.min(pt, tt) + torch.min(pb, tb)
    inter = iw.clamp(min=0) * ih.clamp(min=0)
    union = area_p + area_t - inter
    iou = inter / union.clamp(min=eps)
    if mode == "linear":
        loss = 1 - iou
    elif mode == "log":
        loss = -torch.log(iou.clamp(min=eps))
    elif mode == "giou":
        enclose = (torch.max(pl, tl) + torch.max(pr, tr)) * (torch.max(pt, tt) + torch.max(pb, tb))
        giou = iou - (enclose - union) / enclose.clamp(min=eps)
        loss = 1 - giou
    else:
        raise ValueError(f"iou_loss mode must be 'linear', 'log' or 'giou', got {mode!r}")
    if weight is None:
        return loss.mean()
    return (loss * weight).sum() / weight.sum().clamp(min=eps)
