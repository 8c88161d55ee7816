"""Frame normalisation, reading, and crop-and-resize with mean padding."""

import cv2
import numpy as np
import pytest

from adaptrack.errors import FrameReadError
from adaptrack.image import as_rgb_uint8, crop_and_resize, crop_multiscale, frame_mean, read_image, rgb_to_bgr


def test_as_rgb_uint8_grayscale_2d_and_1_channel():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = as_rgb_uint8(g)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g)
    np.testing.assert_array_equal(as_rgb_uint8(g[..., None]), out)


def test_as_rgb_uint8_rgba_drops_alpha():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 7
    out = as_rgb_uint8(rgba)
    assert out.shape == (2, 2, 3) and out[0, 0].tolist() == [10, 20, 30]


def test_as_rgb_uint8_uint16_scales_to_8_bit():
    a = np.array([[0, 257, 128 * 257, 65535]], np.uint16)
    out = as_rgb_uint8(a)
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]


def test_as_rgb_uint8_float_and_bool():
    f01 = np.array([[0.0, 0.5, 1.0]], np.float32)
    assert as_rgb_uint8(f01)[0, :, 0].tolist() == [0, 128, 255]  # [0, 1] scaled by 255
    f255 = np.array([[0.0, 100.4, 300.0, -3.0]], np.float64)
    assert as_rgb_uint8(f255)[0, :, 0].tolist() == [0, 100, 255, 0]  # max > 1: taken as 0..255, clipped
    assert as_rgb_uint8(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]


def test_as_rgb_uint8_passthrough_and_bgr_and_bad_shapes():
    rgb = np.zeros((4, 5, 3), np.uint8)
    assert as_rgb_uint8(rgb) is rgb  # no copy when already in form
    bgr = np.zeros((1, 1, 3), np.uint8)
    bgr[0, 0] = (1, 2, 3)
    assert as_rgb_uint8(bgr, assume_bgr=True)[0, 0].tolist() == [3, 2, 1]
    assert rgb_to_bgr(as_rgb_uint8(bgr, assume_bgr=True))[0, 0].tolist() == [1, 2, 3]
    for bad in (np.zeros((4, 5, 2), np.uint8), np.zeros((4,), np.uint8), np.zeros((0, 5, 3), np.uint8)):
        with pytest.raises(ValueError, match="shape"):
            as_rgb_uint8(bad)


def test_read_image_rgb_order_and_errors(tmp_path):
    img = np.zeros((6, 7, 3), np.uint8)
    img[..., 0] = 200  # red in RGB
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), img[:, :, ::-1])
    out = read_image(p)
    assert out.shape == (6, 7, 3) and out[0, 0].tolist() == [200, 0, 0]
    with pytest.raises(FrameReadError, match="missing.jpg"):
        read_image(tmp_path / "missing.jpg")
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(FrameReadError, match="corrupt.jpg"):
        read_image(bad)
    rgba = np.dstack([img, np.full((6, 7), 9, np.uint8)])
    q = tmp_path / "b.png"
    cv2.imwrite(str(q), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    assert read_image(q)[0, 0].tolist() == [200, 0, 0]


def pattern_frame():
    """100x80 frame, dark, with a 10x10 white square covering pixels x 40..49, y 30..39."""
    f = np.full((80, 100, 3), 20, np.uint8)
    f[30:40, 40:50] = 255
    return f


def test_crop_identity_scale_lands_where_expected():
    f = pattern_frame()
    # window of 20 px centred on the square's centre (45, 35): the square occupies output 5..14
    out = crop_and_resize(f, (45, 35), 20, 20)
    assert out.shape == (20, 20, 3)
    np.testing.assert_array_equal(out, f[25:45, 35:55])
    # move the window 5 px right: the square moves 5 px left in the crop
    out = crop_and_resize(f, (50, 35), 20, 20)
    np.testing.assert_array_equal(out, f[25:45, 40:60])
    assert (out[5:15, 0:10] == 255).all() and (out[5:15, 10:] == 20).all()


def test_crop_upscale_and_downscale():
    f = pattern_frame()
    up = crop_and_resize(f, (45, 35), 20, 40)  # 2x: square -> output 10..29
    assert (up[11:29, 11:29] == 255).all()
    assert (up[:9] == 20).all() and (up[31:] == 20).all() and (up[:, :9] == 20).all() and (up[:, 31:] == 20).all()
    # 0.5x: window [25, 65) x [15, 55); the square [40, 50) x [30, 40) -> output [7.5, 12.5)
    down = crop_and_resize(f, (45, 35), 40, 20)
    assert (down[8:12, 8:12] == 255).all()
    assert 20 < down[7, 9, 0] < 255 and 20 < down[12, 9, 0] < 255  # half-covered output pixels
    assert (down[:7] == 20).all() and (down[13:] == 20).all()
    # non-square output (w, h) and window (w, h)
    rect = crop_and_resize(f, (45, 35), (40, 20), (40, 20))
    assert rect.shape == (20, 40, 3)
    np.testing.assert_array_equal(rect, f[25:45, 25:65])


def test_crop_outside_is_mean_padded():
    f = pattern_frame()
    mean = frame_mean(f)
    out = crop_and_resize(f, (0, 0), 20, 20)  # window [-10, 10)^2: top-left quadrant is outside
    expected = np.rint(mean).astype(np.uint8)
    assert (np.abs(out[:9, :9].astype(int) - expected).max()) <= 1
    np.testing.assert_array_equal(out[10:, 10:], f[:10, :10])
    out = crop_and_resize(f, (0, 0), 20, 20, pad_value=(1, 2, 3))
    assert out[0, 0].tolist() == [1, 2, 3]
    # mean of the frame is what frame_mean says
    assert mean[0] == pytest.approx(f[..., 0].mean())
    with pytest.raises(ValueError, match="positive"):
        crop_and_resize(f, (10, 10), 0, 5)


def test_crop_multiscale_shapes_and_consistency():
    f = pattern_frame()
    sizes = [15, 20, 31.5]
    stack = crop_multiscale(f, (45, 35), sizes, 16)
    assert stack.shape == (3, 16, 16, 3) and stack.dtype == np.uint8
    for s, crop in zip(sizes, stack):
        np.testing.assert_array_equal(crop, crop_and_resize(f, (45, 35), s, 16))
    # the square fills a smaller fraction of the crop as the window grows
    white = [(c[..., 0] > 200).mean() for c in stack]
    assert white[0] > white[1] > white[2]


def test_crop_multiscale_equals_separate_crops_and_out_is_checked():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    sizes = [30.0, 33.3, 40.0]
    many = crop_multiscale(frame, (50.3, 40.7), sizes, 32, (1, 2, 3))
    one = np.stack([crop_and_resize(frame, (50.3, 40.7), s, 32, (1, 2, 3)) for s in sizes])
    assert many.shape == (3, 32, 32, 3) and np.array_equal(many, one)
    buf = np.zeros((32, 32, 3), np.uint8)
    assert crop_and_resize(frame, (50.3, 40.7), 30.0, 32, (1, 2, 3), out=buf) is buf
    assert np.array_equal(buf, one[0])
    with pytest.raises(ValueError, match="contiguous"):
        crop_and_resize(frame, (50, 40), 30.0, 32, out=np.zeros((31, 32, 3), np.uint8))
