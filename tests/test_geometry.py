"""Boxes, overlaps, polygons and initial-box validation, against hand-computed values."""

import math

import numpy as np
import pytest

from adaptrack.errors import InvalidBoxError
from adaptrack.geometry import (
    as_boxes,
    box_center,
    box_to_poly,
    clip_box,
    cxcywh_to_xywh,
    poly_iou,
    poly_to_box,
    rect_iou,
    validate_init_box,
    xywh_to_cxcywh,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def test_conversions_round_trip_and_values():
    b = np.array([[10.0, 20.0, 30.0, 40.0]])
    assert xywh_to_xyxy(b).tolist() == [[10, 20, 40, 60]]
    assert xywh_to_cxcywh(b).tolist() == [[25, 40, 30, 40]]
    assert box_center(b).tolist() == [[25, 40]]
    np.testing.assert_array_equal(xyxy_to_xywh(xywh_to_xyxy(b)), b)
    np.testing.assert_array_equal(cxcywh_to_xywh(xywh_to_cxcywh(b)), b)
    assert as_boxes([1, 2, 3, 4]).shape == (1, 4)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        as_boxes([1, 2, 3])


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 5, 10, 10), 25 / 175),  # 5x5 overlap, union 100 + 100 - 25
        ((0, 0, 10, 10), (2, 2, 4, 4), 16 / 100),  # contained
        ((0, 0, 10, 10), (10, 0, 10, 10), 0.0),  # touching edges: no overlap (continuous convention)
        ((0, 0, 10, 10), (30, 30, 5, 5), 0.0),
        ((0, 0, 4, 2), (1, 1, 2, 4), 2 / 14),  # 2x1 overlap, union 8 + 8 - 2
        ((0.5, 0.5, 1, 1), (1, 1, 1, 1), 0.25 / 1.75),
    ],
)
def test_rect_iou_hand_computed(a, b, expected):
    assert rect_iou([a], [b])[0] == pytest.approx(expected, abs=1e-12)
    assert rect_iou([b], [a])[0] == pytest.approx(expected, abs=1e-12)


