"""The lazy :class:`Sequence` every loader returns and every protocol consumes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ..image import read_image

__all__ = ["Sequence"]


@dataclass
class Sequence:
    """One annotated video, read lazily.

    Attributes:
        name: unique name inside its dataset (e.g. ``"Basketball"``, ``"GOT-10k_Val_000001"``).
        frames: frame file paths in temporal order, or ``None`` when ``reader`` supplies frames.
        boxes: ``(N, 4)`` float64 ``(x, y, w, h)``, 0-based; NaN rows where the target is absent or
            not annotated. For test splits without ground truth only row 0 is set.
        polygons: ``(N, 8)`` VOT polygons when the dataset has them (``boxes`` is then derived).
        flags: per-frame arrays of length N, e.g. ``"absent"`` (bool), ``"cover"`` (int 0-8),
            ``"full_occlusion"``, ``"out_of_view"``, VOT tags ``"occlusion"``, ``"camera_motion"``, ...
        attributes: free-form metadata (sequence attributes, category, language description, ...).
        reader: ``reader(i) -> frame`` for sources that are not image files (video files).
        dataset: the dataset's name, for reports.
    """

    name: str
    frames: list[str] | None
    boxes: np.ndarray
    polygons: np.ndarray | None = None
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)
    reader: Callable[[int], np.ndarray] | None = field(default=None, repr=False)
    dataset: str = ""
    n_frames: int | None = None

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if self.n_frames is None:
            self.n_frames = len(self.frames) if self.frames is not None else len(self.boxes)
        if self.frames is None and self.reader is None:
            raise ValueError(f"sequence {self.name!r} needs frame paths or a reader")

    def __len__(self) -> int:
        return int(self.n_frames)

    def __repr__(self) -> str:  # the default dataclass repr prints every frame path and box
        extra = f", polygons={self.polygons.shape}" if self.polygons is not None else ""
        return (
            f"Sequence(name={self.name!r}, dataset={self.dataset!r}, n_frames={len(self)}, "
            f"boxes={self.boxes.shape}{extra}, flags={sorted(self.flags)}, attributes={sorted(self.attributes)})"
        )

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as ``H x W x 3`` uint8 RGB (raises :class:`~adaptrack.errors.FrameReadError`)."""
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} out of range for sequence {self.name!r} of {len(self)} frames")
        if self.reader is not None:
            return self.reader(i)
        return read_image(self.frames[i])

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.frame(i)

    @property
    def init_box(self) -> np.ndarray:
        return self.boxes[0].copy()

    def frame_path(self, i: int) -> str | None:
        return os.fspath(self.frames[i]) if self.frames is not None else None
