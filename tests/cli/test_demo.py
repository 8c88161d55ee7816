"""The generated demo clip and `adaptrack demo`."""

import time

import cv2
import numpy as np
import pytest

from adaptrack.cli import main
from adaptrack.demo_clip import DEMO_FRAMES, DEMO_SIZE, make_demo_clip
from adaptrack.geometry import rect_iou


@pytest.fixture(scope="module")
def timed_clip():
    t = time.process_time()  # CPU time: wall time on a shared machine says little
    clip = make_demo_clip()
    return clip, time.process_time() - t


@pytest.fixture(scope="module")
def clip(timed_clip):
    return timed_clip[0]


def test_clip_shape_speed_and_determinism(timed_clip):
    clip, seconds = timed_clip
    assert clip.frames.shape == (DEMO_FRAMES, DEMO_SIZE[1], DEMO_SIZE[0], 3) and clip.frames.dtype == np.uint8
    assert clip.boxes.shape == (DEMO_FRAMES, 4)
    assert seconds < 2.0
    short = make_demo_clip(num_frames=20)  # same seed: deterministic, and motion is per frame index
    np.testing.assert_array_equal(short.frames, clip.frames[:20])
    np.testing.assert_array_equal(short.boxes, clip.boxes[:20])
    other = make_demo_clip(num_frames=20, seed=5)
    assert not np.array_equal(other.frames, short.frames)


def test_clip_has_motion_scale_occlusion_and_distractor(clip):
    b = clip.boxes
    assert np.isfinite(b).all() and (b[:, 2:] > 0).all()
    assert (b[:, 0] >= 0).all() and (b[:, 0] + b[:, 2] <= DEMO_SIZE[0]).all()
    centres = b[:, :2] + b[:, 2:] / 2
    assert np.ptp(centres[:, 0]) > 150 and np.ptp(centres[:, 1]) > 80  # it travels
    assert np.abs(np.diff(centres, axis=0)).max() < 8  # smoothly
    area = b[:, 2] * b[:, 3]
    assert area.max() / area.min() > 2.5  # it changes scale
    assert clip.occlusion[0] == 0 and 0.2 < clip.occlusion.max() < 0.8  # partly occluded, never fully
    assert (clip.occlusion > 0).sum() >= 10
    assert clip.distractor_distance.min() < b[:, 3].mean()  # the look-alike passes close by


def test_ground_truth_is_where_the_target_is_drawn(clip):
    """In unoccluded frames, the top-left quadrant inside the box is the target's red, and just outside
    the box it is not."""
    for i in (0, 80, 150):
        assert clip.occlusion[i] == 0
        x, y, w, h = clip.boxes[i].astype(int)
        q = clip.frames[i][y + 3 : y + h // 2 - 3, x + 3 : x + w // 2 - 3].reshape(-1, 3).mean(0)
        assert q[0] > 150 and q[1] < 110 and q[2] < 90, (i, q)  # red quadrant (noise and lighting aside)


def test_demo_command_writes_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["demo", "--out", str(out), "--frames", "30", "--tracker", "medianflow", "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    boxes = np.loadtxt(out / "demo.txt", delimiter=",")
    assert boxes.shape == (30, 4)
    gt = make_demo_clip(num_frames=30).boxes
    np.testing.assert_allclose(boxes[0], gt[0])
    # the printed AUC is the success AUC of the written boxes (21 thresholds, strict >, first frame = gt)
    iou = rect_iou(boxes, gt)
    auc = np.mean([(iou > t).mean() for t in np.linspace(0, 1, 21)])
    assert f"success AUC {auc:.3f}" in text
    assert auc > 0.6
    assert "FPS" in text
    cap = cv2.VideoCapture(str(out / "demo.mp4"))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    ok, frame = cap.read()
    cap.release()
    assert n == 30 and ok
    # the predicted box is drawn in green on the first frame along its left edge
    x, y, w, h = gt[0].astype(int)
    edge = frame[y + h // 2 - 3 : y + h // 2 + 3, x - 1 : x + 2].reshape(-1, 3).astype(int)  # BGR
    assert (edge[:, 1] > 180).any() and (edge[:, 1] - edge[:, 2] > 100).any()


def test_demo_errors_are_one_line(capsys, tmp_path):
    rc = main(["demo", "--out", str(tmp_path), "--tracker", "nope"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("adaptrack demo: error: unknown tracker 'nope'")
