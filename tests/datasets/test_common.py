import numpy as np
import pytest

from adaptrack.datasets._common import list_frames, read_boxes, read_table
from adaptrack.errors import DatasetLayoutError
from tests.conftest import write_frames


def test_read_table_separators_blank_lines_and_nan(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("1,2\t3 4\n\n5;6,,7  8\r\nNaN,nan,NaN,NaN\n9.5, 10.25 ,11,12\n")
    np.testing.assert_array_equal(
        read_boxes(p), [[1, 2, 3, 4], [5, 6, 7, 8], [np.nan] * 4, [9.5, 10.25, 11, 12]]
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,2,3,4\n5,6,7\n", r"line 2: 3 numbers, expected 4"),
        ("1,2,3,4\n\n1,2,x,4\n", r"line 3: not a row of numbers"),
        ("1,2,3,4,5\n1,2,3,4,5\n", r"line 1: 5 numbers, expected 4"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, text, message):
    p = tmp_path / "gt.txt"
    p.write_text(text)
    with pytest.raises(DatasetLayoutError, match=message) as e:
        read_boxes(p)
    assert str(p) in str(e.value)


def test_ragged_table_without_expected_width(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("1 2\n3 4 5\n")
    with pytest.raises(DatasetLayoutError, match="line 2: 3 numbers where earlier lines have 2"):
        read_table(p)
    p.write_text("\n\n")
    assert read_table(p).shape == (0, 0)
    with pytest.raises(DatasetLayoutError, match="empty"):
        read_boxes(p)


def test_list_frames_natural_order_and_errors(tmp_path):
    write_frames(tmp_path / "f", [10, 2, 1], "img{}.jpg")
    (tmp_path / "f" / "notes.txt").write_text("not a frame")
    assert [p.rsplit("/", 1)[1] for p in list_frames(tmp_path / "f")] == ["img1.jpg", "img2.jpg", "img10.jpg"]
    (tmp_path / "g").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"g has no frame images"):
        list_frames(tmp_path / "g")
    with pytest.raises(DatasetLayoutError, match=r"nope does not exist"):
        list_frames(tmp_path / "nope")
