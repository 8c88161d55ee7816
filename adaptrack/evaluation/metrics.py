"""Tracking metrics as pure functions of arrays.

One-pass (OPE) metrics, each for one sequence (``pred``, ``gt`` of shape ``(N, 4)``) or a dataset (lists of
such arrays; the dataset value is the mean of the per-sequence curves, as every toolkit does):

* :func:`success_curve` / :func:`success_auc` — fraction of frames whose IoU is strictly above each of 21
  thresholds in ``[0, 1]``; the AUC is the mean of the curve.
* :func:`precision_curve` / :func:`precision_at` — fraction of frames whose centre error (centre
  ``x + (w - 1) / 2``) is ``<=`` each threshold ``0..50`` px.
* :func:`normalized_precision_curve` / :func:`normalized_precision_at` — the same with the centre error
  normalised by the ground-truth size, thresholds ``0..0.5`` (51 points).
* :func:`got10k_ao_sr` — GOT-10k average overlap and success rates, pooled over all frames of all sequences
  (and repetitions), first frame excluded, only frames where the target is visible (``cover > 0``).

VOT supervised (reset-based) metrics on raw trajectories (per frame a box/polygon, or a code ``1`` init,
``2`` failure, ``0`` skipped): :func:`vot_overlaps`, :func:`vot_accuracy`, :func:`vot_robustness`,
:func:`eao_curve`, :func:`eao_score`.

Conventions. The toolkits differ in details that move the numbers; each is a preset (:data:`CONVENTIONS`),
selected with ``convention=``:

``got10k`` (default)
    the got10k Python toolkit (``ExperimentOTB`` / ``ExperimentUAV123`` / LaSOT / ``ExperimentGOT10k``):
    continuous IoU with ``eps`` added to the union; frames whose ground truth has NaN are dropped
    (numerator and denominator); absent flags are ignored (only NaN rows are dropped); the first
    predicted box is replaced by the ground truth; normalised error divides by ``max(1, w_gt)``.
``pysot``
    pysot's ``OPEBenchmark``: frames flagged absent are removed but the denominator stays the full length
    (they count as misses); invalid ground truth (``w`` or ``h`` not ``> 0``, or NaN) counts as a miss for
    success but, via the ``-1`` distance sentinel, as a hit for precision when the ground-truth centre is not
    ``> 0``; the first frame is scored as written; thresholds ``np.arange(0, 1.05, 0.05)``; normalised
    centres are ``c / (wh_gt + 1e-16)``.
``official``
    the MATLAB OTB / LaSOT toolkits (``calcSeqErrRobust`` / ``calc_seq_err_robust``): predicted boxes with
    NaN or non-positive size are replaced by the previous prediction; first frame set to ground truth;
    ``+1``-pixel rectangle intersection; rows whose ground truth is not all ``> 0`` get overlap ``-1`` (miss)
    and centre error ``-1`` (hit); absent frames removed with the full length (``+ eps``) as denominator.

See ``docs/evaluation.md`` for the table of differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UnknownNameError

__all__ = [
    "Convention",
    "CONVENTIONS",
    "get_convention",
    "success_thresholds",
    "precision_thresholds",
    "normalized_precision_thresholds",
    "sequence_overlaps",
    "ope_curves",
    "success_curve",
    "success_auc",
    "precision_curve",
    "precision_at",
    "normalized_precision_curve",
    "normalized_precision_at",
    "got10k_ao_sr",
    "parse_vot_trajectory",
    "vot_overlaps",
    "region_iou",
    "vot_accuracy",
    "vot_robustness",
    "eao_curve",
    "eao_score",
    "VOT2018_EAO_INTERVAL",
]

_EPS = np.finfo(float).eps
VOT2018_EAO_INTERVAL = (100, 356)


# ----------------------------------------------------------------------------------------------------------
# conventions


@dataclass(frozen=True)
class Convention:
    """How a toolkit turns raw boxes into per-frame scores. See the module docstring."""

    name: str
    overlap: str  # "continuous" | "pixel" (+1-pixel intersection of the MATLAB toolkits)
    union_eps: bool  # add machine eps to the IoU union (got10k)
    invalid_gt: str  # "drop" (frames removed) | "sentinel" (overlap -1 = miss, centre error -1 = hit)
    overlap_valid: str  # which gt rows are scored: "finite" | "wh_positive" | "all_positive"
    center_valid: str  # "finite" | "center_positive" | "all_positive"
    absent: str  # "ignore" | "exclude" (removed from the numerator, full length kept as denominator)
    first_frame: str  # "gt" (replace prediction by gt) | "as_is"
    repair_pred: bool  # replace NaN / non-positive predictions by the previous one (MATLAB toolkits)
    norm: str  # "got10k" | "pysot" | "official" normalised centre error
    denominator_eps: bool  # MATLAB divides by (length + eps)
    success_thresholds: np.ndarray = field(repr=False, compare=False, default=None)


_LINSPACE21 = np.linspace(0, 1, 21)
_ARANGE21 = np.arange(0, 1.05, 0.05)

CONVENTIONS: dict[str, Convention] = {
    "got10k": Convention(
        "got10k", "continuous", True, "drop", "finite", "finite", "ignore", "gt", False, "got10k", False,
        _LINSPACE21,
    ),
    "pysot": Convention(
        "pysot", "continuous", False, "sentinel", "wh_positive", "center_positive", "exclude", "as_is", False,
        "pysot", False, _ARANGE21,
    ),
    "official": Convention(
        "official", "pixel", False, "sentinel", "all_positive", "all_positive", "exclude", "gt", True,
        "official", True, _LINSPACE21,
    ),
}


def get_convention(convention) -> Convention:
    """A :class:`Convention` from its name (``"got10k"``, ``"pysot"``, ``"official"``) or itself."""
    if isinstance(convention, Convention):
        return convention
    try:
        return CONVENTIONS[str(convention).lower()]
    except KeyError:
        raise UnknownNameError(
            f"unknown convention {convention!r} (known: {', '.join(CONVENTIONS)})"
        ) from None


def success_thresholds(convention="got10k") -> np.ndarray:
    """The 21 overlap thresholds of the success curve."""
    return get_convention(convention).success_thresholds.copy()


def precision_thresholds(convention="got10k") -> np.ndarray:
    """Centre-error thresholds ``0, 1, ..., 50`` pixels."""
    return np.arange(0, 51, dtype=np.float64)


def normalized_precision_thresholds(convention="got10k") -> np.ndarray:
    """Normalised centre-error thresholds ``0, 0.01, ..., 0.5``."""
    if get_convention(convention).name == "pysot":
        return np.arange(0, 51, 1) / 100
    return np.linspace(0, 0.5, 51)


# ----------------------------------------------------------------------------------------------------------
# per-frame quantities


def _iou(a: np.ndarray, b: np.ndarray, conv: Convention) -> np.ndarray:
    """Row-wise IoU as the convention computes it (same operation order as the toolkit)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if conv.overlap == "pixel":  # MATLAB calc_rect_int; MATLAB max/min ignore NaN -> fmax/fmin
            ra, ta = a[:, 0] + a[:, 2] - 1, a[:, 1] + a[:, 3] - 1
            rb, tb = b[:, 0] + b[:, 2] - 1, b[:, 1] + b[:, 3] - 1
            iw = np.fmax(0, np.fmin(ra, rb) - np.fmax(a[:, 0], b[:, 0]) + 1)
            ih = np.fmax(0, np.fmin(ta, tb) - np.fmax(a[:, 1], b[:, 1]) + 1)
            inter = iw * ih
            return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)
        x1 = np.maximum(a[:, 0], b[:, 0])
        y1 = np.maximum(a[:, 1], b[:, 1])
        x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
        y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
        inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
        union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
        if conv.union_eps:
            return np.clip(inter / (union + _EPS), 0.0, 1.0)
        return np.maximum(np.minimum(1, inter / union), 0)


