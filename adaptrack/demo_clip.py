"""The bundled demo clip, generated (deterministic, seeded; no third-party footage).

A textured target moves along a smooth path over a textured, slowly panning background, changes
scale, is partly occluded by a moving bar, and passes a look-alike distractor (the same texture with
shifted colours). The ground truth is exact: it is the rectangle the target was drawn into.

    >>> from adaptrack.demo_clip import make_demo_clip
    >>> clip = make_demo_clip()          # 180 frames of 480x360
    >>> clip.frames.shape, clip.boxes.shape
    ((180, 360, 480, 3), (180, 4))

Motion is defined per frame index (not per clip length), so a shorter clip is the prefix of a longer
one with the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["DemoClip", "make_demo_clip", "DEMO_SIZE", "DEMO_FRAMES"]

DEMO_SIZE = (480, 360)  # width, height
DEMO_FRAMES = 180
_TARGET_BASE = (64, 52)  # width, height of the target at scale 1
_PAN = 60  # background is larger than the frame by this many pixels each way


@dataclass
class DemoClip:
    """Frames ``(N, H, W, 3)`` uint8 RGB, ground-truth boxes ``(N, 4)`` ``(x, y, w, h)`` (0-based), and
    per-frame facts: ``occlusion`` (fraction of the target hidden by the occluder) and
    ``distractor_distance`` (centre distance to the look-alike, pixels)."""

    frames: np.ndarray
    boxes: np.ndarray
    occlusion: np.ndarray
    distractor_distance: np.ndarray
    seed: int = 0
    name: str = "demo"
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cell: int, channels: int = 3) -> np.ndarray:
    """Value noise: random values on a coarse grid, bicubically upsampled to ``size = (w, h)``."""
    w, h = size
    coarse = rng.random((h // cell + 2, w // cell + 2, channels)).astype(np.float32)
    big = cv2.resize(coarse, ((w // cell + 2) * cell, (h // cell + 2) * cell), interpolation=cv2.INTER_CUBIC)
    if big.ndim == 2:  # cv2.resize drops a single channel axis
        big = big[:, :, None]
    return big[:h, :w]


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    # luminance texture at three scales plus a weak, large-scale colour variation
    lum = 0.5 * _smooth_noise(rng, size, 64, 1) + 0.3 * _smooth_noise(rng, size, 16, 1) + 0.2 * _smooth_noise(rng, size, 3, 1)
    tint = _smooth_noise(rng, size, 96, 3) - 0.5
    base = np.array([120, 135, 100], np.float32)  # muted olive ground
    img = base * (0.55 + 0.9 * lum) + 40 * tint
    # soft diagonal stripes (field markings) for structure at the target's scale
    yy = np.arange(h, dtype=np.float32)[:, None, None]
    xx = np.arange(w, dtype=np.float32)[None, :, None]
    img += 14 * np.sin(xx / 23.0 + yy / 41.0)
    return np.clip(img, 0, 255).astype(np.uint8)


def _target_texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A distinctive target: coloured quadrants, a ring and fine noise (texture at several scales)."""
    w, h = size
    s = 4  # draw at 4x, downsample once, for anti-aliased shapes
    W, H = w * s, h * s
    img = np.zeros((H, W, 3), np.uint8)
    img[: H // 2, : W // 2] = (220, 60, 40)
    img[: H // 2, W // 2 :] = (240, 200, 40)
    img[H // 2 :, : W // 2] = (40, 90, 210)
    img[H // 2 :, W // 2 :] = (230, 230, 230)
    cv2.circle(img, (W // 2, H // 2), int(min(W, H) * 0.3), (20, 20, 20), thickness=3 * s, lineType=cv2.LINE_AA)
    cv2.circle(img, (W // 2, H // 2), int(min(W, H) * 0.1), (250, 120, 200), thickness=-1, lineType=cv2.LINE_AA)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    img += (rng.random((h, w, 1), dtype=np.float32) - 0.5) * 40
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), (15, 15, 15), 2)
    return np.clip(img, 0, 255).astype(np.uint8)


def _occluder_texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    tex = 0.7 * _smooth_noise(rng, size, 8, 1) + 0.3 * _smooth_noise(rng, size, 2, 1)
    gray = (tex * 90 + 70)[..., 0]
    img = np.stack([gray, gray * 0.95, gray * 0.9], axis=-1)
    img[:, ::9] *= 0.6  # vertical slats
    return np.clip(img, 0, 255).astype(np.uint8)


def _paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    """Paste ``patch`` with its top-left at ``(x, y)`` (clipped to the frame); returns the pasted rect."""
    H, W = frame.shape[:2]
    h, w = patch.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return (x0, y0, 0, 0)
    frame[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]
    return (x0, y0, x1 - x0, y1 - y0)


def _target_state(t: np.ndarray, size: tuple[int, int]):
    """Centre and scale of the target at frame indices ``t`` (smooth, periodic in 240 frames)."""
    w, h = size
    ph = 2 * np.pi * t / 240.0
    cx = w * 0.5 + w * 0.30 * np.sin(ph) + w * 0.05 * np.sin(3 * ph)
    cy = h * 0.5 + h * 0.22 * np.sin(2 * ph + 0.6)
    scale = 1.0 + 0.35 * np.sin(ph * 1.5 - 0.8)  # 0.65 .. 1.35
    return cx, cy, scale


def _distractor_state(t: np.ndarray, size: tuple[int, int]):
    """The look-alike enters from the left and passes just below the target near frame 120 (the two move
    in opposite directions there)."""
    w, h = size
    tx, ty, _ = _target_state(np.array([120.0]), size)
    vx, vy = 2.4, -0.3
    cx = tx[0] + vx * (t - 120)
    cy = ty[0] + 30 + vy * (t - 120)  # 30 px below the target's centre at frame 120: the boxes touch
    return cx, cy


def _occluder_x(t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Left edge of the vertical occluding bar; it sweeps right-to-left across the target around frame 45."""
    tx, _, _ = _target_state(np.array([45.0]), size)
    return tx[0] - 14 - 5.0 * (t - 45)


def make_demo_clip(num_frames: int = DEMO_FRAMES, size: tuple[int, int] = DEMO_SIZE, seed: int = 0) -> DemoClip:
    """Generate the demo clip: ``num_frames`` frames of ``size = (width, height)``.

    Deterministic for a given ``seed``. The target (``64 x 52`` px at scale 1, scale 0.65-1.35) is drawn
    above the distractor and below the occluder, so the ground truth is always the target's full
    rectangle (clipped to the frame) even while it is partly hidden.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    w, h = int(size[0]), int(size[1])
    if w < 160 or h < 120:
        raise ValueError(f"demo clip size must be at least 160x120, got {w}x{h}")
    rng = np.random.default_rng(seed)
    bg = _background(rng, (w + 2 * _PAN, h + 2 * _PAN))
    target = _target_texture(rng, (_TARGET_BASE[0] * 2, _TARGET_BASE[1] * 2))  # drawn large, shrunk per frame
    # the look-alike: same layout, hues rotated a little and a different noise grain
    look = _target_texture(np.random.default_rng(seed + 1), (_TARGET_BASE[0] * 2, _TARGET_BASE[1] * 2))
    look = np.clip(look.astype(np.int16) + np.array([-25, 20, 15], np.int16), 0, 255).astype(np.uint8)
    occ_w = max(int(round(_TARGET_BASE[0] * 0.45)), 4)
    occluder = _occluder_texture(rng, (occ_w, h))

    t = np.arange(num_frames, dtype=np.float64)
    cx, cy, scale = _target_state(t, (w, h))
    dx, dy = _distractor_state(t, (w, h))
    ox = _occluder_x(t, (w, h))
    pan_x = _PAN + _PAN * 0.8 * np.sin(2 * np.pi * t / 300.0)
    pan_y = _PAN + _PAN * 0.5 * np.sin(2 * np.pi * t / 200.0 + 1.0)
    gain = 1.0 + 0.08 * np.sin(2 * np.pi * t / 90.0)  # slow illumination change

    frames = np.empty((num_frames, h, w, 3), np.uint8)
    boxes = np.empty((num_frames, 4), np.float64)
    occlusion = np.zeros(num_frames)
    ddist = np.empty(num_frames)
    for i in range(num_frames):
        px, py = int(round(pan_x[i])), int(round(pan_y[i]))
        frame = frames[i]
        frame[:] = bg[py : py + h, px : px + w]
        tw = max(int(round(_TARGET_BASE[0] * scale[i])), 4)
        th = max(int(round(_TARGET_BASE[1] * scale[i])), 4)
        # the distractor has the target's size at frame i (a true look-alike)
        dpatch = cv2.resize(look, (tw, th), interpolation=cv2.INTER_AREA)
        _paste(frame, dpatch, int(round(dx[i] - tw / 2)), int(round(dy[i] - th / 2)))
        tpatch = cv2.resize(target, (tw, th), interpolation=cv2.INTER_AREA)
        x0, y0 = int(round(cx[i] - tw / 2)), int(round(cy[i] - th / 2))
        rect = _paste(frame, tpatch, x0, y0)
        orect = _paste(frame, occluder, int(round(ox[i])), 0)
        if gain[i] != 1.0:
            cv2.convertScaleAbs(frame, dst=frame, alpha=float(gain[i]))
        boxes[i] = rect
        if rect[2] > 0 and rect[3] > 0 and orect[2] > 0:
            ix = max(0, min(rect[0] + rect[2], orect[0] + orect[2]) - max(rect[0], orect[0]))
            occlusion[i] = ix / rect[2]
        ddist[i] = float(np.hypot(dx[i] - (rect[0] + rect[2] / 2), dy[i] - (rect[1] + rect[3] / 2)))
    return DemoClip(
        frames=frames,
        boxes=boxes,
        occlusion=occlusion,
        distractor_distance=ddist,
        seed=seed,
        info={"size": (w, h), "target_base_size": _TARGET_BASE, "occluder_width": occ_w},
    )
