"""Thin adapters so existing harnesses can drive adaptrack trackers.

* :func:`as_got10k_tracker` — the got10k toolkit's ``Tracker`` shape (``init(image, box)`` /
  ``update(image) -> box`` on PIL images), so ``ExperimentOTB(...).run(tracker)`` and friends work.
* :func:`as_opencv_tracker` — OpenCV's tracker shape (``init(img, rect)`` /
  ``update(img) -> (ok, rect)`` on BGR arrays), a drop-in for ``cv2.TrackerCSRT_create()`` in user code.

Both accept a tracker object or a tracker name (built with :func:`adaptrack.create`). Boxes pass
through unchanged: whatever origin convention the harness uses (OTB files are 1-based) comes back in
the same convention.
"""

from __future__ import annotations

import numpy as np

from .image import as_rgb_uint8
from .trackers.base import Tracker, create

__all__ = ["as_got10k_tracker", "as_opencv_tracker", "OpenCVStyleTracker"]


def _resolve(tracker) -> Tracker:
    if isinstance(tracker, str):
        name, _, variant = tracker.partition(":")
        return create(name, variant=variant or None)
    if not (hasattr(tracker, "initialize") and hasattr(tracker, "track")):
        raise TypeError(f"expected an adaptrack tracker or a tracker name, got {type(tracker).__name__}")
    return tracker


def _default_name(tracker) -> str:
    name = getattr(tracker, "name", type(tracker).__name__)
    variant = getattr(tracker, "variant", None)
    return f"{name}_{variant}" if variant else name


def as_got10k_tracker(tracker, name: str | None = None, is_deterministic: bool | None = None):
    """Wrap ``tracker`` (object or name) as an instance of ``got10k.trackers.Tracker``.

    ``name`` is what the toolkit uses for result folders (default: the tracker's name and variant).
    ``is_deterministic`` tells VOT experiments whether repetitions can stop early (default: the
    tracker's ``is_deterministic`` attribute, else ``False``).

    Raises ImportError with an install hint if the got10k toolkit is not installed.
    """
    try:
        from got10k.trackers import Tracker as Got10kTracker
    except ImportError as e:  # got10k also needs `six`, which it does not declare
        raise ImportError(
            "as_got10k_tracker needs the got10k toolkit: pip install got10k six "
            f"(import failed: {e})"
        ) from e

    inner = _resolve(tracker)
    if is_deterministic is None:
        is_deterministic = bool(getattr(inner, "is_deterministic", False))

    class AdaptrackGot10kTracker(Got10kTracker):
        """An adaptrack tracker in the got10k toolkit's shape."""

        def __init__(self):
            super().__init__(name=name or _default_name(inner), is_deterministic=is_deterministic)
            self.tracker = inner
            self.last_output = None

        @staticmethod
        def _frame(image) -> np.ndarray:
            if hasattr(image, "convert"):  # PIL image (the toolkit converts to RGB already)
                image = image.convert("RGB") if getattr(image, "mode", "RGB") != "RGB" else image
            return as_rgb_uint8(np.asarray(image))

        def init(self, image, box):
            self.tracker.initialize(self._frame(image), np.asarray(box, dtype=np.float64))

        def update(self, image):
            self.last_output = self.tracker.track(self._frame(image))
            return np.asarray(self.last_output.box, dtype=np.float64).copy()

    return AdaptrackGot10kTracker()


class OpenCVStyleTracker:
    """An adaptrack tracker in OpenCV's shape: ``init(img, rect)`` and ``update(img) -> (ok, rect)``.

    ``img`` is a BGR ``uint8`` array (as ``cv2.imread`` / ``VideoCapture.read`` give), ``rect`` is
    ``(x, y, w, h)``. ``ok`` is ``score > min_score``. ``rect`` is returned as integers (like OpenCV's
    trackers, ready for ``cv2.rectangle``) unless ``integer_rect=False``; the full result of the last
    frame is in :attr:`last_output`.
    """

    def __init__(self, tracker, min_score: float = 0.0, integer_rect: bool = True):
        self.tracker = _resolve(tracker)
        self.min_score = float(min_score)
        self.integer_rect = bool(integer_rect)
        self.last_output = None

    def init(self, img, rect) -> bool:
        self.tracker.initialize(as_rgb_uint8(img, assume_bgr=True), np.asarray(rect, dtype=np.float64))
        self.last_output = None
        return True

    def update(self, img):
        out = self.tracker.track(as_rgb_uint8(img, assume_bgr=True))
        self.last_output = out
        box = np.asarray(out.box, dtype=np.float64)
        ok = bool(np.isfinite(box).all() and float(out.score) > self.min_score)
        if self.integer_rect:
            if not np.isfinite(box).all():
                return False, (0, 0, 0, 0)
            return ok, tuple(int(v) for v in np.rint(box))
        return ok, tuple(float(v) for v in box)

    def __repr__(self) -> str:
        return f"OpenCVStyleTracker({self.tracker!r})"


def as_opencv_tracker(tracker, min_score: float = 0.0, integer_rect: bool = True) -> OpenCVStyleTracker:
    """Wrap ``tracker`` (object or name) in OpenCV's tracker shape; see :class:`OpenCVStyleTracker`."""
    return OpenCVStyleTracker(tracker, min_score=min_score, integer_rect=integer_rect)
