"""Synthetic sources for the training tests: a bright square moving on a textured background."""

import json
import os

import cv2
import numpy as np

from adaptrack.datasets.base import Sequence


def make_frame(box, size=(200, 160), seed=0):
    """An H x W x 3 uint8 frame: dark random texture, a white rectangle at ``box`` (x, y, w, h)."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, size=(h, w, 3)).astype(np.uint8)
    x, y, bw, bh = [int(round(v)) for v in box]
    img[y : y + bh, x : x + bw] = 255
    return img


def make_sequence(n=20, name="toy", start=(40, 50), step=(3, 1), wh=(24, 16), size=(200, 160)):
    boxes = np.array([[start[0] + step[0] * i, start[1] + step[1] * i, wh[0], wh[1]] for i in range(n)], float)
    frames = {i: make_frame(boxes[i], size, seed=i) for i in range(n)}
    return Sequence(name=name, frames=None, boxes=boxes, reader=lambda i: frames[i], n_frames=n)


def bright_bbox(img, thr=200):
    """(x, y, w, h) of pixels brighter than ``thr`` in every channel (continuous convention)."""
    m = (img >= thr).all(axis=2) if img.ndim == 3 else img >= thr
    ys, xs = np.nonzero(m)
    return np.array([xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()], float)




def shared_data_root():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("ADAPTRACK_SHARED_DATA", os.path.join(here, "..", "..", "..", "shared", "data"))
