"""The project's development data in ``../shared/data`` (see its README): sequences, splits, stills.

Layout::

    <root>/sequences/<group>/<name>/img/*.jpg + groundtruth.txt   (the generic folder layout)
    <root>/images/<source>/annotations.json + *.jpg               (COCO-like still images)
    <root>/splits.json  {"train": ["<group>/<name>", ...], "val": [...], "images": ["<source>", ...]}

``root`` defaults to ``$ADAPTRACK_SHARED_DATA``, else ``../shared/data`` next to the repository
checkout. Each group keeps its source benchmark's origin convention: ``davis2016_val`` is 0-based,
every other group (OTB / UAV / DTB / UAVDT / LaSOT-style) is 1-based and is shifted to 0-based here.
"""

from __future__ import annotations

import json
import os

from ..errors import DatasetLayoutError
from ._common import require_dir, require_file
from .coco_images import StillImage, load_coco_images
from .folder import load_folder

__all__ = ["shared_data_root", "load_split", "load_still_images", "group_is_one_based", "ZERO_BASED_GROUPS"]

#: groups of ``sequences/`` whose boxes are 0-based; all others are 1-based (README of the data).
ZERO_BASED_GROUPS = frozenset({"davis2016_val"})


def shared_data_root(root: str | os.PathLike | None = None) -> str:
    """``root``, else ``$ADAPTRACK_SHARED_DATA``, else ``<repo>/../shared/data`` (may not exist)."""
    if root is not None:
        return os.fspath(root)
    env = os.environ.get("ADAPTRACK_SHARED_DATA")
    if env:
        return env
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.normpath(os.path.join(repo, "..", "shared", "data"))


def group_is_one_based(name: str) -> bool:
    """Whether the sequence ``<group>/<name>`` (or a group name) has 1-based boxes."""
    return name.split("/", 1)[0] not in ZERO_BASED_GROUPS


def _splits(root: str) -> dict:
    path = require_file(os.path.join(root, "splits.json"), "splits.json with train / val / images lists")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise DatasetLayoutError(f"{path}: not valid JSON ({e})") from None


def load_split(split: str = "val", root: str | os.PathLike | None = None) -> list:
    """The sequences of ``split`` ("train" | "val") listed in ``splits.json``, in its order."""
    root = require_dir(shared_data_root(root), "the shared data folder (set ADAPTRACK_SHARED_DATA)")
    splits = _splits(root)
    if split not in splits or split == "images":
        choices = ", ".join(k for k in splits if k != "images")
        raise ValueError(f"unknown split {split!r}; splits.json has {choices}")
    seq_root = require_dir(os.path.join(root, "sequences"), "sequences/<group>/<name>/ folders")
    return load_folder(seq_root, one_based=group_is_one_based, names=list(splits[split]), dataset=f"shared_{split}")


def load_still_images(root: str | os.PathLike | None = None, sources: list[str] | None = None) -> list[StillImage]:
    """Still images of ``sources`` (default: the ``images`` list of ``splits.json``)."""
    root = require_dir(shared_data_root(root), "the shared data folder (set ADAPTRACK_SHARED_DATA)")
    if sources is None:
        sources = list(_splits(root).get("images", []))
    out: list[StillImage] = []
    for source in sources:
        out.extend(load_coco_images(os.path.join(root, "images", source)))
    return out
