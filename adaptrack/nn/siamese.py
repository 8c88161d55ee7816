"""Inference parts shared by the SiamFC family (SiamFC, GradNet, DSiam): template/search window
sizes, the multi-scale search batch, response upsampling, the cosine window, the scale penalty and
damping, and the mapping from a response peak to a displacement in the frame.

All of it follows SiamFC (Bertinetto et al., "Fully-Convolutional Siamese Networks for Object Tracking",
ECCV-W 2016, sec. 2.4 and the authors' tracker):

* **Context** (:func:`window_sizes`): with ``p = context * (w + h)`` the exemplar window side is
  ``s_z = sqrt((w + p) (h + p))`` (``context = 0.5``: the target plus half its mean side of margin), and
  the search window side is ``s_x = s_z * X / Z`` for exemplar/instance crop sizes ``Z``/``X``, so both
  crops share one frame-to-crop scale ``Z / s_z``.
* **Scales** (:func:`scale_factors`): ``n`` search windows ``s_x * q^k``, ``k = -(n-1)/2 .. (n-1)/2``
  (SiamFC: ``q = 1.0375``, ``n = 3``), cropped and run through the network as ONE batch.
* **Upsampling** (:func:`upsample_responses`): each ``h x w`` response map is resized bicubically to
  ``(u h) x (u w)`` (``u = 16``) with pixel-centre alignment (``align_corners=False``): upsampled pixel ``q``
  sits at response coordinate ``(q + 0.5) / u - 0.5``, so the two maps share their centre.
* **Scale penalty** (:func:`penalize_scales`): maps of the non-unit scales are multiplied by
  ``penalty`` (0.9745) before the best scale is chosen by the maximum of each map. SiamFC takes the
  maxima of the upsampled maps; :class:`MultiScaleSearch` does that with ``upsample_all=True`` and by
  default takes them on the raw maps and upsamples only the chosen one (a third of the cost; bicubic
  overshoot between samples is the only difference).
* **Cosine window** (:func:`hann_window`, :func:`apply_window`): the chosen map is made non-negative and
  summing to one, ``r <- (r - min r) / sum(r - min r)``, and blended with the normalised Hann window
  ``H = hann(U) hann(U)^T / sum``: ``r <- (1 - wi) r + wi H`` (``wi = 0.176``), penalising large motion.
* **Displacement** (:func:`peak_to_displacement`): for a peak at upsampled pixel ``q`` of a map of side
  ``U = u h``, ``d_resp = q - (U - 1) / 2`` (upsampled pixels from the centre), ``d_crop = d_resp * stride / u``
  (pixels of the ``X``-sized search crop), ``d_frame = d_crop * s_x q^k / X`` (frame pixels, using the
  window size of the chosen scale). This requires the response centre to mean "no motion": template
  feature ``j`` and search feature ``j`` must sit at the same offset from their crops' centres, i.e.
  ``(X - Z) = stride * (h - 1)`` with the same feature-grid offset in both crops. 'Valid' networks
  (AlexNet) satisfy it for any sizes with ``(X - Z) % stride == 0``; TF-'same' networks (EfficientNet)
  when ``Z`` and ``X`` are multiples of the total stride (:func:`check_crop_alignment`).
* **Feature pyramid** (:func:`feature_scale_pyramid`, optional): instead of running the network on the
  ``n`` scaled crops, run it on the unit-scale crop only and approximate the features of crop ``k`` by
  resampling that feature map about its centre by ``q^k`` (the "fast feature pyramids" approximation of
  Dollár, Appel, Belongie, Perona, PAMI 2014, for the small ratios ``q^k`` of a scale search): a crop
  ``q^k`` times wider shows at normalised position ``v`` what the unit crop shows at ``q^k v``. A third
  of the network cost for 3 scales; not exact (the trackers' ``scale_pyramid="feature"`` option).
* **Damping** (:func:`damp_size`): the target size follows the chosen scale with learning rate
  ``lr`` (0.59): ``(w, h) <- (1 - lr) (w, h) + lr * q^k (w, h)``, then clipped to ``[0.2, 5] x`` the
  initial size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

__all__ = [
    "first_frame_windows",
    "window_sizes",
    "scale_factors",
    "hann_window",
    "upsample_responses",
    "penalize_scales",
    "apply_window",
    "peak_to_displacement",
    "damp_size",
    "check_crop_alignment",
    "frames_to_tensor",
    "feature_scale_pyramid",
    "MultiScaleSearch",
    "SearchResult",
]


def first_frame_windows(frame, box, context: float, exemplar_size: int, instance_size: int):
    """The first-frame state every SiamFC-family tracker starts from: target centre ``(cx, cy)`` and size
    ``(w, h)`` of ``box = (x, y, w, h)``, the window sides ``(s_z, s_x)`` (:func:`window_sizes`) and the
    frame's mean colour (the crop padding)."""
    from ..image import frame_mean

    box = np.asarray(box, dtype=np.float64)
    center = box[:2] + box[2:] / 2.0
    size = box[2:].copy()
    s_z, s_x = window_sizes(size, context, exemplar_size, instance_size)
    return center, size, s_z, s_x, frame_mean(frame)


