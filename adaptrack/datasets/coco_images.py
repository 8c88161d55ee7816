"""Still images with object boxes in a COCO-like ``annotations.json`` (``../shared/data/images/<source>``).

Expected layout::

    <root>/annotations.json   {"images": [{"id", "file_name", "width", "height"}],
                               "annotations": [{"id", "image_id", "category" | "category_id", "bbox": [x, y, w, h]}],
                               optional "categories": [{"id", "name"}]}
    <root>/<file_name>        the images (paths relative to ``root``)

Boxes are 0-based pixels. The result is a list of :class:`StillImage` (not sequences): pair samplers
turn them into template/search pairs. Boxes of zero width or height are dropped; images left without
boxes are kept only with ``keep_empty``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import DatasetLayoutError
from ..image import read_image
from ._common import require_dir, require_file

__all__ = ["StillImage", "load_coco_images"]


@dataclass
class StillImage:
    """One still image: ``path``, its ``(K, 4)`` float64 ``boxes`` (x, y, w, h) and ``K`` ``categories``."""

    path: str
    boxes: np.ndarray
    categories: list[str]
    width: int | None = None
    height: int | None = None
    source: str = ""
    attributes: dict = field(default_factory=dict)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if len(self.categories) != len(self.boxes):
            raise ValueError(f"{self.path}: {len(self.boxes)} boxes but {len(self.categories)} categories")

    def image(self) -> np.ndarray:
        """The image as ``H x W x 3`` uint8 RGB (raises :class:`~adaptrack.errors.FrameReadError`)."""
        return read_image(self.path)


def load_coco_images(root: str | os.PathLike, keep_empty: bool = False, min_size: float = 0.0) -> list[StillImage]:
    """Load the still images of one source folder; boxes smaller than ``min_size`` on a side are dropped."""
    root = require_dir(root, "an image source folder with annotations.json")
    path = require_file(os.path.join(root, "annotations.json"), "annotations.json (COCO-like images/annotations)")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        images, annotations = data["images"], data["annotations"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DatasetLayoutError(f"{path}: not a COCO-like file with 'images' and 'annotations' ({e})") from None
    cat_names = {c["id"]: str(c.get("name", c["id"])) for c in data.get("categories", []) if isinstance(c, dict)}
    per_image: dict = {}
    for a in annotations:
        try:
            box = [float(v) for v in a["bbox"]]
            image_id = a["image_id"]
        except (KeyError, TypeError, ValueError):
            raise DatasetLayoutError(f"{path}: annotation {a.get('id', '?')} lacks image_id or a 4-number bbox") from None
        if len(box) != 4:
            raise DatasetLayoutError(f"{path}: annotation {a.get('id', '?')} bbox has {len(box)} numbers, expected 4")
        if box[2] < min_size or box[3] < min_size or box[2] <= 0 or box[3] <= 0:
            continue
        cat = a.get("category")
        if cat is None:
            cat = cat_names.get(a.get("category_id"), a.get("category_id", ""))
        per_image.setdefault(image_id, []).append((box, str(cat)))
    source = os.path.basename(os.path.normpath(root))
    out = []
    for im in images:
        anns = per_image.get(im["id"], [])
        if not anns and not keep_empty:
            continue
        out.append(
            StillImage(
                path=os.path.join(root, im["file_name"]),
                boxes=np.array([b for b, _ in anns], dtype=np.float64).reshape(-1, 4),
                categories=[c for _, c in anns],
                width=im.get("width"),
                height=im.get("height"),
                source=source,
            )
        )
    return out
