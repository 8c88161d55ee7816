"""Tracking speed: FPS per tracker and variant, on the demo clip and on a shared-data sequence.

    python benchmarks/speed.py                           # all adaptrack trackers + csrt, 2 threads
    python benchmarks/speed.py siamfc siamfc:onnx gradnet --variants --frames 100
    python benchmarks/speed.py --parts                   # SiamFC backbone/branch table (docs/backbones.md)
    python benchmarks/speed.py --xcorr                   # grouped conv vs depthwise + sum
    python benchmarks/speed.py --cpu --threads 1 ...     # CPU time instead of wall time (see below)
    python benchmarks/speed.py siamfc dimp --repeat 5     # median of 5 round-robin runs, and their range

FPS counts ``track()`` calls only (wall clock, frames already in memory); ``init`` is the first frame.
Weights: the bundled ones when present, else random (speed does not depend on the values; the table says
which). The machine's 1-minute load average is printed with the table: other processes on the 2 cores
slow everything down, so compare rows of one run. ``--cpu`` measures the process's CPU time instead
of wall time (use it with ``--threads 1``: OpenCV is then single-threaded too): it ignores time spent
waiting for a core, so it estimates the unloaded single-thread cost when other jobs share the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from adaptrack.errors import AdaptrackError  # noqa: E402
from adaptrack.trackers.base import create, get_entry, list_trackers  # noqa: E402


def _load_frames(source: str, frames: int):
    if source == "demo":
        try:
            from adaptrack.demo_clip import make_demo_clip

            clip = make_demo_clip(frames + 1)
            return "demo clip", list(clip.frames), clip.boxes[0]
        except ImportError:
            rng = np.random.default_rng(0)
            base = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
            return "synthetic", [np.roll(base, 3 * i, axis=1) for i in range(frames + 1)], np.array([200, 150, 60, 50.0])
    from adaptrack.datasets.shared import load_split

    seqs = {s.name: s for s in load_split("val")}
    seq = seqs.get(source) or next(iter(seqs.values()))
    n = min(len(seq), frames + 1)
    return f"{seq.name} ({seq.frame(0).shape[1]}x{seq.frame(0).shape[0]})", [seq.frame(i) for i in range(n)], np.asarray(seq.init_box)


def _build(name: str, variant: str | None, **kw):
    if get_entry(name).family != "adaptrack":
        return create(name, variant=variant, **kw), "-"
    try:
        return create(name, variant=variant, **kw), "bundled"
    except AdaptrackError as e:
        if "weights" not in str(e).lower() and "not trained" not in str(e).lower():
            raise
        return create(name, variant=variant, weights=None, **kw), "random"


CLOCK = time.perf_counter


def time_tracker(name, variant, frames, box):
    tracker, w = _build(name, variant)
    t0 = CLOCK()
    tracker.initialize(frames[0], box)
    init_ms = (CLOCK() - t0) * 1e3
    times = []
    for f in frames[1:]:
        t = CLOCK()
        tracker.track(f)
        times.append(CLOCK() - t)
    times = np.array(times[2:] if len(times) > 5 else times)  # first calls allocate
    return {"init_ms": init_ms, "median_ms": np.median(times) * 1e3, "fps": 1.0 / times.mean(), "weights": w}


def _targets(args):
    names = args.trackers or [e.name for e in list_trackers() if e.family == "adaptrack"] + ["csrt"]
    out = []
    for item in names:
        name, _, variant = item.partition(":")
        out.append((name, variant or None))
        if args.variants and not variant:
            out += [(name, v) for v in get_entry(name).variants()]
    return out


def run_trackers(args):
    for source in args.sources:
        try:
            label, frames, box = _load_frames(source, args.frames)
        except (AdaptrackError, OSError) as e:
            print(f"[skip source {source}: {e}]")
            continue
        print(f"\n## {label}: {len(frames) - 1} tracked frames, {torch.get_num_threads()} threads, "
              f"load avg {os.getloadavg()[0]:.1f}{', CPU time' if CLOCK is time.process_time else ''}")
        if args.repeat > 1:
            print(f"(each tracker timed {args.repeat} times, round-robin; the row is the median run by FPS, "
                  "the last column the range over the runs)")
        print(f"| tracker | variant | weights | init ms | median ms/frame | FPS |{' FPS range |' if args.repeat > 1 else ''}")
        print(f"|---|---|---|---|---|---|{'---|' if args.repeat > 1 else ''}")
        targets = _targets(args)
        runs: dict = {t: [] for t in targets}
        errors: dict = {}
        # round-robin over the trackers, so a slow spell of the (shared, virtual) machine hits all of them
        for _ in range(max(1, args.repeat)):
            for name, variant in targets:
                if (name, variant) in errors:
                    continue
                try:
                    runs[(name, variant)].append(time_tracker(name, variant, frames, box))
                except Exception as e:  # one broken tracker must not hide the others' numbers
                    errors[(name, variant)] = f"{type(e).__name__}: {str(e)[:80]}"
        for name, variant in targets:
            if (name, variant) in errors:
                print(f"| {name} | {variant or '-'} | error: {errors[(name, variant)]} | | | |")
                continue
            rs = sorted(runs[(name, variant)], key=lambda r: r["fps"])
            r = rs[len(rs) // 2]
            extra = f" {rs[0]['fps']:.1f}-{rs[-1]['fps']:.1f} |" if args.repeat > 1 else ""
            print(f"| {name} | {variant or '-'} | {r['weights']} | {r['init_ms']:.1f} | {r['median_ms']:.2f} | {r['fps']:.1f} |{extra}")


def _median_ms(fn, n=20, warmup=3):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(n):
        t = CLOCK()
        fn()
        ts.append(CLOCK() - t)
    return float(np.median(ts) * 1e3)


def run_parts(args):
    """Per-architecture cost of SiamFC's branches: template, 3-scale search, and a full tracking step."""
    from adaptrack.export import OnnxBranches
    from adaptrack.trackers.siamfc import SiamFCNet

    configs = [
        ("efficientnet_lite0 s8, adjust 128", dict(layers=("s8",)), 112, 224),
        ("efficientnet_lite0 s8, adjust 128", dict(layers=("s8",)), 128, 256),
        ("efficientnet_lite0 s8+s16, adjust 128", dict(layers=("s8", "s16")), 128, 256),
        ("efficientnet_lite0 s16, adjust 128", dict(layers=("s16",)), 128, 256),
        ("alexnet (SiamFC, full width)", dict(backbone="alexnet", adjust="none", freeze=None), 127, 255),
        ("alexnet half width", dict(backbone="alexnet_half", adjust="none", freeze=None), 127, 255),
    ]
    print(f"\n## SiamFC branches, {torch.get_num_threads()} threads, load avg {os.getloadavg()[0]:.1f}")
    print("| network | Z/X | backend | template ms | 3-scale search ms | xcorr ms | branches FPS |\n|---|---|---|---|---|---|---|")
    for label, kw, Z, X in configs:
        net = SiamFCNet(**kw).eval()
        z, x = torch.rand(1, 3, Z, Z) * 255, torch.rand(3, 3, X, X) * 255
        with torch.inference_mode():
            zf, xf = net.template(z), net.search(x)
            xc_ms = _median_ms(lambda: net.score(zf, xf))
        rows = []
        with torch.inference_mode():
            rows.append(("torch", _median_ms(lambda: net.template(z)), _median_ms(lambda: net.search(x))))
            netc = net.to(memory_format=torch.channels_last)
            zc, xc = z.contiguous(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
            rows.append(("torch channels-last", _median_ms(lambda: netc.template(zc)), _median_ms(lambda: netc.search(xc))))
        net = net.to(memory_format=torch.contiguous_format)
        br = OnnxBranches.from_net(net, Z, X, 3)
        rows.append(("onnxruntime", _median_ms(lambda: br.template(z)), _median_ms(lambda: br.search(x))))
        if net.foldable:  # the tracker's default: search branch without its last 1x1 conv + BN (fold_template)
            bf = OnnxBranches.from_net(net, Z, X, 3, search_method="search_trunk")
            rows.append(("onnxruntime, folded", _median_ms(lambda: bf.template(z)), _median_ms(lambda: bf.search(x))))
        for backend, t_ms, s_ms in rows:
            print(f"| {label} | {Z}/{X} | {backend} | {t_ms:.2f} | {s_ms:.2f} | {xc_ms:.2f} | {1000 / (s_ms + xc_ms):.0f} |")


def run_xcorr(args):
    from adaptrack.nn.correlation import xcorr

    print(f"\n## full cross-correlation, {torch.get_num_threads()} threads, load avg {os.getloadavg()[0]:.1f}")
    print("| z | x | grouped conv ms | depthwise + sum ms |\n|---|---|---|---|")
    for bz, b, c, hz, hx in [(1, 3, 256, 6, 22), (1, 3, 128, 16, 32), (8, 8, 256, 6, 22), (8, 8, 128, 16, 32)]:
        z, x = torch.randn(bz, c, hz, hz), torch.randn(b, c, hx, hx)
        with torch.inference_mode():
            g = _median_ms(lambda: xcorr(z, x, "grouped"))
            d = _median_ms(lambda: xcorr(z, x, "depthwise"))
        print(f"| {bz}x{c}x{hz}x{hz} | {b}x{c}x{hx}x{hx} | {g:.2f} | {d:.2f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trackers", nargs="*", help="tracker names, optionally name:variant (default: all adaptrack trackers + csrt)")
    ap.add_argument("--variants", action="store_true", help="also every variant of each named tracker")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1,
                    help="time each tracker N times (round-robin) and report the median run and the range")
    ap.add_argument("--sources", nargs="+", default=["demo", "val"],
                    help="'demo' (the demo clip), 'val' (first val sequence) or a val sequence name")
    ap.add_argument("--parts", action="store_true", help="SiamFC backbone/branch table instead of trackers")
    ap.add_argument("--xcorr", action="store_true", help="cross-correlation implementations instead of trackers")
    ap.add_argument("--cpu", action="store_true", help="process CPU time instead of wall time (with --threads 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    global CLOCK
    if args.cpu:
        import cv2

        cv2.setNumThreads(args.threads)
        CLOCK = time.process_time
        print("[times are process CPU time, not wall time]")
    if args.xcorr:
        run_xcorr(args)
    if args.parts:
        run_parts(args)
    if not (args.xcorr or args.parts):
        run_trackers(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