def _centers(b: np.ndarray) -> np.ndarray:
    return b[:, :2] + (b[:, 2:] - 1) / 2


def _bound_got10k(b: np.ndarray, bound) -> np.ndarray:
    """got10k's image clipping: ``x`` into ``[0, W]``, then ``w`` into ``[0, W - x]`` (``w`` is not shortened
    by the part cut off on the left; this is the toolkit's definition and GOT-10k AO depends on it)."""
    b = b.copy()
    b[:, 0] = np.clip(b[:, 0], 0, bound[0])
    b[:, 1] = np.clip(b[:, 1], 0, bound[1])
    b[:, 2] = np.clip(b[:, 2], 0, bound[0] - b[:, 0])
    b[:, 3] = np.clip(b[:, 3], 0, bound[1] - b[:, 1])
    return b


@dataclass
class SequenceScores:
    """Per-frame scores of one sequence under one convention (what the curves are built from)."""

    ious: np.ndarray
    center_errors: np.ndarray
    norm_center_errors: np.ndarray
    length: float  # the denominator of every rate


def _as_array(x, name) -> np.ndarray:
    arr = np.array(x, dtype=np.float64, copy=True)
    if arr.ndim == 1 and arr.size == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must be an (N, 4) array of x,y,w,h boxes, got shape {np.shape(x)}")
    return arr


