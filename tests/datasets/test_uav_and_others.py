import os

import numpy as np
import pytest

from adaptrack.datasets import AnnotationMismatchWarning, load_dataset
from adaptrack.datasets.uav import load_uav123, uav_ranges
from adaptrack.errors import DatasetLayoutError
from tests.conftest import frame_number_of, write_frames


def _rows(n, x0=1.0, nan_at=()):
    lines = []
    for i in range(n):
        lines.append("NaN,NaN,NaN,NaN" if i in nan_at else f"{x0 + i},{2.0},{3.0},{4.0}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- UAV123 / UAV20L
@pytest.fixture
def uav_root(tmp_path):
    root = tmp_path / "UAV123"
    # a partial copy of the bird1 video: frames 1-5 and 770-780
    write_frames(root / "data_seq" / "UAV123" / "bird1", list(range(1, 6)) + list(range(770, 781)), "{:06d}.jpg")
    write_frames(root / "data_seq" / "UAV123" / "mine", range(1, 4), "{:06d}.jpg")
    anno = root / "anno" / "UAV123"
    anno.mkdir(parents=True)
    (anno / "bird1_1.txt").write_text(_rows(5))
    (anno / "bird1_2.txt").write_text(_rows(6, x0=100, nan_at=(2, 3)))
    (anno / "mine.txt").write_text(_rows(3))
    (root / "anno" / "UAV20L").mkdir(parents=True)
    (root / "anno" / "UAV20L" / "bird1.txt").write_text(_rows(16))
    return root


def test_uav_ranges_table_is_the_benchmarks():
    r = uav_ranges("UAV123")
    assert len(r) == 123 and len(uav_ranges("UAV20L")) == 20
    assert r["bird1_1"] == ("bird1", 1, 253) and r["bird1_2"] == ("bird1", 775, 1477)


def test_uav123_subsequence_ranges_and_nan_rows(uav_root):
    b1, b2, mine = load_uav123(uav_root)
    assert (b1.name, b2.name, mine.name) == ("bird1_1", "bird1_2", "mine")
    assert [os.path.basename(f) for f in b1.frames] == [f"{k:06d}.jpg" for k in range(1, 6)]
    assert [os.path.basename(f) for f in b2.frames] == [f"{k:06d}.jpg" for k in range(775, 781)]
    assert frame_number_of(b2.frame(0)) == 775 % 50
    assert np.isnan(b2.boxes[2:4]).all() and not np.isnan(b2.boxes[[0, 1, 4, 5]]).any()
    assert b2.flags["absent"].tolist() == [False, False, True, True, False, False]
    np.testing.assert_allclose(b2.boxes[0], [99, 1, 3, 4])  # 1-based -> 0-based
    assert len(mine) == 3 and mine.attributes["frame_range"] is None


def test_uav20l_uses_the_whole_video(uav_root):
    (seq,) = load_dataset("uav20l", uav_root)
    assert seq.name == "bird1" and len(seq) == 16


def test_uav_wrong_layout(tmp_path, uav_root):
    with pytest.raises(DatasetLayoutError, match=r"anno.UAV123"):
        load_uav123(tmp_path)
    (uav_root / "anno" / "UAV123" / "bird1_1.txt").write_text(_rows(4))
    with pytest.warns(AnnotationMismatchWarning, match="bird1_1"):
        assert len(load_uav123(uav_root, names=["bird1_1"])[0]) == 4


# ---------------------------------------------------------------- NfS
def _nfs_line(i, x):
    return f'1 {x} 10 {x + 5} 18 {i + 1} {int(i == 1)} {int(i == 2)} 0 "car"\n'


def test_nfs_240_and_30_subsampling(tmp_path):
    root = tmp_path / "nfs"
    base = root / "Car_race"
    write_frames(base / "240" / "Car_race", range(1, 17), "{:05d}.jpg")
    (base / "240" / "Car_race.txt").write_text("".join(_nfs_line(i, 10 + i) for i in range(16)))
    write_frames(base / "30" / "Car_race", range(1, 3), "{:05d}.jpg")
    (base / "30" / "Car_race.txt").write_text("".join(_nfs_line(i, 10 + i) for i in range(16)))
    (s240,) = load_dataset("nfs", root, fps=240)
    assert len(s240) == 16 and s240.attributes["label"] == "car"
    np.testing.assert_allclose(s240.boxes[0], [10, 10, 5, 8])  # xmin ymin xmax ymax -> x y w h
    assert s240.flags["absent"][:3].tolist() == [False, True, False]
    assert s240.flags["occluded"][:3].tolist() == [False, False, True]
    (s30,) = load_dataset("nfs", root, fps=30)
    np.testing.assert_allclose(s30.boxes[:, 0], [10, 18])  # every 8th annotation line
    with pytest.raises(ValueError):
        load_dataset("nfs", root, fps=60)


# ---------------------------------------------------------------- TC-128
def test_tc128_frame_range(tmp_path):
    root = tmp_path / "tc128"
    write_frames(root / "Ball_ce1" / "img", range(1, 11))
    (root / "Ball_ce1" / "Ball_ce1_gt.txt").write_text(_rows(4))
    (root / "Ball_ce1" / "Ball_ce1_frames.txt").write_text("3,6\n")
    (seq,) = load_dataset("tc128", root)
    assert [frame_number_of(f) for f in seq] == [3, 4, 5, 6]
    np.testing.assert_allclose(seq.boxes[:, 0], [0, 1, 2, 3])
    (root / "Ball_ce1" / "Ball_ce1_frames.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="Ball_ce1_frames.txt"):
        load_dataset("tc128", root)


# ---------------------------------------------------------------- TrackingNet
def test_trackingnet_train_chunks_and_test(tmp_path):
    root = tmp_path / "TrackingNet"
    for chunk, name in (("TRAIN_0", "a1"), ("TRAIN_3", "b7")):
        write_frames(root / chunk / "frames" / name, range(0, 12), "{}.jpg")
        (root / chunk / "anno").mkdir(parents=True)
        (root / chunk / "anno" / f"{name}.txt").write_text(_rows(12))
    write_frames(root / "TEST" / "frames" / "t1", range(0, 4), "{}.jpg")
    (root / "TEST" / "anno").mkdir(parents=True)
    (root / "TEST" / "anno" / "t1.txt").write_text("5,6,7,8\n")
    train = load_dataset("trackingnet", root, subset="train")
    assert [s.name for s in train] == ["a1", "b7"] and train[1].attributes["chunk"] == "TRAIN_3"
    # natural order: 0, 1, 2, ..., 10, 11 (not 0, 1, 10, 11, 2, ...)
    assert [os.path.basename(f) for f in train[0].frames][:4] == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]
    assert frame_number_of(train[0].frame(11)) == 11
    np.testing.assert_allclose(train[0].boxes[0], [1, 2, 3, 4])  # used as written
    assert [s.name for s in load_dataset("trackingnet", root, subset="train", chunks=[3])] == ["b7"]
    (test,) = load_dataset("trackingnet", root, subset="test")
    assert len(test) == 4 and np.isnan(test.boxes[1:]).all()
    with pytest.raises(DatasetLayoutError, match="TRAIN_5"):
        load_dataset("trackingnet", root, subset="train", chunks=[5])


# ---------------------------------------------------------------- DTB70, UAVDT
def test_dtb70(tmp_path):
    root = tmp_path / "DTB70"
    write_frames(root / "Gull1" / "img", range(1, 4), "{:05d}.jpg")
    (root / "Gull1" / "groundtruth_rect.txt").write_text(_rows(3))
    (seq,) = load_dataset("dtb70", root)
    assert seq.name == "Gull1" and len(seq) == 3
    np.testing.assert_allclose(seq.boxes[:, 0], [0, 1, 2])
    with pytest.raises(DatasetLayoutError, match="groundtruth_rect.txt"):
        load_dataset("dtb70", tmp_path / "DTB70" / "Gull1")


def test_uavdt(tmp_path):
    root = tmp_path / "UAVDT"
    write_frames(root / "UAV-benchmark-S" / "S0101", range(1, 4), "img{:06d}.jpg")
    anno = root / "UAV-benchmark-SOT_v1.0" / "anno"
    (anno / "att").mkdir(parents=True)
    (anno / "S0101_gt.txt").write_text(_rows(3))
    (anno / "att" / "S0101_att.txt").write_text("1,0,0,1,0,0,0,1\n")
    (seq,) = load_dataset("uavdt", root)
    assert seq.name == "S0101" and [frame_number_of(f) for f in seq] == [1, 2, 3]
    assert seq.attributes["attribute_flags"] == [1, 0, 0, 1, 0, 0, 0, 1]
    with pytest.raises(DatasetLayoutError, match="UAV-benchmark-S"):
        load_dataset("uavdt", tmp_path)
