"""Temple Color 128 (Liang, Blasch, Ling: "Encoding Color Information for Visual Tracking: Algorithms
and Benchmark", TIP 2015).

Expected layout::

    <root>/<seq>/img/0001.jpg ...
    <root>/<seq>/<seq>_gt.txt        x,y,w,h per frame of the valid range (comma separated)
    <root>/<seq>/<seq>_frames.txt    "first,last": the 1-based frame numbers the annotation covers
    <root>/<seq>/<seq>_att.txt       optional attribute names (kept as is)

Annotations are 1-based (MATLAB) and shifted to 0-based by default.
"""

from __future__ import annotations

import glob
import os

from ..errors import DatasetLayoutError
from ._common import frame_number, list_frames, make_sequence, natural_key, read_boxes, read_table, require_dir, require_file

__all__ = ["load_tc128"]


def load_tc128(root: str | os.PathLike, one_based: bool = True, names: list[str] | None = None) -> list:
    """Load the TC-128 sequences found in ``root`` (or ``names``)."""
    root = require_dir(root, "a TC-128 root with <seq>/<seq>_gt.txt folders")
    if names is None:
        names = sorted((os.path.basename(os.path.dirname(f)) for f in glob.glob(os.path.join(root, "*", "*_gt.txt"))), key=natural_key)
        if not names:
            raise DatasetLayoutError(f"{root} has no <seq>/<seq>_gt.txt annotation files")
    out = []
    for name in names:
        seq_dir = require_dir(os.path.join(root, name), f"TC-128 sequence folder {name}/")
        boxes = read_boxes(os.path.join(seq_dir, f"{name}_gt.txt"))
        frames = list_frames(os.path.join(seq_dir, "img"), f"{name}/img/ with the frames")
        rng = read_table(require_file(os.path.join(seq_dir, f"{name}_frames.txt"), f"{name}_frames.txt with 'first,last'")).ravel()
        if len(rng) != 2:
            raise DatasetLayoutError(f"{os.path.join(seq_dir, name + '_frames.txt')}: expected two numbers 'first,last'")
        first, last = int(rng[0]), int(rng[1])
        frames = [f for f in frames if first <= (frame_number(f) or 0) <= last]
        attributes = {"frame_range": (first, last)}
        att = os.path.join(seq_dir, f"{name}_att.txt")
        if os.path.isfile(att):
            with open(att, encoding="utf-8", errors="replace") as f:
                attributes["attributes"] = [t for t in f.read().replace(",", " ").split() if t]
        out.append(make_sequence(name, frames, boxes, dataset="TC128", one_based=one_based, attributes=attributes))
    return out