def sequence_overlaps(pred, gt, convention="got10k", absent=None) -> SequenceScores:
    """IoUs, centre errors and normalised centre errors of one sequence, as ``convention`` scores them.

    ``pred`` and ``gt`` are ``(N, 4)`` ``x, y, w, h`` arrays of equal length (NaN rows in ``gt`` mean no
    annotation). ``absent`` is an optional boolean ``(N,)`` array (LaSOT ``full_occlusion | out_of_view``).
    Sentinel values ``-1`` mark frames the convention scores without comparing boxes.
    """
    conv = get_convention(convention)
    pred = _as_array(pred, "pred")
    gt = _as_array(gt, "gt")
    if len(pred) != len(gt):
        raise ValueError(f"prediction has {len(pred)} frames but the ground truth has {len(gt)}")
    n_all = len(gt)
    if conv.repair_pred and n_all > 1:
        bad = np.isnan(pred).any(1) | ~(pred[:, 2] > 0) | ~(pred[:, 3] > 0)
        bad &= ~np.isnan(gt).any(1)
        for i in np.flatnonzero(bad):
            if i > 0:
                pred[i] = pred[i - 1]
    if conv.first_frame == "gt" and n_all:
        pred[0] = gt[0]
    if absent is not None and conv.absent == "exclude":
        absent = np.asarray(absent).astype(bool).reshape(-1)
        if len(absent) != n_all:
            raise ValueError(f"absent flags have {len(absent)} entries for {n_all} frames")
        pred, gt = pred[~absent], gt[~absent]

    if conv.invalid_gt == "drop":
        keep = ~np.isnan(gt).any(1)
        pred, gt = pred[keep], gt[keep]
        ious = _iou(pred, gt, conv)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = _centers(pred) - _centers(gt)
            errs = np.sqrt(np.sum(np.power(diff, 2), axis=-1))
            nerrs = np.sqrt(np.sum(np.power(diff / np.maximum(np.array([[1.0, 1.0]]), gt[:, 2:]), 2), axis=-1))
        return SequenceScores(ious, errs, nerrs, float(len(gt)))

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        all_pos = np.sum(gt > 0, axis=1) == 4
        if conv.overlap_valid == "wh_positive":
            ov_ok = np.sum(gt[:, 2:] > 0, axis=1) == 2
        else:
            ov_ok = all_pos
        ious = -np.ones(len(gt))
        ious[ov_ok] = _iou(pred[ov_ok], gt[ov_ok], conv)

        cp, cg = _centers(pred), _centers(gt)
        if conv.norm == "pysot":
            ncp, ncg = cp / (gt[:, 2:4] + 1e-16), cg / (gt[:, 2:4] + 1e-16)
        else:
            ncp, ncg = cp / gt[:, 2:4], cg / gt[:, 2:4]
        if conv.center_valid == "center_positive":
            ce_ok = np.sum(cg > 0, axis=1) == 2
            nce_ok = np.sum(ncg > 0, axis=1) == 2
        else:
            ce_ok = nce_ok = all_pos
        errs = -np.ones(len(gt))
        errs[ce_ok] = np.sqrt(np.sum(np.power(cg[ce_ok] - cp[ce_ok], 2), axis=1))
        nerrs = -np.ones(len(gt))
        nerrs[nce_ok] = np.sqrt(np.sum(np.power(ncg[nce_ok] - ncp[nce_ok], 2), axis=1))
    length = n_all + _EPS if conv.denominator_eps else float(n_all)
    return SequenceScores(ious, errs, nerrs, length)


# ----------------------------------------------------------------------------------------------------------
# curves


def _is_single(pred) -> bool:
    if isinstance(pred, np.ndarray):
        return pred.ndim <= 2
    if isinstance(pred, (list, tuple)) and len(pred) and np.ndim(pred[0]) == 2:
        return False
    return True


def _sequences(pred, gt, absent):
    """Normalise (single sequence | list of sequences) arguments to lists."""
    if _is_single(pred):
        return [pred], [gt], [absent]
    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predicted sequences but {len(gt)} ground-truth sequences")
    if absent is None:
        absent = [None] * len(pred)
    elif len(absent) != len(pred):
        raise ValueError(f"absent flags given for {len(absent)} sequences, expected {len(pred)}")
    return list(pred), list(gt), list(absent)


