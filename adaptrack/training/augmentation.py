"""Photometric and geometric augmentation of training crops.

Every function takes an ``H x W x 3`` uint8 RGB crop and a ``numpy.random.Generator`` (so results are
deterministic given the generator's state) and returns a new uint8 crop; the geometric ones also take
and return the target box ``(x, y, w, h)`` in crop coordinates, kept consistent with the pixels.

Shift and scale jitter of the *crop window* is done by the samplers (they move/resize the window
before cropping, which is exact and free); :func:`shift_scale` here does the same on an existing
crop (an affine warp) for callers that only have the crop.

:class:`Augmenter` composes them with probabilities; samplers call it once per crop, and
:meth:`Augmenter.pair_flags` draws the decisions shared by the two crops of a pair (flip, grayscale)
so a template and its search region stay consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "hflip",
    "grayscale",
    "gaussian_blur",
    "motion_blur",
    "color_jitter",
    "shift_scale",
    "Augmenter",
]


def hflip(img: np.ndarray, box=None):
    """Mirror left-right. The box ``(x, y, w, h)`` becomes ``(W - x - w, y, w, h)``."""
    out = np.ascontiguousarray(img[:, ::-1])
    if box is None:
        return out
    b = np.asarray(box, dtype=np.float64).copy()
    b[0] = img.shape[1] - b[0] - b[2]
    return out, b


def grayscale(img: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601 weights) replicated to 3 channels."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))


def gaussian_blur(img: np.ndarray, rng: np.random.Generator, max_sigma: float = 2.0) -> np.ndarray:
    """Gaussian blur with sigma uniform in ``[0.2, max_sigma]``."""
    sigma = float(rng.uniform(0.2, max_sigma))
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma)


def motion_blur(img: np.ndarray, rng: np.random.Generator, max_length: int = 9) -> np.ndarray:
    """Linear motion blur: a line kernel of random length in ``[3, max_length]`` and random angle."""
    length = int(rng.integers(3, max(3, max_length) + 1))
    angle = float(rng.uniform(0.0, 180.0))
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2.0, (length - 1) / 2.0), angle, 1.0)
    k = cv2.warpAffine(k, rot, (length, length))
    s = k.sum()
    if s <= 0:
        return img.copy()
    return cv2.filter2D(img, -1, k / s, borderType=cv2.BORDER_REFLECT)


def color_jitter(
    img: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.3,
    contrast: float = 0.3,
    saturation: float = 0.3,
    hue: float = 0.03,
) -> np.ndarray:
    """Random brightness, contrast, saturation (factors ``1 +- x``) and hue shift (fraction of a turn)."""
    f = img.astype(np.float32)
    if brightness > 0:
        f *= rng.uniform(1 - brightness, 1 + brightness)
    if contrast > 0:
        m = f.mean()
        f = (f - m) * rng.uniform(1 - contrast, 1 + contrast) + m
    if saturation > 0:
        g = (0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2])[..., None]
        f = (f - g) * rng.uniform(1 - saturation, 1 + saturation) + g
    out = np.clip(f, 0, 255).astype(np.uint8)
    if hue > 0:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        shift = int(round(rng.uniform(-hue, hue) * 180))  # OpenCV hue is 0..179
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def shift_scale(img: np.ndarray, box, rng: np.random.Generator, max_shift: float = 8.0, max_scale: float = 0.1):
    """Warp a crop by a random translation (``+-max_shift`` px) and zoom (``exp(+-max_scale)``)
    about its centre; outside pixels take the crop's mean colour. Returns ``(img, box)``."""
    h, w = img.shape[:2]
    s = float(np.exp(rng.uniform(-max_scale, max_scale)))
    dx, dy = rng.uniform(-max_shift, max_shift, size=2)
    cx, cy = w / 2.0, h / 2.0
    # continuous coordinates: p' = s (p - c) + c + d; OpenCV pixel centres are at p - 0.5
    tx = (1 - s) * cx + dx + 0.5 * (s - 1)
    ty = (1 - s) * cy + dy + 0.5 * (s - 1)
    m = np.array([[s, 0, tx], [0, s, ty]], np.float64)
    mean = tuple(float(v) for v in cv2.mean(img)[:3])
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=mean)
    b = np.asarray(box, dtype=np.float64).copy()
    b[0] = s * (b[0] - cx) + cx + dx
    b[1] = s * (b[1] - cy) + cy + dy
    b[2:] *= s
    return out, b


@dataclass
class Augmenter:
    """Random photometric augmentation of a crop plus the pair-level flip / grayscale decisions.

    Probabilities are per crop except ``p_flip`` and ``p_gray`` (per pair, see :meth:`pair_flags`).
    """

    p_color: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03
    p_blur: float = 0.15
    max_sigma: float = 1.5
    p_motion_blur: float = 0.15
    max_motion: int = 9
    p_flip: float = 0.5
    p_gray: float = 0.1

    def pair_flags(self, rng: np.random.Generator) -> dict:
        return {"flip": bool(rng.random() < self.p_flip), "gray": bool(rng.random() < self.p_gray)}

    def __call__(self, img: np.ndarray, box, rng: np.random.Generator, flags: dict | None = None):
        """Augment one crop. ``flags`` from :meth:`pair_flags` (drawn here when omitted)."""
        if flags is None:
            flags = self.pair_flags(rng)
        box = np.asarray(box, dtype=np.float64).copy()
        if rng.random() < self.p_color:
            img = color_jitter(img, rng, self.brightness, self.contrast, self.saturation, self.hue)
        if rng.random() < self.p_blur:
            img = gaussian_blur(img, rng, self.max_sigma)
        if rng.random() < self.p_motion_blur:
            img = motion_blur(img, rng, self.max_motion)
        if flags.get("gray"):
            img = grayscale(img)
        if flags.get("flip"):
            img, box = hflip(img, box)
        return img, box


def no_augmentation() -> Augmenter:
    """An :class:`Augmenter` that changes nothing (validation)."""
    return Augmenter(p_color=0.0, p_blur=0.0, p_motion_blur=0.0, p_flip=0.0, p_gray=0.0)
