import os

import numpy as np
import pytest

from adaptrack.errors import DatasetLayoutError
from adaptrack.training.data import load_training_sources

from training_synth import shared_data_root


def test_sources_from_layout_convert_origins_and_filter_small_boxes(fake_shared_root):
    seqs, imgs = load_training_sources("train", root=fake_shared_root)
    by_name = {s.name: s for s in seqs}
    assert set(by_name) == {"uav_group/s1", "davis2016_val/s2"}
    # both were written from the same 0-based boxes: one 1-based file, one 0-based file
    np.testing.assert_allclose(by_name["uav_group/s1"].boxes, by_name["davis2016_val/s2"].boxes)
    np.testing.assert_allclose(by_name["uav_group/s1"].boxes[0], [30, 40, 20, 20])
    assert by_name["uav_group/s1"].frame(0).shape == (160, 200, 3)
    # the 4-px-wide box and the image with only a 5x5 box are dropped
    assert len(imgs) == 1 and imgs[0].boxes.tolist() == [[50, 60, 40, 30]] and imgs[0].categories == ["sq"]
    seqs_v, imgs_v = load_training_sources("val", root=fake_shared_root)
    assert [s.name for s in seqs_v] == ["uav_group/s1"] and imgs_v == []


def test_missing_root_raises(tmp_path):
    with pytest.raises(DatasetLayoutError):
        load_training_sources(root=str(tmp_path / "nope"))


@pytest.mark.shared_data
def test_real_shared_data():
    root = shared_data_root()
    if not os.path.isfile(os.path.join(root, "splits.json")):
        pytest.skip("shared data absent")
    seqs, imgs = load_training_sources("train", root=root)
    assert len(seqs) > 10 and len(imgs) > 100
    s = seqs[0]
    f = s.frame(0)
    b = s.boxes[np.isfinite(s.boxes).all(1)][0]
    assert 0 <= b[0] < f.shape[1] and 0 <= b[1] < f.shape[0]
    assert all(min(im.boxes[:, 2:].min(), 1e9) >= 8 for im in imgs[:50])
