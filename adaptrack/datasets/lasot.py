"""LaSOT (Fan et al., "LaSOT: A High-quality Benchmark for Large-scale Single Object Tracking", CVPR 2019).

Expected layout::

    <root>/<category>/<category>-<N>/img/00000001.jpg ...
    <root>/<category>/<category>-<N>/groundtruth.txt      x,y,w,h per frame (comma separated)
    <root>/<category>/<category>-<N>/full_occlusion.txt   one line of comma-separated 0/1 per frame
    <root>/<category>/<category>-<N>/out_of_view.txt      same
    <root>/<category>/<category>-<N>/nlp.txt              optional language description
    <root>/testing_set.txt | training_set.txt             optional split lists (one name per line)

``subset="test"`` loads the 280 test sequences (``testing_set.txt`` in ``root`` if present, else the
benchmark's list shipped as ``lasot_test.json``), ``"train"`` all others present, ``"all"`` every
sequence found. Annotations are 1-based (MATLAB toolkit) and shifted to 0-based by default.
``flags["absent"]`` is ``full_occlusion | out_of_view``; boxes keep the rows as given
(``absent_as_nan=True`` turns the absent rows into NaN, for training samplers).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import DatasetLayoutError
from ._common import list_frames, make_sequence, read_boxes, read_flag_file, read_list, read_nlp, require_dir

__all__ = ["load_lasot", "lasot_test_names"]


def lasot_test_names(root: str | None = None) -> list[str]:
    """Names of the LaSOT test split: ``<root>/testing_set.txt`` when present, else the shipped list."""
    if root is not None and os.path.isfile(os.path.join(root, "testing_set.txt")):
        return read_list(os.path.join(root, "testing_set.txt"))
    with open(os.path.join(os.path.dirname(__file__), "lasot_test.json"), encoding="utf-8") as f:
        return list(json.load(f)["test"])


def _category(name: str) -> str:
    return name.rsplit("-", 1)[0]


def _present(root: str) -> list[str]:
    names = []
    for cat in sorted(os.listdir(root)):
        cat_dir = os.path.join(root, cat)
        if not os.path.isdir(cat_dir) or cat.startswith("."):
            continue
        for seq in sorted(os.listdir(cat_dir)):
            if seq.startswith(cat + "-") and os.path.isdir(os.path.join(cat_dir, seq)):
                names.append(seq)
    return names


def load_lasot(
    root: str | os.PathLike,
    subset: str = "test",
    one_based: bool = True,
    names: list[str] | None = None,
    absent_as_nan: bool = False,
) -> list:
    """Load LaSOT ``subset`` ("test" | "train" | "all") or the sequences ``names`` from ``root``."""
    root = require_dir(root, "a LaSOT root with <category>/<category>-<N>/ folders")
    if names is None:
        if subset == "test":
            names = lasot_test_names(root)
        elif subset in ("train", "all"):
            present = _present(root)
            if not present:
                raise DatasetLayoutError(f"{root} has no <category>/<category>-<N>/ sequence folders")
            if subset == "train":
                if os.path.isfile(os.path.join(root, "training_set.txt")):
                    names = read_list(os.path.join(root, "training_set.txt"))
                else:
                    test = set(lasot_test_names(root))
                    names = [n for n in present if n not in test]
            else:
                names = present
        else:
            raise ValueError(f"unknown LaSOT subset {subset!r}; choose test, train or all")
    out = []
    for name in names:
        seq_dir = require_dir(
            os.path.join(root, _category(name), name), f"LaSOT sequence folder {_category(name)}/{name}/"
        )
        frames = list_frames(os.path.join(seq_dir, "img"), f"{name}/img/ with the frames")
        boxes = read_boxes(os.path.join(seq_dir, "groundtruth.txt"))
        flags = {}
        for key in ("full_occlusion", "out_of_view"):
            path = os.path.join(seq_dir, key + ".txt")
            if os.path.isfile(path):
                flags[key] = read_flag_file(path).astype(bool)
        if flags:
            n = len(frames)
            absent = np.zeros(n, dtype=bool)
            for v in flags.values():
                m = min(n, len(v))
                absent[:m] |= v[:m]
            flags["absent"] = absent
        attributes = {"category": _category(name)}
        nlp = read_nlp(seq_dir)
        if nlp is not None:
            attributes["nlp"] = nlp
        out.append(
            make_sequence(
                name, frames, boxes, dataset="LaSOT", one_based=one_based, flags=flags, attributes=attributes,
                nan_where=flags.get("absent") if absent_as_nan else None,
            )
        )
    return out
