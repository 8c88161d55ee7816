"""Run-to-run spread of randomised trackers: the val-split success AUC of each tracker over several seeds.

    python benchmarks/seeds.py dimp dimp:gd --seeds 0 1 2 3 4 --out runs/seeds --workers 2
    python benchmarks/seeds.py dimp --weights runs/dimp_new/dimp.pt --out runs/seeds_new   # a weights file

Trackers with a ``seed`` parameter (DiMP: the first frame's augmentations and the IoU-Net candidates) are
built as ``adaptrack.create(name, variant=..., seed=s)``. Their results are stored under labels
``NAME[-VARIANT]-seedS``, one results folder per label (resumable, like ``adaptrack eval``). The script
prints one row per tracker: the AUC of every seed, their mean and their sample standard deviation.
A single run's AUC is one draw; compare trackers by these means, and by the spread.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _make(name: str, variant: str | None, seed: int, weights: str = "default"):
    import adaptrack

    return adaptrack.create(name, variant=variant, seed=seed, weights=weights)


def _label(name: str, variant: str | None, seed: int) -> str:
    return f"{name}{'-' + variant if variant else ''}-seed{seed}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trackers", nargs="+", help="NAME or NAME:VARIANT of trackers with a 'seed' parameter")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--split", default="val")
    ap.add_argument("--out", default="runs/seeds")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--weights", default="default", help="weights file for every tracker (default: the bundled ones)")
    args = ap.parse_args(argv)
    if args.weights != "default" and not os.path.isfile(args.weights):
        raise SystemExit(f"seeds.py: no such weights file: {args.weights}")

    from adaptrack.datasets.shared import load_split
    from adaptrack.evaluation.report import evaluate
    from adaptrack.evaluation.runner import TrackerSpec, run_eval
    from adaptrack.trackers.base import get_entry

    targets = []
    for spec in args.trackers:
        name, _, variant = spec.partition(":")
        entry = get_entry(name)
        entry.make_params(variant or None)  # unknown variants fail before any work
        if "seed" not in {f.name for f in dataclasses.fields(entry.params_cls)}:
            raise SystemExit(f"seeds.py: tracker {name!r} has no 'seed' parameter")
        targets.append((name, variant or None))
    seqs = load_split(args.split)
    specs = [TrackerSpec(label=_label(n, v, s), factory=functools.partial(_make, n, v, s, args.weights))
             for n, v in targets for s in args.seeds]
    print(run_eval(specs, seqs, out_dir=args.out, workers=args.workers, dataset=f"shared_{args.split}", progress=False))
    rep = evaluate(args.out, seqs, f"shared_{args.split}", trackers=[s.label for s in specs])
    auc = {row["tracker"]: row["auc"] for row in rep.rows}
    print(f"\n| tracker | {' | '.join(f'seed {s}' for s in args.seeds)} | mean | std |")
    print(f"|---|{'---:|' * (len(args.seeds) + 2)}")
    for n, v in targets:
        vals = np.array([auc[_label(n, v, s)] for s in args.seeds], dtype=float)
        std = vals.std(ddof=1) if len(vals) > 1 else 0.0
        print(f"| {n}{':' + v if v else ''} | {' | '.join(f'{a:.3f}' for a in vals)} | {vals.mean():.3f} | {std:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
