"""Boxes and overlaps.

Boxes are ``(x, y, w, h)`` floats in 0-based pixel coordinates: ``(x, y)`` is the top-left corner and
the box covers ``[x, x + w) x [y, y + h)`` (continuous convention). Arrays of boxes are ``(N, 4)``;
NaN rows mean "no box". The ``+1``-pixel convention of some toolkits lives only in
:mod:`adaptrack.evaluation.metrics`, where the conventions are selected explicitly.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidBoxError

__all__ = [
    "as_boxes",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
    "xywh_to_cxcywh",
    "cxcywh_to_xywh",
    "box_center",
    "rect_iou",
    "poly_iou",
    "poly_to_box",
    "box_to_poly",
    "clip_box",
    "validate_init_box",
]


def as_boxes(boxes) -> np.ndarray:
    """``boxes`` as a float64 ``(N, 4)`` array (a single box becomes ``(1, 4)``)."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"expected boxes of shape (N, 4), got {np.shape(boxes)}")
    return arr


def xywh_to_xyxy(boxes):
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(boxes):
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def xywh_to_cxcywh(boxes):
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2] + b[..., 2:] / 2, b[..., 2:]], axis=-1)


def cxcywh_to_xywh(boxes):
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2] - b[..., 2:] / 2, b[..., 2:]], axis=-1)


def box_center(boxes):
    """Continuous centre ``x + w/2, y + h/2``."""
    b = np.asarray(boxes, dtype=np.float64)
    return b[..., :2] + b[..., 2:] / 2


