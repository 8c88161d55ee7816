import json
import os

import numpy as np
import pytest

from adaptrack.datasets import AnnotationMismatchWarning, load_dataset
from adaptrack.datasets.otb import load_otb
from adaptrack.errors import DatasetLayoutError
from tests.conftest import frame_number_of, link_frames, write_frames


def _boxes(n, x0=10.0):
    return np.array([[x0 + i, 20.0 + i, 5.0, 6.0] for i in range(n)])


def _write_anno(path, boxes, sep=","):
    with open(path, "w") as f:
        for b in boxes:
            f.write(sep.join(f"{v:g}" for v in b) + "\n")


@pytest.fixture
def otb_root(tmp_path):
    root = tmp_path / "OTB"
    # plain sequence, tab separated
    write_frames(root / "Bolt" / "img", range(1, 6))
    _write_anno(root / "Bolt" / "groundtruth_rect.txt", _boxes(5), sep="\t")
    # two targets, space and comma separated
    write_frames(root / "Jogging" / "img", range(1, 5))
    _write_anno(root / "Jogging" / "groundtruth_rect.1.txt", _boxes(4, 10), sep=" ")
    _write_anno(root / "Jogging" / "groundtruth_rect.2.txt", _boxes(4, 50), sep=",")
    # an empty first file: only the second target counts
    write_frames(root / "Human4" / "img", range(1, 4))
    (root / "Human4" / "groundtruth_rect.1.txt").write_text("\n")
    _write_anno(root / "Human4" / "groundtruth_rect.2.txt", _boxes(3))
    # frame range 300-770 of a folder holding every frame
    link_frames(root / "David" / "img", range(1, 771))
    _write_anno(root / "David" / "groundtruth_rect.txt", _boxes(471), sep=",\t")
    # first five frames omitted by the official toolkit
    write_frames(root / "Tiger1" / "img", range(1, 9))
    _write_anno(root / "Tiger1" / "groundtruth_rect.txt", _boxes(8))
    # a folder that starts at its range's first frame (BlurCar3: 3-359)
    write_frames(root / "BlurCar3" / "img", range(3, 8))
    _write_anno(root / "BlurCar3" / "groundtruth_rect.txt", _boxes(5))
    # more frames than annotation lines, no known range: warn and truncate
    write_frames(root / "Crossing" / "img", range(1, 8))
    _write_anno(root / "Crossing" / "groundtruth_rect.txt", _boxes(6))
    return root


def test_names_two_targets_and_separators(otb_root):
    seqs = load_otb(otb_root, names=["Bolt", "Jogging", "Human4"])
    assert [s.name for s in seqs] == ["Bolt", "Jogging.1", "Jogging.2", "Human4"]
    bolt, j1, j2, h4 = seqs
    # 1-based -> 0-based shift of x, y only
    np.testing.assert_allclose(bolt.boxes, _boxes(5) - [1, 1, 0, 0])
    np.testing.assert_allclose(j1.boxes[:, 0], np.arange(4) + 10 - 1)
    np.testing.assert_allclose(j2.boxes[:, 0], np.arange(4) + 50 - 1)
    assert j1.frames == j2.frames and len(h4) == 3
    assert bolt.attributes["annotation_origin"] == 1
    assert [frame_number_of(f) for f in bolt] == [1, 2, 3, 4, 5]
    assert [s.name for s in load_otb(otb_root, names=["Jogging.2"])] == ["Jogging.2"]
    raw = load_otb(otb_root, names=["Bolt"], one_based=False)[0]
    np.testing.assert_allclose(raw.boxes, _boxes(5))


def test_frame_ranges_and_init_omit(otb_root):
    david, tiger, blur = load_otb(otb_root, names=["David", "Tiger1", "BlurCar3"])
    assert len(david) == 471
    assert os.path.basename(david.frames[0]) == "0300.jpg" and os.path.basename(david.frames[-1]) == "0770.jpg"
    assert len(tiger) == 3 and os.path.basename(tiger.frames[0]) == "0006.jpg"
    np.testing.assert_allclose(tiger.boxes[0], _boxes(8)[5] - [1, 1, 0, 0])  # box of frame 6
    assert frame_number_of(tiger.frame(0)) == 6
    assert len(load_otb(otb_root, names=["Tiger1"], init_omit=False)[0]) == 8
    assert os.path.basename(blur.frames[0]) == "0003.jpg" and len(blur) == 5


def test_count_mismatch_warns_naming_sequence_and_truncates(otb_root):
    with pytest.warns(AnnotationMismatchWarning, match="Crossing"):
        (seq,) = load_otb(otb_root, names=["Crossing"])
    assert len(seq) == 6 and len(seq.frames) == 6 and seq.boxes.shape == (6, 4)


def test_attributes_from_meta_json(otb_root):
    (otb_root / "OTB100.json").write_text(json.dumps({"Bolt": {"attr": ["FM", "DEF"], "img_names": []}}))
    (bolt,) = load_otb(otb_root, names=["Bolt"])
    assert bolt.attributes["attributes"] == ["FM", "DEF"]


def test_wrong_layout_names_the_path(otb_root, tmp_path):
    with pytest.raises(DatasetLayoutError, match=str(tmp_path / "nowhere")):
        load_otb(tmp_path / "nowhere")
    with pytest.raises(DatasetLayoutError, match="Basketball"):
        load_otb(otb_root, version=2013)  # the fixture lacks most OTB-2013 folders
    (otb_root / "Empty" / "img").mkdir(parents=True)
    (otb_root / "Empty" / "groundtruth_rect.txt").write_text("1,2,3,4\n")
    with pytest.raises(DatasetLayoutError, match=r"Empty.*img"):
        load_otb(otb_root, names=["Empty"])
    (otb_root / "Bad" / "img").mkdir(parents=True)
    write_frames(otb_root / "Bad" / "img", [1])
    (otb_root / "Bad" / "groundtruth_rect.txt").write_text("1,2,3\n")
    with pytest.raises(DatasetLayoutError, match=r"groundtruth_rect.txt, line 1"):
        load_otb(otb_root, names=["Bad"])
    with pytest.raises(ValueError, match="version"):
        load_otb(otb_root, version=2099)


def test_registry_and_agreement_with_got10k_toolkit(otb_root):
    got10k = pytest.importorskip("got10k.datasets")
    names = ["Bolt", "Jogging", "Human4", "David", "Crossing", "Tiger1", "BlurCar3"]
    # the toolkit asserts equal counts and keeps Tiger1's first frames
    _write_anno(otb_root / "Crossing" / "groundtruth_rect.txt", _boxes(7))
    ours = {s.name: s for s in load_dataset("otb", otb_root, names=names, one_based=False, init_omit=False)}
    theirs = got10k.OTB(str(otb_root), version="tb100", download=False)
    assert sorted(theirs.seq_names) == sorted(ours)
    for name in theirs.seq_names:
        img_files, anno = theirs[name]
        assert [os.path.basename(f) for f in img_files] == [os.path.basename(f) for f in ours[name].frames]
        np.testing.assert_allclose(anno, ours[name].boxes)
