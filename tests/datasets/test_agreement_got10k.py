"""Our loaders give the same frame files and boxes as the got10k toolkit's on fixtures of each layout.

Only the toolkit's *outputs* are compared (its code is not used by adaptrack); boxes are compared with
``one_based=False`` because the toolkit does not shift 1-based annotations.
"""

import os

import numpy as np
import pytest

from adaptrack.datasets import load_dataset
from tests.conftest import link_frames as _link_frames
from tests.conftest import write_frames

g = pytest.importorskip("got10k.datasets")


def _anno(path, n, sep=",", nan_at=()):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for i in range(n):
            f.write(sep.join(["NaN"] * 4) + "\n" if i in nan_at else sep.join(f"{v:g}" for v in (i + 1.5, 2, 3, 4)) + "\n")


def _same(ours, theirs_ds):
    ours = {s.name: s for s in ours}
    assert sorted(ours) == sorted(theirs_ds.seq_names)
    for name in theirs_ds.seq_names:
        img_files, anno = theirs_ds[name][:2]
        assert [os.path.relpath(f) for f in img_files] == [os.path.relpath(f) for f in ours[name].frames], name
        np.testing.assert_array_equal(np.asarray(anno, float).reshape(-1, 4)[:1], ours[name].boxes[:1])
        if len(anno) > 1:
            np.testing.assert_array_equal(anno, ours[name].boxes)


def test_uav123_subsequences(tmp_path):
    root = tmp_path / "UAV123"
    _link_frames(root / "data_seq" / "UAV123" / "person12", range(1, 1622), "{:06d}.jpg")
    _link_frames(root / "data_seq" / "UAV123" / "uav6", range(1, 110), "{:06d}.jpg")
    _anno(root / "anno" / "UAV123" / "person12_1.txt", 601)
    _anno(root / "anno" / "UAV123" / "person12_2.txt", 1021, nan_at=(3, 4))
    _anno(root / "anno" / "UAV123" / "uav6.txt", 109)
    for d in ("x1", "x2"):  # the toolkit wants more than three entries in the root
        (root / d).mkdir()
    ours = load_dataset("uav123", root, one_based=False)
    assert [len(s) for s in ours] == [601, 1021, 109]
    _same(ours, g.UAV123(str(root), version="UAV123"))


def test_dtb70_tc128_nfs(tmp_path):
    dtb = tmp_path / "DTB70"
    write_frames(dtb / "Gull1" / "img", range(1, 6), "{:05d}.jpg")
    _anno(dtb / "Gull1" / "groundtruth_rect.txt", 5)
    _same(load_dataset("dtb70", dtb, one_based=False), g.DTB70(str(dtb)))

    tc = tmp_path / "TC128"
    write_frames(tc / "Ball_ce1" / "img", range(1, 12), "{:04d}.jpg")
    _anno(tc / "Ball_ce1" / "Ball_ce1_gt.txt", 7)
    (tc / "Ball_ce1" / "Ball_ce1_frames.txt").write_text("4,10\n")
    _same(load_dataset("tc128", tc, one_based=False), g.TColor128(str(tc), download=False))

    nfs = tmp_path / "NfS"
    write_frames(nfs / "bee" / "30" / "bee", range(1, 4), "{:05d}.jpg")
    with open(nfs / "bee" / "30" / "bee.txt", "w") as f:
        for i in range(24):
            f.write(f'1 {10 + i} 12 {30 + i} 40 {i + 1} 0 0 0 "bee"\n')
    _same(load_dataset("nfs", nfs, fps=30), g.NfS(str(nfs), fps=30))


def test_got10k_val_and_test(tmp_path):
    root = tmp_path / "GOT-10k"
    for subset, name, n in (("val", "GOT-10k_Val_000001", 6), ("test", "GOT-10k_Test_000001", 1)):
        write_frames(root / subset / name, range(1, 7), "{:08d}.jpg")
        (root / subset / "list.txt").write_text(name + "\n")
        _anno(root / subset / name / "groundtruth.txt", n)
    for subset in ("val", "test"):
        _same(load_dataset("got10k", root, subset=subset), g.GOT10k(str(root), subset=subset))
