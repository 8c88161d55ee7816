import math

import numpy as np
import pytest
import torch

from adaptrack.nn.siamese import (
    MultiScaleSearch,
    apply_window,
    check_crop_alignment,
    damp_size,
    frames_to_tensor,
    hann_window,
    peak_to_displacement,
    penalize_scales,
    scale_factors,
    upsample_responses,
    window_sizes,
)

torch.set_num_threads(1)


def test_window_sizes_by_hand():
    s_z, s_x = window_sizes((40, 20), 0.5, 128, 256)
    assert s_z == pytest.approx(math.sqrt(70 * 50))  # p = 0.5 * 60 = 30
    assert s_x == pytest.approx(2 * s_z)


def test_scale_factors():
    assert np.allclose(scale_factors(3, 1.0375), [1 / 1.0375, 1.0, 1.0375])
    assert np.allclose(scale_factors(5, 2.0), [0.25, 0.5, 1, 2, 4])
    with pytest.raises(ValueError):
        scale_factors(2, 1.05)


def test_hann_window_values():
    w = hann_window(5)  # np.hanning(5) = [0, .5, 1, .5, 0], outer sum = 4
    assert w.sum() == pytest.approx(1.0)
    assert w[2, 2] == pytest.approx(0.25) and w[1, 2] == pytest.approx(0.125) and w[0, 3] == 0


def test_penalty_and_window_blend():
    r = np.ones((3, 4, 4))
    p = penalize_scales(r, 0.9)
    assert np.allclose(p[[0, 2]], 0.9) and np.allclose(p[1], 1.0) and np.allclose(r, 1.0)
    resp = np.arange(16.0).reshape(4, 4)
    win = hann_window(4)
    assert apply_window(resp, win, 0.0).sum() == pytest.approx(1.0)
    assert apply_window(resp, win, 0.0)[0, 0] == 0.0
    assert np.allclose(apply_window(resp, win, 1.0), win)
    mix = apply_window(resp, win, 0.3)
    assert np.allclose(mix, 0.7 * resp / resp.sum() + 0.3 * win)


def test_upsampling_keeps_the_centre_convention():
    # a symmetric peak at response cell (5, 11) of a 17x17 map lands between upsampled pixels
    # 16*c + 7 and 16*c + 8 (continuous position (c + 0.5) * 16 - 0.5)
    yy, xx = np.mgrid[0:17, 0:17]
    r = np.exp(-((yy - 5) ** 2 + (xx - 11) ** 2) / 4.0)
    up = upsample_responses(torch.tensor(r)[None, None], 16)
    assert up.shape == (1, 272, 272)
    py, px = np.unravel_index(np.argmax(up[0]), (272, 272))
    assert py in (87, 88) and px in (183, 184)


def test_upsampling_equals_torch_bicubic():
    import torch.nn.functional as F

    r = torch.rand(3, 1, 17, 15)
    ref = F.interpolate(r, size=(17 * 16, 15 * 16), mode="bicubic", align_corners=False)[:, 0].numpy()
    assert np.allclose(upsample_responses(r, 16), ref, atol=1e-5)


def test_displacement_mapping_formula():
    # peak 2 response cells right, 1 up, from the centre of a 17x17 map upsampled 16x (side 272)
    peak = (135.5 - 16, 135.5 + 32)
    d = peak_to_displacement(peak, 272, 16, 8, 256, 512.0)
    # 2 cells * stride 8 = 16 crop px; crop 256 px covers 512 frame px -> 32 frame px
    assert np.allclose(d, [32.0, -16.0])


