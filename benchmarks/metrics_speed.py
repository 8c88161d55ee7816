"""Speed of scoring: 100 sequences x 1,000 frames (target: under 1 s for the one-pass metrics).

    .venv/bin/python benchmarks/metrics_speed.py [--sequences 100] [--frames 1000]

Prints, per convention, the time of the one-pass scoring a report does (success, precision and normalised
precision curves in one pass over the sequences, plus GOT-10k AO/SR), and the VOT measures' time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from adaptrack.evaluation import metrics as M


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=100)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    gts, preds, covers, bounds = [], [], [], []
    for _ in range(args.sequences):
        n = args.frames
        gt = np.column_stack([rng.uniform(0, 500, (n, 2)), rng.uniform(10, 120, (n, 2))])
        gt[rng.random(n) < 0.02] = np.nan
        gts.append(gt)
        preds.append(gt + rng.normal(0, 8, (n, 4)))
        covers.append(rng.integers(0, 9, n))
        bounds.append((640, 480))
    print(f"{args.sequences} sequences x {args.frames} frames, best of {args.repeat}")
    total_all = {}
    for conv in ("got10k", "pysot", "official"):
        parts = {}
        for name, fn in (
            ("curves", lambda: M.ope_curves(preds, gts, conv)),  # success + precision + normalised precision
            ("got10k_ao_sr", lambda: M.got10k_ao_sr(preds, gts, covers=covers, bounds=bounds)),
        ):
            best = np.inf
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            parts[name] = best
        total = sum(parts.values())
        total_all[conv] = total
        detail = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items())
        print(f"  {conv:8s} total {total:.3f} s  ({detail})  {'OK' if total < 1 else 'SLOW'} (< 1 s)")
    # VOT: 100 sequences x 1,000 frames, one repetition, a failure every ~200 frames
    trajs, vgts = [], []
    for g in gts[: args.sequences]:
        g = np.nan_to_num(g, nan=10.0)
        t = [list(b) for b in (g + rng.normal(0, 3, g.shape))]
        t[0] = [1]
        for f in range(200, len(t) - 6, 200):
            t[f] = [2]
            t[f + 1 : f + 5] = [[0]] * 4
            t[f + 5] = [1]
        trajs.append([t])
        vgts.append(g)
    t0 = time.perf_counter()
    M.vot_accuracy(trajs, vgts)
    t1 = time.perf_counter()
    M.eao_curve(trajs, vgts)
    t2 = time.perf_counter()
    print(f"  VOT accuracy {t1 - t0:.2f} s, EAO curve {t2 - t1:.2f} s (polygon overlaps via shapely)")


if __name__ == "__main__":
    main()
