"""OTB-2013 / OTB-2015 (Wu, Lim, Yang: "Online Object Tracking: A Benchmark", CVPR 2013; TPAMI 2015).

Expected layout (the per-sequence zips of the benchmark site, unpacked side by side)::

    <root>/<Seq>/img/0001.jpg ...          (Board: 00001.jpg, five digits)
    <root>/<Seq>/groundtruth_rect.txt      one x,y,w,h line per frame; tab, comma or space separated
    <root>/<Seq>/groundtruth_rect.1.txt    two-target sequences (Jogging, Skating2) instead of the above;
    <root>/<Seq>/groundtruth_rect.2.txt    they become sequences ``Jogging.1`` and ``Jogging.2``
                                           (Human4 ships an empty ``.1`` file: it is skipped)
    <root>/OTB100.json | OTB2015.json ...  optional pysot-style meta file: sequence attributes

Annotations are 1-based (MATLAB) and shifted to 0-based by default (``one_based=True``).

Known quirks, as the benchmark's configuration (``configSeqs``) states them: some sequences use only a
range of their frames (David 300-770, BlurCar1 247-988, BlurCar3 3-359, BlurCar4 18-397, Football1
1-74, Freeman3 1-460, Freeman4 1-283, Diving 1-215); frames are selected by the number in their file
name, so folders that start at ``0247.jpg`` and folders holding every frame both work. Tiger1's first
five frames are omitted by the official toolkit (``initOmit``); ``init_omit=False`` keeps them, as the
got10k toolkit does. Any other difference between the frame and annotation counts gives an
:class:`~adaptrack.datasets._common.AnnotationMismatchWarning` naming the sequence and truncates to the
shorter.
"""

from __future__ import annotations

import glob
import json
import os

from ..errors import DatasetLayoutError
from ._common import frame_number, list_frames, make_sequence, read_boxes, require_dir

__all__ = ["load_otb", "OTB2013", "OTB2015", "TB50", "TB100", "FRAME_RANGES", "INIT_OMIT"]

OTB2013 = (
    "Basketball Bolt Boy Car4 CarDark CarScale Coke Couple Crossing David David2 David3 Deer Dog1 Doll "
    "Dudek FaceOcc1 FaceOcc2 Fish FleetFace Football Football1 Freeman1 Freeman3 Freeman4 Girl Ironman "
    "Jogging Jumping Lemming Liquor Matrix Mhyang MotorRolling MountainBike Shaking Singer1 Singer2 "
    "Skating1 Skiing Soccer Subway Suv Sylvester Tiger1 Tiger2 Trellis Walking Walking2 Woman"
).split()

TB50 = (
    "Basketball Biker Bird1 BlurBody BlurCar2 BlurFace BlurOwl Bolt Box Car1 Car4 CarDark CarScale "
    "ClifBar Couple Crowds David Deer Diving DragonBaby Dudek Football Freeman4 Girl Human3 Human4 "
    "Human6 Human9 Ironman Jump Jumping Liquor Matrix MotorRolling Panda RedTeam Shaking Singer2 "
    "Skating1 Skating2 Skiing Soccer Surfer Sylvester Tiger2 Trellis Walking Walking2 Woman"
).split()

TB100 = (
    "Bird2 BlurCar1 BlurCar3 BlurCar4 Board Bolt2 Boy Car2 Car24 Coke Coupon Crossing Dancer Dancer2 "
    "David2 David3 Dog Dog1 Doll FaceOcc1 FaceOcc2 Fish FleetFace Football1 Freeman1 Freeman3 Girl2 Gym "
    "Human2 Human5 Human7 Human8 Jogging KiteSurf Lemming Man Mhyang MountainBike Rubik Singer1 Skater "
    "Skater2 Subway Suv Tiger1 Toy Trans Twinnings Vase"
).split() + TB50

OTB2015 = TB100

_VERSIONS = {
    2013: OTB2013, "2013": OTB2013, "otb2013": OTB2013, "cvpr13": OTB2013, "otb50": OTB2013,
    2015: OTB2015, "2015": OTB2015, "otb2015": OTB2015, "otb100": OTB2015,
    "tb50": TB50, "tb100": TB100,
}

