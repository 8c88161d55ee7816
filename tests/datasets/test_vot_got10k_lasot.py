import numpy as np
import pytest

from adaptrack.datasets import AnnotationMismatchWarning, load_dataset
from adaptrack.datasets.got10k import load_got10k
from adaptrack.datasets.lasot import lasot_test_names, load_lasot
from adaptrack.datasets.vot import load_vot
from adaptrack.errors import DatasetLayoutError
from adaptrack.geometry import poly_to_box
from tests.conftest import frame_number_of, write_frames


# ---------------------------------------------------------------- VOT
def _vot_root(tmp_path):
    root = tmp_path / "vot2018"
    (root).mkdir()
    (root / "list.txt").write_text("rot\nrect\n")
    # polygons, frames in color/
    write_frames(root / "rot" / "color", range(1, 5), "{:08d}.jpg")
    polys = [
        [5, 1, 9, 5, 5, 9, 1, 5],  # a diamond: rotated square of side sqrt(32)
        [2, 2, 8, 2, 8, 6, 2, 6],  # axis-aligned rectangle written as a polygon
        [3, 3, 9, 3, 9, 9, 3, 9],
        [1, 1, 4, 1, 4, 4, 1, 4],
    ]
    (root / "rot" / "groundtruth.txt").write_text("\n".join(",".join(map(str, p)) for p in polys) + "\n")
    (root / "rot" / "occlusion.tag").write_text("0\n1\n1\n")  # shorter than the sequence: padded with 0
    (root / "rot" / "camera_motion.label").write_text("1\n0\n0\n1\n")
    (root / "rot" / "sequence").write_text("channels.color=color/%08d.jpg\nfps=30\n")
    # rectangles, frames flat in the sequence folder
    write_frames(root / "rect", range(1, 4), "{:08d}.jpg")
    (root / "rect" / "groundtruth.txt").write_text("1,2,3,4\n2,3,3,4\n3,4,3,4\n")
    return root, np.array(polys, dtype=float)


def test_vot_polygons_rectangles_and_tags(tmp_path):
    root, polys = _vot_root(tmp_path)
    rot, rect = load_vot(root)
    assert (rot.name, rect.name) == ("rot", "rect")
    np.testing.assert_allclose(rot.polygons, polys)
    np.testing.assert_allclose(rot.boxes, poly_to_box(polys))
    # the diamond: centre (5, 5), rotated-rect area 32 inside an 8x8 bound -> side 8*sqrt(0.5)
    s = 8 * np.sqrt(0.5)
    np.testing.assert_allclose(rot.boxes[0], [5 - s / 2, 5 - s / 2, s, s])
    np.testing.assert_allclose(rot.boxes[1], [2, 2, 6, 4])
    assert rot.flags["occlusion"].tolist() == [False, True, True, False]
    assert rot.flags["camera_motion"].tolist() == [True, False, False, True]
    assert rot.flags["size_change"].dtype == bool and not rot.flags["size_change"].any()
    assert frame_number_of(rot.frame(2)) == 3
    assert rot.attributes["fps"] == "30" and rot.attributes["channels.color"] == "color/%08d.jpg"
    assert rect.polygons is None
    np.testing.assert_allclose(rect.boxes, [[1, 2, 3, 4], [2, 3, 3, 4], [3, 4, 3, 4]])
    assert load_dataset("vot", root)[0].name == "rot"


