"""Evaluation protocols: how a tracker is run on a sequence. They return raw results, nothing is scored here.

* :func:`run_ope` — one-pass evaluation (OTB, UAV123, LaSOT, GOT-10k...): initialise on frame 0 with the
  ground-truth box, track every later frame, record boxes and per-frame times.
* :func:`run_vot_supervised` — the VOT short-term "baseline" experiment (VOT2013-2019): when the overlap of
  the predicted box with the ground-truth region (polygon if annotated) drops to ``<= 0`` the frame is a
  failure (code ``2``), the next ``skip_initialize - 1`` frames are skipped (code ``0``) and the tracker is
  re-initialised on frame ``failure + skip_initialize`` (code ``1``). The run is repeated (15 times by default)
  and stops early when the first 3 runs are identical (a deterministic tracker).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..geometry import poly_iou
from ..image import as_rgb_uint8

__all__ = ["OPEResult", "VOTRun", "run_ope", "run_vot_supervised", "vot_run_signature"]


@dataclass
class OPEResult:
    """Raw one-pass result: ``boxes`` ``(N, 4)`` (row 0 is the initial box), ``times`` ``(N,)`` seconds
    (row 0 is the initialisation time), ``scores`` ``(N,)`` tracker confidences (NaN on frame 0)."""

    boxes: np.ndarray
    times: np.ndarray
    scores: np.ndarray


@dataclass
class VOTRun:
    """One repetition of the supervised experiment: per frame a box ``[x, y, w, h]`` or a code ``[1]`` init,
    ``[2]`` failure, ``[0]`` skipped; ``times`` per frame (NaN on skipped frames)."""

    trajectory: list = field(default_factory=list)
    times: np.ndarray | None = None

    @property
    def failures(self) -> int:
        return sum(1 for e in self.trajectory if len(e) == 1 and e[0] == 2)


def _frame(sequence, i):
    return as_rgb_uint8(sequence.frame(i))


def run_ope(tracker, sequence, progress: Callable[[int], None] | None = None) -> OPEResult:
    """Track ``sequence`` once from its first annotated box. ``progress(i)`` is called after every frame."""
    n = len(sequence)
    boxes = np.full((n, 4), np.nan)
    times = np.zeros(n)
    scores = np.full(n, np.nan)
    init = np.asarray(sequence.boxes[0], dtype=np.float64)
    for i in range(n):
        frame = _frame(sequence, i)
        t0 = time.perf_counter()
        if i == 0:
            tracker.initialize(frame, init)
            boxes[0] = init
        else:
            out = tracker.track(frame)
            boxes[i] = out.box
            scores[i] = float(out.score)
        times[i] = time.perf_counter() - t0
        if progress is not None:
            progress(i)
    return OPEResult(boxes, times, scores)


def _gt_region(sequence, i):
    if sequence.polygons is not None and i < len(sequence.polygons) and not np.isnan(sequence.polygons[i]).any():
        return np.asarray(sequence.polygons[i], dtype=np.float64)
    return np.asarray(sequence.boxes[i], dtype=np.float64)


def _run_supervised_once(tracker, sequence, skip_initialize, progress=None) -> VOTRun:
    n = len(sequence)
    traj: list = []
    times = np.full(n, np.nan)
    next_start = 0
    failed = False
    for i in range(n):
        if failed and i < next_start:
            traj.append([0])
            if progress is not None:
                progress(i)
            continue
        frame = _frame(sequence, i)
        t0 = time.perf_counter()
        if i == next_start:
            box = np.asarray(sequence.boxes[i], dtype=np.float64)
            if np.isnan(box).any():  # no annotation to restart from: wait for the next annotated frame
                traj.append([0])
                next_start = i + 1
                continue
            tracker.initialize(frame, box)
            traj.append([1])
            failed = False
        else:
            out = tracker.track(frame)
            box = np.asarray(out.box, dtype=np.float64).reshape(4)
            h, w = frame.shape[:2]
            overlap = poly_iou([box], [_gt_region(sequence, i)], bound=(w, h))[0]
            if overlap <= 0:  # NaN (unannotated frame) is not a failure
                traj.append([2])
                failed = True
                next_start = i + skip_initialize
            else:
                traj.append([float(v) for v in box])
        times[i] = time.perf_counter() - t0
        if progress is not None:
            progress(i)
    return VOTRun(traj, times)


def vot_run_signature(run: VOTRun | list) -> str:
    """A text form of a trajectory; equal signatures mean identical runs (deterministic tracker)."""
    traj = run.trajectory if isinstance(run, VOTRun) else run
    return "\n".join(format_vot_entry(e) for e in traj)


def format_vot_entry(entry) -> str:
    """One line of a pysot / VOT raw result file: ``1`` / ``2`` / ``0`` or ``x,y,w,h`` with 4 decimals."""
    if len(entry) == 1:
        return f"{int(entry[0])}"
    return ",".join(f"{float(v):.4f}" for v in entry)


def run_vot_supervised(
    make_tracker: Callable[[], object],
    sequence,
    repetitions: int = 15,
    skip_initialize: int = 5,
    deterministic_check: int = 3,
    done: list | None = None,
    on_run: Callable[[int, VOTRun], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[VOTRun]:
    """Run the supervised experiment ``repetitions`` times, each with a fresh tracker from ``make_tracker``.

    After ``deterministic_check`` runs, if they are all identical the remaining repetitions are skipped.
    ``done`` holds runs already recorded (resume); ``on_run(r, run)`` is called after each new repetition
    ``r`` (0-based) so the caller can store it at once.
    """
    runs: list = list(done or [])
    for r in range(len(runs), repetitions):
        if r >= deterministic_check and deterministic_check > 0:
            sigs = {vot_run_signature(x) for x in runs[:deterministic_check]}
            if len(sigs) == 1:
                break
        run = _run_supervised_once(make_tracker(), sequence, skip_initialize, progress)
        runs.append(run)
        if on_run is not None:
            on_run(r, run)
    return runs
