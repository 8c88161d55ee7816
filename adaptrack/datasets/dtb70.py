"""DTB70 (Li, Yeung: "Visual Object Tracking for Unmanned Aerial Vehicles: A Benchmark and New Motion
Models", AAAI 2017).

Expected layout::

    <root>/<seq>/img/00001.jpg ...
    <root>/<seq>/groundtruth_rect.txt     x,y,w,h per frame (comma separated)

Annotations are 1-based and shifted to 0-based by default.
"""

from __future__ import annotations

import glob
import os

from ..errors import DatasetLayoutError
from ._common import list_frames, make_sequence, natural_key, read_boxes, require_dir

__all__ = ["load_dtb70"]


def load_dtb70(root: str | os.PathLike, one_based: bool = True, names: list[str] | None = None) -> list:
    """Load the DTB70 sequences found in ``root`` (or ``names``)."""
    root = require_dir(root, "a DTB70 root with <seq>/img/ and <seq>/groundtruth_rect.txt")
    if names is None:
        names = sorted(
            (os.path.basename(os.path.dirname(f)) for f in glob.glob(os.path.join(root, "*", "groundtruth_rect.txt"))),
            key=natural_key,
        )
        if not names:
            raise DatasetLayoutError(f"{root} has no <seq>/groundtruth_rect.txt files")
    out = []
    for name in names:
        seq_dir = require_dir(os.path.join(root, name), f"DTB70 sequence folder {name}/")
        frames = list_frames(os.path.join(seq_dir, "img"), f"{name}/img/ with the frames")
        boxes = read_boxes(os.path.join(seq_dir, "groundtruth_rect.txt"))
        out.append(make_sequence(name, frames, boxes, dataset="DTB70", one_based=one_based))
    return out
