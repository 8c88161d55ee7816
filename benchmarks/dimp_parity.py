"""DiMP speed work: per-part timing of a tracked frame, and parity of the tracker against another checkout.

    python benchmarks/dimp_parity.py parts [--threads 1] [--frames 100] [--root /path/to/other/checkout]
    python benchmarks/dimp_parity.py parity --base /path/to/other/checkout [--frames 180]
    python benchmarks/dimp_parity.py chaos [--rel 1e-7] [--frames 180]

``parts`` times the pieces of ``DiMPTracker.track`` on the demo clip (wall clock, median and mean ms per
frame; the tracker's methods wrapped with timers): crop, uint8 -> float, the ONNX Runtime frame branch,
the score map's peak search, the IoU-Net refinement (and its per-frame context), the model update
(``optimize`` is the cost of one optimizer call, when it runs). ``--root`` times another checkout's tracker.

``parity`` compares this checkout's tracker with the one of ``--base`` (e.g. a ``git worktree`` of an
earlier commit; its ``adaptrack`` package is copied to a temporary folder under another name so both
load in one process). The tracker is chaotic -- a float32-rounding-sized change of one refined box
(relative 1e-7) moves later boxes by tens of pixels on the demo clip -- so two free runs only agree when
every operation is bitwise the same. The test of "the same method up to float rounding" is therefore
**teacher-forced**: before every frame the tracker under test gets the base tracker's exact state
(position, size, filter, sample memory, random generator, modulation); both track the frame; their boxes,
scores, flags and updated filters are compared. The free-running difference is printed too.

``chaos`` measures that sensitivity: this checkout's tracker on the demo clip, free-running, with and
without every IoU-Net-refined box multiplied by ``1 + rel``.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parts(args) -> int:
    sys.path.insert(0, os.path.abspath(args.root or ROOT))
    import adaptrack
    from adaptrack.demo_clip import make_demo_clip

    print(f"adaptrack from {os.path.dirname(os.path.dirname(adaptrack.__file__))}")
    torch.set_num_threads(args.threads)
    clip = make_demo_clip(args.frames + 1)
    t = adaptrack.create("dimp")
    times: dict[str, list[float]] = {}

    def wrap(obj, name, key):
        fn = getattr(obj, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            times.setdefault(key, []).append(time.perf_counter() - t0)
            return out

        setattr(obj, name, timed)

    for obj, name, key in ((t, "track", "track (total)"), (t, "_crop", "crop"), (t, "_to_tensor", "uint8 -> float"),
                           (t, "_frame_branch", "frame branch (ONNX Runtime)"), (t, "_localize", "peak search"),
                           (t, "_estimate_box", "IoU-Net refinement"), (t.net.iou_net, "_refine_context", "  its per-frame context"),
                           (t, "_update", "model update"), (t, "_optimize", "  one optimizer call")):
        wrap(obj, name, key)
    t.initialize(clip.frames[0], clip.boxes[0])
    for v in times.values():
        v.clear()
    for f in clip.frames[1:]:
        t.track(f)
    print(f"demo clip, {args.frames} frames, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}; ms")
    print("| part | median | mean | calls |\n|---|---:|---:|---:|")
    for k, v in times.items():
        v = np.array(v[2:] if len(v) > 10 else v) * 1e3
        print(f"| {k} | {np.median(v):.2f} | {v.mean():.2f} | {len(v)} |")
    return 0


def _import_base(path: str):
    """The ``adaptrack`` package of checkout ``path``, copied and imported as ``adaptrack_base``."""
    src = os.path.join(os.path.abspath(path), "adaptrack")
    if not os.path.isdir(src):
        raise SystemExit(f"no adaptrack package in {path}")
    tmp = tempfile.mkdtemp(prefix="dimp_parity_")
    shutil.copytree(src, os.path.join(tmp, "adaptrack_base"), ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, tmp)
    import adaptrack_base.trackers.dimp as base_dimp

    return base_dimp, tmp


STATE = ("pos", "size", "init_size", "box", "frame_num", "filter", "modulation", "memory", "rng")


def parity(args) -> int:
    sys.path.insert(0, ROOT)
    import adaptrack.trackers.dimp as new_dimp
    from adaptrack.demo_clip import make_demo_clip

    torch.set_num_threads(1)
    base_dimp, tmp = _import_base(args.base)
    try:
        clip = make_demo_clip(args.frames + 1)
        # teacher-forced
        t0, t1 = base_dimp.DiMPTracker(), new_dimp.DiMPTracker()
        t0.initialize(clip.frames[0], clip.boxes[0])
        t1.initialize(clip.frames[0], clip.boxes[0])
        init_df = float((t0.filter - t1.filter).abs().max())
        db, ds, df, flags = [], [], [], 0
        for f in clip.frames[1:]:
            for k in STATE:
                setattr(t1, k, copy.deepcopy(getattr(t0, k)))
            o0, o1 = t0.track(f), t1.track(f)
            db.append(float(np.abs(np.asarray(o0.box) - np.asarray(o1.box)).max()))
            ds.append(abs(o0.score - o1.score))
            df.append(float((t0.filter - t1.filter).abs().max()))
            flags += o0.extras["flag"] != o1.extras["flag"]
        db = np.array(db)
        print(f"teacher-forced, {args.frames} demo frames: max |box diff| {db.max():.3g} px (frame {int(db.argmax()) + 1}), "
              f"frames above 1e-3 px: {int((db > 1e-3).sum())}; max |score diff| {max(ds):.3g}; "
              f"max |filter diff| {max(df):.3g} (after init {init_df:.3g}); flag mismatches {flags}")
        # free-running
        runs = []
        for mod in (base_dimp, new_dimp):
            t = mod.DiMPTracker()
            t.initialize(clip.frames[0], clip.boxes[0])
            runs.append(np.array([t.track(f).box for f in clip.frames[1:]]))
        d = np.abs(runs[0] - runs[1]).max(1)
        first = int(np.argmax(d > 1e-3)) + 1 if (d > 1e-3).any() else None
        print(f"free-running: max |box diff| {d.max():.3g} px; first frame above 1e-3 px: {first}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def chaos(args) -> int:
    sys.path.insert(0, ROOT)
    import adaptrack
    from adaptrack.demo_clip import make_demo_clip

    torch.set_num_threads(1)
    clip = make_demo_clip(args.frames + 1)
    runs = []
    for rel in (0.0, args.rel):
        t = adaptrack.create("dimp")
        if rel:
            refine = t.net.iou_net.refine

            def perturbed(*a, _refine=refine, _rel=rel, **k):
                b, iou = _refine(*a, **k)
                return b * (1 + _rel), iou

            t.net.iou_net.refine = perturbed
        t.initialize(clip.frames[0], clip.boxes[0])
        runs.append(np.array([t.track(f).box for f in clip.frames[1:]]))
    d = np.abs(runs[0] - runs[1]).max(1)
    marks = ", ".join(f"frame {i}: {d[i - 1]:.2g}" for i in (3, 10, 30, 60, 120, 180) if i <= len(d))
    print(f"refined boxes x (1 + {args.rel:g}), {args.frames} demo frames: max |box diff| {d.max():.3g} px "
          f"(frame {int(d.argmax()) + 1}); {marks} px")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parts", help="per-part timing of a tracked frame")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--root", default=None, help="time the tracker of this checkout instead")
    q = sub.add_parser("parity", help="teacher-forced and free-running comparison with another checkout")
    q.add_argument("--base", required=True, help="path of the other checkout (e.g. a git worktree)")
    q.add_argument("--frames", type=int, default=180)
    c = sub.add_parser("chaos", help="free-running sensitivity to a rounding-sized change of the refined boxes")
    c.add_argument("--rel", type=float, default=1e-7)
    c.add_argument("--frames", type=int, default=180)
    args = ap.parse_args(argv)
    return {"parts": parts, "parity": parity, "chaos": chaos}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
