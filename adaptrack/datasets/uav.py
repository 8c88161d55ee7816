"""UAV123 and UAV20L (Mueller, Smith, Ghanem: "A Benchmark and Simulator for UAV Tracking", ECCV 2016).

Expected layout (the ``Dataset_UAV123/UAV123`` release)::

    <root>/data_seq/UAV123/<folder>/000001.jpg ...   frames of each recorded video
    <root>/anno/UAV123/<name>.txt                    x,y,w,h per frame, comma separated;
                                                     "NaN,NaN,NaN,NaN" where the target is absent
    <root>/anno/UAV20L/<name>.txt                    the 20 long sequences (frames from the same folders)
    <root>/anno/UAV123/att/<name>.txt                optional attribute vector (kept as is)

Several annotated sequences are frame ranges of one recorded video: ``bird1_1``, ``bird1_2`` and
``bird1_3`` are frames 1-253, 775-1477 and 1573-2437 of ``data_seq/UAV123/bird1``. The table of ranges
(a fact of the benchmark) ships as ``uav123_ranges.json``; names missing from it use every frame of the
folder of the same name. Annotations are 1-based and shifted to 0-based by default; NaN rows stay NaN
and are marked in ``flags["absent"]``.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np

from ._common import frame_number, list_frames, make_sequence, natural_key, read_boxes, require_dir

__all__ = ["load_uav123", "load_uav20l", "uav_ranges"]

_RANGES: dict | None = None


def uav_ranges(version: str = "UAV123") -> dict[str, tuple[str, int, int]]:
    """``{name: (folder, first, last)}`` 1-based frame ranges of ``version`` ("UAV123" | "UAV20L")."""
    global _RANGES
    if _RANGES is None:
        with open(os.path.join(os.path.dirname(__file__), "uav123_ranges.json"), encoding="utf-8") as f:
            _RANGES = json.load(f)
    return {k: tuple(v) for k, v in _RANGES[version].items()}


def _load(root, version: str, one_based: bool, names) -> list:
    root = require_dir(root, f"a UAV123 root with data_seq/UAV123/ and anno/{version}/")
    anno_dir = require_dir(os.path.join(root, "anno", version), f"anno/{version}/ with one <name>.txt per sequence")
    seq_root = os.path.join(root, "data_seq", version)
    if not os.path.isdir(seq_root):
        seq_root = require_dir(os.path.join(root, "data_seq", "UAV123"), "data_seq/UAV123/ with the frame folders")
    if names is None:
        names = sorted((os.path.basename(f)[:-4] for f in glob.glob(os.path.join(anno_dir, "*.txt"))), key=natural_key)
    table = uav_ranges(version)
    out = []
    for name in names:
        folder, first, last = table.get(name, (name, None, None))
        frames = list_frames(os.path.join(seq_root, folder), f"data_seq/UAV123/{folder}/ with the frames of {name}")
        if first is not None:
            frames = [f for f in frames if first <= (frame_number(f) or 0) <= last]
        boxes = read_boxes(os.path.join(anno_dir, name + ".txt"))
        attributes = {"folder": folder, "frame_range": (first, last) if first is not None else None}
        att = os.path.join(anno_dir, "att", name + ".txt")
        if os.path.isfile(att):
            with open(att, encoding="utf-8") as f:
                attributes["attribute_flags"] = [int(float(t)) for t in f.read().replace(",", " ").split()]
        flags = {"absent": np.isnan(boxes).any(axis=1)}
        out.append(
            make_sequence(name, frames, boxes, dataset=version, one_based=one_based, flags=flags, attributes=attributes)
        )
    return out


def load_uav123(root: str | os.PathLike, one_based: bool = True, names: list[str] | None = None) -> list:
    """Load the 123 UAV123 sequences (or ``names``) from ``root``."""
    return _load(root, "UAV123", one_based, names)


def load_uav20l(root: str | os.PathLike, one_based: bool = True, names: list[str] | None = None) -> list:
    """Load the 20 long UAV20L sequences (or ``names``) from ``root``."""
    return _load(root, "UAV20L", one_based, names)
