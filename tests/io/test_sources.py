import cv2
import numpy as np
import pytest

from adaptrack.errors import FrameReadError
from adaptrack.io import ImageFolderSource, VideoFileSource, VideoReader, WebcamSource, open_source
from tests.conftest import frame_number_of, write_frames


def _write_video(path, n=10, size=(40, 30), fps=12.0):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert w.isOpened()
    for k in range(n):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        img[:, :, 2] = (k * 20) % 250  # red channel in BGR order
        w.write(img)
    w.release()


def test_image_folder_source_natural_order(tmp_path):
    write_frames(tmp_path / "f", [1, 2, 10, 3], "img{}.png")
    src = open_source(tmp_path / "f", fps=25)
    assert isinstance(src, ImageFolderSource)
    assert len(src) == 4 and src.size == (16, 16) and src.fps == 25
    assert [frame_number_of(f) for f in src] == [1, 2, 3, 10]


def test_video_file_source_rgb_fps_size_len(tmp_path):
    path = tmp_path / "v.mp4"
    _write_video(path)
    with open_source(str(path)) as src:
        assert isinstance(src, VideoFileSource)
        assert src.size == (40, 30) and src.fps == pytest.approx(12.0) and len(src) == 10
        frames = list(src)
    assert len(frames) == 10 and frames[0].shape == (30, 40, 3) and frames[0].dtype == np.uint8
    # red in BGR became channel 0 in RGB
    assert frames[5][:, :, 0].mean() > 80 and frames[5][:, :, 2].mean() < 10
    r = VideoReader(path)
    assert len(r) == 10 and abs(r(9)[:, :, 0].mean() - 180) < 8 and abs(r(1)[:, :, 0].mean() - 20) < 8
    with pytest.raises(IndexError):
        r(10)


def test_missing_and_corrupt_inputs_name_the_file(tmp_path):
    with pytest.raises(FrameReadError, match="nothing.mp4"):
        open_source(tmp_path / "nothing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(FrameReadError, match="junk.mp4"):
        open_source(junk)
    folder = tmp_path / "frames"
    write_frames(folder, [1, 2, 3])
    (folder / "0002.jpg").write_bytes(b"broken")
    src = open_source(folder)
    it = iter(src)
    next(it)
    with pytest.raises(FrameReadError, match="0002.jpg"):
        next(it)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FrameReadError, match="empty"):
        open_source(tmp_path / "empty")


class _FakeCamera:
    """Stands in for cv2.VideoCapture(index): opens when index == 1, then yields three BGR frames."""

    opened: list = []

    def __init__(self, index):
        self.index, self.k = index, 0
        _FakeCamera.opened.append(index)

    def isOpened(self):
        return self.index == 1

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: 8, cv2.CAP_PROP_FRAME_HEIGHT: 6}.get(prop, 0)

    def read(self):
        self.k += 1
        if self.k > 3:
            return False, None
        img = np.zeros((6, 8, 3), np.uint8)
        img[:, :, 0] = 10 * self.k  # blue
        return True, img

    def release(self):
        pass


def test_webcam_index_source(monkeypatch):
    _FakeCamera.opened = []
    monkeypatch.setattr(cv2, "VideoCapture", _FakeCamera)
    with pytest.raises(FrameReadError, match="webcam 3"):
        open_source(3)
    with open_source("1") as cam:
        assert isinstance(cam, WebcamSource) and cam.fps == 30.0 and cam.size == (8, 6)
        with pytest.raises(TypeError):
            len(cam)
        frames = list(cam)
    assert [int(f[0, 0, 2]) for f in frames] == [10, 20, 30]  # BGR -> RGB
    assert _FakeCamera.opened == [3, 1]


def test_truncated_video_raises_naming_file_and_frame(tmp_path):
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
    rng = np.random.default_rng(0)
    for _ in range(10):
        w.write(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    w.release()
    data = path.read_bytes()
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # JPEG frame starts
    assert len(starts) == 10
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: starts[5] + 50])  # the file ends inside frame 5
    src = open_source(cut)
    frames = []
    with pytest.raises(FrameReadError, match=r"frame 5 .*cut\.avi"):
        for f in src:
            frames.append(f)
    assert len(frames) == 5
    reader = VideoReader(cut)
    assert reader(4).shape == (24, 32, 3)
    with pytest.raises(FrameReadError, match=r"frame 5 of video .*cut\.avi"):
        reader(5)
