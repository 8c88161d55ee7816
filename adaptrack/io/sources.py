"""Frame sources: a video file, a folder of images, or a webcam, all yielding ``H x W x 3`` uint8 RGB.

:func:`open_source` picks the kind from the spec (an ``int`` or a string of digits is a webcam index,
a directory is an image folder, any other existing file a video). Every source is iterable, has
``fps`` (``None`` when unknown), ``size`` as ``(width, height)`` and ``__len__`` when the number of
frames is known (webcams raise ``TypeError`` there, like any object without a length). A missing or
undecodable frame raises :class:`~adaptrack.errors.FrameReadError` naming the file (and the frame
index for videos).

:class:`VideoReader` gives random access ``reader(i)`` to a video's frames (sequential reads are cheap,
backward jumps re-seek); it is what video-file :class:`~adaptrack.datasets.Sequence` objects use and it
pickles (the capture is reopened in the receiving process).
"""

from __future__ import annotations

import os
from typing import Iterator

import cv2
import numpy as np

from ..datasets._common import IMAGE_EXTS, natural_key
from ..errors import FrameReadError
from ..image import as_rgb_uint8, read_image

__all__ = ["open_source", "FrameSource", "ImageFolderSource", "VideoFileSource", "WebcamSource", "VideoReader"]


class FrameSource:
    """Base of the frame sources: iterable of RGB frames with ``fps``, ``size`` and ``close()``."""

    fps: float | None = None
    size: tuple[int, int] | None = None
    description: str = ""

    def __iter__(self) -> Iterator[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageFolderSource(FrameSource):
    """The image files of a folder in natural order (``2.jpg`` before ``10.jpg``)."""

    def __init__(self, folder: str | os.PathLike, fps: float | None = None):
        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise FrameReadError(f"image folder not found: {folder}")
        files = [f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS) and not f.startswith(".")]
        if not files:
            raise FrameReadError(f"no image files ({', '.join(IMAGE_EXTS)}) in folder {folder}")
        files.sort(key=natural_key)
        self.files = [os.path.join(folder, f) for f in files]
        self.fps = fps
        self.description = folder
        first = read_image(self.files[0])
        self.size = (first.shape[1], first.shape[0])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> np.ndarray:
        return read_image(self.files[i])

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.files:
            yield read_image(path)


def _open_capture(path: str) -> cv2.VideoCapture:
    if not os.path.isfile(path):
        raise FrameReadError(f"video file not found: {path}")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise FrameReadError(f"cannot open video (corrupt or unsupported format): {path}")
    return cap


def _video_props(cap: cv2.VideoCapture) -> tuple[float | None, tuple[int, int], int | None]:
    fps = cap.get(cv2.CAP_PROP_FPS)
    w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    return (fps if fps and fps > 0 else None), (w, h), (n if n > 0 else None)


class VideoFileSource(FrameSource):
    """Frames of a video file, decoded in order with OpenCV."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        cap = _open_capture(self.path)
        self.fps, self.size, self._count = _video_props(cap)
        ok, frame = cap.read()
        cap.release()
        if not ok or frame is None:
            raise FrameReadError(f"cannot decode the first frame of video {self.path}")
        self.size = (frame.shape[1], frame.shape[0])
        self.description = self.path

    def __len__(self) -> int:
        if self._count is None:
            raise TypeError(f"the number of frames of {self.path} is unknown")
        return self._count

    def __iter__(self) -> Iterator[np.ndarray]:
        cap = _open_capture(self.path)
        try:
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    if self._count is not None and i < self._count - 1:
                        # containers may over-report the count by one; more than that is a broken file
                        raise FrameReadError(f"cannot decode frame {i} of {self._count} in video {self.path}")
                    return
                yield as_rgb_uint8(frame, assume_bgr=True)
                i += 1
        finally:
            cap.release()


class WebcamSource(FrameSource):
    """Live frames from camera ``index`` until the camera stops or the loop breaks."""

    def __init__(self, index: int):
        self.index = int(index)
        self._cap = cv2.VideoCapture(self.index)
        if not self._cap.isOpened():
            self._cap.release()
            raise FrameReadError(f"cannot open webcam {self.index}")
        self.fps, self.size, _ = _video_props(self._cap)
        self.description = f"webcam {self.index}"

    def __len__(self) -> int:
        raise TypeError("a webcam has no length")

    def __iter__(self) -> Iterator[np.ndarray]:
        while self._cap is not None:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                return
            yield as_rgb_uint8(frame, assume_bgr=True)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_source(spec, fps: float | None = None) -> FrameSource:
    """Open a frame source from ``spec``: a webcam index (``0`` or ``"0"``), an image folder or a video file.

    ``fps`` sets the rate of image folders (which have none of their own). Raises
    :class:`FrameReadError` naming the path when it does not exist or cannot be opened.
    """
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return WebcamSource(int(spec))
    path = os.fspath(spec)
    if path.isdigit() and not os.path.exists(path):
        return WebcamSource(int(path))
    if os.path.isdir(path):
        return ImageFolderSource(path, fps=fps)
    if os.path.isfile(path):
        return VideoFileSource(path)
    raise FrameReadError(f"no such video file or image folder: {path}")


class VideoReader:
    """Random access ``reader(i) -> RGB frame`` over a video file, for lazy video Sequences.

    Reading frames in increasing order decodes each once; a backward jump (or a jump far ahead)
    seeks. ``len(reader)`` is the container's frame count, or the counted number of decodable
    frames when the container does not say.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        cap = _open_capture(self.path)
        self.fps, self.size, count = _video_props(cap)
        if count is None:
            count = 0
            while cap.grab():
                count += 1
        cap.release()
        if count == 0:
            raise FrameReadError(f"video has no decodable frames: {self.path}")
        self.n_frames = count
        self._cap = None
        self._next = 0

    def __len__(self) -> int:
        return self.n_frames

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cap"] = None
        state["_next"] = 0
        return state

    def _seek(self, i: int) -> None:
        if self._cap is None:
            self._cap = _open_capture(self.path)
            self._next = 0
        if i < self._next or i - self._next > 64:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            self._next = int(self._cap.get(cv2.CAP_PROP_POS_FRAMES))
            if self._next != i:  # inexact seek: restart and skip forward
                self._cap.release()
                self._cap = _open_capture(self.path)
                self._next = 0
        while self._next < i:
            if not self._cap.grab():
                raise FrameReadError(f"cannot decode frame {self._next} of video {self.path}")
            self._next += 1

    def __call__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} out of range for video {self.path} of {self.n_frames} frames")
        self._seek(i)
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise FrameReadError(f"cannot decode frame {i} of video {self.path}")
        self._next = i + 1
        return as_rgb_uint8(frame, assume_bgr=True)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
