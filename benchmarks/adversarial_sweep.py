"""Adversarial template adaptation (AUTracker) benchmark: val-split AUC of each Siamese base with and
without the ``adversarial`` variant beside CSRT (one run of the evaluation runner), the cost of the
adaptation at initialisation, the SiamFC++ tracking speed, and a small eps / alpha / N sweep on SiamFC++.

    python benchmarks/adversarial_sweep.py --out runs/adversarial [--workers 2] [--bases siamfcpp siamfc ...]
        [--no-sweep] [--max-frames N]

Prints markdown tables (paste them into docs/adversarial.md). Not a test: numbers depend on the machine.
Bases without bundled weights are skipped (and named).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import adaptrack  # noqa: E402
from adaptrack.trackers.base import get_entry  # noqa: E402

BASES = ("siamfcpp", "siamfc", "gradnet", "dsiam")
SWEEP = (  # (eps, alpha, steps) in grey levels, around the default of the 'adversarial' variant (8, 2, 5)
    (4.0, 1.0, 5),
    (16.0, 4.0, 5),
    (8.0, 2.0, 10),
)


class _Truncated:
    """The first ``n`` frames of a sequence (a quick run)."""

    def __init__(self, seq, n):
        self._seq, self._n = seq, min(int(n), len(seq))
        self.name, self.dataset = seq.name, seq.dataset
        self.boxes = seq.boxes[: self._n]
        for attr in ("polygons", "flags", "attributes"):
            v = getattr(seq, attr, None)
            if isinstance(v, np.ndarray):
                v = v[: self._n]
            elif isinstance(v, dict):
                v = {k: (a[: self._n] if isinstance(a, np.ndarray) else a) for k, a in v.items()}
            setattr(self, attr, v)

    def __len__(self):
        return self._n

    def frame(self, i):
        if i >= self._n:
            raise IndexError(i)
        return self._seq.frame(i)

    def __getattr__(self, k):
        return getattr(self._seq, k)


def available_bases(bases):
    out, missing = [], []
    for b in bases:
        try:
            entry = get_entry(b)
        except Exception:  # noqa: BLE001 - not registered here
            missing.append((b, "not registered"))
            continue
        if "adversarial" not in entry.variants():
            missing.append((b, "no 'adversarial' variant"))
        elif hasattr(entry.cls, "has_default_weights") and not entry.cls.has_default_weights():
            missing.append((b, "no bundled weights"))
        else:
            out.append(b)
    return out, missing


def sweep_factory(eps, alpha, steps):
    def make():
        return adaptrack.create("siamfcpp", adaptation={"method": "bim", "eps": eps, "alpha": alpha, "steps": steps})

    return make


def init_cost(bases, sequences, threads=1, repeats=3):
    """Median wall and process-CPU ms of ``initialize`` on each sequence's first frame, without and with
    adaptation, and of the adaptation module alone."""
    torch.set_num_threads(threads)
    rows = []
    for b in bases:
        plain = adaptrack.create(b)
        adv = adaptrack.create(b, variant="adversarial")
        acc = {k: [] for k in ("plain_wall", "plain_cpu", "adv_wall", "adv_cpu", "mod_wall", "mod_cpu")}
        for seq in sequences:
            frame, box = seq.frame(0), seq.boxes[0]
            for _ in range(repeats):
                for key, tr in (("plain", plain), ("adv", adv)):
                    t0, c0 = time.perf_counter(), time.process_time()
                    tr.initialize(frame, box)
                    acc[key + "_wall"].append(1000 * (time.perf_counter() - t0))
                    acc[key + "_cpu"].append(1000 * (time.process_time() - c0))
                acc["mod_wall"].append(adv.adaptation_info.get("ms", float("nan")))
                acc["mod_cpu"].append(adv.adaptation_info.get("cpu_ms", float("nan")))
        rows.append((b, {k: float(np.median(v)) for k, v in acc.items()}))
    return rows


def tracking_fps(name, seq, threads=2, frames=200, **kw):
    """Frames per second of ``track`` on ``seq``: from the median wall time per frame and from the median
    process CPU time per frame (with one thread the latter is what one dedicated core would give, even
    when other processes share the machine)."""
    torch.set_num_threads(threads)
    tr = adaptrack.create(name, **kw)
    n = min(len(seq), frames + 1)
    imgs = [seq.frame(i) for i in range(n)]
    tr.initialize(imgs[0], seq.boxes[0])
    for f in imgs[1:6]:  # warm-up
        tr.track(f)
    tr.initialize(imgs[0], seq.boxes[0])
    wall, cpu = [], []
    for f in imgs[1:]:
        t0, c0 = time.perf_counter(), time.process_time()
        tr.track(f)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1.0 / float(np.median(wall)), 1.0 / float(np.median(cpu))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/adversarial")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bases", nargs="*", default=list(BASES))
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-timing", action="store_true", help="accuracy tables only")
    ap.add_argument("--no-peer", action="store_true", help="leave CSRT out")
    ap.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each sequence")
    ap.add_argument("--threads", type=int, default=2, help="threads for the speed part (init cost: 1)")
    args = ap.parse_args(argv)

    from adaptrack.datasets.shared import load_split
    from adaptrack.evaluation.report import evaluate
    from adaptrack.evaluation.runner import TrackerSpec, run_eval

    seqs = load_split("val")
    if args.max_frames:
        seqs = [_Truncated(s, args.max_frames) for s in seqs]
    bases, missing = available_bases(args.bases)
    for b, why in missing:
        print(f"skipping {b}: {why}")
    specs = [] if args.no_peer else [TrackerSpec("csrt", "csrt")]
    for b in bases:
        specs += [TrackerSpec(b, b), TrackerSpec(f"{b}:adversarial", b, "adversarial")]
    if not args.no_sweep and "siamfcpp" in bases:
        for eps, alpha, steps in SWEEP:
            specs.append(TrackerSpec(f"siamfcpp_bim_e{eps:g}_a{alpha:g}_n{steps}", factory=sweep_factory(eps, alpha, steps)))
        specs.append(TrackerSpec("siamfcpp:adversarial_target", "siamfcpp", "adversarial_target"))
    t0 = time.time()
    summary = run_eval(specs, seqs, "ope", args.out, workers=args.workers, dataset="shared_val")
    print(summary)
    rep = evaluate(args.out, seqs, "shared_val", trackers=[s.label for s in specs])
    by = {r["tracker"]: r for r in rep.rows}
    print(f"\n## Val split (shared_val, {len(seqs)} sequences, OPE, got10k convention), eval wall {time.time() - t0:.0f} s\n")
    print("| tracker | AUC | Prec@20 | NormPrec | delta AUC vs base |")
    print("|---|---|---|---|---|")
    for s in specs:
        r = by.get(s.label, {})
        base = s.name if (s.variant or s.factory) and s.name else ("siamfcpp" if s.factory else None)
        delta = ""
        if base and base in by and s.label != base:
            delta = f"{100 * (r.get('auc', np.nan) - by[base].get('auc', np.nan)):+.1f}"
        print(f"| {s.label} | {100 * r.get('auc', np.nan):.1f} | {100 * r.get('precision', np.nan):.1f} | "
              f"{100 * r.get('norm_precision', np.nan):.1f} | {delta} |")

    # per-sequence: where adaptation helps and where not
    for b in bases:
        d0, d1 = rep.details.get(b, {}), rep.details.get(f"{b}:adversarial", {})
        per0, per1 = d0.get("per_sequence", {}), d1.get("per_sequence", {})
        if per0 and per1:
            better = sum(1 for k in per0 if k in per1 and per1[k].get("auc", 0) > per0[k].get("auc", 0) + 1e-9)
            worse = sum(1 for k in per0 if k in per1 and per1[k].get("auc", 0) < per0[k].get("auc", 0) - 1e-9)
            print(f"\n{b}: adaptation raises the AUC on {better} sequences and lowers it on {worse} of {len(per0)}")
            for k in per0:
                if k in per1:
                    print(f"  {k}: {100 * per0[k].get('auc', np.nan):.1f} -> {100 * per1[k].get('auc', np.nan):.1f}")

    if args.no_timing:
        return 0
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"\n## Initialisation cost (1 thread; median over the first frames of 6 val sequences x 3; load average {load:.1f})\n")
    print("| base | init wall ms | init CPU ms | with adaptation: wall ms | CPU ms | adaptation alone: wall ms | CPU ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for b, r in init_cost(bases, seqs[: min(len(seqs), 6)], 1):
        print(f"| {b} | {r['plain_wall']:.0f} | {r['plain_cpu']:.0f} | {r['adv_wall']:.0f} | {r['adv_cpu']:.0f} | "
              f"{r['mod_wall']:.0f} | {r['mod_cpu']:.0f} |")

    if "siamfcpp" in bases:
        print(f"\n## SiamFC++ tracking speed ({seqs[6].name}, 200 frames; load average {load:.1f})\n")
        print("| backend | threads | FPS from median wall time | FPS from median CPU time |")
        print("|---|---:|---:|---:|")
        for backend in ("onnxruntime", "torch"):
            for th in (1, args.threads):
                wall, cpu = tracking_fps("siamfcpp", seqs[6], th, backend=backend)
                print(f"| {backend} | {th} | {wall:.0f} | {cpu:.0f} |")
                if th == args.threads:
                    break
    return 0


if __name__ == "__main__":
    sys.exit(main())