def _rate(values: np.ndarray, thresholds: np.ndarray, length: float, op) -> np.ndarray:
    """Fraction of ``values`` with ``value > t`` (``op=np.greater``) or ``value <= t`` (``np.less_equal``) for each
    threshold ``t``, divided by ``length``. Counted by binary search in the sorted values (exact comparisons,
    NaN never counts)."""
    if len(values) == 0:
        return np.full(len(thresholds), np.nan) if length == 0 else np.zeros(len(thresholds))
    v = np.sort(values[~np.isnan(values)])
    below_or_equal = np.searchsorted(v, thresholds, side="right")
    count = (len(v) - below_or_equal) if op is np.greater else below_or_equal
    with np.errstate(invalid="ignore", divide="ignore"):
        return count / length


def _curve(kind, pred, gt, convention, absent, thresholds):
    return ope_curves(pred, gt, convention, absent, kinds=(kind,), thresholds={kind: thresholds})[kind]


def ope_curves(pred, gt, convention="got10k", absent=None, kinds=("success", "precision", "norm"), thresholds=None):
    """All one-pass curves in one pass over the sequences: ``{"success", "precision", "norm"}`` -> curve
    (each the mean of the per-sequence curves). ``thresholds`` may override each kind's thresholds."""
    conv = get_convention(convention)
    thr = {
        "success": conv.success_thresholds,
        "precision": precision_thresholds(conv),
        "norm": normalized_precision_thresholds(conv),
    }
    thr.update(thresholds or {})
    rows = {k: [] for k in kinds}
    for p, g, a in zip(*_sequences(pred, gt, absent)):
        s = sequence_overlaps(p, g, conv, a)
        for k in kinds:
            if k == "success":
                rows[k].append(_rate(s.ious, np.asarray(thr[k], dtype=np.float64), s.length, np.greater))
            elif k == "precision":
                rows[k].append(_rate(s.center_errors, np.asarray(thr[k], dtype=np.float64), s.length, np.less_equal))
            else:
                rows[k].append(_rate(s.norm_center_errors, np.asarray(thr[k], dtype=np.float64), s.length, np.less_equal))
    return {k: np.mean(np.stack(v), axis=0) for k, v in rows.items()}


def success_curve(pred, gt, convention="got10k", absent=None, thresholds=None) -> np.ndarray:
    """Success curve: fraction of frames with IoU ``>`` each threshold (21 in ``[0, 1]`` by default).

    ``pred``/``gt``: one sequence ``(N, 4)`` or lists of sequences (the result is the mean of the
    per-sequence curves). ``absent``: optional per-frame flags (per sequence when lists are given).
    """
    thr = success_thresholds(convention) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return _curve("success", pred, gt, convention, absent, thr)


def success_auc(pred, gt, convention="got10k", absent=None) -> float:
    """Area under the success curve (mean of the 21-point curve)."""
    return float(np.mean(success_curve(pred, gt, convention, absent)))


def precision_curve(pred, gt, convention="got10k", absent=None, thresholds=None) -> np.ndarray:
    """Precision curve: fraction of frames with centre error ``<=`` each threshold (``0..50`` px)."""
    thr = precision_thresholds(convention) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return _curve("precision", pred, gt, convention, absent, thr)


def precision_at(pred, gt, threshold=20, convention="got10k", absent=None) -> float:
    """Precision at ``threshold`` pixels (20 by default)."""
    return float(precision_curve(pred, gt, convention, absent, thresholds=[threshold])[0])


def normalized_precision_curve(pred, gt, convention="got10k", absent=None, thresholds=None) -> np.ndarray:
    """Normalised precision curve over ``0..0.5`` (51 points): centre error divided by the gt size."""
    if thresholds is None:
        thr = normalized_precision_thresholds(convention)
    else:
        thr = np.asarray(thresholds, dtype=np.float64)
    return _curve("norm", pred, gt, convention, absent, thr)


def normalized_precision_at(pred, gt, threshold=0.2, convention="got10k", absent=None) -> float:
    """Normalised precision at ``threshold`` (0.2 by default)."""
    if get_convention(convention).name == "pysot" and np.isclose(threshold * 100, round(threshold * 100)):
        threshold = round(threshold * 100) / 100  # pysot's thresholds are k / 100
    return float(normalized_precision_curve(pred, gt, convention, absent, thresholds=[threshold])[0])


# ----------------------------------------------------------------------------------------------------------
# GOT-10k


