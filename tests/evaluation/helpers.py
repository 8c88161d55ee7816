"""Test-only trackers and synthetic sequences for the evaluation tests (registered on import)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import cv2
import numpy as np

from adaptrack.datasets.base import Sequence
from adaptrack.trackers.base import Tracker, TrackOutput, _REGISTRY, register_tracker


@dataclass
class BlobParams:
    delay: float = 0.0  # seconds slept per frame (to make a run slow enough to kill)
    stop_after: int = -1  # raise KeyboardInterrupt on the k-th initialisation in this process (-1: never)


class BlobTracker(Tracker):
    """Finds the bright square of :func:`make_sequence` frames: the box of pixels brighter than 128."""

    inits = 0  # initialisations in this process (resume tests count them)

    def __init__(self, params=None, weights=None):
        self.p = params or BlobParams()

    def _initialize(self, frame, box):
        type(self).inits += 1
        if self.p.stop_after >= 0 and type(self).inits > self.p.stop_after:
            raise KeyboardInterrupt("test stop")
        self.box = np.asarray(box, float)

    def _track(self, frame):
        if self.p.delay:
            time.sleep(self.p.delay)
        ys, xs = np.nonzero(frame[..., 0] > 128)
        if len(xs):
            self.box = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
        return TrackOutput(self.box.copy(), 1.0)


@dataclass
class ConstParams:
    pass


class ConstTracker(Tracker):
    """Keeps reporting the initial box (deterministic, fails as soon as the target moves away)."""

    def __init__(self, params=None, weights=None):
        pass

    def _initialize(self, frame, box):
        self.box = np.asarray(box, float)

    def _track(self, frame):
        return TrackOutput(self.box.copy(), 0.5)


class NoisyTracker(ConstTracker):
    """Random boxes: a non-deterministic tracker (VOT repetitions must not stop early)."""

    def _track(self, frame):
        return TrackOutput(self.box + np.random.default_rng().normal(0, 3, 4), 0.5)


for _name, _cls, _p in (("test_blob", BlobTracker, BlobParams), ("test_const", ConstTracker, ConstParams),
                        ("test_noisy", NoisyTracker, ConstParams)):
    if _name not in _REGISTRY:
        register_tracker(_name, _p, "evaluation test tracker", family="test")(_cls)


def square_path(n: int, w: int = 64, h: int = 48, size: int = 10, speed: float = 2.0, start: float = 5.0):
    """Ground-truth boxes of a square moving right and down (clipped into the image)."""
    t = np.arange(n)
    x = np.clip(start + speed * t, 0, w - size)
    y = np.clip(start + 0.5 * speed * t, 0, h - size)
    return np.column_stack([x, y, np.full(n, size), np.full(n, size)]).astype(float)


def make_sequence(folder, name: str, n: int = 12, w: int = 64, h: int = 48, **kw) -> Sequence:
    """Frames with a white square on black, written as PNG (lossless) to ``folder/name/``."""
    boxes = np.round(square_path(n, w, h, **kw))
    d = os.path.join(os.fspath(folder), *name.split("/"))
    os.makedirs(d, exist_ok=True)
    frames = []
    for i, b in enumerate(boxes):
        img = np.zeros((h, w, 3), np.uint8)
        x, y, s = int(b[0]), int(b[1]), int(b[2])
        img[y : y + s, x : x + s] = 255
        p = os.path.join(d, f"{i:05d}.png")
        cv2.imwrite(p, img)
        frames.append(p)
    return Sequence(name=name, frames=frames, boxes=boxes, dataset="synthetic")
