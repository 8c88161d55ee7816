"""Benchmark loaders: ``load_dataset(name, root, **kw)`` returns a ``list`` of lazy :class:`Sequence`.

Each layout lives in its own module, whose docstring states the folder layout it expects:

==============  =========================================  =========================================
name            module / function                          keyword arguments
==============  =========================================  =========================================
``otb``         :func:`.otb.load_otb`                      version=2015|2013|"tb50"|"tb100"|"cvpr13"
``vot``         :func:`.vot.load_vot`                      (root holds list.txt)
``got10k``      :func:`.got10k.load_got10k`                subset="train"|"val"|"test"
``lasot``       :func:`.lasot.load_lasot`                  subset="test"|"train"|"all"
``uav123``      :func:`.uav.load_uav123`
``uav20l``      :func:`.uav.load_uav20l`
``nfs``         :func:`.nfs.load_nfs`                      fps=30|240
``tc128``       :func:`.tc128.load_tc128`
``trackingnet`` :func:`.trackingnet.load_trackingnet`      subset="train"|"test", chunks=[k, ...]
``dtb70``       :func:`.dtb70.load_dtb70`
``uavdt``       :func:`.uavdt.load_uavdt`
``folder``      :func:`.folder.load_folder`                one_based=bool|{group: bool}|callable
``video``       :func:`.video.load_video`                  box=(x, y, w, h)  (root is the video file)
``coco_images`` :func:`.coco_images.load_coco_images`      returns :class:`StillImage` objects
``shared``      :func:`.shared.load_split`                 split="train"|"val" (root optional)
==============  =========================================  =========================================

Most loaders also take ``one_based`` (shift 1-based annotations to 0-based; the default is the
benchmark's convention) and ``names`` (load only these sequences). A folder that does not have the
expected layout raises :class:`~adaptrack.errors.DatasetLayoutError` naming the path; frame/annotation
count mismatches warn (:class:`AnnotationMismatchWarning`) and truncate to the shorter.
"""

from __future__ import annotations

import importlib

from ..errors import UnknownNameError
from ._common import AnnotationMismatchWarning
from .base import Sequence
from .coco_images import StillImage

__all__ = ["Sequence", "StillImage", "AnnotationMismatchWarning", "load_dataset", "list_datasets"]

# name -> (module, function, one-line description)
_REGISTRY = {
    "otb": ("otb", "load_otb", "OTB-2013/2015 (version=2015|2013|tb50|tb100|cvpr13)"),
    "vot": ("vot", "load_vot", "VOT 2015-2019 short-term (list.txt, rectangle or polygon groundtruth, tags)"),
    "got10k": ("got10k", "load_got10k", "GOT-10k (subset=train|val|test)"),
    "lasot": ("lasot", "load_lasot", "LaSOT (subset=test|train|all)"),
    "uav123": ("uav", "load_uav123", "UAV123 (sub-sequence frame ranges, NaN rows)"),
    "uav20l": ("uav", "load_uav20l", "UAV20L (long UAV123 sequences)"),
    "nfs": ("nfs", "load_nfs", "Need for Speed (fps=30|240)"),
    "tc128": ("tc128", "load_tc128", "Temple Color 128"),
    "trackingnet": ("trackingnet", "load_trackingnet", "TrackingNet (subset=train|test)"),
    "dtb70": ("dtb70", "load_dtb70", "DTB70"),
    "uavdt": ("uavdt", "load_uavdt", "UAVDT single-object tracking"),
    "folder": ("folder", "load_folder", "generic <name>/img/*.jpg + groundtruth.txt folders (nested groups)"),
    "video": ("video", "load_video", "a video file with an initial box (box=x,y,w,h)"),
    "coco_images": ("coco_images", "load_coco_images", "COCO-like still images (annotations.json)"),
    "shared": ("shared", "load_split", "the shared development data split (split=train|val)"),
}


def list_datasets() -> dict[str, str]:
    """``{name: description}`` of every loader :func:`load_dataset` knows."""
    return {name: desc for name, (_, _, desc) in _REGISTRY.items()}


def load_dataset(name: str, root=None, **kw) -> list:
    """Load dataset ``name`` from ``root`` (see the table in this module's docstring)."""
    key = name.lower().replace("-", "").replace("_", "") if isinstance(name, str) else name
    lookup = {k.replace("_", ""): k for k in _REGISTRY}
    if key not in lookup:
        raise UnknownNameError(f"unknown dataset {name!r}; known: {', '.join(_REGISTRY)}")
    module, func, _ = _REGISTRY[lookup[key]]
    loader = getattr(importlib.import_module(f".{module}", __name__), func)
    if lookup[key] == "shared":
        return loader(root=root, **kw)
    if root is None:
        raise ValueError(f"dataset {name!r} needs a root folder")
    return loader(root, **kw)
