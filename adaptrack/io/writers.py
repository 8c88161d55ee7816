"""Result writers: box files (got10k text format) and annotated MP4 videos.

Files are written atomically: into a temporary file in the destination folder, then moved over the
destination with :func:`os.replace`, so a run killed at any moment leaves either the old file or the
complete new one, never half a file.

Box files have one ``x,y,w,h`` line per frame, comma separated, as the got10k toolkit writes them
(``%.3f``; NaN boxes as ``nan,nan,nan,nan``). Videos are MP4 with the ``mp4v`` codec (OpenCV 5 cannot
write H.264).
"""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np

from ..errors import AdaptrackError
from ..image import as_rgb_uint8

__all__ = ["atomic_write_text", "write_boxes", "read_boxes_file", "draw_box", "AnnotatedVideoWriter"]


def _default_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` would give a new file (mkstemp gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder + ``os.replace``)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_boxes(path: str | os.PathLike, boxes, fmt: str = "%.3f", delimiter: str = ",") -> None:
    """Write ``(N, 4)`` boxes as one ``x,y,w,h`` line per frame, atomically."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1 and b.size == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {np.shape(boxes)}")
    lines = [delimiter.join(fmt % v for v in row) for row in b]
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def read_boxes_file(path: str | os.PathLike) -> np.ndarray:
    """Read a box file written by :func:`write_boxes` (or any comma/tab/space separated one)."""
    from ..datasets._common import read_boxes

    return read_boxes(path)


def draw_box(
    frame: np.ndarray,
    box,
    score: float | None = None,
    color: tuple[int, int, int] = (0, 255, 0),
    thickness: int = 2,
    label: str | None = None,
) -> np.ndarray:
    """A copy of RGB ``frame`` with ``box`` (x, y, w, h) drawn and ``label`` / ``score`` written above it.

    NaN boxes draw nothing (the frame is still copied).
    """
    out = np.array(as_rgb_uint8(frame), copy=True)
    b = np.asarray(box, dtype=np.float64).reshape(-1) if box is not None else None
    if b is None or b.size != 4 or not np.isfinite(b).all():
        return out
    x1, y1 = int(round(b[0])), int(round(b[1]))
    # the box covers pixels x .. x + w - 1 (cv2.rectangle's corners are inclusive)
    x2, y2 = max(x1, int(round(b[0] + b[2])) - 1), max(y1, int(round(b[1] + b[3])) - 1)
    cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness, cv2.LINE_8)
    text = " ".join(t for t in (label, None if score is None else f"{score:.2f}") if t)
    if text:
        scale = max(0.4, min(out.shape[:2]) / 720)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 4 if y1 - th - 4 >= 0 else min(y2 + th + 4, out.shape[0] - 1)
        cv2.rectangle(out, (x1, ty - th - 2), (x1 + tw + 2, ty + base - 2), color, -1)
        cv2.putText(out, text, (x1 + 1, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


class AnnotatedVideoWriter:
    """Write RGB frames with a box (and optional score) drawn into an MP4 file (``mp4v`` codec).

    The video is opened on the first frame (its size fixes the video's size; later frames of another
    size are resized) and written to a temporary file that replaces ``path`` on :meth:`close`; use it
    as a context manager. If the context exits with an exception the partial file is discarded.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = 30.0, color=(0, 255, 0), fourcc: str = "mp4v"):
        self.path = os.fspath(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.color = color
        self.fourcc = fourcc
        self.size: tuple[int, int] | None = None
        self.frames_written = 0
        self._writer = None
        self._tmp = None

    def _open(self, w: int, h: int) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        ext = os.path.splitext(self.path)[1] or ".mp4"
        fd, self._tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".", suffix=ext, dir=folder)
        os.close(fd)
        self._writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
        if not self._writer.isOpened():
            self._discard()
            raise AdaptrackError(f"cannot open a {self.fourcc} video writer for {self.path}")
        self.size = (w, h)

    def write(self, frame: np.ndarray, box=None, score: float | None = None, label: str | None = None) -> None:
        """Append one RGB frame, with ``box`` drawn when given."""
        img = draw_box(frame, box, score, self.color, label=label) if box is not None else as_rgb_uint8(frame)
        if self._writer is None:
            self._open(img.shape[1], img.shape[0])
        if (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(img[:, :, ::-1]))
        self.frames_written += 1

    def _discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None

    def close(self) -> None:
        """Finish the file and move it to ``path``. Writing no frame at all is an error."""
        if self._writer is None:
            raise AdaptrackError(f"no frame was written to {self.path}")
        self._writer.release()
        self._writer = None
        os.chmod(self._tmp, _default_mode())
        os.replace(self._tmp, self.path)
        self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
        elif self._writer is not None:
            self.close()
