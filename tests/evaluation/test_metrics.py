"""Metric definitions on small hand-computed cases: the conventions' differences and the VOT measures."""

from __future__ import annotations

import numpy as np
import pytest

from adaptrack.errors import UnknownNameError
from adaptrack.evaluation import metrics as M

EPS = np.finfo(float).eps


def _case():
    # gt 1-based-looking boxes (x, y >= 1 so the MATLAB "all > 0" rule accepts them); frame 2 unannotated
    gt = np.array([[1, 1, 10, 10]] * 4, dtype=float)
    gt[2] = np.nan
    pred = np.array(
        [
            [51, 51, 10, 10],  # wrong first frame: only pysot scores it as written
            [6, 1, 10, 10],  # IoU 50/150 = 1/3, centre error 5
            [300, 300, 10, 10],  # frame without gt
            [101, 101, 10, 10],  # IoU 0, centre error 100*sqrt(2)
        ],
        dtype=float,
    )
    return pred, gt


def test_thresholds():
    assert len(M.success_thresholds()) == 21 and M.success_thresholds()[-1] == 1
    assert np.array_equal(M.precision_thresholds(), np.arange(51))
    assert len(M.normalized_precision_thresholds()) == 51 and M.normalized_precision_thresholds()[-1] == 0.5


def test_got10k_drops_unannotated_frames_and_sets_first_frame():
    pred, gt = _case()
    # frames scored: 0 (IoU 1, set to gt), 1 (1/3), 3 (0). IoU 1 passes 20 thresholds, 1/3 passes 7 (0..0.30)
    assert M.success_auc(pred, gt) == pytest.approx((20 + 7 + 0) / (3 * 21), abs=1e-12)
    assert M.precision_at(pred, gt, 20) == pytest.approx(2 / 3, abs=1e-12)
    assert M.precision_at(pred, gt, 4.99) == pytest.approx(1 / 3, abs=1e-12)
    assert M.success_curve(pred, gt)[0] == pytest.approx(2 / 3)  # IoU > 0


def test_pysot_counts_unannotated_frames_miss_for_success_hit_for_precision():
    pred, gt = _case()
    # frame 0 as written: IoU 0, error 50*sqrt(2); frame 2: IoU sentinel -1 (miss), distance -1 (hit)
    assert M.success_auc(pred, gt, "pysot") == pytest.approx(7 / (4 * 21), abs=1e-12)
    assert M.precision_at(pred, gt, 20, "pysot") == pytest.approx(2 / 4, abs=1e-12)


def test_official_sentinels_and_eps_denominator():
    pred, gt = _case()
    assert M.success_auc(pred, gt, "official") == pytest.approx(27 / (4 + EPS) / 21, abs=1e-12)
    assert M.precision_at(pred, gt, 20, "official") == pytest.approx(3 / (4 + EPS), abs=1e-12)
    # MATLAB rule "all four gt values > 0": a gt box touching x = 0 is not scored (overlap -1, error -1)
    pred2, gt2 = pred.copy(), gt.copy()
    gt2[1, 0] = 0
    pred2[1] = gt2[1]
    assert M.success_auc(pred2, gt2, "official") == pytest.approx(20 / (4 + EPS) / 21, abs=1e-12)


def test_official_repairs_invalid_predictions_with_previous_box():
    gt = np.array([[1, 1, 10, 10]] * 3, dtype=float)
    pred = np.array([[1, 1, 10, 10], [6, 1, 10, 10], [np.nan] * 4])
    s = M.sequence_overlaps(pred, gt, "official")
    assert s.ious[2] == pytest.approx(1 / 3)  # frame 2 scored with frame 1's box
    pred[2] = [6, 1, -3, 10]  # non-positive width is repaired too
    assert M.sequence_overlaps(pred, gt, "official").ious[2] == pytest.approx(1 / 3)
    assert np.isnan(M.sequence_overlaps(np.array([[1, 1, 10, 10], [6, 1, 10, 10], [np.nan] * 4]), gt).ious[2])


def test_absent_flags():
    gt = np.array([[1, 1, 10, 10]] * 4, dtype=float)
    pred = gt.copy()
    pred[2] = [300, 300, 10, 10]
    absent = np.array([0, 0, 1, 0], dtype=bool)
    # got10k ignores the flags: frame 2 is a miss among 4
    assert M.success_curve(pred, gt, absent=absent)[0] == pytest.approx(3 / 4)
    # pysot / official remove the frame but keep the full length as denominator
    assert M.success_curve(pred, gt, "pysot", absent=absent)[0] == pytest.approx(3 / 4)
    assert M.precision_at(pred, gt, 20, "pysot", absent=absent) == pytest.approx(3 / 4)
    pred[2] = gt[2]
    assert M.success_curve(pred, gt, "pysot", absent=absent)[0] == pytest.approx(3 / 4)
    assert M.success_curve(pred, gt, "got10k", absent=absent)[0] == pytest.approx(1.0)


