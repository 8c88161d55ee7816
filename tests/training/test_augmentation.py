import numpy as np

from adaptrack.training.augmentation import (
    Augmenter, color_jitter, gaussian_blur, grayscale, hflip, motion_blur, shift_scale,
)

from training_synth import bright_bbox, make_frame


def test_hflip_moves_box_with_pixels():
    img = make_frame((10, 20, 30, 15), size=(100, 80))
    out, box = hflip(img, (10, 20, 30, 15))
    np.testing.assert_allclose(box, [100 - 10 - 30, 20, 30, 15])
    np.testing.assert_allclose(bright_bbox(out), box)


def test_shift_scale_keeps_box_on_the_object():
    img = make_frame((40, 30, 32, 20), size=(128, 128))
    for seed in range(5):
        rng = np.random.default_rng(seed)
        out, box = shift_scale(img, (40, 30, 32, 20), rng, max_shift=10, max_scale=0.3)
        np.testing.assert_allclose(bright_bbox(out, thr=160), box, atol=1.01)


def test_photometric_ops_are_deterministic_and_shape_preserving():
    img = make_frame((20, 20, 30, 30), size=(64, 64))
    for fn in (color_jitter, gaussian_blur, motion_blur):
        a = fn(img, np.random.default_rng(7))
        b = fn(img, np.random.default_rng(7))
        assert a.shape == img.shape and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, img)
    g = grayscale(img)
    assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()


def test_motion_blur_preserves_mean_brightness():
    img = make_frame((20, 20, 24, 24), size=(64, 64))
    out = motion_blur(img, np.random.default_rng(1), max_length=7)
    assert abs(out.astype(float).mean() - img.astype(float).mean()) < 3.0


def test_augmenter_flip_flag_updates_box():
    img = make_frame((10, 20, 30, 15), size=(100, 80))
    aug = Augmenter(p_color=0, p_blur=0, p_motion_blur=0, p_gray=0, p_flip=1.0)
    out, box = aug(img, (10, 20, 30, 15), np.random.default_rng(0))
    np.testing.assert_allclose(bright_bbox(out), box)
    np.testing.assert_allclose(box, [60, 20, 30, 15])
