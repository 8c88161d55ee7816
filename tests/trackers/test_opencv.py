"""OpenCV's classical trackers behind the adaptrack contract."""

import cv2
import numpy as np
import pytest

import adaptrack
from adaptrack.errors import InvalidBoxError
from adaptrack.geometry import rect_iou
from adaptrack.trackers import get_entry, list_trackers
from adaptrack.trackers.opencv import available_opencv_trackers

ALL = ["csrt", "kcf", "mil", "mosse", "medianflow", "tld", "boosting"]


def moving_square(n=30, size=(240, 180), box=(60.0, 50.0, 40.0, 40.0), step=(3.0, 1.5), seed=0):
    """Frames (RGB) of a textured square moving at ``step`` px/frame over a textured background."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = cv2.resize(rng.integers(40, 200, (h // 8, w // 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    bg = np.clip(bg.astype(np.int16) + rng.integers(-15, 16, (h, w, 3)), 0, 255).astype(np.uint8)
    bw, bh = int(box[2]), int(box[3])
    tex = rng.integers(0, 256, (bh // 4, bw // 4, 3), dtype=np.uint8)
    tex = cv2.resize(tex, (bw, bh), interpolation=cv2.INTER_NEAREST)
    tex[: bh // 2, : bw // 2] = (230, 30, 30)
    frames, boxes = [], []
    for i in range(n):
        x, y = int(round(box[0] + step[0] * i)), int(round(box[1] + step[1] * i))
        f = bg.copy()
        f[y : y + bh, x : x + bw] = tex
        frames.append(f)
        boxes.append((x, y, bw, bh))
    return frames, np.asarray(boxes, dtype=np.float64)


def test_all_seven_registered_with_family_opencv():
    # this environment has opencv-contrib 5.x, which provides all seven (four of them under cv2.legacy)
    assert sorted(available_opencv_trackers()) == sorted(ALL)
    names = {e.name: e for e in list_trackers()}
    for n in ALL:
        assert names[n].family == "opencv"
        assert names[n].description
        assert names[n].cls.has_default_weights() is True


@pytest.mark.parametrize("name", ALL)
def test_follows_moving_textured_square(name):
    frames, gt = moving_square()
    tracker = adaptrack.create(name)
    tracker.initialize(frames[0], gt[0])
    boxes = [gt[0]]
    for f in frames[1:]:
        out = tracker.track(f)
        assert out.box.shape == (4,) and out.box.dtype == np.float64
        assert out.score in (0.0, 1.0)
        boxes.append(out.box)
    iou = rect_iou(np.array(boxes), gt)
    # the target moved 87 px right and 43 px down: a tracker that stayed put would have IoU 0 at the end
    assert rect_iou(gt[:1], gt[-1:])[0] == 0.0
    assert iou[-1] > 0.5, (name, iou.round(2))
    assert np.mean(iou) > 0.6, (name, iou.round(2))


def test_rgb_is_converted_to_bgr_for_opencv(monkeypatch):
    """The wrapper hands OpenCV the frame with channels reversed."""
    seen = []

    class Fake:
        def init(self, img, rect):
            seen.append(("init", img.copy(), rect))

        def update(self, img):
            seen.append(("update", img.copy()))
            return True, (11, 12, 30, 31)

    tracker = adaptrack.create("kcf")
    monkeypatch.setattr(tracker, "_make", lambda: Fake())
    frame = np.zeros((50, 60, 3), np.uint8)
    frame[..., 0] = 200  # pure red in RGB
    tracker.initialize(frame, (10.4, 10.6, 20.2, 20))
    assert seen[0][1][0, 0].tolist() == [0, 0, 200]  # BGR: red is last
    assert seen[0][2] == (10, 11, 21, 20)  # rounded corners, integer pixels
    out = tracker.track(frame)
    assert out.box.tolist() == [11, 12, 30, 31] and out.score == 1.0


def test_failure_keeps_last_box_with_score_zero(monkeypatch):
    answers = iter([(True, (20, 21, 30, 31)), (False, (0, 0, 0, 0)), (True, (0, 0, 0, 0)), (True, (22, 23, 30, 31))])

    class Fake:
        def init(self, img, rect):
            return None

        def update(self, img):
            return next(answers)

    tracker = adaptrack.create("csrt")
    monkeypatch.setattr(tracker, "_make", lambda: Fake())
    frame = np.zeros((100, 100, 3), np.uint8)
    tracker.initialize(frame, (10, 10, 30, 30))
    results = [tracker.track(frame) for _ in range(4)]
    assert [r.score for r in results] == [1.0, 0.0, 0.0, 1.0]
    assert results[1].box.tolist() == [20, 21, 30, 31]  # OpenCV said "lost": keep the last box
    assert results[2].box.tolist() == [20, 21, 30, 31]  # "ok" with an empty box counts as lost too
    assert results[3].box.tolist() == [22, 23, 30, 31]


def test_real_failure_reported_when_target_vanishes():
    """KCF reports failure when the target disappears; the wrapper then keeps the last box, score 0."""
    frames, gt = moving_square(n=8)
    tracker = adaptrack.create("kcf")
    tracker.initialize(frames[0], gt[0])
    for f in frames[1:]:
        last = tracker.track(f)
    assert last.score == 1.0
    blank = np.full_like(frames[0], 128)
    outs = [last] + [tracker.track(blank) for _ in range(3)]
    assert any(o.score == 0.0 for o in outs[1:])
    for prev, o in zip(outs, outs[1:]):
        if o.score == 0.0:
            assert o.box.tolist() == prev.box.tolist()


def test_params_reach_opencv(monkeypatch):
    created = {}
    real = cv2.TrackerCSRT_create

    def spy(p=None):
        created["params"] = p
        return real(p)

    monkeypatch.setattr(cv2, "TrackerCSRT_create", spy)
    tracker = adaptrack.create("csrt", padding=2.5, use_segmentation=False)
    frames, gt = moving_square(n=2)
    tracker.initialize(frames[0], gt[0])
    assert created["params"].padding == pytest.approx(2.5)
    assert created["params"].use_segmentation is False

    created.clear()
    real_mil = cv2.TrackerMIL_create
    monkeypatch.setattr(cv2, "TrackerMIL_create", lambda p=None: (created.setdefault("params", p), real_mil(p))[1])
    t = adaptrack.create("mil", search_window=40.0)
    t.initialize(frames[0], gt[0])
    assert created["params"].samplerSearchWinSize == pytest.approx(40.0)


def test_default_params_equal_opencv_defaults():
    from dataclasses import asdict

    for name, cv_params in (("csrt", cv2.TrackerCSRT_Params()), ("kcf", cv2.TrackerKCF_Params())):
        entry = get_entry(name)
        for key, value in asdict(entry.params_cls()).items():
            assert getattr(cv_params, key) == pytest.approx(value), (name, key)


def test_box_partly_outside_is_clipped_and_invalid_box_rejected():
    frames, gt = moving_square(n=3)
    t = adaptrack.create("csrt")
    t.initialize(frames[0], (-10, -10, 40, 40))  # partly outside: fine
    t.track(frames[1])
    with pytest.raises(InvalidBoxError, match="240x180"):
        t.initialize(frames[0], (300, 10, 40, 40))


def test_rejects_weights():
    with pytest.raises(ValueError, match="no weights"):
        adaptrack.create("kcf", weights="/tmp/x.pt")