@pytest.mark.parametrize("upsample_all", [False, True])
def test_multiscale_search_moves_to_a_synthetic_peak(upsample_all):
    """A response peak 3 cells right / 2 down on the largest scale moves the centre by the expected
    frame pixels and picks that scale."""
    h = 17
    yy, xx = np.mgrid[0:h, 0:h]
    resp = np.zeros((3, 1, h, h), dtype=np.float32)
    for k, amp in enumerate([0.2, 0.5, 2.0]):
        resp[k, 0] = amp * np.exp(-((yy - 10) ** 2 + (xx - 11) ** 2) / 3.0)
    search = MultiScaleSearch(h, 3, 1.0375, 0.9745, 0.0, 16, 8, 256, upsample_all)
    res = search(torch.tensor(resp), center=(300.0, 200.0), search_window=400.0)
    assert res.scale_index == 2 and res.scale == pytest.approx(1.0375)
    frame_px_per_cell = 8 * 400.0 * 1.0375 / 256
    expect = np.array([300 + 3 * frame_px_per_cell, 200 + 2 * frame_px_per_cell])
    tol = 0.5 / 16 * frame_px_per_cell + 1e-6  # argmax sits half an upsampled pixel off the true peak
    assert np.all(np.abs(res.center - expect) <= tol)
    # the cosine window pulls a far, weak peak back: full influence means no motion at all
    still = MultiScaleSearch(h, 3, 1.0375, 0.9745, 1.0, 16, 8, 256)(torch.tensor(resp), (300.0, 200.0), 400.0)
    assert np.all(np.abs(still.center - [300, 200]) <= tol)


@pytest.mark.parametrize("upsample_all", [False, True])
def test_scale_penalty_prefers_unit_scale_on_ties(upsample_all):
    resp = torch.ones(3, 1, 9, 9)
    resp[:, 0, 4, 4] = 2.0
    resp[2, 0, 4, 4] = 2.04  # higher, but not by the penalty's 3 %
    res = MultiScaleSearch(9, 3, 1.05, 0.97, 0.1, 4, 8, 128, upsample_all)(resp, (10.0, 10.0), 100.0)
    assert res.scale_index == 1 and res.scale == 1.0
    resp[2, 0, 4, 4] = 2.1  # higher by more than the penalty
    res = MultiScaleSearch(9, 3, 1.05, 0.97, 0.1, 4, 8, 128, upsample_all)(resp, (10.0, 10.0), 100.0)
    assert res.scale_index == 2


def test_damp_size():
    wh = damp_size((100, 50), 1.1, 0.5, base_wh=(100, 50))
    assert np.allclose(wh, [105, 52.5])
    assert np.allclose(damp_size((100, 50), 100.0, 1.0, base_wh=(10, 10)), [50, 50])  # clipped at 5x


def test_alignment_check_and_tensor_conversion():
    check_crop_alignment(127, 255, 8, same_padding=False)
    check_crop_alignment(128, 256, 8, same_padding=True)
    with pytest.raises(ValueError, match="multiple"):
        check_crop_alignment(127, 255, 8, same_padding=True)
    with pytest.raises(ValueError, match="multiple"):
        check_crop_alignment(127, 250, 8, same_padding=False)
    crops = np.random.default_rng(0).integers(0, 255, (3, 8, 6, 3), dtype=np.uint8)
    t = frames_to_tensor(crops, channels_last=True)
    assert t.shape == (3, 3, 8, 6) and t.dtype == torch.float32
    assert t[1, 2, 5, 4] == crops[1, 5, 4, 2]


def test_feature_scale_pyramid_resamples_about_the_centre():
    from adaptrack.nn.siamese import feature_scale_pyramid

    n = 32
    # a feature map that is linear in the normalised offset from the centre: f(v) = v (pixel centres)
    v = (torch.arange(n, dtype=torch.float64) + 0.5) / n * 2 - 1
    xf = torch.stack([v.expand(n, n), v[:, None].expand(n, n)])[None]  # channel 0: x, channel 1: y
    scales = [1 / 1.0375, 1.0, 1.0375]
    out = feature_scale_pyramid(xf, scales)
    assert out.shape == (3, 2, n, n)
    assert torch.equal(out[1], xf[0])  # the unit scale is the map itself
    inner = slice(2, n - 2)  # away from the replicated border
    for k, q in enumerate(scales):
        # a crop q times wider shows at v what the unit crop shows at q v
        assert torch.allclose(out[k, 0, inner, inner], q * xf[0, 0, inner, inner], atol=1e-9)
        assert torch.allclose(out[k, 1, inner, inner], q * xf[0, 1, inner, inner], atol=1e-9)
    with pytest.raises(ValueError, match="one crop"):
        feature_scale_pyramid(xf.expand(2, 2, n, n), scales)
