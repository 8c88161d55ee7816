"""GOT-10k (Huang, Zhao, Huang: "GOT-10k: A Large High-Diversity Benchmark for Generic Object Tracking
in the Wild", TPAMI 2019).

Expected layout::

    <root>/<subset>/list.txt                          subset = train | val | test
    <root>/<subset>/<GOT-10k_Val_000001>/00000001.jpg ...
    <root>/<subset>/<seq>/groundtruth.txt             x,y,w,h per frame (test: only the first line)
    <root>/<subset>/<seq>/absence.label               per frame 0/1        (train/val)
    <root>/<subset>/<seq>/cover.label                 per frame 0..8       (train/val)
    <root>/<subset>/<seq>/cut_by_image.label          per frame 0/1        (train/val)
    <root>/<subset>/<seq>/meta_info.ini               "[METAINFO]" then "key: value" lines

``root`` may also be the subset folder itself. Boxes are used as written (``one_based=False``); absent
frames keep their rows as given and are marked in ``flags["absent"]`` (``flags["cover"]`` is what the
GOT-10k evaluation masks with); ``absent_as_nan=True`` turns those rows into NaN (for training samplers). ``meta_info.ini`` goes to ``Sequence.attributes``.
"""

from __future__ import annotations

import os

import numpy as np

from ._common import list_frames, make_sequence, read_boxes, read_flag_file, read_list, require_dir, require_file

__all__ = ["load_got10k", "read_meta_info"]

_LABELS = {"absence.label": ("absent", bool), "cover.label": ("cover", np.int64), "cut_by_image.label": ("cut_by_image", bool)}


def read_meta_info(path: str) -> dict:
    """``meta_info.ini`` (a ``[METAINFO]`` header, then ``key: value`` lines) as a dict of strings."""
    meta = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("["):
                continue
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip()] = value.strip()
    return meta


def load_got10k(
    root: str | os.PathLike,
    subset: str = "val",
    one_based: bool = False,
    names: list[str] | None = None,
    absent_as_nan: bool = False,
) -> list:
    """Load GOT-10k ``subset`` ("train" | "val" | "test") from ``root`` (dataset root or subset folder)."""
    if subset not in ("train", "val", "test"):
        raise ValueError(f"unknown GOT-10k subset {subset!r}; choose train, val or test")
    root = require_dir(root, f"a GOT-10k root containing {subset}/list.txt")
    sub = os.path.join(root, subset)
    if not os.path.isfile(os.path.join(sub, "list.txt")) and os.path.isfile(os.path.join(root, "list.txt")):
        sub = root
    if names is None:
        names = read_list(require_file(os.path.join(sub, "list.txt"), f"{subset}/list.txt naming the sequences"))
    out = []
    for name in names:
        seq_dir = require_dir(os.path.join(sub, name), f"GOT-10k sequence folder {name}/ listed in list.txt")
        frames = list_frames(seq_dir, f"the frames of {name} (00000001.jpg ...)")
        boxes = read_boxes(os.path.join(seq_dir, "groundtruth.txt"))
        flags = {}
        for fname, (key, dtype) in _LABELS.items():
            path = os.path.join(seq_dir, fname)
            if os.path.isfile(path):
                flags[key] = read_flag_file(path).astype(dtype)
        meta_path = os.path.join(seq_dir, "meta_info.ini")
        attributes = read_meta_info(meta_path) if os.path.isfile(meta_path) else {}
        attributes["subset"] = subset
        first_only = subset == "test" and len(boxes) == 1
        out.append(
            make_sequence(
                name, frames, boxes, dataset=f"GOT-10k_{subset}", one_based=one_based,
                flags=flags, attributes=attributes, first_only=first_only,
                nan_where=flags.get("absent") if absent_as_nan else None,
            )
        )
    return out
