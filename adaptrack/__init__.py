"""adaptrack: single-object visual tracking with online adaptation.

    >>> import adaptrack
    >>> tracker = adaptrack.create("siamfc")          # bundled weights
    >>> tracker.initialize(first_frame, (x, y, w, h))  # frames: HxWx3 uint8 RGB
    >>> out = tracker.track(next_frame)                # out.box, out.score
"""

from .trackers.base import TrackOutput, Tracker, create, list_trackers

__version__ = "0.1.0"

__all__ = ["TrackOutput", "Tracker", "create", "list_trackers", "as_got10k_tracker", "as_opencv_tracker", "__version__"]


def __getattr__(name):  # adapters import optional pieces (PIL); load them on first use
    if name in ("as_got10k_tracker", "as_opencv_tracker"):
        from . import adapters

        return getattr(adapters, name)
    raise AttributeError(f"module 'adaptrack' has no attribute {name!r}")
