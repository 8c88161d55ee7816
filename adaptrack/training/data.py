"""Training sources: annotated sequences and still images with boxes.

:func:`load_training_sources` returns what every sampler draws from:

* ``sequences``: :class:`~adaptrack.datasets.base.Sequence` objects of one split of
  ``splits.json`` (boxes 0-based, NaN where the target is absent);
* ``images``: :class:`StillImage` records (one image file, its boxes), read from
  ``images/<source>/annotations.json`` (COCO-like, 0-based ``[x, y, w, h]``). Boxes smaller than
  ``min_image_box`` pixels on either side are dropped, images without boxes are skipped.

The data root defaults to ``$ADAPTRACK_SHARED_DATA`` or ``<repo>/../shared/data``
(:func:`shared_data_root`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..datasets.base import Sequence
from ..errors import DatasetLayoutError

__all__ = ["StillImage", "TrainingSources", "shared_data_root", "load_training_sources", "load_still_images"]


@dataclass
class StillImage:
    """One still image and its object boxes ``(K, 4)`` (x, y, w, h, 0-based)."""

    path: str
    boxes: np.ndarray
    categories: list = field(default_factory=list)
    source: str = ""
    width: int = 0
    height: int = 0


@dataclass
class TrainingSources:
    sequences: list
    images: list

    def __iter__(self):  # allows ``seqs, imgs = load_training_sources()``
        return iter((self.sequences, self.images))


def shared_data_root() -> str:
    """``$ADAPTRACK_SHARED_DATA`` or ``<repo>/../shared/data`` (may not exist)."""
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    return os.environ.get("ADAPTRACK_SHARED_DATA", os.path.join(repo, "..", "shared", "data"))


def _read_splits(root: str) -> dict:
    path = os.path.join(root, "splits.json")
    if not os.path.isfile(path):
        raise DatasetLayoutError(f"no splits.json in the training data root: {path}")
    with open(path) as f:
        return json.load(f)


# Groups whose groundtruth.txt is 0-based (every other group of the shared data is 1-based).
_ZERO_BASED_GROUPS = ("davis2016_val",)


def _load_sequence_dir(root: str, key: str) -> Sequence:
    """Private reader of ``sequences/<group>/<name>`` (img/*.jpg + groundtruth.txt)."""
    group, name = key.split("/", 1)
    d = os.path.join(root, "sequences", group, name)
    img_dir = os.path.join(d, "img")
    gt = os.path.join(d, "groundtruth.txt")
    if not os.path.isdir(img_dir) or not os.path.isfile(gt):
        raise DatasetLayoutError(f"sequence folder needs img/ and groundtruth.txt: {d}")
    frames = sorted(os.path.join(img_dir, f) for f in os.listdir(img_dir) if f.lower().endswith((".jpg", ".png")))
    rows = []
    with open(gt) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append([float(v) for v in line.replace("\t", ",").replace(" ", ",").split(",") if v != ""][:4])
    boxes = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    if group not in _ZERO_BASED_GROUPS:
        boxes[:, :2] -= 1.0
    n = min(len(frames), len(boxes))
    return Sequence(name=key, frames=frames[:n], boxes=boxes[:n], dataset=group)


def _load_split_sequences(split: str, root: str) -> list:
    try:  # the shared loader of the datasets package, once it exists
        from ..datasets.shared import load_split  # type: ignore

        return list(load_split(split, root=root))
    except ImportError:
        pass
    splits = _read_splits(root)
    if split not in splits:
        raise ValueError(f"unknown split {split!r}; splits.json has {sorted(splits)}")
    return [_load_sequence_dir(root, key) for key in splits[split]]


def load_still_images(root: str, sources=None, min_box: float = 8.0) -> list:
    """Still images of ``images/<src>/annotations.json`` for each source (default: all in splits.json)."""
    if sources is None:
        sources = _read_splits(root).get("images", [])
    out = []
    for src in sources:
        ann_path = os.path.join(root, "images", src, "annotations.json")
        if not os.path.isfile(ann_path):
            raise DatasetLayoutError(f"still-image source without annotations.json: {ann_path}")
        with open(ann_path) as f:
            ann = json.load(f)
        by_image: dict = {}
        for a in ann.get("annotations", []):
            by_image.setdefault(a["image_id"], []).append(a)
        for im in ann.get("images", []):
            anns = [a for a in by_image.get(im["id"], []) if min(a["bbox"][2], a["bbox"][3]) >= min_box]
            if not anns:
                continue
            out.append(
                StillImage(
                    path=os.path.join(root, "images", src, im["file_name"]),
                    boxes=np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4),
                    categories=[a.get("category", "") for a in anns],
                    source=src,
                    width=int(im.get("width", 0)),
                    height=int(im.get("height", 0)),
                )
            )
    return out


def load_training_sources(
    split: str = "train", root: str | None = None, images: bool | None = None, min_image_box: float = 8.0
) -> TrainingSources:
    """Sequences of ``split`` and (by default only for ``split="train"``) the still images.

    Raises :class:`~adaptrack.errors.DatasetLayoutError` when the root or a listed folder is missing.
    """
    root = os.path.abspath(root or shared_data_root())
    if not os.path.isdir(root):
        raise DatasetLayoutError(f"training data root not found: {root} (set ADAPTRACK_SHARED_DATA)")
    seqs = _load_split_sequences(split, root)
    if images is None:
        images = split == "train"
    imgs = load_still_images(root, min_box=min_image_box) if images else []
    return TrainingSources(seqs, imgs)
