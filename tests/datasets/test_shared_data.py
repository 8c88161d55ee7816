"""Integration tests over the real data in ../shared/data (skipped when absent)."""

import json
import os

import numpy as np
import pytest

from adaptrack.datasets.shared import ZERO_BASED_GROUPS, load_split, load_still_images
from tests.conftest import shared_data_root

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize("split", ["train", "val"])
def test_every_split_sequence_loads_consistently(split):
    root = shared_data_root()
    with open(os.path.join(root, "splits.json")) as f:
        listed = json.load(f)[split]
    seqs = load_split(split, root=root)
    assert [s.name for s in seqs] == listed
    for seq in seqs:
        assert len(seq) == len(seq.frames) == len(seq.boxes) > 1, seq.name
        n_files = len([f for f in os.listdir(os.path.join(root, "sequences", seq.name, "img")) if f.endswith(".jpg")])
        assert len(seq) == n_files, seq.name
        first = seq.frame(0)
        h, w = first.shape[:2]
        assert first.dtype == np.uint8 and first.shape[2] == 3
        b = seq.boxes[~np.isnan(seq.boxes).any(axis=1)]
        assert len(b) and (b[:, 2:] > 0).all(), seq.name
        # inside the frame up to rounding of the downscaled annotations
        assert b[:, 0].min() >= -1.0 and b[:, 1].min() >= -1.0, seq.name
        assert (b[:, 0] + b[:, 2]).max() <= w + 1.0 and (b[:, 1] + b[:, 3]).max() <= h + 1.0, seq.name
        group = seq.name.split("/")[0]
        assert seq.attributes["annotation_origin"] == (0 if group in ZERO_BASED_GROUPS else 1)


def test_origin_shift_matches_the_files():
    root = shared_data_root()
    for seq in load_split("val", root=root):
        raw = np.loadtxt(os.path.join(root, "sequences", seq.name, "groundtruth.txt"), delimiter=",", ndmin=2)
        shift = seq.attributes["annotation_origin"]
        np.testing.assert_allclose(seq.boxes[:, :2], raw[:, :2] - shift)
        np.testing.assert_allclose(seq.boxes[:, 2:], raw[:, 2:])


def test_still_images_load_and_decode():
    root = shared_data_root()
    stills = load_still_images(root)
    with open(os.path.join(root, "splits.json")) as f:
        sources = json.load(f)["images"]
    assert {s.source for s in stills} == set(sources)
    for src in sources:
        im = next(s for s in stills if s.source == src)
        img = im.image()
        assert img.shape[:2] == (im.height, im.width)
        b = im.boxes
        assert (b[:, 2:] > 0).all() and (b[:, 0] + b[:, 2] <= im.width + 1).all() and (b[:, 1] + b[:, 3] <= im.height + 1).all()
