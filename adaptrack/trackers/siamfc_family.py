"""The tracking loop that SiamFC, GradNet and DSiam share (SiamFC, Bertinetto et al. 2016, sec. 2.4;
the formulas are in :mod:`adaptrack.nn.siamese`), written once.

A tracker of the family subclasses :class:`SiamFCFamilyTracker` and keeps only what is its own: how it
embeds crops, what its template is and how it changes. The base holds the target state (centre, size,
first size, window sides, padding colour), builds the multi-scale search, cuts the search crops (an image
pyramid, or one crop for the feature pyramid), moves the state to a search result, and runs the
first-frame template adaptation when the variant asks for it. Its parameters are read from
``self.params``: ``context``, ``exemplar_size``, ``instance_size``, ``num_scales``, ``scale_step``,
``scale_penalty``, ``window_influence``, ``response_upscale``, ``scale_lr``, ``adaptation`` and
(optionally) ``scale_pyramid``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..adaptation.adversarial_template import SiamFCTemplateAdaptation
from ..export import torch_threads
from ..image import crop_and_resize, crop_multiscale
from ..nn.siamese import MultiScaleSearch, SearchResult, damp_size, feature_scale_pyramid, first_frame_windows, window_sizes
from .base import Tracker

__all__ = ["SiamFCFamilyTracker", "SiamFCSearchParams", "SCALE_PYRAMIDS", "check_scale_pyramid"]

#: ``"image"``: the network runs on the ``num_scales`` crops (SiamFC); ``"feature"``: on the unit-scale
#: crop only, the other scales resampled from its features (:func:`adaptrack.nn.siamese.feature_scale_pyramid`)
SCALE_PYRAMIDS = ("image", "feature")


def check_scale_pyramid(value: str) -> None:
    if value not in SCALE_PYRAMIDS:
        raise ValueError(f"scale_pyramid must be 'image' or 'feature', got {value!r}")


@dataclass
class SiamFCSearchParams:
    """SiamFC's crop and search settings (sec. 2.4 and the authors' tracker), shared by the parameter
    dataclasses of siamfc, gradnet and dsiam (each adds its own fields after these)."""

    exemplar_size: int = 128  # Z, side of the exemplar crop (px)
    instance_size: int = 256  # X, side of the search crop (px)
    context: float = 0.5  # margin around the target in the exemplar window: context * (w + h)
    num_scales: int = 3
    scale_step: float = 1.0375
    scale_penalty: float = 0.9745
    scale_lr: float = 0.59
    window_influence: float = 0.176
    response_upscale: int = 16
    # "image": the network runs on the num_scales crops (SiamFC, the papers); "feature": on the unit-scale
    # crop only, the other scales resampled from its features (nn.siamese.feature_scale_pyramid; faster,
    # approximate: the variants named 'fast')
    scale_pyramid: str = "image"

    def __post_init__(self):
        check_scale_pyramid(self.scale_pyramid)


class SiamFCFamilyTracker(SiamFCTemplateAdaptation, Tracker):
    """Target state and search loop of the SiamFC family (see the module docstring)."""

    # -- set-up ----------------------------------------------------------------------------------------
    def _build_searcher(self, response_size: int, total_stride: int) -> None:
        p = self.params
        self.response_size = int(response_size)
        self.searcher = MultiScaleSearch(
            self.response_size, p.num_scales, p.scale_step, p.scale_penalty, p.window_influence,
            p.response_upscale, total_stride, p.instance_size,
        )

    @property
    def _feature_pyramid(self) -> bool:
        return getattr(self.params, "scale_pyramid", "image") == "feature"

    @property
    def search_batch(self) -> int:
        """Crops per frame through the network: 1 with the feature pyramid, else ``num_scales``."""
        return 1 if self._feature_pyramid else int(self.params.num_scales)

    @property
    def _runs_onnx(self) -> bool:
        """True when the per-frame network passes run in ONNX Runtime (subclasses say so)."""
        return False

    def track(self, frame):
        # with the network in ONNX Runtime, the PyTorch work around it runs on one thread (export.torch_threads)
        with torch_threads(1 if self._runs_onnx else None):
            return super().track(frame)

    # -- state -----------------------------------------------------------------------------------------
    def _start(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Set the target state from the first frame's box; returns the exemplar crop (uint8 HxWx3)."""
        p = self.params
        self.center, self.size, self.s_z, self.s_x, self.avg_color = first_frame_windows(
            frame, box, p.context, p.exemplar_size, p.instance_size
        )
        self.base_size = self.size.copy()
        return crop_and_resize(frame, self.center, self.s_z, p.exemplar_size, self.avg_color)

    def _adapt(self, frame: np.ndarray, box: np.ndarray) -> None:
        """First-frame template adaptation when the variant configures one (AUTracker, eqs. 6-7)."""
        if self.params.adaptation:
            from ..adaptation.adversarial_template import adapt_template

            self.adaptation_info = adapt_template(self, frame, box, **self.params.adaptation)

    def _search_crops(self, frame: np.ndarray) -> np.ndarray:
        """The crops of this frame around the current centre: ``(S, X, X, 3)`` for the image pyramid,
        ``(X, X, 3)`` (the unit scale) for the feature pyramid."""
        p = self.params
        if self._feature_pyramid:
            return crop_and_resize(frame, self.center, self.s_x, p.instance_size, self.avg_color)
        return crop_multiscale(frame, self.center, self.s_x * self.searcher.scales, p.instance_size, self.avg_color)

    def _scale_features(self, xf: torch.Tensor) -> torch.Tensor:
        """Search features of every scale: ``xf`` itself (image pyramid) or resampled from the unit crop."""
        return feature_scale_pyramid(xf, self.searcher.scales) if self._feature_pyramid else xf

    def _advance(self, res: SearchResult, frame: np.ndarray) -> np.ndarray:
        """Move the state to a search result (centre, damped size, new windows, centre kept in the frame);
        returns the new box ``(x, y, w, h)``."""
        p = self.params
        self.size = damp_size(self.size, res.scale, p.scale_lr, self.base_size)
        self.s_z, self.s_x = window_sizes(self.size, p.context, p.exemplar_size, p.instance_size)
        h, w = frame.shape[:2]
        self.center = np.clip(res.center, 0, [w, h])
        return self.box()

    def box(self) -> np.ndarray:
        """The current target box ``(x, y, w, h)``."""
        return np.array([self.center[0] - self.size[0] / 2, self.center[1] - self.size[1] / 2, self.size[0], self.size[1]])
