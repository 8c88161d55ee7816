import json
import pickle

import cv2
import numpy as np
import pytest

from adaptrack.datasets import StillImage, list_datasets, load_dataset
from adaptrack.datasets.folder import find_sequence_dirs, load_folder
from adaptrack.datasets.shared import load_split, load_still_images
from adaptrack.errors import DatasetLayoutError, FrameReadError, UnknownNameError
from tests.conftest import frame_number_of, write_frames


def _seq(folder, n, x0=10.0, nan_at=()):
    write_frames(folder / "img", range(1, n + 1), "{:05d}.jpg")
    rows = ["nan,nan,nan,nan" if i in nan_at else f"{x0 + i},5,4,3" for i in range(n)]
    (folder / "groundtruth.txt").write_text("\n".join(rows) + "\n")


@pytest.fixture
def shared_like(tmp_path):
    """A miniature of the shared-data layout: a 1-based and a 0-based group, splits, one still source."""
    root = tmp_path / "data"
    seqs = root / "sequences"
    _seq(seqs / "uav123_10fps_x" / "car1", 4, nan_at=(2,))
    _seq(seqs / "davis2016_val" / "dog", 3)
    (seqs / "davis2016_val" / "dog" / "nlp.txt").write_text("a dog running\n")
    src = root / "images" / "pets"
    write_frames(src, [1, 2], "{:05d}.jpg")
    (src / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "00001.jpg", "width": 16, "height": 16},
                   {"id": 2, "file_name": "00002.jpg", "width": 16, "height": 16}],
        "annotations": [{"id": 1, "image_id": 1, "category": "cat", "bbox": [1, 2, 3, 4]},
                        {"id": 2, "image_id": 1, "category": "dog", "bbox": [5, 6, 7, 8]},
                        {"id": 3, "image_id": 2, "category": "dog", "bbox": [1, 1, 0, 0]}],
    }))
    (root / "splits.json").write_text(json.dumps({
        "train": ["uav123_10fps_x/car1"], "val": ["davis2016_val/dog"], "images": ["pets"]}))
    return root


def test_folder_nested_groups_and_per_group_origin(shared_like):
    seq_root = shared_like / "sequences"
    assert find_sequence_dirs(str(seq_root)) == ["davis2016_val/dog", "uav123_10fps_x/car1"]
    dog, car = load_folder(seq_root, one_based={"uav123_10fps_x": True})
    np.testing.assert_allclose(dog.boxes[:, 0], [10, 11, 12])  # group not listed: 0-based, as written
    np.testing.assert_allclose(car.boxes[[0, 1, 3], 0], [9, 10, 12])  # 1-based shifted
    assert np.isnan(car.boxes[2]).all() and car.flags["absent"].tolist() == [False, False, True, False]
    assert dog.attributes["nlp"] == "a dog running" and dog.attributes["group"] == "davis2016_val"
    assert [frame_number_of(f) for f in car] == [1, 2, 3, 4]
    assert len(load_dataset("folder", seq_root, one_based=True)) == 2


def test_shared_split_and_stills(shared_like):
    (car,) = load_split("train", root=shared_like)
    (dog,) = load_dataset("shared", shared_like, split="val")
    assert car.name == "uav123_10fps_x/car1" and car.boxes[0, 0] == 9  # uav groups are 1-based
    assert dog.name == "davis2016_val/dog" and dog.boxes[0, 0] == 10  # davis2016_val is 0-based
    with pytest.raises(ValueError, match="split"):
        load_split("test", root=shared_like)
    stills = load_still_images(shared_like)
    assert len(stills) == 1  # the second image has only a zero-size box
    (im,) = stills
    assert isinstance(im, StillImage) and im.categories == ["cat", "dog"] and im.source == "pets"
    np.testing.assert_allclose(im.boxes, [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert im.image().shape == (16, 16, 3)
    assert len(load_dataset("coco_images", shared_like / "images" / "pets", keep_empty=True)) == 2


def test_layout_errors_name_the_path(tmp_path, shared_like):
    with pytest.raises(DatasetLayoutError, match=str(tmp_path)):
        load_folder(tmp_path / "data" / "images")  # no sequence folders in there
    (shared_like / "images" / "pets" / "annotations.json").write_text('{"images": []}')
    with pytest.raises(DatasetLayoutError, match="annotations.json"):
        load_dataset("coco_images", shared_like / "images" / "pets")
    with pytest.raises(DatasetLayoutError, match="splits.json"):
        load_split("train", root=tmp_path)


def test_corrupt_frame_error_names_the_file(shared_like):
    (car,) = load_split("train", root=shared_like)
    bad = car.frames[1]
    with open(bad, "wb") as f:
        f.write(b"not a jpeg at all")
    assert car.frame(0).shape == (16, 16, 3)  # loading stays lazy: only frame 1 fails
    with pytest.raises(FrameReadError, match=bad):
        car.frame(1)


def test_registry():
    names = list_datasets()
    for n in ("otb", "vot", "got10k", "lasot", "uav123", "uav20l", "nfs", "tc128", "trackingnet",
              "dtb70", "uavdt", "folder", "coco_images", "video", "shared"):
        assert n in names and names[n]
    with pytest.raises(UnknownNameError, match="unknown dataset 'nope'"):
        load_dataset("nope", "/tmp")


def _write_video(path, n=12, size=(32, 24)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    assert w.isOpened()
    for k in range(n):
        w.write(np.full((size[1], size[0], 3), (k * 20) % 250, np.uint8))
    w.release()


def _index_of(frame, n=12):
    """Which frame of :func:`_write_video` this is (video range conversion shifts levels a little)."""
    return int(np.argmin(np.abs((np.arange(n) * 20) % 250 - frame.mean())))


def test_video_sequence_random_access_and_pickle(tmp_path):
    path = tmp_path / "clip.mp4"
    _write_video(path)
    (seq,) = load_dataset("video", path, box=(2, 3, 10, 8))
    assert seq.name == "clip" and len(seq) == 12 and seq.dataset == "video"
    np.testing.assert_allclose(seq.boxes[0], [2, 3, 10, 8])
    assert np.isnan(seq.boxes[1:]).all()
    assert [_index_of(f) for f in seq] == list(range(12))
    # backward jump, then a copy in another "process" (pickle) reads the same frame
    assert _index_of(seq.frame(3)) == 3
    clone = pickle.loads(pickle.dumps(seq))
    assert _index_of(clone.frame(7)) == 7 and _index_of(clone.frame(2)) == 2
    with pytest.raises(DatasetLayoutError, match="missing.mp4"):
        load_dataset("video", tmp_path / "missing.mp4", box=(0, 0, 1, 1))
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetLayoutError, match="junk.mp4"):
        load_dataset("video", tmp_path / "junk.mp4", box=(0, 0, 1, 1))