def got10k_ao_sr(preds, gts, covers=None, bounds=None, absent=None, thresholds=(0.5, 0.75)) -> dict:
    """GOT-10k average overlap and success rates, frame-pooled over sequences (and repetitions).

    Args:
        preds: per sequence an ``(N, 4)`` array, or ``(R, N, 4)`` / a list of ``(N, 4)`` for repetitions.
            A single sequence may be given without the outer list.
        gts: per sequence the ``(N, 4)`` ground truth.
        covers: per sequence the ``cover`` labels (0..8); frames with ``cover > 0`` are scored.
        bounds: per sequence the image size ``(width, height)``; boxes are clipped to it as the toolkit does.
        absent: per sequence absent flags, used when ``covers`` is not given (scored frames are not absent).
        thresholds: the success-rate thresholds (strict ``>``).

    The first frame is excluded; frames whose ground truth has NaN are not scored (the toolkit would
    return NaN). Returns ``{"ao", "sr50", "sr75", "success_curve" (101 points), "frames"}``.
    """
    single = isinstance(gts, np.ndarray) and gts.ndim == 2
    if single:
        preds, gts = [preds], [gts]
        covers = None if covers is None else [covers]
        bounds = None if bounds is None else [bounds]
        absent = None if absent is None else [absent]
    pooled = []
    for i, g in enumerate(gts):
        g = _as_array(g, "gt")
        p = preds[i]
        reps = [p] if np.ndim(p) == 2 else list(p)
        mask = np.ones(len(g) - 1, dtype=bool) if len(g) else np.zeros(0, bool)
        if covers is not None and covers[i] is not None:
            mask &= np.asarray(covers[i]).reshape(-1)[1:] > 0
        elif absent is not None and absent[i] is not None:
            mask &= ~np.asarray(absent[i]).astype(bool).reshape(-1)[1:]
        mask &= ~np.isnan(g[1:]).any(1)
        for r in reps:
            r = _as_array(r, "pred")
            if len(r) != len(g):
                raise ValueError(f"sequence {i}: prediction has {len(r)} frames, ground truth {len(g)}")
            a, b = r[1:], g[1:]
            if bounds is not None and bounds[i] is not None:
                a, b = _bound_got10k(a, bounds[i]), _bound_got10k(b, bounds[i])
            pooled.append(_iou(a, b, CONVENTIONS["got10k"])[mask])
    ious = np.concatenate(pooled) if pooled else np.zeros(0)
    thr101 = np.linspace(0, 1, 101)
    out = {"frames": int(len(ious))}
    if len(ious) == 0:
        out.update(ao=float("nan"), success_curve=np.full(101, np.nan))
        for t in thresholds:
            out[f"sr{int(round(t * 100))}"] = float("nan")
        return out
    out["ao"] = float(np.mean(ious))
    for t in thresholds:
        out[f"sr{int(round(t * 100))}"] = float(np.mean(ious > t))
    out["success_curve"] = _rate(ious, thr101, len(ious), np.greater)
    return out


# ----------------------------------------------------------------------------------------------------------
# VOT supervised (reset-based) protocol


def parse_vot_trajectory(trajectory):
    """Split a raw VOT trajectory into ``(codes, regions)``.

    ``trajectory`` holds per frame either a code (a number or a 1-element sequence: ``1`` init, ``2``
    failure, ``0`` skipped) or a region (4 numbers ``x,y,w,h`` or a polygon). ``codes`` is an int array with
    ``-1`` where a region was reported; ``regions`` has the region arrays (``None`` for codes).
    """
    codes = np.full(len(trajectory), -1, dtype=np.int64)
    regions = []
    for i, entry in enumerate(trajectory):
        if isinstance(entry, (list, tuple)) and len(entry) > 1:
            regions.append(entry)  # converted in bulk later
            continue
        arr = np.asarray(entry, dtype=np.float64).reshape(-1)
        if arr.size == 1:
            codes[i] = int(arr[0])
            regions.append(None)
        else:
            regions.append(arr)
    return codes, regions


def vot_overlaps(trajectory, gt, bound=None, burnin=0) -> np.ndarray:
    """Per-frame overlaps of a VOT trajectory with the ground truth (boxes ``(N, 4)`` or polygons ``(N, 8)``).

    Frames with a code (init / failure / skipped) are NaN, and with ``burnin > 0`` so are the ``burnin``
    frames starting at every (re)initialisation (the init frame and the next ``burnin - 1``), as the VOT
    toolkit's accuracy does. ``bound=(width, height)`` intersects regions with the image first.
    """
    codes, regions = parse_vot_trajectory(trajectory)
    gt = np.asarray(gt, dtype=np.float64)
    n = min(len(codes), len(gt))
    out = np.full(n, np.nan)
    idx = [i for i in range(n) if codes[i] == -1]
    if burnin > 0:
        masked = np.zeros(n, dtype=bool)
        for i in np.flatnonzero(codes[:n] == 1):
            masked[i : i + burnin] = True
        idx = [i for i in idx if not masked[i]]
    if idx:
        out[idx] = region_iou([regions[i] for i in idx], [gt[i] for i in idx], bound=bound)
    return out


