"""Frames and crops.

Every tracker sees frames as ``H x W x 3`` ``uint8`` RGB arrays. :func:`as_rgb_uint8` turns what users
have (grayscale, RGBA, 16-bit, float in [0, 1]) into that; :func:`read_image` reads a file into it
with an error that names the file. :func:`crop_and_resize` is the one crop used by every tracker and
sampler: a square (or any) window around a centre, resized with bilinear interpolation, the parts
outside the frame filled with the frame's mean colour (SiamFC's padding).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from .errors import FrameReadError

__all__ = ["as_rgb_uint8", "read_image", "crop_and_resize", "crop_multiscale", "frame_mean", "rgb_to_bgr"]


def as_rgb_uint8(frame, assume_bgr: bool = False) -> np.ndarray:
    """Return ``frame`` as a contiguous ``H x W x 3`` uint8 RGB array.

    Accepts ``H x W`` or ``H x W x 1`` grayscale, ``H x W x 3`` RGB, ``H x W x 4`` RGBA (alpha dropped),
    uint8, uint16 (scaled by 1/257), bool, and floats (``[0, 1]`` if the max is <= 1, else ``[0, 255]``).
    A frame already in the target form is returned as is (no copy). ``assume_bgr`` swaps channels of
    3/4-channel input (for arrays that come from OpenCV).
    """
    a = np.asarray(frame)
    if a.ndim == 3 and a.shape[2] == 3 and a.dtype == np.uint8 and not assume_bgr and a.size:
        return a if a.flags.c_contiguous else np.ascontiguousarray(a)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)) or min(a.shape[:2]) == 0:
        raise ValueError(f"a frame must be HxW, HxWx1, HxWx3 or HxWx4 with non-zero size, got shape {a.shape}")
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 + 32767) // 65535
        a = a.astype(np.uint8)
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer):
        f = a.astype(np.float64)
        if np.issubdtype(a.dtype, np.floating) and np.nanmax(f) <= 1.0:
            f = f * 255.0
        a = np.clip(np.rint(np.nan_to_num(f)), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"unsupported frame dtype {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    if assume_bgr:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def rgb_to_bgr(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[:, :, ::-1])


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``H x W x 3`` uint8 RGB. Raises :class:`FrameReadError` naming the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FrameReadError(f"frame not found: {path}")
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FrameReadError(f"cannot decode frame (corrupt or not an image): {path}")
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return as_rgb_uint8(img)


def frame_mean(frame: np.ndarray) -> tuple[float, float, float]:
    """Per-channel mean colour, the padding value of :func:`crop_and_resize`."""
    m = cv2.mean(frame)
    return (m[0], m[1], m[2])


def _wh(size, cast) -> tuple:
    """``(w, h)`` of a size given as a scalar (square) or a ``(w, h)`` pair, each converted by ``cast``."""
    return (cast(size), cast(size)) if np.isscalar(size) else (cast(size[0]), cast(size[1]))


def crop_and_resize(
    frame: np.ndarray,
    center,
    size,
    out_size,
    pad_value=None,
    interpolation: int = cv2.INTER_LINEAR,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Crop a window of ``size`` (scalar for square, or ``(w, h)``) centred at ``center = (cx, cy)``
    (continuous pixel coordinates) and resize it to ``out_size`` (scalar or ``(w, h)``).

    One affine warp, so sub-pixel centres and windows reaching outside the frame cost the same.
    Outside pixels take ``pad_value`` (default: the frame's mean colour). ``out``: a contiguous
    ``(oh, ow, channels)`` array of the frame's dtype to write the crop into (returned).
    """
    sw, sh = _wh(size, float)
    ow, oh = _wh(out_size, int)
    if sw <= 0 or sh <= 0:
        raise ValueError(f"crop size must be positive, got {size}")
    if pad_value is None:
        pad_value = frame_mean(frame)
    ax, ay = ow / sw, oh / sh
    cx, cy = float(center[0]), float(center[1])
    # pixel i of the output samples the continuous point (cx - sw/2 + (i + 0.5)/ax) of the frame;
    # in OpenCV's pixel-centre coordinates that is the map x_out = ax * (x_in + 0.5 - cx + sw/2) - 0.5
    m = np.array(
        [[ax, 0, ax * (0.5 - cx + sw / 2) - 0.5], [0, ay, ay * (0.5 - cy + sh / 2) - 0.5]], dtype=np.float64
    )
    if out is not None and (out.shape[:2] != (oh, ow) or out.dtype != frame.dtype or not out.flags.c_contiguous):
        raise ValueError(f"out must be a contiguous {(oh, ow)} array of {frame.dtype}, got {out.shape} {out.dtype}")
    return cv2.warpAffine(
        frame, m, (ow, oh), dst=out, flags=interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(pad_value)
    )


def crop_multiscale(frame: np.ndarray, center, sizes, out_size, pad_value=None) -> np.ndarray:
    """Crops at several window sizes around one centre, stacked as ``(S, oh, ow, 3)`` (each warped in place)."""
    if pad_value is None:
        pad_value = frame_mean(frame)
    ow, oh = _wh(out_size, int)
    out = np.empty((len(sizes), oh, ow) + frame.shape[2:], dtype=frame.dtype)
    for k, s in enumerate(sizes):
        crop_and_resize(frame, center, s, out_size, pad_value, out=out[k])
    return out