def window_sizes(target_wh, context: float, exemplar_size: int, instance_size: int) -> tuple[float, float]:
    """Exemplar and search window sides ``(s_z, s_x)`` in frame pixels for a target of size ``(w, h)``."""
    w, h = float(target_wh[0]), float(target_wh[1])
    p = context * (w + h)
    s_z = math.sqrt((w + p) * (h + p))
    return s_z, s_z * instance_size / exemplar_size


def scale_factors(num: int, step: float) -> np.ndarray:
    """``step ** k`` for ``k = -(num-1)/2 .. (num-1)/2`` (``num`` odd so the unit scale is the middle one)."""
    if num < 1 or num % 2 == 0:
        raise ValueError(f"the number of scales must be odd and positive, got {num}")
    return step ** np.linspace(-(num // 2), num // 2, num)


def hann_window(size: int | tuple[int, int]) -> np.ndarray:
    """Outer product of Hann windows (``np.hanning``), normalised to sum 1."""
    hh, ww = (size, size) if np.isscalar(size) else size
    win = np.outer(np.hanning(hh), np.hanning(ww))
    return win / win.sum()


def upsample_responses(responses, upscale: int) -> np.ndarray:
    """Bicubic upsampling of ``(S, 1, h, w)`` (or ``(S, h, w)``) maps by ``upscale`` -> ``(S, u h, u w)`` numpy.

    OpenCV's ``INTER_CUBIC`` (Keys kernel, a = -0.75, pixel-centre aligned, replicated border): the same
    values as ``F.interpolate(mode="bicubic", align_corners=False)`` (tested) at a fifth of the cost.
    """
    r = responses.detach().float().cpu().numpy() if isinstance(responses, torch.Tensor) else np.asarray(responses, np.float32)
    r = r.reshape(-1, r.shape[-2], r.shape[-1])
    h, w = r.shape[-2:]
    return np.stack([cv2.resize(m, (w * upscale, h * upscale), interpolation=cv2.INTER_CUBIC) for m in r])


def penalize_scales(responses: np.ndarray, penalty: float) -> np.ndarray:
    """Multiply every map but the middle (unit-scale) one by ``penalty``; returns a new array."""
    out = np.array(responses, dtype=np.float64, copy=True)
    mid = out.shape[0] // 2
    for k in range(out.shape[0]):
        if k != mid:
            out[k] *= penalty
    return out


def apply_window(response: np.ndarray, window: np.ndarray, influence: float) -> np.ndarray:
    """``(1 - wi) * r' + wi * window`` where ``r' = (r - min r) / sum(r - min r)``."""
    r = response - response.min()
    r = r / (r.sum() + 1e-16)
    return (1.0 - influence) * r + influence * window


def peak_to_displacement(peak_yx, up_size, upscale: int, total_stride: int, instance_size: int, window_size: float):
    """Displacement ``(dx, dy)`` in frame pixels of a peak at upsampled pixel ``(y, x)`` (see module doc).

    ``up_size`` is the side(s) of the upsampled map, ``window_size`` the search window side in the frame
    (``s_x * q^k`` of the chosen scale).
    """
    uh, uw = (up_size, up_size) if np.isscalar(up_size) else up_size
    d_resp = np.array([peak_yx[1] - (uw - 1) / 2.0, peak_yx[0] - (uh - 1) / 2.0])
    d_crop = d_resp * total_stride / upscale
    return d_crop * window_size / instance_size


def damp_size(target_wh, scale: float, lr: float, base_wh, min_ratio: float = 0.2, max_ratio: float = 5.0):
    """``(1 - lr) wh + lr * scale * wh``, clipped to ``[min_ratio, max_ratio] * base_wh``."""
    wh = np.asarray(target_wh, dtype=np.float64)
    wh = (1.0 - lr) * wh + lr * scale * wh
    base = np.asarray(base_wh, dtype=np.float64)
    return np.clip(wh, min_ratio * base, max_ratio * base)


def check_crop_alignment(exemplar_size: int, instance_size: int, total_stride: int, same_padding: bool) -> None:
    """Raise ``ValueError`` if the response centre would not mean "no motion" (see module doc)."""
    if (instance_size - exemplar_size) % total_stride:
        raise ValueError(
            f"instance_size - exemplar_size ({instance_size} - {exemplar_size}) must be a multiple of the "
            f"total stride {total_stride}"
        )
    if same_padding and (exemplar_size % total_stride or instance_size % total_stride):
        raise ValueError(
            f"with a 'same'-padded backbone exemplar_size ({exemplar_size}) and instance_size ({instance_size}) "
            f"must be multiples of the total stride {total_stride}"
        )


def frames_to_tensor(crops: np.ndarray, channels_last: bool = False) -> torch.Tensor:
    """``(S, H, W, 3)`` (or ``(H, W, 3)``) uint8 crops -> float ``(S, 3, H, W)`` RGB 0..255."""
    a = np.asarray(crops)
    if a.ndim == 3:
        a = a[None]
    if channels_last:  # NHWC memory is the channels-last layout of the NCHW view
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(0, 3, 1, 2)
    # one numpy pass (transpose + convert) is ~2x cheaper than torch's permute/float/contiguous
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2), dtype=np.float32))


