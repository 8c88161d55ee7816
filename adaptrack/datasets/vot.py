"""VOT short-term challenges 2015-2019 (Kristan et al., "The Visual Object Tracking VOT20xx challenge").

Expected layout (as the VOT toolkit downloads it)::

    <root>/list.txt                      one sequence name per line
    <root>/<seq>/color/00000001.jpg ...  frames (VOT2019 layout) -- or directly <root>/<seq>/00000001.jpg
    <root>/<seq>/groundtruth.txt         one region per frame, comma separated: 4 numbers (x,y,w,h
                                         rectangle) or 8 (x1,y1,...,x4,y4 polygon); both may be mixed
    <root>/<seq>/occlusion.tag ...       optional per-frame tags, one 0/1 per line, missing trailing lines
                                         meaning 0 (camera_motion, illum_change, motion_change,
                                         size_change, occlusion; older editions use ``.label``)
    <root>/<seq>/sequence                optional "key=value" metadata (fps, channels, ...) -> attributes

Polygons are kept in ``Sequence.polygons`` (rectangles as their 4 corners) and ``Sequence.boxes`` is
derived with :func:`adaptrack.geometry.poly_to_box` (the VOT/pysot axis-aligned convention). Regions are
used as written (``one_based=False``), like the VOT and pysot toolkits do. VOT2020+ segmentation masks
(lines starting with ``m``) are not supported and raise :class:`DatasetLayoutError`.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from ..errors import DatasetLayoutError
from ..geometry import box_to_poly, poly_to_box
from ._common import list_frames, make_sequence, read_flag_file, read_list, require_dir, require_file

__all__ = ["load_vot", "VOT_TAGS"]

VOT_TAGS = ("occlusion", "camera_motion", "illum_change", "motion_change", "size_change", "empty")


def _read_regions(path: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(N, 8)`` polygons, ``(N, 4)`` boxes and whether any line was a true (8-number) polygon.

    Rectangle lines keep their exact values as boxes (their polygon is the 4 corners); polygon lines
    get the VOT axis-aligned box of :func:`poly_to_box`.
    """
    polys, boxes, any_poly = [], [], False
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line[0] in "mM":
                raise DatasetLayoutError(f"{path}, line {lineno}: segmentation masks (VOT2020+) are not supported")
            try:
                vals = [float(t) for t in line.replace("\t", ",").split(",") if t.strip()]
            except ValueError:
                raise DatasetLayoutError(f"{path}, line {lineno}: not a region: {line[:80]!r}") from None
            if len(vals) == 4:
                polys.append(box_to_poly(np.asarray(vals))[0] if not np.isnan(vals).any() else np.full(8, np.nan))
                boxes.append(np.asarray(vals))
            elif len(vals) == 8:
                polys.append(np.asarray(vals))
                boxes.append(poly_to_box(np.asarray(vals))[0])
                any_poly = True
            elif len(vals) == 1 and vals[0] == 0:  # VOT writes "0" for frames with an empty region
                polys.append(np.full(8, np.nan))
                boxes.append(np.full(4, np.nan))
            else:
                raise DatasetLayoutError(
                    f"{path}, line {lineno}: {len(vals)} numbers; expected 4 (rectangle) or 8 (polygon)"
                )
    if not polys:
        raise DatasetLayoutError(f"{path} is empty; expected one region per frame")
    return np.asarray(polys, dtype=np.float64), np.asarray(boxes, dtype=np.float64), any_poly


def _read_sequence_meta(path: str) -> dict:
    """The VOT toolkit's per-sequence ``sequence`` file (``key=value`` lines), if present."""
    meta = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    meta[key.strip()] = value.strip()
    return meta


def load_vot(root: str | os.PathLike, one_based: bool = False, names: list[str] | None = None) -> list:
    """Load the sequences listed in ``<root>/list.txt`` (or ``names``)."""
    root = require_dir(root, "a VOT root with list.txt and one folder per sequence")
    if names is None:
        names = read_list(require_file(os.path.join(root, "list.txt"), "list.txt naming the VOT sequences"))
    dataset = os.path.basename(os.path.normpath(root)) or "VOT"
    out = []
    for name in names:
        seq_dir = require_dir(os.path.join(root, name), f"VOT sequence folder {name}/ (listed in list.txt)")
        color = os.path.join(seq_dir, "color")
        img_dir = color if os.path.isdir(color) else seq_dir
        frames = list_frames(img_dir, f"frames of {name} in {name}/color/ or {name}/")
        anno = require_file(os.path.join(seq_dir, "groundtruth.txt"), "groundtruth.txt with one region per line")
        polys, boxes, any_poly = _read_regions(anno)
        n = min(len(frames), len(polys))
        flags = {}
        for path in sorted(glob.glob(os.path.join(seq_dir, "*.tag")) + glob.glob(os.path.join(seq_dir, "*.label"))):
            tag = os.path.splitext(os.path.basename(path))[0]
            flags[tag] = read_flag_file(path).astype(bool)
        for tag in VOT_TAGS[:5]:
            flags.setdefault(tag, np.zeros(n, dtype=bool))
        attributes = _read_sequence_meta(os.path.join(seq_dir, "sequence"))
        out.append(
            make_sequence(
                name, frames, boxes, dataset=dataset, one_based=one_based,
                polygons=polys if any_poly else None, flags=flags, attributes=attributes,
            )
        )
    return out
