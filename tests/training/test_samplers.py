import cv2
import numpy as np
import pytest
import torch

from adaptrack.training.augmentation import Augmenter
from adaptrack.training.data import StillImage
from adaptrack.training.samplers import ClipSampler, PairSampler, SetSampler, siamfc_window

from training_synth import bright_bbox, make_frame


def _img(t):
    return t.numpy().transpose(1, 2, 0).astype(np.uint8)


def test_siamfc_window():
    # p = 0.5 * (24 + 16) = 20 -> sqrt(44 * 36)
    assert siamfc_window((0, 0, 24, 16)) == pytest.approx(np.sqrt(44 * 36))


def test_pair_crops_sizes_centering_and_boxes(toy_sequences):
    ps = PairSampler(toy_sequences, samples_per_epoch=20, template_scale=0.0, search_shift=30, search_scale=0.2,
                     max_gap=5, seed=3)
    for i in range(8):
        d = ps[i]
        assert d["template"].shape == (3, 127, 127) and d["search"].shape == (3, 255, 255)
        assert d["template"].dtype == torch.float32 and d["is_pos"].item() == 1.0
        tb = d["template_box"].numpy()
        # target centred in the template, at the SiamFC scale 127 / s_z
        np.testing.assert_allclose(tb[:2] + tb[2:] / 2, [63.5, 63.5], atol=1e-4)
        np.testing.assert_allclose(bright_bbox(_img(d["template"]), 128), tb, atol=2.5)
        sb = d["search_box"].numpy()
        np.testing.assert_allclose(bright_bbox(_img(d["search"]), 128), sb, atol=2.5)
        # template and search share one scale up to the search-scale jitter
        # same target frame size up to motion (equal here) and the search-scale jitter exp(+-0.2)
        assert abs(np.log(tb[2] / sb[2])) <= 0.2 + 1e-6


def test_pair_sampler_deterministic_per_index_and_epoch(toy_sequences):
    ps = PairSampler(toy_sequences, samples_per_epoch=4, augment=Augmenter(), seed=1)
    a, b = ps[2], ps[2]
    assert torch.equal(a["search"], b["search"]) and torch.equal(a["search_box"], b["search_box"])
    ps.set_epoch(1)
    c = ps[2]
    assert not torch.equal(a["search"], c["search"])


def test_augmented_pairs_keep_boxes_right(toy_sequences):
    aug = Augmenter(p_color=0.0, p_blur=0.0, p_motion_blur=0.0, p_flip=0.5, p_gray=0.5)
    ps = PairSampler(toy_sequences, samples_per_epoch=10, augment=aug, seed=5)
    for i in range(10):
        d = ps[i]
        np.testing.assert_allclose(bright_bbox(_img(d["search"]), 128), d["search_box"].numpy(), atol=2.5)


def test_negative_pairs_flagged(toy_sequences):
    ps = PairSampler(toy_sequences, samples_per_epoch=10, neg_prob=1.0, seed=0)
    assert all(ps[i]["is_pos"].item() == 0.0 for i in range(5))


def test_still_image_pairs(tmp_path):
    path = str(tmp_path / "im.jpg")
    cv2.imwrite(path, make_frame((60, 50, 40, 30), size=(200, 160)))  # white box survives BGR order
    im = StillImage(path=path, boxes=np.array([[60, 50, 40, 30.0]]), categories=["sq"])
    ps = PairSampler(images=[im], samples_per_epoch=5, image_shift=20, image_scale=0.2, seed=0)
    for i in range(5):
        d = ps[i]
        np.testing.assert_allclose(bright_bbox(_img(d["search"]), 128), d["search_box"].numpy(), atol=3.0)
        np.testing.assert_allclose(bright_bbox(_img(d["template"]), 128), d["template_box"].numpy(), atol=3.0)


def test_empty_sources_raise():
    with pytest.raises(ValueError):
        PairSampler([], [])


def test_clip_sampler(toy_sequences):
    cs = ClipSampler(toy_sequences, samples_per_epoch=4, clip_len=5, max_step=2, seed=0)
    d = cs[0]
    assert d["search"].shape == (5, 3, 255, 255) and d["template"].shape == (3, 127, 127)
    ids = d["frame_ids"].numpy()
    assert (np.diff(ids) >= 1).all() and (np.diff(ids) <= 2).all()
    for t in range(5):
        np.testing.assert_allclose(bright_bbox(_img(d["search"][t]), 128), d["search_box"][t].numpy(), atol=2.5)


def test_set_sampler(toy_sequences):
    ss = SetSampler(toy_sequences, samples_per_epoch=4, num_train=3, num_test=2, segment_len=10, output_size=96,
                    area_factor=4.0, seed=0)
    d = ss[1]
    assert d["train_images"].shape == (3, 3, 96, 96) and d["test_images"].shape == (2, 3, 96, 96)
    for k in range(3):
        np.testing.assert_allclose(bright_bbox(_img(d["train_images"][k]), 128), d["train_boxes"][k].numpy(), atol=2.0)
