"""Need for Speed (Kiani Galoogahi et al., "Need for Speed: A Benchmark for Higher Frame Rate Object
Tracking", ICCV 2017), at 240 or 30 fps.

Expected layout::

    <root>/<seq>/<fps>/<seq>/00001.jpg ...     fps = 240 | 30
    <root>/<seq>/<fps>/<seq>.txt               one line per annotated frame:
        track_id xmin ymin xmax ymax frame lost occluded generated "label"

The 30 fps folders often carry the 240 fps annotation (about 8x the frame count); it is then
sub-sampled to every 8th line, as the got10k toolkit does. Remaining count differences warn and
truncate. ``flags["absent"]`` is the ``lost`` column, ``flags["occluded"]`` the ``occluded`` one; the
label goes to ``attributes["label"]``. Coordinates are used as written (``one_based=False``).
"""

from __future__ import annotations

import glob
import os

import numpy as np

from ..errors import DatasetLayoutError
from ._common import list_frames, make_sequence, natural_key, require_dir, require_file

__all__ = ["load_nfs", "read_nfs_annotation"]


def read_nfs_annotation(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """``(boxes xywh, lost, occluded, label)`` from an NfS annotation file."""
    rows, label = [], ""
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                rows.append([float(t) for t in parts[:9]])
            except ValueError:
                raise DatasetLayoutError(
                    f"{path}, line {lineno}: expected 'id xmin ymin xmax ymax frame lost occluded generated label'"
                ) from None
            if len(rows[-1]) < 5:
                raise DatasetLayoutError(f"{path}, line {lineno}: fewer than 5 numbers")
            if not label and len(parts) > 9:
                label = " ".join(parts[9:]).strip('"')
    if not rows:
        raise DatasetLayoutError(f"{path} is empty; expected one annotation line per frame")
    width = max(len(r) for r in rows)
    a = np.array([r + [0.0] * (width - len(r)) for r in rows])
    boxes = np.stack([a[:, 1], a[:, 2], a[:, 3] - a[:, 1], a[:, 4] - a[:, 2]], axis=1)
    lost = a[:, 6].astype(bool) if width > 6 else np.zeros(len(a), bool)
    occ = a[:, 7].astype(bool) if width > 7 else np.zeros(len(a), bool)
    return boxes, lost, occ, label


def load_nfs(root: str | os.PathLike, fps: int = 30, one_based: bool = False, names: list[str] | None = None) -> list:
    """Load NfS at ``fps`` (30 or 240) from ``root``."""
    if fps not in (30, 240):
        raise ValueError(f"NfS comes at 30 or 240 fps, not {fps}")
    root = require_dir(root, f"an NfS root with <seq>/{fps}/<seq>.txt")
    if names is None:
        annos = glob.glob(os.path.join(root, "*", str(fps), "*.txt"))
        names = sorted({os.path.basename(os.path.dirname(os.path.dirname(a))) for a in annos}, key=natural_key)
        if not names:
            raise DatasetLayoutError(f"{root} has no <seq>/{fps}/<seq>.txt annotation files")
    out = []
    for name in names:
        fps_dir = require_dir(os.path.join(root, name, str(fps)), f"{name}/{fps}/ for the {fps} fps version")
        anno = require_file(os.path.join(fps_dir, name + ".txt"), f"{name}/{fps}/{name}.txt")
        frames = list_frames(os.path.join(fps_dir, name), f"{name}/{fps}/{name}/ with the frames")
        boxes, lost, occ, label = read_nfs_annotation(anno)
        if len(boxes) != len(frames) and abs(len(boxes) / len(frames) - 8) < 1:
            boxes, lost, occ = boxes[::8], lost[::8], occ[::8]
        out.append(
            make_sequence(
                name, frames, boxes, dataset=f"NfS{fps}", one_based=one_based,
                flags={"absent": lost, "occluded": occ}, attributes={"label": label},
            )
        )
    return out