#: (first, last) 1-based frame numbers of sequences that do not use all their frames.
FRAME_RANGES = {
    "David": (300, 770),
    "BlurCar1": (247, 988),
    "BlurCar3": (3, 359),
    "BlurCar4": (18, 397),
    "Football1": (1, 74),
    "Freeman3": (1, 460),
    "Freeman4": (1, 283),
    "Diving": (1, 215),
}

#: frames (and annotation rows) the official toolkit omits at the start of a sequence.
INIT_OMIT = {"Tiger1": 5}


def _versions_help() -> str:
    return ", ".join(sorted({str(k) for k in _VERSIONS}))


def _meta_attributes(root: str) -> dict:
    """Sequence attributes from a pysot-style meta JSON in ``root`` (``{"Seq": {"attr": [...]}}``)."""
    for fname in ("OTB100.json", "OTB2015.json", "OTB2013.json", "OTB50.json", "CVPR13.json"):
        path = os.path.join(root, fname)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
            return {k: list(v.get("attr", [])) for k, v in meta.items() if isinstance(v, dict)}
    return {}


def _non_empty(path: str) -> bool:
    with open(path, encoding="utf-8", errors="replace") as f:
        return bool(f.read().strip())


def _select_frames(frames: list[str], rng: tuple[int, int] | None) -> list[str]:
    if rng is None:
        return frames
    first, last = rng
    nums = [frame_number(f) for f in frames]
    if all(n is not None for n in nums):
        return [f for f, n in zip(frames, nums) if first <= n <= last]
    return frames[first - 1 : last]


def load_otb(
    root: str | os.PathLike,
    version: int | str = 2015,
    one_based: bool = True,
    init_omit: bool = True,
    names: list[str] | None = None,
) -> list:
    """Load OTB sequences of ``version`` (2013 | 2015 | "tb50" | "tb100" | "cvpr13") from ``root``.

    ``names`` restricts to some sequences (``"Jogging"`` gives both targets, ``"Jogging.2"`` one). Sequence folders missing from ``root`` raise
    :class:`DatasetLayoutError` naming the folder (a partial copy is better loaded with ``names``).
    """
    root = require_dir(root, "an OTB root holding one folder per sequence (<Seq>/img, <Seq>/groundtruth_rect.txt)")
    key = version.lower() if isinstance(version, str) else version
    if key not in _VERSIONS:
        raise ValueError(f"unknown OTB version {version!r}; choose one of {_versions_help()}")
    seq_names = list(names) if names is not None else list(_VERSIONS[key])
    attrs = _meta_attributes(root)
    dataset = f"OTB{version}" if isinstance(version, int) or str(version).isdigit() else str(version).upper()
    out = []
    for wanted in seq_names:
        base, _, target = wanted.partition(".")  # "Jogging.2" selects one target of Jogging
        seq_dir = require_dir(os.path.join(root, base), f"sequence folder {base}/ with img/ and groundtruth_rect.txt")
        anno_files = sorted(glob.glob(os.path.join(seq_dir, "groundtruth_rect*.txt")))
        anno_files = [f for f in anno_files if _non_empty(f)]
        if not anno_files:
            raise DatasetLayoutError(f"{seq_dir} has no non-empty groundtruth_rect*.txt")
        all_frames = list_frames(os.path.join(seq_dir, "img"), f"{base}/img/ with the frames of {base}")
        frames = _select_frames(all_frames, FRAME_RANGES.get(base))
        for k, anno in enumerate(anno_files, 1):
            name = base if len(anno_files) == 1 else f"{base}.{k}"
            if target and name != wanted:
                continue
            boxes = read_boxes(anno)
            seq_frames = frames
            omit = INIT_OMIT.get(base, 0) if init_omit else 0
            if omit:
                seq_frames, boxes = seq_frames[omit:], boxes[omit:]
            attributes = {"attributes": attrs.get(base, attrs.get(name, [])), "base_name": base}
            out.append(
                make_sequence(name, seq_frames, boxes, dataset=dataset, one_based=one_based, attributes=attributes)
            )
    return out