def test_rect_iou_nan_degenerate_bound_and_shapes():
    iou = rect_iou([[0, 0, 10, 10], [np.nan] * 4, [3, 3, 0, 0]], [[0, 0, 10, 10], [0, 0, 1, 1], [3, 3, 0, 0]])
    assert iou[0] == 1.0 and np.isnan(iou[1]) and iou[2] == 0.0
    # with the image bound, the part of a box outside the frame does not count
    assert rect_iou([[-5, 0, 10, 10]], [[0, 0, 5, 10]], bound=(100, 100))[0] == pytest.approx(1.0)
    assert rect_iou([[-5, 0, 10, 10]], [[0, 0, 5, 10]])[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ in shape"):
        rect_iou(np.zeros((2, 4)), np.zeros((3, 4)))


def test_clip_box():
    np.testing.assert_array_equal(clip_box([-5, -5, 20, 20], (10, 8)), [0, 0, 10, 8])
    np.testing.assert_array_equal(clip_box([[2, 3, 4, 5]], (10, 10)), [[2, 3, 4, 5]])
    np.testing.assert_array_equal(clip_box([20, 20, 5, 5], (10, 10)), [10, 10, 0, 0])  # outside: empty


def test_poly_iou_hand_computed():
    square = [0, 0, 2, 0, 2, 2, 0, 2]  # area 4
    diamond = [1, 0, 2, 1, 1, 2, 0, 1]  # area 2, inside the square
    assert poly_iou([square], [diamond])[0] == pytest.approx(0.5)
    # a rectangle (x, y, w, h) against a polygon: the box (0, 0, 2, 2) is the same square
    assert poly_iou([(0, 0, 2, 2)], [diamond])[0] == pytest.approx(0.5)
    # triangle (0,0),(4,0),(0,4) (area 8) vs the unit-offset square [0,2]^2 (area 4, fully inside): 4/8
    assert poly_iou([[0, 0, 4, 0, 0, 4]], [square])[0] == pytest.approx(0.5)
    # two squares of side 2 offset by (1, 0): overlap 2, union 6
    assert poly_iou([square], [[1, 0, 3, 0, 3, 2, 1, 2]])[0] == pytest.approx(2 / 6)
    # bound: half of the second square lies left of the frame; inside the frame it equals the first
    assert poly_iou([[0, 0, 1, 0, 1, 2, 0, 2]], [[-1, 0, 1, 0, 1, 2, -1, 2]], bound=(10, 10))[0] == pytest.approx(1.0)
    assert poly_iou([[0, 0, 1, 0, 1, 2, 0, 2]], [[-1, 0, 1, 0, 1, 2, -1, 2]])[0] == pytest.approx(0.5)
    assert np.isnan(poly_iou([[np.nan] * 8], [square])[0])
    with pytest.raises(ValueError, match="differ in length"):
        poly_iou([square], [square, square])
    with pytest.raises(ValueError, match="polygon"):
        poly_iou([[1, 2, 3, 4, 5]], [square])


def test_poly_iou_agrees_with_rect_iou_on_boxes():
    rng = np.random.default_rng(0)
    a = np.c_[rng.uniform(0, 50, (20, 2)), rng.uniform(1, 30, (20, 2))]
    b = np.c_[rng.uniform(0, 50, (20, 2)), rng.uniform(1, 30, (20, 2))]
    np.testing.assert_allclose(poly_iou(box_to_poly(a), box_to_poly(b)), rect_iou(a, b), atol=1e-12)


def rotated_rect(cx, cy, w, h, deg):
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return np.array([v for dx, dy in corners for v in (cx + c * dx - s * dy, cy + s * dx + c * dy)])


def pysot_axis_aligned(region):
    """pysot's get_axis_aligned_bbox (cx, cy, w, h with its +1-pixel sizes), written out from its definition."""
    xs, ys = region[0::2], region[1::2]
    cx, cy = xs.mean(), ys.mean()
    x1, x2, y1, y2 = xs.min(), xs.max(), ys.min(), ys.max()
    a1 = np.linalg.norm(region[0:2] - region[2:4]) * np.linalg.norm(region[2:4] - region[4:6])
    a2 = (x2 - x1) * (y2 - y1)
    s = math.sqrt(a1 / a2)
    return cx, cy, s * (x2 - x1) + 1, s * (y2 - y1) + 1


@pytest.mark.parametrize("deg", [0, 10, 30, 45, 75])
def test_poly_to_box_rotated_rectangle(deg):
    poly = rotated_rect(50.0, 40.0, 20.0, 10.0, deg)
    x, y, w, h = poly_to_box(poly)[0]
    # same centre; area of the rotated rectangle kept (20 * 10); aspect of the polygon's bounding box
    assert x + w / 2 == pytest.approx(50.0) and y + h / 2 == pytest.approx(40.0)
    assert w * h == pytest.approx(200.0)
    xs, ys = poly[0::2], poly[1::2]
    assert w / h == pytest.approx((xs.max() - xs.min()) / (ys.max() - ys.min()))
    # pysot: cx, cy, w+1, h+1, and its top-left is cx - (w+1 - 1)/2: the same box in our convention
    pcx, pcy, pw, ph = pysot_axis_aligned(poly)
    np.testing.assert_allclose([x, y, w, h], [pcx - (pw - 1) / 2, pcy - (ph - 1) / 2, pw - 1, ph - 1], atol=1e-9)


def test_poly_to_box_axis_aligned_and_passthrough():
    np.testing.assert_allclose(poly_to_box([[10, 20, 40, 20, 40, 60, 10, 60]]), [[10, 20, 30, 40]])
    np.testing.assert_array_equal(poly_to_box([[1, 2, 3, 4]]), [[1, 2, 3, 4]])
    with pytest.raises(ValueError, match="8 numbers"):
        poly_to_box([[1, 2, 3, 4, 5, 6]])


@pytest.mark.parametrize(
    "box, match",
    [
        ((np.nan, 0, 10, 10), "NaN"),
        ((0, 0, np.inf, 10), "infinite"),
        ((10, 10, 0, 10), "non-positive"),
        ((10, 10, 5, -3), "non-positive"),
        ((700, 10, 5, 5), "outside"),
        ((-50, 10, 40, 5), "outside"),  # ends at x = -10
        ((10, 480, 5, 5), "outside"),
        ((1, 2, 3), "four numbers"),
        (("a", 2, 3, 4), "four numbers"),
    ],
)
def test_validate_init_box_errors_name_box_and_frame(box, match):
    with pytest.raises(InvalidBoxError, match=match) as e:
        validate_init_box(box, (480, 640, 3))
    assert isinstance(e.value, ValueError)
    assert "640x480" in str(e.value)  # frame size as width x height
    if len(box) == 4 and not isinstance(box[0], str):
        assert f"{box[0]:g}" in str(e.value)  # the box is named


def test_validate_init_box_accepts_partly_outside():
    b = validate_init_box([-5, -5, 20, 20], (100, 100))
    assert b.dtype == np.float64 and b.tolist() == [-5, -5, 20, 20]
