"""OpenCV's classical trackers as adaptrack trackers (the peers every report shows beside adaptrack's).

Registered names (family ``"opencv"``): ``csrt``, ``kcf``, ``mil`` (OpenCV's main API) and ``mosse``,
``medianflow``, ``tld``, ``boosting`` (kept under ``cv2.legacy`` since OpenCV 4.5.1). A tracker whose
factory the installed OpenCV build does not have is simply not registered.

The wrappers follow the adaptrack contract: frames are ``H x W x 3`` uint8 RGB (converted to BGR for
OpenCV), boxes ``(x, y, w, h)``. When OpenCV reports success the result has ``score = 1.0``; when it
reports failure the last box is kept and ``score = 0.0``. None of them needs weights.

References: CSRT — Lukezic et al., "Discriminative Correlation Filter with Channel and Spatial
Reliability", CVPR 2017; KCF — Henriques et al., TPAMI 2015; MIL — Babenko et al., CVPR 2009;
MOSSE — Bolme et al., CVPR 2010; MedianFlow — Kalal et al., ICPR 2010; TLD — Kalal et al., TPAMI
2012; Boosting — Grabner et al., BMVC 2006.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..geometry import clip_box
from ..image import rgb_to_bgr
from .base import TrackOutput, Tracker, register_tracker

__all__ = ["OpenCVTracker", "available_opencv_trackers"]


def _factory(path: str):
    """``cv2.<path>`` (dotted, e.g. ``"legacy.TrackerMOSSE_create"``) or ``None`` if this build lacks it."""
    obj = cv2
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


class OpenCVTracker(Tracker):
    """Common wrapper: subclasses name the OpenCV factory and, optionally, how to build its params."""

    #: dotted name of the factory under ``cv2``
    factory: str = ""
    #: ``cv2.<params_factory>()`` gives an OpenCV params object whose attributes the dataclass sets
    params_factory: str | None = None
    #: our dataclass field name -> OpenCV params attribute name (when they differ)
    param_names: dict[str, str] = {}

    def __init__(self, params, weights: str | None = "default"):
        if weights not in (None, "default"):
            raise ValueError(f"{self.name}: OpenCV trackers take no weights (got weights={weights!r})")
        self.params = params
        self._cv = None
        self._box = None

    @classmethod
    def has_default_weights(cls) -> bool:
        """OpenCV's classical trackers need no weights, so they are always ready to run."""
        return True

    def _make(self):
        create = _factory(self.factory)
        if self.params_factory is None:
            return create()
        p = _factory(self.params_factory)()
        for key, value in asdict(self.params).items():
            setattr(p, self.param_names.get(key, key), value)
        return create(p)

    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        h, w = frame.shape[:2]
        # OpenCV wants the box inside the frame, at least one pixel, and (new API) integer pixels
        x, y, bw, bh = clip_box(box, (w, h))
        x0, y0 = int(round(x)), int(round(y))
        x1, y1 = int(round(x + bw)), int(round(y + bh))
        x0, y0 = min(x0, w - 1), min(y0, h - 1)
        rect = (x0, y0, max(x1 - x0, 1), max(y1 - y0, 1))
        self._cv = self._make()
        ok = self._cv.init(rgb_to_bgr(frame), rect)
        if ok is False:  # the legacy API reports failure; the new one raises or returns None
            raise RuntimeError(f"{self.name}: OpenCV could not initialise on box {rect} (frame {w}x{h})")
        self._box = np.asarray(box, dtype=np.float64).copy()

    def _track(self, frame: np.ndarray) -> TrackOutput:
        ok, rect = self._cv.update(rgb_to_bgr(frame))
        rect = np.asarray(rect, dtype=np.float64).reshape(-1)
        if ok and rect.size == 4 and np.isfinite(rect).all() and rect[2] > 0 and rect[3] > 0:
            self._box = rect
            return TrackOutput(self._box.copy(), 1.0)
        return TrackOutput(self._box.copy(), 0.0)


