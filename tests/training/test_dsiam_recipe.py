"""DSiam recipe: clip crops follow a simulated tracker (true previous box + tracking error), consistently."""

import numpy as np
import pytest
import torch

from adaptrack.training.recipes.dsiam import DEFAULTS, clip_crop_boxes, encode_clip

torch.set_num_threads(1)


def _boxes(n=40):
    t = np.arange(n, dtype=np.float64)
    return np.stack([50 + 3 * t, 40 + t, 30 + 0 * t, 20 + 0 * t], axis=1)


def test_true_mode_is_the_previous_true_boxes():
    b = _boxes(6)
    np.testing.assert_array_equal(clip_crop_boxes(b, "true", 0.15, 0.5, 0.05, np.random.default_rng(0)), b[:-1])
    with pytest.raises(ValueError):
        clip_crop_boxes(b, "predicted", 0.15, 0.5, 0.05, np.random.default_rng(0))


def test_displaced_mode_statistics():
    b = _boxes(4001)
    est = clip_crop_boxes(b, "displaced", 0.15, 0.5, 0.05, np.random.default_rng(1))
    np.testing.assert_array_equal(est[0], b[0])  # frame 0's box is given, as at initialisation
    side = np.sqrt(30 * 20)
    d = (est[1:, :2] + est[1:, 2:] / 2 - (b[1:-1, :2] + b[1:-1, 2:] / 2)) / side
    assert np.all(np.abs(d) <= 0.5 + 1e-9)  # clipped at track_error_max
    assert np.all(np.abs(d.mean(0)) < 0.01)
    np.testing.assert_allclose(d.std(0), 0.15, rtol=0.05)  # N(0, 0.15^2) clipped at 3.3 sigma
    logk = np.log(est[1:, 2] / 30)
    np.testing.assert_allclose(logk.std(), 0.05, rtol=0.05)
    np.testing.assert_allclose(est[1:, 2] / est[1:, 3], 1.5)  # aspect ratio kept


def _clip(n=4, seed=0):
    rng = np.random.default_rng(seed)
    base = (rng.random((160, 200, 3)) * 255).astype(np.uint8)  # a static textured scene
    frames = [torch.from_numpy(base[None].copy()) for _ in range(n)]
    boxes = torch.tensor([[[60.0 + 4 * t, 50 + 2 * t, 30, 24] for t in range(n)]])
    return {"frames": frames, "boxes": boxes, "frame_ids": torch.arange(n)[None], "search": torch.zeros(1, n, 3, 8, 8)}


@pytest.fixture(scope="module")
def net():
    from adaptrack.trackers.dsiam import DSiamParams, build_dsiam_net

    return build_dsiam_net(DSiamParams()).eval()


def test_encode_clip_crops_share_the_estimate_and_labels_sit_at_the_truth(net):
    batch = _clip()
    boxes = batch["boxes"][0].numpy().astype(np.float64)
    with torch.no_grad():
        true = encode_clip(net, batch, 128, 256, 1.0, crops="true")
        disp = encode_clip(net, batch, 128, 256, 1.0, crops="displaced", track_error=0.3, seed=3)
        again = encode_clip(net, batch, 128, 256, 1.0, crops="displaced", track_error=0.3, seed=3)
    for k in disp:  # deterministic per clip (the feature cache re-encodes probes)
        torch.testing.assert_close(disp[k], again[k])
    # the scene is static, so Z_t (frame t, around the estimate of t-1) and G_{t-1} (frame t-1, same
    # window) are the same crop: Z and O/G of a step are cut at one position
    for out in (true, disp):
        for n in net.layers:
            torch.testing.assert_close(out[f"z_{n}"], out[f"g_{n}"], rtol=0, atol=1e-4)
    # labels: the true centre of frame t in Z_t, relative to the crop centre, in crop pixels
    side = lambda b: np.sqrt((b[2] + (b[2] + b[3]) / 2) * (b[3] + (b[2] + b[3]) / 2)) * 2  # noqa: E731
    c = boxes[:, :2] + boxes[:, 2:] / 2
    expect = [(c[t + 1] - c[t]) * 256 / side(boxes[t]) for t in range(3)]
    np.testing.assert_allclose(true["zoff"][0].numpy(), np.array(expect), rtol=1e-5)
    # displaced: step 0 is exact, later steps are off by the simulated error, and O_{t-1} moved with it
    np.testing.assert_allclose(disp["zoff"][0, 0].numpy(), expect[0], rtol=1e-5)
    assert np.abs(disp["zoff"][0, 1:].numpy() - np.array(expect[1:])).max() > 1.0
    torch.testing.assert_close(disp["o_s8"][:, 0], true["o_s8"][:, 0])
    assert not torch.allclose(disp["o_s8"][:, 1:], true["o_s8"][:, 1:])


def test_defaults_follow_the_tracker():
    assert DEFAULTS["crops"] == "displaced" and 0 < DEFAULTS["track_error"] < DEFAULTS["track_error_max"]