def test_vot_errors(tmp_path):
    root, _ = _vot_root(tmp_path)
    (root / "rect" / "groundtruth.txt").write_text("1,2,3,4\n1,2,3,4,5\n3,4,3,4\n")
    with pytest.raises(DatasetLayoutError, match=r"rect.groundtruth.txt, line 2: 5 numbers"):
        load_vot(root)
    (root / "list.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"list.txt"):
        load_vot(root)


# ---------------------------------------------------------------- GOT-10k
def _got_root(tmp_path):
    root = tmp_path / "GOT-10k"
    for subset, name in (("val", "GOT-10k_Val_000001"), ("test", "GOT-10k_Test_000001")):
        sub = root / subset
        write_frames(sub / name, range(1, 6), "{:08d}.jpg")
        (sub / "list.txt").write_text(name + "\n")
    seq = root / "val" / "GOT-10k_Val_000001"
    (seq / "groundtruth.txt").write_text("".join(f"{10 + i},{20},{30},{40}\n" for i in range(5)))
    (seq / "absence.label").write_text("0\n0\n1\n0\n0\n")
    (seq / "cover.label").write_text("8\n5\n0\n3\n8\n")
    (seq / "cut_by_image.label").write_text("0\n1\n0\n0\n0\n")
    (seq / "meta_info.ini").write_text("[METAINFO]\nurl: https://example.org/v\nobject_class: zebra\nmotion_class: walking\n")
    (root / "test" / "GOT-10k_Test_000001" / "groundtruth.txt").write_text("5,6,7,8\n")
    return root


def test_got10k_val_labels_and_meta(tmp_path):
    root = _got_root(tmp_path)
    (seq,) = load_got10k(root, "val")
    assert seq.name == "GOT-10k_Val_000001" and len(seq) == 5
    np.testing.assert_allclose(seq.boxes[:, 0], [10, 11, 12, 13, 14])  # used as written
    assert seq.flags["absent"].tolist() == [False, False, True, False, False]
    assert seq.flags["cover"].tolist() == [8, 5, 0, 3, 8]
    assert seq.flags["cut_by_image"].tolist() == [False, True, False, False, False]
    assert seq.attributes["object_class"] == "zebra" and seq.attributes["url"] == "https://example.org/v"
    nan = load_got10k(root, "val", absent_as_nan=True)[0]
    assert np.isnan(nan.boxes[2]).all() and not np.isnan(nan.boxes[[0, 1, 3, 4]]).any()
    # the subset folder itself works as root
    assert load_got10k(root / "val", "val")[0].name == seq.name


def test_got10k_test_has_only_first_box(tmp_path):
    root = _got_root(tmp_path)
    (seq,) = load_dataset("got10k", root, subset="test")
    assert len(seq) == 5 and seq.boxes.shape == (5, 4)
    np.testing.assert_allclose(seq.boxes[0], [5, 6, 7, 8])
    assert np.isnan(seq.boxes[1:]).all()


def test_got10k_mismatch_and_missing_folder(tmp_path):
    root = _got_root(tmp_path)
    seq_dir = root / "val" / "GOT-10k_Val_000001"
    (seq_dir / "groundtruth.txt").write_text("1,2,3,4\n" * 7)
    with pytest.warns(AnnotationMismatchWarning, match="GOT-10k_Val_000001"):
        (seq,) = load_got10k(root, "val")
    assert len(seq) == 5 and len(seq.flags["cover"]) == 5
    (seq_dir / "groundtruth.txt").write_text("1,2,3,4\n" * 5)
    (root / "val" / "list.txt").write_text("GOT-10k_Val_000001\nGOT-10k_Val_000002\n")
    with pytest.raises(DatasetLayoutError, match="GOT-10k_Val_000002"):
        load_got10k(root, "val")


# ---------------------------------------------------------------- LaSOT
def _lasot_root(tmp_path):
    root = tmp_path / "LaSOT"
    for name in ("airplane-1", "airplane-2", "cat-2"):
        cat = name.rsplit("-", 1)[0]
        seq = root / cat / name
        write_frames(seq / "img", range(1, 5), "{:08d}.jpg")
        (seq / "groundtruth.txt").write_text("".join(f"{1 + i},{2},{3},{4}\n" for i in range(4)))
        (seq / "full_occlusion.txt").write_text("0,0,1,0")
        (seq / "out_of_view.txt").write_text("0,0,0,1")
        (seq / "nlp.txt").write_text(f"a {cat} flying\n")
    return root


def test_lasot_subsets_flags_and_nlp(tmp_path):
    root = _lasot_root(tmp_path)
    assert "airplane-1" in lasot_test_names() and len(lasot_test_names()) == 280
    assert "airplane-2" not in lasot_test_names()
    # the full test split needs all 280 folders: the first missing one is named
    with pytest.raises(DatasetLayoutError, match="airplane-13"):
        load_lasot(root, subset="test")
    (seq,) = load_lasot(root, names=["airplane-1"])
    assert seq.name == "airplane-1"
    np.testing.assert_allclose(seq.boxes[:, 0], [0, 1, 2, 3])  # 1-based -> 0-based
    assert seq.flags["full_occlusion"].tolist() == [False, False, True, False]
    assert seq.flags["absent"].tolist() == [False, False, True, True]
    assert seq.attributes == {"category": "airplane", "nlp": "a airplane flying", "annotation_origin": 1}
    assert [s.name for s in load_lasot(root, subset="train")] == ["airplane-2", "cat-2"]
    nan = load_lasot(root, names=["airplane-1"], absent_as_nan=True)[0]
    assert np.isnan(nan.boxes[2:]).all() and not np.isnan(nan.boxes[:2]).any()
    assert len(load_dataset("lasot", root, subset="all")) == 3
    (root / "testing_set.txt").write_text("cat-2\n")
    assert [s.name for s in load_lasot(root, subset="test")] == ["cat-2"]


def test_vot_empty_region_line_is_nan(tmp_path):
    root, _ = _vot_root(tmp_path)
    (root / "rect" / "groundtruth.txt").write_text("1,2,3,4\n0\n3,4,3,4\n")
    rect = load_vot(root, names=["rect"])[0]
    assert np.isnan(rect.boxes[1]).all() and not np.isnan(rect.boxes[[0, 2]]).any()
