"""TrackingNet (Müller et al., "TrackingNet: A Large-Scale Dataset and Benchmark for Object Tracking in
the Wild", ECCV 2018).

Expected layout::

    <root>/TRAIN_<k>/frames/<seq>/0.jpg 1.jpg ...    k = 0..11 (any subset of the chunks may be present)
    <root>/TRAIN_<k>/anno/<seq>.txt                  x,y,w,h per frame, comma separated
    <root>/TEST/frames/<seq>/0.jpg ...
    <root>/TEST/anno/<seq>.txt                       only the first frame's box

``<chunk>/<seq>/`` (frames without the ``frames/`` level) is accepted too. Boxes are used as written.
"""

from __future__ import annotations

import glob
import os

from ..errors import DatasetLayoutError
from ._common import list_frames, make_sequence, natural_key, read_boxes, require_dir

__all__ = ["load_trackingnet"]


def load_trackingnet(
    root: str | os.PathLike, subset: str = "test", chunks: list[int] | None = None, one_based: bool = False,
    names: list[str] | None = None,
) -> list:
    """Load TrackingNet ``subset`` ("train" | "test"); ``chunks`` picks TRAIN_k folders (default: all present)."""
    root = require_dir(root, "a TrackingNet root with TRAIN_<k>/ or TEST/ folders")
    if subset == "test":
        chunk_dirs = [require_dir(os.path.join(root, "TEST"), "TEST/ with frames/ and anno/")]
    elif subset == "train":
        ks = chunks if chunks is not None else range(12)
        chunk_dirs = [os.path.join(root, f"TRAIN_{k}") for k in ks]
        if chunks is None:
            chunk_dirs = [d for d in chunk_dirs if os.path.isdir(d)]
            if not chunk_dirs:
                raise DatasetLayoutError(f"{root} has no TRAIN_<k>/ folders; expected TRAIN_0 ... TRAIN_11")
        else:
            chunk_dirs = [require_dir(d, "a TrackingNet chunk with frames/ and anno/") for d in chunk_dirs]
    else:
        raise ValueError(f"unknown TrackingNet subset {subset!r}; choose train or test")
    out = []
    for chunk in chunk_dirs:
        anno_dir = require_dir(os.path.join(chunk, "anno"), "anno/ with one <seq>.txt per sequence")
        seq_names = names if names is not None else sorted(
            (os.path.basename(f)[:-4] for f in glob.glob(os.path.join(anno_dir, "*.txt"))), key=natural_key
        )
        for name in seq_names:
            anno = os.path.join(anno_dir, name + ".txt")
            if names is not None and not os.path.isfile(anno):
                continue
            frame_dir = os.path.join(chunk, "frames", name)
            if not os.path.isdir(frame_dir) and os.path.isdir(os.path.join(chunk, name)):
                frame_dir = os.path.join(chunk, name)
            frames = list_frames(frame_dir, f"{os.path.basename(chunk)}/frames/{name}/ with 0.jpg, 1.jpg, ...")
            boxes = read_boxes(anno)
            out.append(
                make_sequence(
                    name, frames, boxes, dataset=f"TrackingNet_{subset}", one_based=one_based,
                    attributes={"chunk": os.path.basename(chunk)}, first_only=subset == "test" and len(boxes) == 1,
                )
            )
    if names is not None and len(out) < len(names):
        found = {s.name for s in out}
        missing = [n for n in names if n not in found]
        raise DatasetLayoutError(f"{root}: no anno/<seq>.txt for {', '.join(missing[:5])}")
    return out