def feature_scale_pyramid(xf: torch.Tensor, scales) -> torch.Tensor:
    """Approximate search features of the crops ``s_x * q^k`` from those of the unit-scale crop.

    ``xf`` is ``(1, C, H, W)`` (the features of the crop of side ``s_x``); returns ``(S, C, H, W)`` where map
    ``k`` samples ``xf`` at ``q^k`` times the normalised offset from the centre (bilinear, borders
    replicated); the unit scale is ``xf`` itself.
    """
    import torch.nn.functional as F

    if xf.dim() != 4 or xf.shape[0] != 1:
        raise ValueError(f"feature_scale_pyramid expects the (1, C, H, W) features of one crop, got {tuple(xf.shape)}")
    q = torch.as_tensor(np.asarray(scales, dtype=np.float64), dtype=xf.dtype)
    theta = torch.zeros(len(q), 2, 3, dtype=xf.dtype)
    theta[:, 0, 0] = q
    theta[:, 1, 1] = q
    n, c, h, w = len(q), xf.shape[1], xf.shape[2], xf.shape[3]
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    out = F.grid_sample(xf.expand(n, c, h, w), grid, mode="bilinear", padding_mode="border", align_corners=False)
    unit = torch.isclose(q, torch.ones_like(q))
    if unit.any():
        out[unit] = xf[0]
    return out


@dataclass
class SearchResult:
    center: np.ndarray  # new target centre (cx, cy) in the frame
    scale_index: int  # index of the chosen scale
    scale: float  # its factor q^k
    peak_score: float  # raw (pre-window) maximum of the chosen upsampled response
    response: np.ndarray  # the chosen upsampled, windowed response (for display / debugging)


class MultiScaleSearch:
    """SiamFC's search step: from the ``(S, 1, h, w)`` responses of one multi-scale batch to the new
    centre and the chosen scale. Holds the window and the scale factors (built once per tracker)."""

    def __init__(
        self,
        response_size: int,
        num_scales: int = 3,
        scale_step: float = 1.0375,
        scale_penalty: float = 0.9745,
        window_influence: float = 0.176,
        upscale: int = 16,
        total_stride: int = 8,
        instance_size: int = 255,
        upsample_all: bool = False,
    ):
        self.response_size = int(response_size)
        self.scales = scale_factors(num_scales, scale_step)
        self.scale_penalty = scale_penalty
        self.window_influence = window_influence
        self.upscale = int(upscale)
        self.total_stride = int(total_stride)
        self.instance_size = int(instance_size)
        self.up_size = self.response_size * self.upscale
        self.window = hann_window(self.up_size)
        self.upsample_all = upsample_all

    def __call__(self, responses: torch.Tensor, center, search_window: float) -> SearchResult:
        if responses.shape[0] != len(self.scales) or responses.shape[-1] != self.response_size:
            raise ValueError(
                f"expected {len(self.scales)} responses of side {self.response_size}, got {tuple(responses.shape)}"
            )
        if self.upsample_all:
            up = upsample_responses(responses, self.upscale)
            pen = penalize_scales(up, self.scale_penalty)
            k = int(np.argmax(pen.reshape(len(self.scales), -1).max(axis=1)))
            chosen = up[k]
        else:
            raw = responses.reshape(len(self.scales), -1).max(dim=1).values.double().cpu().numpy()
            k = int(np.argmax(penalize_scales(raw, self.scale_penalty)))
            chosen = upsample_responses(responses[k : k + 1], self.upscale)[0]
        windowed = apply_window(chosen, self.window, self.window_influence)
        peak = np.unravel_index(int(np.argmax(windowed)), windowed.shape)
        disp = peak_to_displacement(
            peak, self.up_size, self.upscale, self.total_stride, self.instance_size, search_window * self.scales[k]
        )
        new_center = np.asarray(center, dtype=np.float64) + disp
        return SearchResult(new_center, k, float(self.scales[k]), float(chosen.max()), windowed)
