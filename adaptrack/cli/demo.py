"""``adaptrack demo``: generate the demo clip, track it with the default tracker, write the results.

Writes ``<out>/demo.mp4`` (predicted box thick with the tracker's name and score; ground truth thin white)
and ``<out>/demo.txt`` (one ``x,y,w,h`` line per frame), and prints the tracking speed and the success
AUC against the clip's known ground truth.
"""

from __future__ import annotations

import os
import time

import numpy as np

from .track import build_tracker, parse_tracker_spec, run_tracker, tracker_label

HELP = "track the generated demo clip with the default tracker and write out/demo.mp4 and out/demo.txt"


def add_parser(subparsers):
    p = subparsers.add_parser("demo", help=HELP, description=HELP + ".")
    p.add_argument("--out", default="out", metavar="DIR", help="output folder (default: out)")
    p.add_argument("--tracker", metavar="NAME[:VARIANT]", help="tracker to use (default: the best available)")
    p.add_argument("--weights", default="default", help="'default' (bundled) or a path to a .pt file")
    p.add_argument("--frames", type=int, default=None, metavar="N", help="clip length (default 180)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated clip (default 0)")
    p.add_argument("--no-video", action="store_true", help="write only demo.txt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args) -> int:
    from ..demo_clip import DEMO_FRAMES, make_demo_clip
    from ..evaluation.metrics import precision_at, success_auc
    from ..io import AnnotatedVideoWriter, draw_box, write_boxes

    name, variant = parse_tracker_spec(args.tracker)
    n = DEMO_FRAMES if args.frames is None else args.frames
    if n < 2:
        raise ValueError(f"--frames must be at least 2, got {n}")
    t0 = time.perf_counter()
    clip = make_demo_clip(num_frames=n, seed=args.seed)
    gen = time.perf_counter() - t0
    h, w = clip.frames.shape[1:3]
    print(f"demo clip: {len(clip)} frames of {w}x{h}, generated in {gen:.2f} s (seed {args.seed})")

    label = tracker_label(name, variant)
    how = "" if args.tracker else " (the default tracker; --tracker NAME picks another, `adaptrack list` shows them)"
    print(f"tracking with {label}{how}")
    tracker = build_tracker(name, variant, args.weights)

    def with_truth(i, frame):
        return draw_box(frame, clip.boxes[i], color=(255, 255, 255), thickness=1)

    os.makedirs(args.out, exist_ok=True)
    video_path = os.path.join(args.out, "demo.mp4")
    boxes_path = os.path.join(args.out, "demo.txt")
    if args.no_video:
        result = run_tracker(tracker, clip.frames, clip.boxes[0], label=label, progress=not args.quiet, total=len(clip))
    else:
        with AnnotatedVideoWriter(video_path, fps=30.0) as writer:
            result = run_tracker(
                tracker,
                clip.frames,
                clip.boxes[0],
                writer=writer,
                label=label,
                annotate=with_truth,
                progress=not args.quiet,
                total=len(clip),
            )
    pred = np.asarray(result.boxes)
    write_boxes(boxes_path, pred)
    gt = clip.boxes[: len(pred)]
    auc = success_auc(pred, gt)
    prec = precision_at(pred, gt, 20)
    print(f"tracker {label}: {result.n} frames, {result.fps:.1f} FPS tracking ({result.wall_fps:.1f} FPS with drawing and writing)")
    print(f"success AUC {auc:.3f}, precision@20px {prec:.3f} against the clip's ground truth")
    print(f"wrote {boxes_path}" + ("" if args.no_video else f" and {video_path}"))
    return 0