def test_normalized_precision_conventions():
    gt = np.array([[1, 1, 10, 20]] * 3, dtype=float)
    pred = gt.copy()
    pred[1, 0] += 2.0  # normalised error 0.2 -> hit at 0.2 (<=)
    pred[2, 0] += 3.0  # 0.3 -> miss
    for conv in ("got10k", "pysot", "official"):
        assert M.normalized_precision_at(pred, gt, 0.2, conv) == pytest.approx(2 / 3, abs=1e-9), conv
    # got10k divides by max(1, w): a 0.5-px-wide gt box uses 1 px
    gt2 = np.array([[1, 1, 0.5, 0.5]] * 2)
    pred2 = gt2.copy()
    pred2[1, 0] += 0.3
    s = M.sequence_overlaps(pred2, gt2, "got10k")
    assert s.norm_center_errors[1] == pytest.approx(0.3)
    assert M.sequence_overlaps(pred2, gt2, "pysot").norm_center_errors[1] == pytest.approx(0.6)


def test_dataset_value_is_mean_of_sequence_curves():
    rng = np.random.default_rng(0)
    gts = [rng.uniform(1, 50, (n, 4)) + [0, 0, 5, 5] for n in (5, 17, 40)]
    preds = [g + rng.normal(0, 3, g.shape) for g in gts]
    for conv in ("got10k", "pysot", "official"):
        per = [M.success_curve(p, g, conv) for p, g in zip(preds, gts)]
        assert np.allclose(M.success_curve(preds, gts, conv), np.mean(per, 0))
        assert M.success_auc(preds, gts, conv) == pytest.approx(np.mean(per))


def test_bad_inputs():
    with pytest.raises(UnknownNameError):
        M.success_auc(np.zeros((2, 4)), np.zeros((2, 4)), convention="nope")
    with pytest.raises(ValueError, match="frames"):
        M.success_auc(np.zeros((3, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="N, 4"):
        M.success_auc(np.zeros((3, 3)), np.zeros((3, 3)))


def test_got10k_ao_sr_hand_case():
    gt = np.array([[0, 0, 10, 10]] * 5, dtype=float)
    pred = np.array([[50, 50, 1, 1], [0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 8]], dtype=float)
    cover = np.array([8, 8, 8, 0, 8])  # frame 3 invisible; frame 0 always excluded
    r = M.got10k_ao_sr([pred], [gt], covers=[cover])
    ious = np.array([1.0, 1 / 3, 0.8])
    assert r["frames"] == 3
    assert r["ao"] == pytest.approx(ious.mean(), abs=1e-12)
    assert r["sr50"] == pytest.approx(2 / 3) and r["sr75"] == pytest.approx(2 / 3)
    # repetitions are pooled frame by frame
    r2 = M.got10k_ao_sr([[pred, gt]], [gt], covers=[cover])
    assert r2["frames"] == 6 and r2["ao"] == pytest.approx((ious.sum() + 3) / 6)


# ------------------------------------------------------------------------------------------------- VOT


def _vot_run():
    """12 frames, gt [0,0,10,10]; failure at frame 3, re-init at 8 (3 + 5)."""
    b = lambda *v: list(map(float, v))  # noqa: E731
    traj = [
        [1],  # 0 init
        b(0, 0, 10, 10),  # 1 IoU 1
        b(5, 0, 10, 10),  # 2 IoU 1/3
        [2],  # 3 failure
        [0], [0], [0], [0],  # 4-7 skipped
        [1],  # 8 re-init
        b(0, 0, 10, 10),  # 9 IoU 1
        b(0, 0, 10, 5),  # 10 IoU 0.5
        b(0, 0, 10, 10),  # 11 IoU 1
    ]
    gt = np.array([[0, 0, 10, 10]] * 12, dtype=float)
    return traj, gt


def test_vot_overlaps_and_burnin():
    traj, gt = _vot_run()
    ov = M.vot_overlaps(traj, gt)
    expect = [np.nan, 1, 1 / 3, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 1, 0.5, 1]
    assert np.allclose(ov, expect, equal_nan=True)
    assert M.vot_accuracy([[traj]], [gt], burnin=0)["accuracy"] == pytest.approx((1 + 1 / 3 + 1 + 0.5 + 1) / 5)
    # burn-in 2: frames 0,1 and 8,9 excluded
    assert M.vot_accuracy([[traj]], [gt], burnin=2)["accuracy"] == pytest.approx((1 / 3 + 0.5 + 1) / 3)
    # burn-in 3: frames 0-2 and 8-10 excluded -> frame 11 only
    assert M.vot_accuracy([[traj]], [gt], burnin=3)["accuracy"] == pytest.approx(1.0)
    # default burn-in 10: frames 0-9 and 8-17 excluded -> nothing left
    r = M.vot_accuracy([[traj]], [gt])
    assert np.isnan(r["accuracy"]) and r["frames"] == 0


def test_vot_accuracy_polygon_and_bound():
    traj = [[1], [0.0, 0.0, 10.0, 10.0], [-10.0, 0.0, 10.0, 10.0]]
    poly = np.array([[0, 0, 10, 0, 10, 10, 0, 10]] * 3, dtype=float)
    ov = M.vot_overlaps(traj, poly)
    assert ov[1] == pytest.approx(1.0) and ov[2] == pytest.approx(0.0)
    # with the image bound a box sticking out of the image only counts inside it
    ov_b = M.vot_overlaps([[1], [-5.0, 0.0, 10.0, 10.0]], poly[:2], bound=(20, 20))
    assert ov_b[1] == pytest.approx(50 / 100)


def test_vot_accuracy_averages_repetitions_per_frame():
    gt = np.array([[0, 0, 10, 10]] * 3, dtype=float)
    r1 = [[1], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0]]  # 1, 0.5
    r2 = [[1], [0.0, 0.0, 10.0, 5.0], [2]]  # 0.5, failure
    acc = M.vot_accuracy([[r1, r2]], [gt], burnin=1)
    # frame 1: mean(1, .5) = .75; frame 2: nanmean(.5, nan) = .5 -> (.75 + .5) / 2
    assert acc["accuracy"] == pytest.approx(0.625)


def test_vot_robustness():
    traj, gt = _vot_run()
    r = M.vot_robustness([[traj], [traj[:3] + [[2]] * 2]])
    # failures per repetition summed over sequences: 1 + 2 = 3 over 12 + 5 frames
    assert r["failures"] == pytest.approx(3)
    assert r["robustness"] == pytest.approx(3 / 17 * 100)
    assert r["per_sequence"] == [1.0, 2.0]


def test_eao_curve_hand_computed():
    traj, gt = _vot_run()
    curve = M.eao_curve([[traj]], [gt])
    # segments: [0..8] failed (NaN -> 0, zero padded): [0, 1, 1/3, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    #           [8..11] unfinished:                   [0, 1, 0.5, 1]
    assert len(curve) == 12 and curve[0] == 1
    assert curve[1] == pytest.approx(1.0)  # both: mean of frame 1
    assert curve[2] == pytest.approx(((1 + 1 / 3) / 2 + (1 + 0.5) / 2) / 2)
    assert curve[3] == pytest.approx(((4 / 3) / 3 + 2.5 / 3) / 2)
    for ns in range(5, 13):  # only the failed segment is defined beyond length 4
        assert curve[ns - 1] == pytest.approx((4 / 3) / (ns - 1))
    assert M.eao_score([[traj]], [gt], interval=(2, 4)) == pytest.approx(np.mean(curve[1:4]))
    assert np.isnan(M.eao_score(curve=curve, interval=(100, 356)))  # longer than any run


def test_eao_weights_sequences_equally_over_repetitions():
    gt = np.array([[0, 0, 10, 10]] * 3, dtype=float)
    good = [[1], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]]  # 1, 1
    half = [[1], [0.0, 0.0, 10.0, 5.0], [0.0, 0.0, 10.0, 5.0]]  # .5, .5
    # sequence A: two repetitions (weight 1/2 each), sequence B: one (weight 1)
    curve = M.eao_curve([[good, good], [half]], [gt, gt])
    assert curve[2] == pytest.approx((0.5 * 1 + 0.5 * 1 + 1 * 0.5) / 2)
    with pytest.raises(ValueError, match="repetitions"):
        M.eao_curve([good], [gt])


