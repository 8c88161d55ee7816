"""Fixtures of the training tests (helpers in training_synth.py)."""

import json

import cv2
import pytest

from training_synth import make_frame, make_sequence


@pytest.fixture
def toy_sequences():
    return [make_sequence(name="a"), make_sequence(name="b", start=(100, 30), step=(-2, 2), wh=(20, 30))]


@pytest.fixture
def fake_shared_root(tmp_path):
    """A miniature copy of the shared-data layout (1-based and 0-based groups, one image source)."""
    root = tmp_path / "data"
    seqs = {"uav_group/s1": 1.0, "davis2016_val/s2": 0.0}
    for key, origin in seqs.items():
        d = root / "sequences" / key / "img"
        d.mkdir(parents=True)
        lines = []
        for i in range(5):
            box = (30 + 2 * i, 40, 20, 20)
            cv2.imwrite(str(d / f"{i + 1:05d}.jpg"), make_frame(box, seed=i))
            lines.append(",".join(str(v) for v in (box[0] + origin, box[1] + origin, box[2], box[3])))
        (root / "sequences" / key / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    imd = root / "images" / "src"
    imd.mkdir(parents=True)
    cv2.imwrite(str(imd / "00001.jpg"), make_frame((50, 60, 40, 30), seed=3))
    cv2.imwrite(str(imd / "00002.jpg"), make_frame((10, 10, 5, 5), seed=4))
    ann = {
        "images": [{"id": 1, "file_name": "00001.jpg", "width": 200, "height": 160},
                   {"id": 2, "file_name": "00002.jpg", "width": 200, "height": 160}],
        "annotations": [{"id": 1, "image_id": 1, "category": "sq", "bbox": [50, 60, 40, 30]},
                        {"id": 2, "image_id": 1, "category": "tiny", "bbox": [0, 0, 4, 30]},
                        {"id": 3, "image_id": 2, "category": "tiny", "bbox": [10, 10, 5, 5]}],
    }
    (imd / "annotations.json").write_text(json.dumps(ann))
    (root / "splits.json").write_text(json.dumps({"train": list(seqs), "val": ["uav_group/s1"], "images": ["src"]}))
    return str(root)


