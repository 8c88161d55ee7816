"""A video file with an initial box: one lazy :class:`Sequence` whose frames are decoded on access.

Layout: any file OpenCV can decode (``.mp4``, ``.avi``, ...). Only the initial box is known, so
``boxes`` has row 0 set and NaN elsewhere; frames come from :class:`adaptrack.io.VideoReader`.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DatasetLayoutError, FrameReadError
from .base import Sequence

__all__ = ["load_video"]


def load_video(path: str | os.PathLike, box, name: str | None = None) -> list:
    """``[Sequence]`` for the video at ``path`` with initial ``box`` ``(x, y, w, h)`` (0-based pixels)."""
    from ..io.sources import VideoReader

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetLayoutError(f"{path} is not a file; expected a video file")
    try:
        reader = VideoReader(path)
    except FrameReadError as e:
        raise DatasetLayoutError(str(e)) from e
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size != 4:
        raise ValueError(f"initial box must be four numbers x,y,w,h, got {box!r}")
    boxes = np.full((len(reader), 4), np.nan)
    boxes[0] = b
    name = name or os.path.splitext(os.path.basename(path))[0]
    return [
        Sequence(
            name=name, frames=None, boxes=boxes, reader=reader, dataset="video", n_frames=len(reader),
            attributes={"path": path, "fps": reader.fps, "size": reader.size},
        )
    ]
