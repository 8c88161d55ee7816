"""Agreement with the got10k toolkit (PyPI ``got10k``) to 1e-9 on the same raw results.

The toolkit's own report code is driven end to end (``ExperimentOTB.report``, ``ExperimentUAV123.report``,
``ExperimentGOT10k.report``) on result files written to ``tmp_path``; its dataset object is replaced by a
small in-memory stand-in so no benchmark download is needed. LaSOT: the installed release has no LaSOT
experiment; the toolkit's master-branch ``ExperimentLaSOT`` scores with ``ExperimentUAV123._calc_metrics``
(NaN rows dropped) plus ``normalized_center_error`` — both are driven here (the latter transcribed from
the toolkit's definition: centre difference divided by ``max(1, w_gt)`` per axis).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

got10k = pytest.importorskip("got10k.experiments")  # needs the ``six`` package too

import matplotlib

matplotlib.use("Agg")

from got10k.experiments import ExperimentGOT10k, ExperimentOTB, ExperimentUAV123  # noqa: E402
from got10k.utils.metrics import center_error, rect_iou  # noqa: E402

from adaptrack.evaluation import metrics as M  # noqa: E402

TOL = 1e-9


class _FakeDataset:
    """What the toolkit's report iterates over: ``(img_files, anno[, meta])`` per sequence."""

    def __init__(self, names, annos, metas=None):
        self.seq_names = list(names)
        self.annos = annos
        self.metas = metas

    def __len__(self):
        return len(self.seq_names)

    def __getitem__(self, i):
        if isinstance(i, str):
            i = self.seq_names.index(i)
        files = [f"{k:08d}.jpg" for k in range(len(self.annos[i]))]
        if self.metas is None:
            return files, self.annos[i].copy()
        return files, self.annos[i].copy(), self.metas[i]

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _random_case(rng, n_seq=5, adversarial=True):
    preds, gts = [], []
    for s in range(n_seq):
        n = int(rng.integers(5, 60))
        gt = np.column_stack([rng.uniform(-20, 300, n), rng.uniform(-20, 200, n), rng.uniform(1, 80, (n, 2))])
        pred = gt + rng.normal(0, 12, (n, 4))
        if adversarial:
            k = max(1, n // 8)
            # NaN ground truth rows, zero-size and negative-size boxes, boxes far outside the image,
            # integer boxes (exact ties at thresholds), identical boxes (IoU exactly 1)
            gt[rng.choice(np.arange(1, n), k, replace=False)] = np.nan
            pred[rng.choice(n, k, replace=False), 2:] = 0
            pred[rng.choice(n, k, replace=False), 2] = -5
            pred[rng.choice(n, k, replace=False), :2] = [5000.0, -4000.0]
            ties = rng.choice(np.arange(1, n), k, replace=False)
            gt[ties] = np.round(np.abs(gt[ties]) + 1)
            pred[ties] = gt[ties] + np.array([20.0, 0, 0, 0])  # centre error exactly 20 px
            same = rng.choice(n, k, replace=False)
            pred[same] = gt[same]
        preds.append(pred)
        gts.append(gt)
    return preds, gts


def _fake_experiment(cls, tmp_path, names, gts, preds, tracker="trk"):
    exp = object.__new__(cls)
    exp.plot_curves = lambda *a, **k: None  # the toolkit's 300-dpi plots are not under test
    exp.dataset = _FakeDataset(names, gts)
    exp.result_dir = str(tmp_path / "results")
    exp.report_dir = str(tmp_path / "reports")
    exp.nbins_iou = 21
    exp.nbins_ce = 51
    os.makedirs(os.path.join(exp.result_dir, tracker), exist_ok=True)
    for name, p in zip(names, preds):
        np.savetxt(os.path.join(exp.result_dir, tracker, f"{name}.txt"), p, fmt="%.6f", delimiter=",")
    return exp


def _read_back(tmp_path, names, tracker="trk"):
    return [np.loadtxt(tmp_path / "results" / tracker / f"{n}.txt", delimiter=",") for n in names]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_otb_report_matches(tmp_path, seed):
    rng = np.random.default_rng(seed)
    preds, gts = _random_case(rng, adversarial=False)
    names = [f"seq{i}" for i in range(len(preds))]
    exp = _fake_experiment(ExperimentOTB, tmp_path, names, gts, preds)
    perf = exp.report(["trk"])["trk"]["overall"]
    raw = _read_back(tmp_path, names)
    assert abs(M.success_auc(raw, gts) - perf["success_score"]) < TOL
    assert abs(M.precision_at(raw, gts, 20) - perf["precision_score"]) < TOL
    assert np.allclose(M.success_curve(raw, gts), perf["success_curve"], atol=TOL, rtol=0)
    assert np.allclose(M.precision_curve(raw, gts), perf["precision_curve"], atol=TOL, rtol=0)
    # OTB's "success_rate" is the curve at IoU 0.5
    assert abs(M.success_curve(raw, gts)[10] - perf["success_rate"]) < TOL


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_uav123_report_matches_adversarial(tmp_path, seed):
    """NaN ground truth, zero/negative sizes, far-away boxes, exact threshold ties."""
    rng = np.random.default_rng(seed)
    preds, gts = _random_case(rng, adversarial=True)
    names = [f"seq{i}" for i in range(len(preds))]
    exp = _fake_experiment(ExperimentUAV123, tmp_path, names, gts, preds)
    with np.errstate(all="ignore"):
        perf = exp.report(["trk"])["trk"]["overall"]
    raw = _read_back(tmp_path, names)
    assert abs(M.success_auc(raw, gts) - perf["success_score"]) < TOL
    assert abs(M.precision_at(raw, gts, 20) - perf["precision_score"]) < TOL
    assert np.allclose(M.success_curve(raw, gts), perf["success_curve"], atol=TOL, rtol=0)
    assert np.allclose(M.precision_curve(raw, gts), perf["precision_curve"], atol=TOL, rtol=0)


def _toolkit_normalized_center_error(rects1, rects2):
    c1 = rects1[..., :2] + (rects1[..., 2:] - 1) / 2
    c2 = rects2[..., :2] + (rects2[..., 2:] - 1) / 2
    return np.sqrt(np.sum(np.power((c1 - c2) / np.maximum(np.array([[1.0, 1.0]]), rects2[:, 2:]), 2), axis=-1))


@pytest.mark.parametrize("seed", [7, 8])
def test_lasot_style_metrics_match(seed):
    """LaSOT in the got10k toolkit: UAV123's NaN-dropping metrics plus the normalised centre error."""
    rng = np.random.default_rng(seed)
    preds, gts = _random_case(rng, adversarial=True)
    fake = object.__new__(ExperimentUAV123)
    fake.nbins_iou, fake.nbins_ce = 21, 51
    succ, prec, nprec = [], [], []
    thr_nce = np.linspace(0, 0.5, 51)
    for p, g in zip(preds, gts):
        p = p.copy()
        p[0] = g[0]
        with np.errstate(all="ignore"):
            ious, ces = ExperimentUAV123._calc_metrics(fake, p.copy(), g.copy())
            s, c = ExperimentOTB._calc_curves(fake, ious, ces)
            valid = ~np.any(np.isnan(g), axis=1)
            nce = _toolkit_normalized_center_error(p[valid], g[valid])
        succ.append(s)
        prec.append(c)
        nprec.append(np.mean(np.less_equal(nce[:, None], thr_nce[None, :]), axis=0))
    assert np.allclose(M.success_curve(preds, gts), np.mean(succ, 0), atol=TOL, rtol=0)
    assert np.allclose(M.precision_curve(preds, gts), np.mean(prec, 0), atol=TOL, rtol=0)
    assert np.allclose(M.normalized_precision_curve(preds, gts), np.mean(nprec, 0), atol=TOL, rtol=0)
    assert abs(M.normalized_precision_at(preds, gts, 0.2) - np.mean(nprec, 0)[20]) < TOL


def test_rect_iou_and_center_error_match_toolkit():
    rng = np.random.default_rng(11)
    a = np.column_stack([rng.uniform(-50, 50, (500, 2)), rng.uniform(-3, 40, (500, 2))])
    b = np.column_stack([rng.uniform(-50, 50, (500, 2)), rng.uniform(0, 40, (500, 2))])
    a[:40, 2:] = 0
    b[40:60] = a[40:60]
    conv = M.get_convention("got10k")
    with np.errstate(all="ignore"):
        ref_iou = rect_iou(a.copy(), b.copy())
        ref_ce = center_error(a, b)
    s = M.sequence_overlaps(a, b, conv)
    # first frame is replaced by gt in the OTB protocol; compare the rest
    assert np.allclose(s.ious[1:], ref_iou[1:], atol=TOL, rtol=0, equal_nan=True)
    assert np.allclose(s.center_errors[1:], ref_ce[1:], atol=TOL, rtol=0, equal_nan=True)
    # bounded (GOT-10k) variant, including boxes outside the image
    bound = (60.0, 45.0)
    with np.errstate(all="ignore"):
        ref_b = rect_iou(a.copy(), b.copy(), bound=bound)
    ours = M._iou(M._bound_got10k(a, bound), M._bound_got10k(b, bound), conv)
    assert np.allclose(ours, ref_b, atol=TOL, rtol=0, equal_nan=True)


@pytest.mark.parametrize("seed", [21, 22])
def test_got10k_report_matches(tmp_path, seed):
    rng = np.random.default_rng(seed)
    names, gts, preds, metas, covers, bounds = [], [], [], [], [], []
    for i in range(4):
        n = int(rng.integers(10, 50))
        w, h = int(rng.integers(200, 400)), int(rng.integers(150, 300))
        gt = np.column_stack([rng.uniform(-10, w - 20, n), rng.uniform(-10, h - 20, n), rng.uniform(5, 90, (n, 2))])
        reps = []
        for _ in range(int(rng.integers(1, 4))):  # 1..3 repetitions
            p = gt + rng.normal(0, 10, (n, 4))
            p[rng.choice(n, 2, replace=False), :2] = [-100.0, h + 50.0]  # outside the image
            reps.append(p)
        cover = rng.integers(0, 9, n).astype(float)
        cover[rng.choice(n, n // 4, replace=False)] = 0
        names.append(f"GOT-10k_Val_{i:06d}")
        gts.append(gt)
        preds.append(reps)
        covers.append(cover)
        bounds.append((w, h))
        metas.append({"resolution": f"({w}, {h})", "cover": cover, "absence": (cover == 0).astype(float)})
        d = tmp_path / "results" / "GOT-10k" / "trk" / names[-1]
        d.mkdir(parents=True)
        for r, p in enumerate(reps):
            np.savetxt(d / f"{names[-1]}_{r + 1:03d}.txt", p, fmt="%.6f", delimiter=",")
        np.savetxt(d / f"{names[-1]}_time.txt", rng.uniform(0.01, 0.05, (n, len(reps))), fmt="%.8f", delimiter=",")
    exp = object.__new__(ExperimentGOT10k)
    exp.plot_curves = lambda *a, **k: None  # the toolkit's 300-dpi plots are not under test
    exp.subset = "val"
    exp.dataset = _FakeDataset(names, gts, metas)
    exp.dataset.return_meta = True
    exp.result_dir = str(tmp_path / "results" / "GOT-10k")
    exp.report_dir = str(tmp_path / "reports" / "GOT-10k")
    exp.nbins_iou = 101
    exp.repetitions = 3
    perf = exp.report(["trk"])["trk"]["overall"]
    raw = [
        [np.loadtxt(tmp_path / "results" / "GOT-10k" / "trk" / n / f"{n}_{r + 1:03d}.txt", delimiter=",") for r in range(len(p))]
        for n, p in zip(names, preds)
    ]
    ours = M.got10k_ao_sr(raw, gts, covers=covers, bounds=bounds)
    assert abs(ours["ao"] - perf["ao"]) < TOL
    assert abs(ours["sr50"] - perf["sr"]) < TOL
    assert np.allclose(ours["success_curve"], perf["succ_curve"], atol=TOL, rtol=0)
