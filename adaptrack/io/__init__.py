"""Frame sources (image folders, video files, webcams) and result writers.

* :func:`open_source` -> an iterable of ``H x W x 3`` uint8 RGB frames with ``fps``, ``size`` and
  ``len()`` when known; :class:`VideoReader` for random access into a video file.
* :func:`write_boxes` (got10k ``x,y,w,h`` text, atomic), :class:`AnnotatedVideoWriter` (MP4, ``mp4v``),
  :func:`draw_box`, :func:`atomic_write_text`.
"""

from .sources import FrameSource, ImageFolderSource, VideoFileSource, VideoReader, WebcamSource, open_source
from .writers import AnnotatedVideoWriter, atomic_write_text, draw_box, read_boxes_file, write_boxes

__all__ = [
    "open_source",
    "FrameSource",
    "ImageFolderSource",
    "VideoFileSource",
    "WebcamSource",
    "VideoReader",
    "write_boxes",
    "read_boxes_file",
    "atomic_write_text",
    "draw_box",
    "AnnotatedVideoWriter",
]
