"""UAVDT single-object tracking (Du et al., "The Unmanned Aerial Vehicle Benchmark: Object Detection and
Tracking", ECCV 2018).

Expected layout (the SOT release)::

    <root>/UAV-benchmark-S/<seq>/img000001.jpg ...        frames, e.g. seq = S0101
    <root>/UAV-benchmark-SOT_v1.0/anno/<seq>_gt.txt       x,y,w,h per frame (comma separated)
    <root>/UAV-benchmark-SOT_v1.0/anno/att/<seq>_att.txt  optional attribute vector (kept as is)

``<root>/anno/<seq>_gt.txt`` is accepted in place of the ``UAV-benchmark-SOT_v1.0`` level. Annotations
are 1-based and shifted to 0-based by default.
"""

from __future__ import annotations

import glob
import os

from ..errors import DatasetLayoutError
from ._common import list_frames, make_sequence, natural_key, read_boxes, require_dir

__all__ = ["load_uavdt"]


def load_uavdt(root: str | os.PathLike, one_based: bool = True, names: list[str] | None = None) -> list:
    """Load the UAVDT-SOT sequences of ``root`` (or ``names``)."""
    root = require_dir(root, "a UAVDT root with UAV-benchmark-S/ and UAV-benchmark-SOT_v1.0/anno/")
    frames_root = require_dir(os.path.join(root, "UAV-benchmark-S"), "UAV-benchmark-S/<seq>/ frame folders")
    anno_dir = os.path.join(root, "UAV-benchmark-SOT_v1.0", "anno")
    if not os.path.isdir(anno_dir):
        anno_dir = require_dir(os.path.join(root, "anno"), "UAV-benchmark-SOT_v1.0/anno/ with <seq>_gt.txt files")
    if names is None:
        names = sorted((os.path.basename(f)[: -len("_gt.txt")] for f in glob.glob(os.path.join(anno_dir, "*_gt.txt"))), key=natural_key)
        if not names:
            raise DatasetLayoutError(f"{anno_dir} has no <seq>_gt.txt files")
    out = []
    for name in names:
        frames = list_frames(os.path.join(frames_root, name), f"UAV-benchmark-S/{name}/ with img000001.jpg ...")
        boxes = read_boxes(os.path.join(anno_dir, f"{name}_gt.txt"))
        attributes = {}
        for att in (os.path.join(anno_dir, "att", f"{name}_att.txt"), os.path.join(anno_dir, f"{name}_att.txt")):
            if os.path.isfile(att):
                with open(att, encoding="utf-8") as f:
                    attributes["attribute_flags"] = [int(float(t)) for t in f.read().replace(",", " ").split()]
                break
        out.append(make_sequence(name, frames, boxes, dataset="UAVDT", one_based=one_based, attributes=attributes))
    return out