def _geometries(regions):
    import shapely

    geoms = np.empty(len(regions), dtype=object)
    sizes = np.array([len(r) for r in regions])
    for k in np.unique(sizes):
        idx = np.flatnonzero(sizes == k)
        r = np.stack([regions[i] for i in idx])
        if k == 4:
            geoms[idx] = shapely.box(r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3])
        elif k >= 6 and k % 2 == 0:
            geoms[idx] = shapely.polygons(r.reshape(len(idx), k // 2, 2))
        else:
            raise ValueError(f"a region must be a box (4 numbers) or a polygon (6+ even), got {k} numbers")
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms[bad] = shapely.buffer(geoms[bad], 0)
    return geoms


def _regions(regs):
    """``(list of 1-D arrays, stacked (N, k) array or None when the lengths differ)``."""
    if isinstance(regs, np.ndarray) and regs.ndim == 2:
        A = regs.astype(np.float64, copy=False)
        return list(A), A
    try:
        A = np.array(regs, dtype=np.float64)
        if A.ndim == 2:
            return list(A), A
    except ValueError:
        pass
    return [np.asarray(r, dtype=np.float64).reshape(-1) for r in regs], None


def _as_rect_array(A: np.ndarray) -> np.ndarray:
    out = np.full((len(A), 4), np.nan)
    if A.shape[1] == 4:
        x = np.stack([A[:, 0], A[:, 0] + A[:, 2]], 1)
        y = np.stack([A[:, 1], A[:, 1] + A[:, 3]], 1)
        out[:] = np.column_stack([x.min(1), y.min(1), x.max(1), y.max(1)])
    elif A.shape[1] == 8:
        out[:] = _as_rect(list(A))
    return out


def _as_rect(regions) -> np.ndarray:
    """``(N, 4)`` corners ``x1, y1, x2, y2`` of regions that are axis-aligned rectangles, NaN rows otherwise
    (boxes ``x,y,w,h``, or 4-corner polygons whose edges are axis-parallel)."""
    out = np.full((len(regions), 4), np.nan)
    sizes = np.fromiter((len(r) for r in regions), dtype=np.int64, count=len(regions))
    idx = np.flatnonzero(sizes == 4)
    if len(idx):
        r = np.stack([regions[i] for i in idx])
        x = np.stack([r[:, 0], r[:, 0] + r[:, 2]], 1)
        y = np.stack([r[:, 1], r[:, 1] + r[:, 3]], 1)
        out[idx] = np.column_stack([x.min(1), y.min(1), x.max(1), y.max(1)])
    idx = np.flatnonzero(sizes == 8)
    if len(idx):
        r = np.stack([regions[i] for i in idx])
        xs, ys = r[:, 0::2], r[:, 1::2]
        x1, x2, y1, y2 = xs.min(1), xs.max(1), ys.min(1), ys.max(1)
        on_box = (((xs == x1[:, None]) | (xs == x2[:, None])) & ((ys == y1[:, None]) | (ys == y2[:, None]))).all(1)
        xs2, ys2 = np.roll(xs, -1, axis=1), np.roll(ys, -1, axis=1)
        parallel = ((xs == xs2) ^ (ys == ys2)).all(1)  # every edge axis-parallel and non-degenerate
        good = on_box & parallel & (x2 > x1) & (y2 > y1)
        out[idx[good]] = np.column_stack([x1, y1, x2, y2])[good]
    return out


def _rect_iou_xyxy(a, b, bound=None) -> np.ndarray:
    if bound is not None:
        lim = np.array([bound[0], bound[1], bound[0], bound[1]], dtype=np.float64)
        a = np.clip(a, 0, lim)
        b = np.clip(b, 0, lim)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def region_iou(a, b, bound=None) -> np.ndarray:
    """IoU of paired regions (boxes ``x,y,w,h`` or polygons), vectorised with shapely 2; the same values as
    :func:`adaptrack.geometry.poly_iou`. ``bound=(width, height)`` intersects both with the image first."""
    import shapely

    if len(a) != len(b):
        raise ValueError(f"region lists differ in length: {len(a)} vs {len(b)}")
    a, A = _regions(a)
    b, B = _regions(b)
    out = np.full(len(a), np.nan)
    nan_a = np.isnan(A).any(1) if A is not None else np.array([np.isnan(x).any() for x in a], dtype=bool)
    nan_b = np.isnan(B).any(1) if B is not None else np.array([np.isnan(x).any() for x in b], dtype=bool)
    ok = ~(nan_a | nan_b)
    if not ok.any():
        return out
    # fast path: both regions axis-aligned rectangles (boxes, or 4-corner polygons that are rectangles)
    ra = _as_rect(a) if A is None else _as_rect_array(A)
    rb = _as_rect(b) if B is None else _as_rect_array(B)
    rect = ok & ~np.isnan(ra).any(1) & ~np.isnan(rb).any(1)
    if rect.any():
        out[rect] = _rect_iou_xyxy(ra[rect], rb[rect], bound)
    ok &= ~rect
    if not ok.any():
        return out
    ga = _geometries([a[i] for i in np.flatnonzero(ok)])
    gb = _geometries([b[i] for i in np.flatnonzero(ok)])
    if bound is not None:
        frame = shapely.box(0, 0, float(bound[0]), float(bound[1]))
        ga, gb = shapely.intersection(ga, frame), shapely.intersection(gb, frame)
    inter = shapely.area(shapely.intersection(ga, gb))
    union = shapely.area(shapely.union(ga, gb))
    with np.errstate(invalid="ignore", divide="ignore"):
        out[ok] = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return out


def _nested(trajectories):
    """Check the layout: per sequence a list of repetitions, each a raw trajectory (list of entries)."""
    out = []
    for i, reps in enumerate(trajectories):
        reps = list(reps)
        if not reps:
            raise ValueError(f"sequence {i}: no repetitions")
        for t in reps:
            bad = not isinstance(t, (list, tuple, np.ndarray)) or (isinstance(t, np.ndarray) and t.ndim != 2)
            if not bad and not isinstance(t, np.ndarray):
                bad = any(np.ndim(e) == 0 for e in t)  # per-frame entries are [code] or boxes, never scalars
            if bad:
                raise ValueError(
                    f"sequence {i}: expected a list of repetitions, each a list of per-frame entries "
                    "(wrap a single trajectory as [trajectory])"
                )
        out.append(reps)
    return out


def vot_accuracy(trajectories, gts, bounds=None, burnin=10) -> dict:
    """VOT accuracy: mean overlap over tracked frames, the ``burnin`` frames after each (re)init excluded.

    ``trajectories``: per sequence a list of repetitions (each a raw trajectory, see
    :func:`parse_vot_trajectory`); ``gts``: per sequence ``(N, 4)`` boxes or ``(N, 8)`` polygons; ``bounds``:
    per sequence ``(width, height)``. Per frame the overlap is averaged over repetitions (NaN ignored),
    then pooled over all frames of all sequences (pysot's ``AccuracyRobustnessBenchmark``).
    Returns ``{"accuracy", "per_sequence": [...], "frames"}``.
    """
    reps_all = _nested(trajectories)
    pooled, per_seq = [], []
    for i, reps in enumerate(reps_all):
        b = None if bounds is None else bounds[i]
        ov = np.stack([vot_overlaps(t, gts[i], b, burnin) for t in reps])
        with np.errstate(invalid="ignore"), _quiet():
            frame_mean = np.nanmean(ov, axis=0)
            per_seq.append(float(np.nanmean(frame_mean)) if np.any(~np.isnan(frame_mean)) else float("nan"))
        pooled.append(frame_mean)
    allv = np.concatenate(pooled) if pooled else np.zeros(0)
    valid = ~np.isnan(allv)
    acc = float(np.mean(allv[valid])) if valid.any() else float("nan")
    return {"accuracy": acc, "per_sequence": per_seq, "frames": int(valid.sum())}


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def vot_robustness(trajectories, lengths=None) -> dict:
    """VOT robustness from failure codes (``2``).

    Returns ``{"failures"}``: failures per repetition summed over sequences, averaged over repetitions
    (pysot's "lost number"); ``"robustness"``: that count per 100 frames (``lengths``: per sequence frame
    counts, default the trajectory lengths) — the R of VOT2016-2018 reports as pysot prints it; and
    ``"per_sequence"``: mean failures per sequence.
    """
    reps_all = _nested(trajectories)
    per_seq, per_rep_counts, total = [], [], 0
    n_reps = max(len(r) for r in reps_all) if reps_all else 0
    sums = np.zeros(n_reps)
    for i, reps in enumerate(reps_all):
        counts = [int(np.sum(parse_vot_trajectory(t)[0] == 2)) for t in reps]
        per_seq.append(float(np.mean(counts)))
        per_rep_counts.append(counts)
        # sequences with fewer repetitions (deterministic early stop) repeat their runs
        sums += np.resize(np.asarray(counts, dtype=np.float64), n_reps)
        total += int(lengths[i]) if lengths is not None else len(reps[0])
    lost = float(np.mean(sums)) if n_reps else 0.0
    rob = float(np.mean(sums / total) * 100) if total else float("nan")
    return {"failures": lost, "robustness": rob, "per_sequence": per_seq, "frames": total}


def eao_curve(trajectories, gts, bounds=None, skipping=5, max_length=None) -> np.ndarray:
    """Expected average overlap curve (VOT2016-2019 definition, legacy VOT toolkit).

    Each run is cut into segments at (re)initialisations: a segment starts at an init frame and, if the
    tracker failed, ends at the next init frame (failure frame + ``skipping``) and is padded with zeros to
    the longest run of any sequence (a failed tracker keeps scoring 0); the last segment runs to the end of the sequence
    and is undefined beyond it. Frames without an overlap (codes) count 0 inside a segment. Each sequence
    weighs 1 in total (its repetitions share the weight). For each length ``Ns`` the value is the weighted
    mean, over segments defined at ``Ns``, of the average overlap on frames ``2..Ns`` of the segment.

    Returns ``curve`` with ``curve[Ns - 1]`` the expected average overlap for sequence length ``Ns``
    (``curve[0] = 1``).
    """
    reps_all = _nested(trajectories)
    segments, weights, failed, run_lengths = [], [], [], []
    for i, reps in enumerate(reps_all):
        b = None if bounds is None else bounds[i]
        w_seq = 1.0 / len(reps)
        for t in reps:
            ov = vot_overlaps(t, gts[i], b, burnin=0)
            run_lengths.append(len(ov))
            codes = parse_vot_trajectory(t)[0][: len(ov)]
            fails = np.flatnonzero(codes == 2)
            if len(fails):
                points = [0] + [int(f + skipping) for f in fails if f + skipping <= len(ov) - 1]
                for j in range(len(points) - 1):
                    seg = ov[points[j] : points[j + 1] + 1].copy()
                    seg[np.isnan(seg)] = 0
                    segments.append(seg)
                    weights.append(w_seq)
                    failed.append(True)
                seg = ov[points[-1] :].copy()
                seg[np.isnan(seg)] = 0
                segments.append(seg)
                weights.append(w_seq)
                failed.append(False)
            else:
                segments.append(ov.copy())
                weights.append(w_seq)
                failed.append(False)
    if not segments:
        return np.zeros(0)
    L = max(run_lengths) if max_length is None else int(max_length)
    F = np.full((len(segments), L), np.nan)
    for k, (s, f) in enumerate(zip(segments, failed)):
        s = s[:L]
        if f:
            F[k, :] = 0
        F[k, : len(s)] = s
    w = np.asarray(weights)
    curve = np.zeros(L)
    curve[0] = 1.0
    if L > 1:
        body = F[:, 1:]
        nan_cum = np.cumsum(np.isnan(body), axis=1)
        cum = np.cumsum(np.nan_to_num(body, nan=0.0), axis=1)
        for n in range(2, L + 1):  # sequence length Ns = n -> column n - 1
            usable = ~np.isnan(F[:, n - 1])
            if not usable.any():
                continue
            means = cum[usable, n - 2] / (n - 1)
            means[nan_cum[usable, n - 2] > 0] = np.nan
            curve[n - 1] = np.sum(means * w[usable]) / np.sum(w[usable])
    return curve


def eao_score(trajectories=None, gts=None, bounds=None, interval=VOT2018_EAO_INTERVAL, skipping=5, curve=None) -> float:
    """Expected average overlap: the mean of :func:`eao_curve` over sequence lengths ``interval`` (inclusive;
    VOT2018's ``100..356`` by default). Lengths beyond the longest run (and NaN entries) are left out, as
    pysot does; NaN if none remain. Pass ``curve=`` to score a curve already computed."""
    if curve is None:
        curve = eao_curve(trajectories, gts, bounds, skipping)
    curve = np.asarray(curve, dtype=np.float64)
    lo, hi = int(interval[0]), int(interval[1])
    if lo < 1 or hi < lo:
        raise ValueError(f"EAO interval must be 1 <= low <= high, got {interval}")
    seg = curve[lo - 1 : hi]
    seg = seg[~np.isnan(seg)]
    return float(np.mean(seg)) if len(seg) else float("nan")
