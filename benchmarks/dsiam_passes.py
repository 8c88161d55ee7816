"""DSiam's backbone passes per frame: process CPU time of each ONNX Runtime session of the tracker (2 threads).

    python benchmarks/dsiam_passes.py                 # the default (s8a + s8, 112/224) and dsiam:s8s16
    python benchmarks/dsiam_passes.py dsiam:fast

A tracked frame runs the search session once and, after each successful frame (nearly all), the O_t and
G_t / G_bar_t sessions once each; their sum bounds DSiam's speed from below whatever else is made cheaper.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def session_table(spec: str) -> float:
    """Print the per-session table of tracker ``spec`` (``name[:variant]``); return the per-frame sum."""
    import adaptrack

    name, _, variant = spec.partition(":")
    tracker = adaptrack.create(name, variant=variant or None)
    total = 0.0
    print(f"\n{spec}\n\n| session (batch, side) | median CPU ms per run |\n|---|---:|")
    for (batch, side), sess in tracker._onnx.sessions.items():
        x = np.random.default_rng(0).uniform(0, 255, (batch, 3, side, side)).astype(np.float32)
        sess.run(None, {"image": x})
        ts = []
        for _ in range(20):
            t0 = time.process_time()
            sess.run(None, {"image": x})
            ts.append(time.process_time() - t0)
        ms = float(np.median(ts)) * 1e3
        total += ms
        print(f"| {batch} x {side}^2 | {ms:.1f} |")
    print(f"| all (one frame with an update) | {total:.1f} |")
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trackers", nargs="*", default=["dsiam", "dsiam:s8s16"], help="dsiam[:variant] ...")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    for spec in args.trackers:
        session_table(spec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
