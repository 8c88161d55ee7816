import os

import numpy as np
import pytest

from adaptrack.errors import AdaptrackError
from adaptrack.io import AnnotatedVideoWriter, draw_box, open_source, read_boxes_file, write_boxes
from adaptrack.io import writers


def test_write_boxes_got10k_format_roundtrip(tmp_path):
    boxes = np.array([[1.25, 2.5, 30.0, 40.125], [np.nan] * 4, [0.0, 0.0, 1.0, 1.0]])
    path = tmp_path / "sub" / "seq_001.txt"
    write_boxes(path, boxes)
    text = path.read_text().splitlines()
    assert text == ["1.250,2.500,30.000,40.125", "nan,nan,nan,nan", "0.000,0.000,1.000,1.000"]
    # readable by plain numpy the way the got10k toolkit reads results
    np.testing.assert_allclose(np.loadtxt(path, delimiter=","), boxes, equal_nan=True)
    np.testing.assert_allclose(read_boxes_file(path), boxes, equal_nan=True)
    assert os.listdir(path.parent) == ["seq_001.txt"]  # no temporary left behind
    with pytest.raises(ValueError):
        write_boxes(path, np.zeros((3, 5)))


def test_write_boxes_is_atomic_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "r.txt"
    write_boxes(path, [[1, 2, 3, 4]])

    def boom(src, dst):
        raise KeyboardInterrupt  # killed between writing and renaming

    monkeypatch.setattr(writers.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_boxes(path, [[9, 9, 9, 9], [8, 8, 8, 8]])
    assert path.read_text() == "1.000,2.000,3.000,4.000\n"
    assert os.listdir(tmp_path) == ["r.txt"]


def test_draw_box_marks_the_rectangle():
    frame = np.zeros((40, 50, 3), np.uint8)
    out = draw_box(frame, (10, 5, 20, 15), color=(0, 255, 0), thickness=1)
    assert frame.sum() == 0  # input untouched
    assert tuple(out[5, 20]) == (0, 255, 0) and tuple(out[15, 10]) == (0, 255, 0)  # top and left edges
    assert tuple(out[19, 29]) == (0, 255, 0) and out[20, 30].sum() == 0  # last pixel row/col is x+w-1
    assert out[12, 20].sum() == 0  # inside stays empty
    assert draw_box(frame, (np.nan,) * 4).sum() == 0
    labelled = draw_box(frame, (10, 20, 20, 15), score=0.87)
    assert labelled[8:19, 10:40].sum() > 0  # the score label sits above the box


def test_annotated_video_writer(tmp_path):
    path = tmp_path / "out" / "demo.mp4"
    with AnnotatedVideoWriter(path, fps=15) as w:
        for k in range(6):
            frame = np.full((48, 64, 3), 40, np.uint8)
            w.write(frame, box=(10 + k, 10, 20, 16), score=0.5)
    assert w.frames_written == 6 and os.listdir(path.parent) == ["demo.mp4"]
    with open_source(path) as src:
        assert len(src) == 6 and src.size == (64, 48) and src.fps == pytest.approx(15)
        first = next(iter(src))
    # the green box edge survives compression; the background stays grey
    assert first[10, 20, 1] > 150 and first[10, 20, 0] < 120
    assert abs(int(first[40, 5, 1]) - 40) < 15


def test_annotated_video_writer_discards_on_error(tmp_path):
    path = tmp_path / "bad.mp4"
    with pytest.raises(RuntimeError):
        with AnnotatedVideoWriter(path) as w:
            w.write(np.zeros((16, 16, 3), np.uint8), box=(1, 1, 4, 4))
            raise RuntimeError("tracker crashed")
    assert os.listdir(tmp_path) == []
    with pytest.raises(AdaptrackError, match="no frame"):
        AnnotatedVideoWriter(tmp_path / "none.mp4").close()


def test_atomic_files_get_the_ordinary_file_mode(tmp_path):
    """Temporary files are 0600; the finished file must have the mode open() would give (0666 & ~umask)."""
    import stat

    from adaptrack.io.writers import atomic_write_text

    old = os.umask(0o022)
    try:
        p = tmp_path / "boxes.txt"
        atomic_write_text(p, "1,2,3,4\n")
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o644
    finally:
        os.umask(old)
