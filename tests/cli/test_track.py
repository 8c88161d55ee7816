"""`adaptrack track`: outputs on an image folder and a video file; user mistakes end in one line, exit 2."""

import os

import cv2
import numpy as np
import pytest

from adaptrack.cli import main
from adaptrack.cli.track import parse_box, parse_tracker_spec, source_stem
from adaptrack.demo_clip import make_demo_clip
from adaptrack.errors import UnknownNameError
from adaptrack.geometry import rect_iou


@pytest.fixture(scope="module")
def clip():
    return make_demo_clip(num_frames=24)


@pytest.fixture
def folder(tmp_path, clip):
    d = tmp_path / "walk" / "img"
    d.mkdir(parents=True)
    for i, f in enumerate(clip.frames):
        cv2.imwrite(str(d / f"{i + 1}.png"), f[:, :, ::-1])  # 1.png ... 24.png: natural order matters
    return d


@pytest.fixture
def video(tmp_path, clip):
    path = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, clip.frames.shape[2:0:-1])
    for f in clip.frames:
        w.write(np.ascontiguousarray(f[:, :, ::-1]))
    w.release()
    return path


def box_arg(b):
    return ",".join(f"{v:g}" for v in b)


def test_track_image_folder_writes_boxes_and_video(folder, clip, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["track", str(folder), "--box", box_arg(clip.boxes[0]), "--tracker", "medianflow", "--out", str(out), "--quiet"])
    assert rc == 0
    captured = capsys.readouterr()
    # outputs are named after the sequence folder (the parent of img/) and the tracker
    boxes = np.loadtxt(out / "walk_medianflow.txt", delimiter=",")
    assert boxes.shape == (24, 4)
    np.testing.assert_allclose(boxes[0], clip.boxes[0])
    assert rect_iou(boxes, clip.boxes).mean() > 0.7
    cap = cv2.VideoCapture(str(out / "walk_medianflow.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    ok, frame = cap.read()
    assert ok and frame.shape == clip.frames.shape[1:]
    cap.release()
    assert "tracked 24 frames with medianflow" in captured.out and "FPS" in captured.out


def test_track_video_no_video_max_frames(video, clip, tmp_path, capsys):
    out = tmp_path / "o2"
    rc = main(["track", str(video), "--box", box_arg(clip.boxes[0]), "--tracker", "kcf", "--out", str(out),
               "--no-video", "--max-frames", "10", "--quiet"])
    assert rc == 0
    assert sorted(os.listdir(out)) == ["clip_kcf.txt"]
    boxes = np.loadtxt(out / "clip_kcf.txt", delimiter=",")
    assert boxes.shape == (10, 4)


def test_progress_bar_shows_live_fps(folder, clip, tmp_path, capsys):
    rc = main(["track", str(folder), "--box", box_arg(clip.boxes[0]), "--tracker", "kcf", "--out", str(tmp_path / "o"),
               "--no-video"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "24/24" in err and "fps=" in err


def one_error_line(capsys, rc):
    captured = capsys.readouterr()
    assert rc == 2
    lines = [l for l in captured.err.splitlines() if l.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("adaptrack track: error: ")
    assert "Traceback" not in captured.err
    return lines[0]


def test_missing_file(capsys, tmp_path):
    missing = tmp_path / "nope.mp4"
    line = one_error_line(capsys, main(["track", str(missing), "--box", "1,2,3,4"]))
    assert str(missing) in line


@pytest.mark.parametrize("box", ["1,2,3", "a,b,c,d", "1,2,3,4,5", ""])
def test_malformed_box(capsys, folder, box):
    line = one_error_line(capsys, main(["track", str(folder), "--box", box]))
    assert "--box must be four numbers" in line


def test_unknown_tracker_and_variant(capsys, folder):
    line = one_error_line(capsys, main(["track", str(folder), "--box", "1,2,3,4", "--tracker", "nosuch"]))
    assert "unknown tracker 'nosuch'" in line and "csrt" in line
    line = one_error_line(capsys, main(["track", str(folder), "--box", "1,2,3,4", "--tracker", "csrt:turbo"]))
    assert "no variant 'turbo'" in line


@pytest.mark.parametrize("box, what", [("600,10,20,20", "outside"), ("10,10,0,20", "non-positive"), ("nan,1,2,3", "NaN")])
def test_bad_box_for_frame(capsys, folder, box, what):
    line = one_error_line(capsys, main(["track", str(folder), "--box", box, "--tracker", "kcf"]))
    assert what in line and "480x360" in line


def test_box_required_without_display(capsys, folder, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    line = one_error_line(capsys, main(["track", str(folder)]))
    assert "--box" in line and "display" in line
    line = one_error_line(capsys, main(["track", str(folder), "--box", "1,2,3,4", "--show"]))
    assert "display" in line


def test_corrupt_frame_names_file(capsys, folder, clip, tmp_path):
    (folder / "5.png").write_bytes(b"garbage")
    line = one_error_line(capsys, main(["track", str(folder), "--box", box_arg(clip.boxes[0]), "--tracker", "kcf",
                                        "--out", str(tmp_path / "o"), "--quiet"]))
    assert "5.png" in line
    assert not (tmp_path / "o" / "walk_kcf.mp4").exists()  # no half-written video left behind


def test_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    line = one_error_line(capsys, main(["track", str(tmp_path / "empty"), "--box", "1,2,3,4"]))
    assert "empty" in line


def test_helpers():
    assert parse_box("1, 2.5 ,3,4").tolist() == [1, 2.5, 3, 4]
    assert parse_box("1 2 3 4").tolist() == [1, 2, 3, 4]
    assert parse_tracker_spec("kcf") == ("kcf", None)
    assert parse_tracker_spec(None)[0]  # the default tracker
    with pytest.raises(UnknownNameError):
        parse_tracker_spec("zzz")
    assert source_stem("3") == "webcam3"
    assert source_stem("/a/b/movie.avi") == "movie"
