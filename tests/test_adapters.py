"""Adapters: the got10k toolkit drives an adaptrack tracker; OpenCV-shaped use."""

import json
import os
import sys

import cv2
import numpy as np
import pytest

import adaptrack
from adaptrack.adapters import as_got10k_tracker, as_opencv_tracker
from adaptrack.demo_clip import make_demo_clip
from adaptrack.geometry import rect_iou
from adaptrack.trackers.base import TrackOutput, Tracker


class Recorder(Tracker):
    """A tracker that records what it is given and moves its box by (+1, +2) each frame."""

    name = "recorder"

    def __init__(self):
        self.frames, self.boxes = [], []

    def _initialize(self, frame, box):
        self.frames.append(frame)
        self.boxes.append(box)
        self.box = np.array(box, dtype=np.float64)

    def _track(self, frame):
        self.frames.append(frame)
        self.box = self.box + [1, 2, 0, 0]
        return TrackOutput(self.box.copy(), 0.7)


def write_otb_fixture(root, name, clip):
    """``<root>/<name>/img/0001.jpg ...`` and ``groundtruth_rect.txt`` (OTB layout, 1-based boxes)."""
    img_dir = os.path.join(root, name, "img")
    os.makedirs(img_dir)
    for i, f in enumerate(clip.frames):
        cv2.imwrite(os.path.join(img_dir, f"{i + 1:04d}.jpg"), f[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    np.savetxt(os.path.join(root, name, "groundtruth_rect.txt"), clip.boxes + [1, 1, 0, 0], fmt="%d", delimiter=",")


def test_got10k_experiment_otb_drives_adaptrack_tracker(tmp_path, monkeypatch, capsys):
    pytest.importorskip("six")
    got10k = pytest.importorskip("got10k")
    import matplotlib

    matplotlib.use("Agg")
    from got10k.datasets.otb import OTB
    from got10k.experiments import ExperimentOTB

    clip = make_demo_clip(num_frames=34)
    root = tmp_path / "otb"
    # ExperimentOTB reads only the folders named in its version's sequence list: use real OTB-2013 names
    write_otb_fixture(str(root), "Basketball", clip)
    write_otb_fixture(str(root), "Bolt", make_demo_clip(num_frames=30, seed=3))
    # the toolkit downloads the missing 48 sequences unless told otherwise: no network here
    monkeypatch.setattr(OTB, "_download", lambda self, root_dir, version: root_dir)
    # the toolkit's 300-dpi plots take seconds and test nothing of ours
    plotted = []
    monkeypatch.setattr(ExperimentOTB, "plot_curves", lambda self, names: plotted.append(names))

    exp = ExperimentOTB(str(root), version=2013, result_dir=str(tmp_path / "results"), report_dir=str(tmp_path / "reports"))
    assert exp.dataset.seq_names == ["Basketball", "Bolt"]
    tracker = as_got10k_tracker(adaptrack.create("medianflow"))
    assert isinstance(tracker, got10k.trackers.Tracker) and tracker.name == "medianflow"
    exp.run(tracker)
    perf = exp.report([tracker.name])[tracker.name]

    rec = np.loadtxt(tmp_path / "results" / "OTB2013" / "medianflow" / "Basketball.txt", delimiter=",")
    assert rec.shape == (34, 4)
    gt = clip.boxes + [1, 1, 0, 0]
    np.testing.assert_allclose(rec[0], gt[0])
    ours = rect_iou(rec, gt)
    # the toolkit's success score is the mean over 21 thresholds of the fraction of IoU > threshold
    thr = np.linspace(0, 1, 21)
    expected = np.mean([(ours > t).mean() for t in thr])
    assert perf["seq_wise"]["Basketball"]["success_score"] == pytest.approx(expected, abs=1e-9)
    overall = perf["overall"]
    assert 0.6 < overall["success_score"] <= 1.0
    assert 0.8 < overall["precision_score"] <= 1.0
    assert overall["speed_fps"] > 0
    assert plotted == [["medianflow"]]
    assert os.path.isfile(tmp_path / "reports" / "OTB2013" / "medianflow" / "performance.json")
    with open(tmp_path / "reports" / "OTB2013" / "medianflow" / "performance.json") as f:
        assert set(json.load(f)["medianflow"]["seq_wise"]) == {"Basketball", "Bolt"}


def test_got10k_adapter_passes_pil_images_and_boxes():
    pytest.importorskip("got10k")
    from PIL import Image

    rec = Recorder()
    t = as_got10k_tracker(rec, name="mine")
    assert t.name == "mine" and t.is_deterministic is False
    img = np.zeros((20, 30, 3), np.uint8)
    img[..., 1] = 99
    t.init(Image.fromarray(img), [3, 4, 5, 6])
    box = t.update(Image.fromarray(img).convert("L"))  # a grayscale image still works
    assert isinstance(box, np.ndarray) and box.tolist() == [4, 6, 5, 6]
    assert rec.frames[0].shape == (20, 30, 3) and rec.frames[0][0, 0].tolist() == [0, 99, 0]
    assert rec.frames[1].shape == (20, 30, 3)
    assert t.last_output.score == 0.7


def test_got10k_adapter_builds_by_name():
    pytest.importorskip("got10k")
    t = as_got10k_tracker("kcf")
    assert t.name == "kcf" and t.tracker.name == "kcf"
    assert adaptrack.as_got10k_tracker is as_got10k_tracker  # public at package level


def test_got10k_missing_gives_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "got10k", None)
    monkeypatch.setitem(sys.modules, "got10k.trackers", None)
    with pytest.raises(ImportError, match="pip install got10k"):
        as_got10k_tracker(Recorder())


def test_opencv_adapter_shape_bgr_and_ok():
    rec = Recorder()
    t = as_opencv_tracker(rec)
    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[..., 0] = 200  # blue in BGR
    assert t.init(bgr, (2, 3, 4, 5)) is True
    assert rec.frames[0][0, 0].tolist() == [0, 0, 200]  # the tracker sees RGB
    ok, rect = t.update(bgr)
    assert ok is True and rect == (3, 5, 4, 5) and all(isinstance(v, int) for v in rect)
    t2 = as_opencv_tracker(Recorder(), min_score=0.9, integer_rect=False)
    t2.init(bgr, (2.5, 3, 4, 5))
    ok, rect = t2.update(bgr)
    assert ok is False and rect == (3.5, 5.0, 4.0, 5.0)


def test_opencv_adapter_follows_like_opencv_tracker():
    """Drop-in use: the same loop as with cv2.TrackerCSRT_create(), on BGR frames."""
    clip = make_demo_clip(num_frames=25)
    t = as_opencv_tracker("medianflow")
    t.init(clip.frames[0][:, :, ::-1].copy(), tuple(int(v) for v in clip.boxes[0]))
    rects = [clip.boxes[0]]
    for f in clip.frames[1:]:
        ok, rect = t.update(f[:, :, ::-1].copy())
        assert ok
        rects.append(rect)
    assert rect_iou(np.array(rects, float), clip.boxes).mean() > 0.7
    with pytest.raises(TypeError):
        as_opencv_tracker(object())
