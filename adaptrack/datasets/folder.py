"""The generic sequence-folder layout (the one of ``../shared/data/sequences``).

Expected layout (groups may nest to any depth)::

    <root>/[<group>/...]<name>/img/00001.jpg ...   frames in temporal (natural) order
    <root>/[<group>/...]<name>/groundtruth.txt     x,y,w,h per frame (comma, tab or space separated);
                                                   "nan,nan,nan,nan" where the target is absent
    optional: nlp.txt (language description), full_occlusion.txt, out_of_view.txt (LaSOT style)

A folder is a sequence when it has both ``img/`` and ``groundtruth.txt``; its name is its path
relative to ``root`` with ``/`` separators (``uav123_10fps_arcf/boat1``). The origin convention is the
source benchmark's, so ``one_based`` is either one bool for every sequence, a mapping from top-level
group name to bool (missing groups: ``False``), or a callable ``name -> bool``.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

import numpy as np

from ..errors import DatasetLayoutError
from ._common import list_frames, make_sequence, natural_key, read_boxes, read_flag_file, read_nlp, require_dir

__all__ = ["load_folder", "find_sequence_dirs"]


def find_sequence_dirs(root: str) -> list[str]:
    """Relative paths (``/``-separated) of every folder under ``root`` holding ``img/`` and ``groundtruth.txt``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted((d for d in dirnames if not d.startswith(".") and d != "img"), key=natural_key)
        if "groundtruth.txt" in filenames and os.path.isdir(os.path.join(dirpath, "img")):
            rel = os.path.relpath(dirpath, root)
            found.append("" if rel == "." else rel.replace(os.sep, "/"))
    return found


def _origin(one_based, name: str) -> bool:
    if isinstance(one_based, bool):
        return one_based
    if callable(one_based):
        return bool(one_based(name))
    if isinstance(one_based, Mapping):
        return bool(one_based.get(name.split("/", 1)[0], False))
    raise TypeError(f"one_based must be a bool, a mapping group -> bool or a callable, not {type(one_based).__name__}")


def load_folder(
    root: str | os.PathLike,
    one_based: bool | Mapping[str, bool] | Callable[[str], bool] = False,
    names: list[str] | None = None,
    dataset: str | None = None,
) -> list:
    """Load every sequence folder under ``root`` (or the relative paths ``names``)."""
    root = require_dir(root, "a folder of sequences, each with img/ and groundtruth.txt")
    if names is None:
        names = find_sequence_dirs(root)
        if not names:
            raise DatasetLayoutError(f"{root} has no sequence folders; expected <name>/img/*.jpg and <name>/groundtruth.txt")
    dataset = dataset or os.path.basename(os.path.normpath(root))
    out = []
    for name in names:
        seq_dir = require_dir(os.path.join(root, *name.split("/")) if name else root, f"sequence folder {name}/ with img/ and groundtruth.txt")
        frames = list_frames(os.path.join(seq_dir, "img"), f"{name}/img/ with the frames")
        boxes = read_boxes(os.path.join(seq_dir, "groundtruth.txt"))
        flags = {"absent": np.isnan(boxes).any(axis=1)}
        for key in ("full_occlusion", "out_of_view"):
            path = os.path.join(seq_dir, key + ".txt")
            if os.path.isfile(path):
                flags[key] = read_flag_file(path).astype(bool)
        attributes = {"group": name.split("/", 1)[0] if "/" in name else ""}
        nlp = read_nlp(seq_dir)
        if nlp is not None:
            attributes["nlp"] = nlp
        out.append(
            make_sequence(
                name or os.path.basename(os.path.normpath(root)), frames, boxes, dataset=dataset,
                one_based=_origin(one_based, name), flags=flags, attributes=attributes,
            )
        )
    return out
