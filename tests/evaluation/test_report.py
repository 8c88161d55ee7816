"""Reports from raw results: equal to the got10k toolkit on the runner's own files; VOT report; CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from adaptrack.cli import main
from adaptrack.datasets.base import Sequence
from adaptrack.evaluation import metrics as M
from adaptrack.evaluation.report import evaluate, make_report
from adaptrack.evaluation.runner import read_vot_runs, run_eval, vot_dir
from adaptrack.geometry import box_to_poly
from tests.evaluation.helpers import make_sequence


def _seqs(tmp_path, k=3, n=15):
    seqs = [make_sequence(tmp_path / "data", f"g/s{i}", n=n, speed=1.0 + 1.5 * i) for i in range(k)]
    seqs[1].boxes[5:7] = np.nan  # unannotated frames
    return seqs


def test_report_auc_equals_got10k_toolkit_on_the_same_files(tmp_path):
    pytest.importorskip("got10k.experiments")
    from got10k.experiments import ExperimentUAV123

    from tests.evaluation.test_agreement_got10k import _FakeDataset

    seqs = _seqs(tmp_path)
    run_eval(["test_blob", "test_const"], seqs, out_dir=tmp_path / "out", dataset="syn", progress=False)
    rep = make_report(tmp_path / "out", seqs, "syn", tmp_path / "rep")
    rows = {r["tracker"]: r for r in rep.rows}
    assert [r["tracker"] for r in rep.rows] == ["test_blob", "test_const"]  # sorted by AUC
    for tracker in ("test_blob", "test_const"):
        exp = object.__new__(ExperimentUAV123)
        exp.plot_curves = lambda *a, **k: None  # the toolkit's 300-dpi plots are not under test
        exp.dataset = _FakeDataset([s.name for s in seqs], [s.boxes for s in seqs])
        exp.result_dir = str(tmp_path / "out" / tracker)
        exp.report_dir = str(tmp_path / "toolkit_reports")
        exp.nbins_iou, exp.nbins_ce = 21, 51
        perf = exp.report(["syn"])["syn"]["overall"]  # reads <out>/<tracker>/syn/<seq>.txt
        assert abs(rows[tracker]["auc"] - perf["success_score"]) < 1e-9
        assert abs(rows[tracker]["precision"] - perf["precision_score"]) < 1e-9
    for f in ("report.md", "report.csv", "report.json", "success.png", "precision.png", "norm_precision.png"):
        assert os.path.getsize(tmp_path / "rep" / f) > 0
    data = json.load(open(tmp_path / "rep" / "report.json"))
    assert len(data["curves"]["test_blob"]["success"]) == 21
    assert "test_blob" in open(tmp_path / "rep" / "report.md").read()


def test_report_merges_shards_and_flags_failed_sequences(tmp_path):
    seqs = _seqs(tmp_path, k=4)
    os.remove(seqs[3].frames[2])
    run_eval(["test_blob"], seqs, out_dir=tmp_path / "r0", dataset="syn", progress=False, rank=0, world_size=2)
    run_eval(["test_blob"], seqs, out_dir=tmp_path / "r1", dataset="syn", progress=False, rank=1, world_size=2)
    rep = evaluate([tmp_path / "r0", tmp_path / "r1"], seqs, "syn")
    (row,) = rep.rows
    assert row["sequences"] == "3/4" and row["failed"] == 1
    assert rep.details["test_blob"]["failed"] == [seqs[3].name]
    ok = seqs[:3]
    preds = [s.boxes.copy() for s in ok]  # the blob tracker is exact on annotated frames
    for p, s in zip(preds, ok):
        p[np.isnan(p).any(1)] = 0
    assert row["auc"] == pytest.approx(M.success_auc(preds, [s.boxes for s in ok]), abs=1e-6)


def _polygon_sequence(tmp_path, name, n=40, speed=4.0):
    seq = make_sequence(tmp_path / "data", name, n=n, speed=speed)
    poly = box_to_poly(seq.boxes)
    return Sequence(seq.name, seq.frames, seq.boxes, polygons=poly, dataset="syn")


def test_vot_report_accuracy_robustness_eao(tmp_path):
    seqs = [_polygon_sequence(tmp_path, "p0"), _polygon_sequence(tmp_path, "p1", speed=2.0)]
    run_eval(["test_const", "test_blob"], seqs, protocol="vot", out_dir=tmp_path / "out", dataset="syn", progress=False)
    rep = make_report(tmp_path / "out", seqs, "syn", tmp_path / "rep", eao_interval=(2, 30))
    rows = {r["tracker"]: r for r in rep.rows}
    assert rep.protocol == "vot" and rep.rows[0]["tracker"] == "test_blob"
    assert rows["test_blob"]["lost"] == 0 and rows["test_blob"]["accuracy"] == pytest.approx(1.0)
    assert rows["test_blob"]["eao"] == pytest.approx(1.0)
    assert rows["test_const"]["lost"] > 0 and rows["test_const"]["eao"] < rows["test_blob"]["eao"]
    runs = [read_vot_runs(vot_dir(tmp_path / "out", "test_const", "syn", s.name), s.name) for s in seqs]
    polys = [s.polygons for s in seqs]
    sizes = [(64, 48)] * 2
    assert rows["test_const"]["eao"] == pytest.approx(M.eao_score(runs, polys, sizes, interval=(2, 30)))
    assert rows["test_const"]["accuracy"] == pytest.approx(M.vot_accuracy(runs, polys, sizes)["accuracy"])
    assert rows["test_const"]["robustness"] == pytest.approx(M.vot_robustness(runs, [40, 40])["robustness"])
    assert os.path.getsize(tmp_path / "rep" / "eao.png") > 0


def _write_folder_dataset(tmp_path):
    import shutil

    seqs = _seqs(tmp_path, k=2, n=10)
    root = tmp_path / "folder"
    for s in seqs:
        d = root / s.name.split("/")[1]
        (d / "img").mkdir(parents=True)
        for f in s.frames:
            shutil.copy(f, d / "img" / os.path.basename(f))
        np.savetxt(d / "groundtruth.txt", s.boxes, fmt="%.2f", delimiter=",")
    return root


def test_cli_eval_and_report(tmp_path, capsys):
    root = _write_folder_dataset(tmp_path)
    out, rep = str(tmp_path / "runs"), str(tmp_path / "rep")
    code = main(["eval", "--trackers", "test_blob,test_const", "--dataset", "folder", "--root", str(root),
                 "--out", out, "--quiet"])
    assert code == 0
    assert os.path.isfile(os.path.join(out, "test_blob", "folder", "s0.txt"))
    assert "| test_blob |" in capsys.readouterr().out
    code = main(["report", "--results", out, "--dataset", "folder", "--root", str(root), "--out", rep,
                 "--convention", "pysot"])
    assert code == 0
    text = capsys.readouterr().out
    assert "convention pysot" in text and os.path.isfile(os.path.join(rep, "success.png"))


def test_cli_user_errors_are_one_line(tmp_path, capsys):
    root = _write_folder_dataset(tmp_path)
    assert main(["eval", "--trackers", "no_such_tracker", "--dataset", "folder", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_tracker" in err[0]
    assert main(["report", "--results", str(tmp_path / "nothing"), "--dataset", "folder", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing" in err[0]
    assert main(["eval", "--trackers", "test_blob"]) == 2
    assert "--dataset" in capsys.readouterr().err


def test_cli_vot_protocol_on_polygon_annotated_vot_layout(tmp_path, capsys):
    """A VOT-layout dataset with rotated polygons: eval --protocol vot, then report: accuracy, robustness, EAO."""
    import cv2

    root = tmp_path / "vot"
    seq = make_sequence(tmp_path / "src", "square", n=40, speed=4.0)
    (root / "square" / "color").mkdir(parents=True)
    for i, f in enumerate(seq.frames):
        cv2.imwrite(str(root / "square" / "color" / f"{i + 1:08d}.jpg"), cv2.imread(f), [cv2.IMWRITE_JPEG_QUALITY, 100])
    # a polygon slightly rotated around each box (what VOT annotations look like)
    b = seq.boxes
    cx, cy, hw, hh = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2, b[:, 2] / 2, b[:, 3] / 2
    a = 0.1
    c, s_ = np.cos(a), np.sin(a)
    poly = np.column_stack([v for dx, dy in ((-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh))
                            for v in (cx + c * dx - s_ * dy, cy + s_ * dx + c * dy)])
    np.savetxt(root / "square" / "groundtruth.txt", poly, fmt="%.3f", delimiter=",")
    (root / "list.txt").write_text("square\n")
    out, rep = str(tmp_path / "runs"), str(tmp_path / "rep")
    assert main(["eval", "--trackers", "test_const,test_blob", "--dataset", "vot", "--root", str(root),
                 "--protocol", "vot", "--out", out, "--quiet", "--no-summary"]) == 0
    capsys.readouterr()
    assert main(["report", "--results", out, "--dataset", "vot", "--root", str(root), "--out", rep,
                 "--eao-interval", "2,30"]) == 0
    data = json.load(open(os.path.join(rep, "report.json")))
    rows = {r["tracker"]: r for r in data["rows"]}
    assert data["protocol"] == "vot" and data["eao_interval"] == [2, 30]
    assert rows["test_const"]["lost"] >= 1 and rows["test_blob"]["lost"] == 0
    assert 0.7 < rows["test_blob"]["accuracy"] <= 1 and rows["test_blob"]["eao"] > rows["test_const"]["eao"] > 0
    assert rows["test_const"]["robustness"] > 0
    assert os.path.getsize(os.path.join(rep, "eao.png")) > 0


def test_cli_eval_with_a_weights_file(tmp_path, capsys):
    import torch

    from adaptrack.trackers.siamfc import SiamFCNet
    from adaptrack.weights import save_weights

    root = _write_folder_dataset(tmp_path)
    torch.manual_seed(0)
    weights = save_weights(SiamFCNet(), tmp_path / "w" / "weights.pt")
    out = str(tmp_path / "runs")
    code = main(["eval", "--trackers", "siamfc", "--weights", str(weights), "--dataset", "folder", "--root", str(root),
                 "--out", out, "--quiet", "--no-summary", "--limit", "1"])
    assert code == 0 and os.path.isfile(os.path.join(out, "siamfc", "folder", "s0.txt"))
    capsys.readouterr()
    # the file is really used: a corrupt one fails the sequence rather than silently using the bundled weights
    bad = tmp_path / "bad.pt"
    torch.save({"adjust.proj.0.0.weight": torch.zeros(1)}, bad)
    code = main(["eval", "--trackers", "siamfc", "--weights", str(bad), "--dataset", "folder", "--root", str(root),
                 "--out", str(tmp_path / "runs_bad"), "--quiet", "--no-summary", "--limit", "1"])
    assert code == 1
    capsys.readouterr()
    for argv, needle in ((["--trackers", "csrt", "--weights", str(weights)], "csrt"),
                         (["--trackers", "siamfc", "--weights", str(tmp_path / "none.pt")], "none.pt")):
        assert main(["eval", *argv, "--dataset", "folder", "--root", str(root), "--out", out]) == 2
        assert needle in capsys.readouterr().err