def rect_iou(a, b, bound: tuple[float, float] | None = None) -> np.ndarray:
    """Row-wise IoU of two ``(N, 4)`` arrays of ``(x, y, w, h)`` boxes (continuous convention).

    ``bound=(width, height)`` clips both boxes to the image first (GOT-10k does this). Rows with NaN
    give NaN. Degenerate boxes (zero area on both sides) give 0.
    """
    a = as_boxes(a)
    b = as_boxes(b)
    if a.shape != b.shape:
        raise ValueError(f"box arrays differ in shape: {a.shape} vs {b.shape}")
    if bound is not None:
        a = clip_box(a, bound)
        b = clip_box(b, bound)
    ax1, ay1 = a[:, 0], a[:, 1]
    ax2, ay2 = ax1 + a[:, 2], ay1 + a[:, 3]
    bx1, by1 = b[:, 0], b[:, 1]
    bx2, by2 = bx1 + b[:, 2], by1 + b[:, 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    nan = np.isnan(a).any(1) | np.isnan(b).any(1)
    iou[nan] = np.nan
    return iou


def clip_box(boxes, bound: tuple[float, float]) -> np.ndarray:
    """Clip ``(x, y, w, h)`` boxes to ``[0, width] x [0, height]`` (sizes never negative)."""
    w_img, h_img = bound
    b = np.asarray(boxes, dtype=np.float64)
    x1 = np.clip(b[..., 0], 0, w_img)
    y1 = np.clip(b[..., 1], 0, h_img)
    x2 = np.clip(b[..., 0] + b[..., 2], 0, w_img)
    y2 = np.clip(b[..., 1] + b[..., 3], 0, h_img)
    return np.stack([x1, y1, np.maximum(x2 - x1, 0), np.maximum(y2 - y1, 0)], axis=-1)


def _as_polygon(p):
    from shapely.geometry import Polygon, box

    p = np.asarray(p, dtype=np.float64).ravel()
    if p.size == 4:
        return box(p[0], p[1], p[0] + p[2], p[1] + p[3])
    if p.size >= 6 and p.size % 2 == 0:
        poly = Polygon(p.reshape(-1, 2))
        return poly if poly.is_valid else poly.buffer(0)
    raise ValueError(f"a region must be a box (4 numbers) or a polygon (6+ even), got {p.size} numbers")


def poly_iou(a, b, bound: tuple[float, float] | None = None) -> np.ndarray:
    """IoU of regions that may be rectangles ``(x, y, w, h)`` or polygons ``(x1, y1, ..., xk, yk)``.

    ``a`` and ``b`` are sequences of regions of equal length. ``bound=(width, height)`` intersects both
    with the image first, as the VOT toolkit does. Regions with NaN give NaN.
    """
    from shapely.geometry import box

    if len(a) != len(b):
        raise ValueError(f"region lists differ in length: {len(a)} vs {len(b)}")
    frame = box(0, 0, bound[0], bound[1]) if bound is not None else None
    out = np.empty(len(a))
    for i, (ra, rb) in enumerate(zip(a, b)):
        if np.isnan(np.asarray(ra, dtype=np.float64)).any() or np.isnan(np.asarray(rb, dtype=np.float64)).any():
            out[i] = np.nan
            continue
        pa, pb = _as_polygon(ra), _as_polygon(rb)
        if frame is not None:
            pa, pb = pa.intersection(frame), pb.intersection(frame)
        union = pa.union(pb).area
        out[i] = pa.intersection(pb).area / union if union > 0 else 0.0
    return out


def poly_to_box(polygons) -> np.ndarray:
    """VOT polygons ``(N, 2k)`` to axis-aligned ``(x, y, w, h)`` boxes, VOT-toolkit convention.

    The box keeps the polygon's centre and has the area of the polygon's rotated rectangle
    (``A1 = |p1 - p2| * |p2 - p3|``) scaled into its bounding box: ``s = sqrt(A1 / A2)``,
    ``w = s * (x2 - x1)``, ``h = s * (y2 - y1)`` (pysot's ``get_axis_aligned_bbox``). Rows of four
    numbers are already boxes and pass through.
    """
    p = np.asarray(polygons, dtype=np.float64)
    if p.ndim == 1:
        p = p[None]
    if p.shape[1] == 4:
        return p.copy()
    if p.shape[1] != 8:
        raise ValueError(f"expected polygons with 8 numbers per row, got {p.shape[1]}")
    xs, ys = p[:, 0::2], p[:, 1::2]
    cx, cy = xs.mean(1), ys.mean(1)
    x1, x2 = xs.min(1), xs.max(1)
    y1, y2 = ys.min(1), ys.max(1)
    a1 = np.hypot(p[:, 0] - p[:, 2], p[:, 1] - p[:, 3]) * np.hypot(p[:, 2] - p[:, 4], p[:, 3] - p[:, 5])
    a2 = (x2 - x1) * (y2 - y1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sqrt(np.where(a2 > 0, a1 / np.where(a2 > 0, a2, 1), 1.0))
    w = s * (x2 - x1)
    h = s * (y2 - y1)
    return np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)


def box_to_poly(boxes) -> np.ndarray:
    """``(x, y, w, h)`` boxes to 4-corner polygons ``(N, 8)``, clockwise from the top-left."""
    b = as_boxes(boxes)
    x1, y1 = b[:, 0], b[:, 1]
    x2, y2 = x1 + b[:, 2], y1 + b[:, 3]
    return np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1)


def validate_init_box(box, frame_shape) -> np.ndarray:
    """Check an initial box against a frame of shape ``(H, W, ...)`` and return it as float64 ``(4,)``.

    Raises :class:`~adaptrack.errors.InvalidBoxError` (a ``ValueError``) naming the box and the frame
    size when the box has NaN/inf values, a non-positive width or height, or lies entirely outside
    the frame.
    """
    h_img, w_img = int(frame_shape[0]), int(frame_shape[1])
    try:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise InvalidBoxError(f"initial box {box!r} is not four numbers (frame {w_img}x{h_img})") from e
    if b.size != 4:
        raise InvalidBoxError(f"initial box {box!r} must be four numbers x,y,w,h (frame {w_img}x{h_img})")
    desc = f"({', '.join(f'{v:g}' for v in b)})"
    if not np.isfinite(b).all():
        raise InvalidBoxError(f"initial box {desc} has NaN or infinite values (frame {w_img}x{h_img})")
    if b[2] <= 0 or b[3] <= 0:
        raise InvalidBoxError(f"initial box {desc} has a non-positive width or height (frame {w_img}x{h_img})")
    if b[0] >= w_img or b[1] >= h_img or b[0] + b[2] <= 0 or b[1] + b[3] <= 0:
        raise InvalidBoxError(f"initial box {desc} lies entirely outside the frame {w_img}x{h_img}")
    return b