def test_region_iou_matches_geometry_poly_iou():
    from adaptrack.geometry import box_to_poly, poly_iou

    rng = np.random.default_rng(5)
    n = 120
    boxes = np.column_stack([rng.uniform(-20, 80, (n, 2)), rng.uniform(0, 40, (n, 2))])
    boxes[:5, 2] = 0  # degenerate
    boxes[5:8, 2] = -4  # negative width
    gt_boxes = np.column_stack([rng.uniform(0, 60, (n, 2)), rng.uniform(1, 40, (n, 2))])
    # rotated polygons (general path), axis-aligned polygons (fast path), plain boxes (fast path)
    ang = rng.uniform(0, np.pi, n)
    c, s_ = np.cos(ang), np.sin(ang)
    cx, cy, hw, hh = gt_boxes[:, 0] + 20, gt_boxes[:, 1] + 20, gt_boxes[:, 2] / 2, gt_boxes[:, 3] / 2
    corners = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
    rot = np.column_stack([v for dx, dy in corners for v in (cx + c * dx - s_ * dy, cy + s_ * dx + c * dy)])
    gts = [rot[i] if i % 3 == 0 else box_to_poly(gt_boxes[i])[0] if i % 3 == 1 else gt_boxes[i] for i in range(n)]
    preds = [boxes[i] for i in range(n)]
    preds[10] = np.full(4, np.nan)
    for bound in (None, (70, 50)):
        ref = poly_iou(preds, gts, bound=bound)
        ours = M.region_iou(preds, gts, bound=bound)
        assert np.allclose(ours, ref, atol=1e-9, equal_nan=True)
