"""Training sources: annotated sequences and still images with boxes.

:func:`load_training_sources` returns what every sampler draws from:

* ``sequences``: :class:`~adaptrack.datasets.base.Sequence` objects of one split of ``splits.json``
  (via :func:`adaptrack.datasets.shared.load_split`: boxes 0-based, NaN where the target is absent);
* ``images``: :class:`~adaptrack.datasets.coco_images.StillImage` records (an image file and its
  boxes) of ``images/<source>/annotations.json`` (COCO-like, 0-based), boxes smaller than
  ``min_image_box`` pixels on either side dropped, images left without boxes skipped.

The data root defaults to ``$ADAPTRACK_SHARED_DATA`` or ``<repo>/../shared/data``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..datasets._common import require_dir, require_file
from ..datasets.coco_images import StillImage, load_coco_images
from ..datasets.shared import load_split, shared_data_root

__all__ = ["StillImage", "TrainingSources", "shared_data_root", "load_training_sources", "load_still_images"]


@dataclass
class TrainingSources:
    """``sequences`` and ``images``; unpacks as ``seqs, imgs = load_training_sources()``."""

    sequences: list
    images: list

    def __iter__(self):
        return iter((self.sequences, self.images))


def load_still_images(root: str | None = None, sources=None, min_box: float = 8.0) -> list:
    """Still images of each source (default: the ``images`` list of ``splits.json``), boxes >= ``min_box``."""
    root = require_dir(shared_data_root(root), "the shared data folder (set ADAPTRACK_SHARED_DATA)")
    if sources is None:
        with open(require_file(os.path.join(root, "splits.json"), "splits.json")) as f:
            sources = json.load(f).get("images", [])
    out = []
    for src in sources:
        out.extend(load_coco_images(os.path.join(root, "images", src), min_size=min_box))
    return out


def load_training_sources(
    split: str = "train", root: str | None = None, images: bool | None = None, min_image_box: float = 8.0
) -> TrainingSources:
    """Sequences of ``split`` and (by default only for ``split="train"``) the still images.

    Raises :class:`~adaptrack.errors.DatasetLayoutError` when the root or a listed folder is missing,
    ``ValueError`` for an unknown split.
    """
    seqs = load_split(split, root=root)
    if images is None:
        images = split == "train"
    imgs = load_still_images(root, min_box=min_image_box) if images else []
    return TrainingSources(list(seqs), imgs)
