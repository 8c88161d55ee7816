"""Shared test helpers.

* :func:`shared_data_root` -- path of the real data (``$ADAPTRACK_SHARED_DATA`` or ``<repo>/../shared/data``);
  calls ``pytest.skip`` when it is absent. Also available as the fixture ``shared_data_root``.
* :func:`write_frames` -- write tiny JPEG frames whose grey level encodes their frame number, so a test
  can check which frame a loader returned (:func:`frame_level`).
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_data_root() -> str:
    """The shared data folder, or skip the calling test when it is absent."""
    root = os.environ.get("ADAPTRACK_SHARED_DATA") or os.path.join(REPO, "..", "shared", "data")
    root = os.path.normpath(root)
    if not os.path.isfile(os.path.join(root, "splits.json")):
        pytest.skip(f"shared data absent ({root}); set ADAPTRACK_SHARED_DATA")
    return root


@pytest.fixture(name="shared_data_root")
def _shared_data_root_fixture() -> str:
    return shared_data_root()


def frame_level(k: int) -> int:
    """Grey level of frame number ``k`` written by :func:`write_frames` (distinct for k < 50)."""
    return (k * 5) % 250


def write_frames(folder, numbers, pattern: str = "{:04d}.jpg", size: int = 16) -> list[str]:
    """Write one ``size x size`` JPEG per frame number, grey level :func:`frame_level`; return the paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for k in numbers:
        path = os.path.join(os.fspath(folder), pattern.format(k))
        img = np.full((size, size, 3), frame_level(k), dtype=np.uint8)
        assert cv2.imwrite(path, img)
        paths.append(path)
    return paths


def level_of(frame: np.ndarray) -> int:
    """Frame number's grey level as read back (JPEG of a flat image decodes to within 1-2 levels)."""
    return int(round(float(frame.mean())))


def frame_number_of(frame: np.ndarray) -> int:
    """Invert :func:`frame_level` for frame numbers below 50."""
    return int(round(level_of(frame) / 5))


def link_frames(folder, numbers, pattern: str = "{:04d}.jpg") -> list[str]:
    """Many frames cheaply: one JPEG (of the first number's level) hard-linked under every name."""
    os.makedirs(folder, exist_ok=True)
    numbers = list(numbers)
    (src,) = write_frames(folder, numbers[:1], pattern)
    paths = [src]
    for k in numbers[1:]:
        path = os.path.join(os.fspath(folder), pattern.format(k))
        os.link(src, path)
        paths.append(path)
    return paths
