"""Reports from raw results (nothing is re-run): a table trackers x metrics (markdown, CSV, JSON) and plots.

One code path for every benchmark: raw results are read from the runner's layout
(:mod:`adaptrack.evaluation.runner`), ground truth and flags come from the dataset's :class:`Sequence`
objects, metrics from :mod:`adaptrack.evaluation.metrics` under the chosen convention.

One-pass columns: success AUC, precision @20 px, normalised precision @0.2, success rate @0.5 (OTB-style,
per-sequence averaged), GOT-10k-style AO / SR0.5 / SR0.75 (frame-pooled, first frame excluded, visible
frames only: ``cover > 0`` when the dataset has cover labels, else frames with ground truth), and speed.
VOT supervised columns: accuracy, robustness (failures per 100 frames), lost number (failures), EAO.

Absent flags handed to the metrics are LaSOT's ``full_occlusion | out_of_view`` when the dataset has them;
other datasets mark absence with NaN ground-truth rows, which each convention treats as it does.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field

import numpy as np

from . import metrics as M
from .plots import plot_curves, plot_eao
from .runner import ope_paths, read_vot_runs, result_origin, to_result_origin, vot_dir

__all__ = ["discover_trackers", "evaluate", "write_report", "make_report", "Report"]


@dataclass
class Report:
    dataset: str
    protocol: str
    convention: str
    columns: list
    rows: list = field(default_factory=list)  # dicts, one per tracker, sorted best first
    curves: dict = field(default_factory=dict)  # tracker -> {curve name: list}
    details: dict = field(default_factory=dict)  # tracker -> per-sequence values, missing / failed lists
    files: list = field(default_factory=list)

    def title(self) -> str:
        if self.protocol == "vot":  # VOT measures do not depend on the OPE convention
            return f"{self.dataset} (vot supervised)"
        return f"{self.dataset} ({self.protocol}, convention {self.convention})"

    def markdown(self) -> str:
        head = "| " + " | ".join(c[1] for c in self.columns) + " |"
        sep = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|"
        lines = [head, sep]
        for r in self.rows:
            lines.append("| " + " | ".join(_fmt(r.get(k), k) for k, _ in self.columns) + " |")
        return "\n".join(lines)


def _fmt(v, key=None) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if np.isnan(v):
            return "-"
        if key in ("fps",):
            return f"{v:.1f}"
        if key in ("lost",):
            return f"{v:.1f}"
        return f"{v:.3f}"
    return str(v)


def _as_list(results_dirs) -> list[str]:
    if isinstance(results_dirs, (str, os.PathLike)):
        results_dirs = [results_dirs]
    out = []
    for d in results_dirs:
        out.extend(p for p in str(os.fspath(d)).split(",") if p)
    return out


def discover_trackers(results_dirs, dataset: str) -> dict[str, str]:
    """``{tracker: protocol}`` for every ``<results>/<tracker>/<dataset>/`` folder (``vot`` if it holds
    ``baseline/``), over all ``results_dirs`` (shards are merged)."""
    found: dict[str, str] = {}
    for root in _as_list(results_dirs):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"results folder not found: {root}")
        for name in sorted(os.listdir(root)):
            d = os.path.join(root, name, dataset)
            if os.path.isdir(d):
                proto = "vot" if os.path.isdir(os.path.join(d, "baseline")) else "ope"
                found.setdefault(name, proto)
    return found


def _absent(seq):
    f = seq.flags or {}
    if "full_occlusion" in f or "out_of_view" in f:
        a = np.zeros(len(seq.boxes), dtype=bool)
        for k in ("full_occlusion", "out_of_view"):
            if k in f:
                a |= np.asarray(f[k]).astype(bool).reshape(-1)[: len(a)]
        return a
    return None


def _image_size(seq):
    res = (seq.attributes or {}).get("resolution")
    if res is not None:
        try:
            w, h = (float(v) for v in (res if not isinstance(res, str) else res.strip("()[] ").split(",")))
            return (w, h)
        except (TypeError, ValueError):
            pass
    path = seq.frame_path(0) if hasattr(seq, "frame_path") else None
    if path:
        try:
            from PIL import Image

            with Image.open(path) as im:
                return im.size
        except OSError:
            pass
    try:
        fr = seq.frame(0)
        return (fr.shape[1], fr.shape[0])
    except Exception:  # noqa: BLE001 - no size: scored unbounded
        return None


def _find(results_dirs, rel_fn):
    for root in results_dirs:
        p = rel_fn(root)
        if os.path.exists(p):
            return p
    return None


def _load_boxes(path, n):
    arr = np.genfromtxt(path, delimiter=",", ndmin=2)
    if arr.shape[1] != 4:
        arr = np.genfromtxt(path, ndmin=2)  # whitespace separated
    return arr


def _evaluate_ope(tracker, dirs, dataset, sequences, convention):
    preds, gts, absent, covers, bounds, times, missing, failed, names = [], [], [], [], [], [], [], [], []
    for seq in sequences:
        p = _find(dirs, lambda r: ope_paths(r, tracker, dataset, seq.name)["boxes"])
        if p is None:
            e = _find(dirs, lambda r: ope_paths(r, tracker, dataset, seq.name)["error"])
            (failed if e else missing).append(seq.name)
            continue
        boxes = to_result_origin(_load_boxes(p, len(seq)), -result_origin(seq))  # files are in native origin
        if len(boxes) != len(seq.boxes):
            raise ValueError(f"{p}: {len(boxes)} boxes for {len(seq.boxes)} annotated frames of {seq.name}")
        preds.append(boxes)
        gts.append(seq.boxes)
        absent.append(_absent(seq))
        covers.append((seq.flags or {}).get("cover"))
        bounds.append(_image_size(seq))
        names.append(seq.name)
        t = _find(dirs, lambda r: ope_paths(r, tracker, dataset, seq.name)["times"])
        if t is not None:
            times.append(np.genfromtxt(t).reshape(-1))
    row = {"tracker": tracker, "sequences": f"{len(preds)}/{len(sequences)}"}
    curves = {}
    detail = {"missing": missing, "failed": failed}
    if preds:
        thr_s = M.success_thresholds(convention)
        succ = M.success_curve(preds, gts, convention, absent)
        prec = M.precision_curve(preds, gts, convention, absent)
        nprec = M.normalized_precision_curve(preds, gts, convention, absent)
        row["auc"] = float(np.mean(succ))
        row["precision"] = M.precision_at(preds, gts, 20, convention, absent)
        row["norm_precision"] = M.normalized_precision_at(preds, gts, 0.2, convention, absent)
        row["sr_otb"] = float(succ[int(np.argmin(np.abs(thr_s - 0.5)))])
        g = M.got10k_ao_sr(preds, gts, covers=covers, bounds=bounds,
                           absent=[(None if a is None else a) for a in absent])
        row.update(ao=g["ao"], sr50=g["sr50"], sr75=g["sr75"])
        tracked = np.concatenate([t[1:] for t in times]) if times else np.zeros(0)
        tracked = tracked[np.isfinite(tracked) & (tracked > 0)]
        row["fps"] = float(len(tracked) / tracked.sum()) if len(tracked) else float("nan")
        curves = {"success": succ.tolist(), "precision": prec.tolist(), "norm_precision": nprec.tolist(),
                  "got10k_success": g["success_curve"].tolist()}
        detail["per_sequence"] = {
            n: {"auc": M.success_auc(p_, g_, convention, a_), "precision": M.precision_at(p_, g_, 20, convention, a_)}
            for n, p_, g_, a_ in zip(names, preds, gts, absent)
        }
    row["failed"] = len(failed)
    return row, curves, detail


def _evaluate_vot(tracker, dirs, dataset, sequences, interval, burnin, skipping):
    runs, gts, bounds, lengths, missing, failed = [], [], [], [], [], []
    for seq in sequences:
        d = _find(dirs, lambda r: vot_dir(r, tracker, dataset, seq.name))
        reps = read_vot_runs(d, seq.name) if d else []
        if not reps:
            e = d and os.path.exists(os.path.join(d, f"{seq.name.split('/')[-1]}_error.txt"))
            (failed if e else missing).append(seq.name)
            continue
        runs.append(reps)
        gts.append(seq.polygons if seq.polygons is not None else seq.boxes)
        bounds.append(_image_size(seq))
        lengths.append(len(seq))
    row = {"tracker": tracker, "sequences": f"{len(runs)}/{len(sequences)}"}
    curves, detail = {}, {"missing": missing, "failed": failed}
    if runs:
        acc = M.vot_accuracy(runs, gts, bounds, burnin=burnin)
        rob = M.vot_robustness(runs, lengths)
        curve = M.eao_curve(runs, gts, bounds, skipping=skipping)
        row.update(accuracy=acc["accuracy"], robustness=rob["robustness"], lost=rob["failures"],
                   eao=M.eao_score(curve=curve, interval=interval))
        curves = {"eao": curve.tolist()}
        detail["per_sequence"] = {
            s.name: {"accuracy": a, "failures": f}
            for s, a, f in zip([q for q in sequences if q.name not in missing + failed], acc["per_sequence"], rob["per_sequence"])
        }
    row["failed"] = len(failed)
    return row, curves, detail


OPE_COLUMNS = [
    ("tracker", "Tracker"), ("auc", "Success AUC"), ("precision", "Prec@20"), ("norm_precision", "NormPrec@0.2"),
    ("sr_otb", "SR@0.5 (OTB)"), ("ao", "AO"), ("sr50", "SR0.5"), ("sr75", "SR0.75"), ("fps", "FPS"),
    ("sequences", "Sequences"), ("failed", "Failed"),
]
VOT_COLUMNS = [
    ("tracker", "Tracker"), ("eao", "EAO"), ("accuracy", "Accuracy"), ("robustness", "Robustness"),
    ("lost", "Lost"), ("sequences", "Sequences"), ("failed", "Failed"),
]


def evaluate(results_dirs, sequences, dataset: str, convention="got10k", protocol: str | None = None,
             trackers=None, eao_interval=M.VOT2018_EAO_INTERVAL, burnin: int = 10, skipping: int = 5) -> Report:
    """Score the raw results of ``trackers`` (default: all found) on ``sequences``; no files written."""
    conv = M.get_convention(convention)
    dirs = _as_list(results_dirs)
    found = discover_trackers(dirs, dataset)
    if trackers:
        unknown = [t for t in trackers if t not in found]
        if unknown:
            raise ValueError(f"no results for {', '.join(unknown)} on {dataset!r} in {', '.join(dirs)}")
        found = {t: found[t] for t in trackers}
    if protocol is None:
        protos = set(found.values())
        protocol = protos.pop() if len(protos) == 1 else "ope"
    found = {t: p for t, p in found.items() if p == protocol}
    if not found:
        raise ValueError(f"no {protocol} results for dataset {dataset!r} in {', '.join(dirs)}")
    rep = Report(dataset, protocol, conv.name, OPE_COLUMNS if protocol == "ope" else VOT_COLUMNS)
    for t in found:
        if protocol == "ope":
            row, curves, detail = _evaluate_ope(t, dirs, dataset, sequences, conv)
        else:
            row, curves, detail = _evaluate_vot(t, dirs, dataset, sequences, tuple(eao_interval), burnin, skipping)
        rep.rows.append(row)
        rep.curves[t] = curves
        rep.details[t] = detail
    key = "auc" if protocol == "ope" else "eao"
    rep.rows.sort(key=lambda r: (-np.nan_to_num(r.get(key, np.nan), nan=-np.inf), r["tracker"]))
    rep.eao_interval = tuple(eao_interval)
    return rep


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if np.isnan(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_report(rep: Report, out_dir, plots: bool = True) -> list[str]:
    """Write ``report.md``, ``report.csv``, ``report.json`` and the PNG plots to ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    files = []
    title = rep.title()
    md = f"# {title}\n\n{rep.markdown()}\n"
    for t, d in rep.details.items():
        if d.get("missing") or d.get("failed"):
            md += f"\n- {t}: missing {len(d['missing'])} sequence(s), failed {len(d['failed'])}"
            if d["failed"]:
                md += f" ({', '.join(d['failed'][:10])}{', ...' if len(d['failed']) > 10 else ''})"
    p = os.path.join(out_dir, "report.md")
    with open(p, "w", encoding="utf-8") as f:
        f.write(md + "\n")
    files.append(p)

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([k for k, _ in rep.columns])
    for r in rep.rows:
        w.writerow(["" if r.get(k) is None or (isinstance(r.get(k), float) and np.isnan(r[k])) else r.get(k)
                    for k, _ in rep.columns])
    p = os.path.join(out_dir, "report.csv")
    with open(p, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    files.append(p)

    p = os.path.join(out_dir, "report.json")
    payload = {"dataset": rep.dataset, "protocol": rep.protocol, "convention": rep.convention,
               "rows": rep.rows, "curves": rep.curves, "details": rep.details}
    if rep.protocol == "vot":
        payload["eao_interval"] = list(rep.eao_interval)
    with open(p, "w", encoding="utf-8") as f:
        json.dump(_jsonable(payload), f, indent=1)
    files.append(p)

    if plots:
        rows = {r["tracker"]: r for r in rep.rows}
        have = [t for t in rows if rep.curves.get(t)]
        if rep.protocol == "ope" and have:
            files.append(plot_curves(
                M.success_thresholds(rep.convention), {t: (rep.curves[t]["success"], rows[t]["auc"]) for t in have},
                os.path.join(out_dir, "success.png"), f"Success plot - {title}", "Overlap threshold", "Success rate"))
            files.append(plot_curves(
                M.precision_thresholds(rep.convention), {t: (rep.curves[t]["precision"], rows[t]["precision"]) for t in have},
                os.path.join(out_dir, "precision.png"), f"Precision plot - {title}", "Location error threshold (px)",
                "Precision"))
            files.append(plot_curves(
                M.normalized_precision_thresholds(rep.convention),
                {t: (rep.curves[t]["norm_precision"], rows[t]["norm_precision"]) for t in have},
                os.path.join(out_dir, "norm_precision.png"), f"Normalized precision plot - {title}",
                "Normalized location error threshold", "Normalized precision"))
        elif rep.protocol == "vot" and have:
            files.append(plot_eao({t: (np.asarray(rep.curves[t]["eao"]), rows[t]["eao"]) for t in have},
                                  rep.eao_interval, os.path.join(out_dir, "eao.png"), f"EAO - {title}"))
    rep.files = files
    return files


def make_report(results_dirs, sequences, dataset: str, out_dir, **kw) -> Report:
    """:func:`evaluate` then :func:`write_report`."""
    plots = kw.pop("plots", True)
    rep = evaluate(results_dirs, sequences, dataset, **kw)
    write_report(rep, out_dir, plots=plots)
    return rep