# ---------------------------------------------------------------------------------------------------
# parameters: a few meaningful OpenCV parameters where the Python binding exposes them; defaults are
# OpenCV's own defaults, so create("csrt") behaves exactly like cv2.TrackerCSRT_create().


@dataclass
class CSRTParams:
    padding: float = 3.0
    template_size: float = 200.0
    filter_lr: float = 0.02
    psr_threshold: float = 0.035
    number_of_scales: int = 33
    scale_step: float = 1.02
    use_segmentation: bool = True


@dataclass
class KCFParams:
    detect_thresh: float = 0.5
    sigma: float = 0.2
    interp_factor: float = 0.075
    output_sigma_factor: float = 0.0625
    max_patch_size: int = 6400


@dataclass
class MILParams:
    search_window: float = 25.0
    num_features: int = 250
    track_in_radius: float = 4.0


@dataclass
class MOSSEParams:
    """No parameters: OpenCV's Python binding does not expose MOSSE's."""


@dataclass
class MedianFlowParams:
    """No parameters: OpenCV's Python binding does not expose MedianFlow's."""


@dataclass
class TLDParams:
    """No parameters: OpenCV's Python binding does not expose TLD's."""


@dataclass
class BoostingParams:
    """No parameters: OpenCV's Python binding does not expose Boosting's."""


# name, params dataclass, factory candidates (first found wins), params factory, name map, description
_SPECS = [
    ("csrt", CSRTParams, ("TrackerCSRT_create",), "TrackerCSRT_Params", {},
     "OpenCV CSRT: discriminative correlation filter with channel and spatial reliability"),
    ("kcf", KCFParams, ("TrackerKCF_create",), "TrackerKCF_Params", {},
     "OpenCV KCF: kernelized correlation filter"),
    ("mil", MILParams, ("TrackerMIL_create",), "TrackerMIL_Params",
     {"search_window": "samplerSearchWinSize", "num_features": "featureSetNumFeatures",
      "track_in_radius": "samplerTrackInRadius"},
     "OpenCV MIL: online multiple-instance learning"),
    ("mosse", MOSSEParams, ("legacy.TrackerMOSSE_create", "TrackerMOSSE_create"), None, {},
     "OpenCV MOSSE: minimum output sum of squared error filter (very fast, no scale)"),
    ("medianflow", MedianFlowParams, ("legacy.TrackerMedianFlow_create", "TrackerMedianFlow_create"), None, {},
     "OpenCV MedianFlow: forward-backward error of point tracks"),
    ("tld", TLDParams, ("legacy.TrackerTLD_create", "TrackerTLD_create"), None, {},
     "OpenCV TLD: tracking-learning-detection"),
    ("boosting", BoostingParams, ("legacy.TrackerBoosting_create", "TrackerBoosting_create"), None, {},
     "OpenCV Boosting: online AdaBoost"),
]


_CLASS_NAMES = {
    "csrt": "CSRTTracker", "kcf": "KCFTracker", "mil": "MILTracker", "mosse": "MOSSETracker",
    "medianflow": "MedianFlowTracker", "tld": "TLDTracker", "boosting": "BoostingTracker",
}


def _register_all() -> list[str]:
    names = []
    for name, params_cls, factories, params_factory, name_map, description in _SPECS:
        factory = next((f for f in factories if _factory(f) is not None), None)
        if factory is None:
            continue  # this OpenCV build lacks it: skip quietly, `adaptrack list` shows what exists
        if params_factory is not None and _factory(params_factory) is None:
            continue  # parameters could not be applied; better not to pretend
        pf = params_factory
        cls = type(
            _CLASS_NAMES[name],
            (OpenCVTracker,),
            {"factory": factory, "params_factory": pf, "param_names": name_map, "__doc__": description + "."},
        )
        register_tracker(name, params_cls, description, family="opencv")(cls)
        globals()[cls.__name__] = cls
        names.append(name)
    return names


_AVAILABLE = _register_all()


def available_opencv_trackers() -> list[str]:
    """Names of the OpenCV trackers this OpenCV build provides (and that are registered)."""
    return list(_AVAILABLE)
