"""Run trackers over sequences and store raw results: parallel, resumable, shardable.

Layout of ``out_dir`` (the got10k / pysot text formats, so other toolkits can read them)::

    <out>/<tracker>/<dataset>/<seq>.txt              one-pass boxes, one "x,y,w,h" line per frame
    <out>/<tracker>/<dataset>/<seq>_time.txt         one-pass per-frame seconds
    <out>/<tracker>/<dataset>/baseline/<seq>/<seq>_001.txt   VOT supervised repetition 1: per frame
                                                     "1" init, "2" failure, "0" skipped, else "x,y,w,h"
    <out>/<tracker>/<dataset>/baseline/<seq>/<seq>_time.txt  per-frame seconds, one column per repetition
    <out>/<tracker>/<dataset>/<seq>_error.txt        (or baseline/<seq>/<seq>_error.txt) why a sequence failed

A sequence name ``group/name`` becomes sub-folders. Every file is written to a temporary name and moved into
place with ``os.replace``, and a result file exists only once its sequence (or repetition) is complete, so
a run killed at any moment and started again skips what is done and redoes nothing else. Sequences that
failed (a corrupt or missing frame, a tracker error) get an error file with the message and the run goes
on; they are retried on the next run.

Parallelism: ``workers > 1`` runs sequences in a process pool (fork); each worker builds its own tracker with
:func:`adaptrack.create` and sets ``torch`` to one thread. Sharding across machines: under ``torchrun``
(``RANK`` / ``WORLD_SIZE`` in the environment) rank ``r`` takes the sequences with ``index % world == r``;
all ranks may write to one shared folder, or to separate folders that the report merges.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..io.writers import atomic_write_text
from .protocols import OPEResult, VOTRun, format_vot_entry, run_ope, run_vot_supervised, vot_run_signature

__all__ = [
    "TrackerSpec",
    "parse_tracker_spec",
    "run_eval",
    "EvalSummary",
    "ope_paths",
    "vot_dir",
    "read_vot_runs",
    "result_origin",
    "to_result_origin",
    "shard",
]

PROTOCOLS = ("ope", "vot")


# ----------------------------------------------------------------------------------------------------------
# trackers


@dataclass
class TrackerSpec:
    """A tracker to evaluate: ``label`` names its results folder; built by ``factory()`` or by
    ``adaptrack.create(name, variant=variant)`` (with ``weights=weights`` when a weights file is given)."""

    label: str
    name: str | None = None
    variant: str | None = None
    factory: Callable[[], object] | None = field(default=None, repr=False)
    weights: str | None = None

    def create(self):
        if self.factory is not None:
            return self.factory()
        from ..trackers.base import create

        return create(self.name, variant=self.variant, weights=self.weights if self.weights is not None else "default")


def parse_tracker_spec(spec) -> TrackerSpec:
    """``"csrt"``, ``"dimp:no_update"`` (name:variant), ``(label, factory)`` or a :class:`TrackerSpec`."""
    if isinstance(spec, TrackerSpec):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2 and callable(spec[1]):
        return TrackerSpec(label=str(spec[0]), factory=spec[1])
    if callable(spec):
        return TrackerSpec(label=getattr(spec, "name", None) or getattr(spec, "__name__", "tracker"), factory=spec)
    if isinstance(spec, str):
        name, _, variant = spec.strip().partition(":")
        if not name:
            raise ValueError(f"empty tracker name in {spec!r}")
        variant = variant or None
        label = name if variant is None else f"{name}-{variant}"
        return TrackerSpec(label=label, name=name, variant=variant)
    raise ValueError(f"cannot use {spec!r} as a tracker (give a name, 'name:variant' or (label, factory))")


# ----------------------------------------------------------------------------------------------------------
# files


def _seq_parts(name: str) -> list[str]:
    parts = [p for p in str(name).replace("\\", "/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"sequence name {name!r} cannot be used as a result path")
    return parts


def ope_paths(out_dir, tracker: str, dataset: str, seq_name: str) -> dict[str, str]:
    """Paths of a one-pass result: ``boxes``, ``times``, ``error``."""
    base = os.path.join(os.fspath(out_dir), tracker, dataset, *_seq_parts(seq_name))
    return {"boxes": base + ".txt", "times": base + "_time.txt", "error": base + "_error.txt"}


def vot_dir(out_dir, tracker: str, dataset: str, seq_name: str) -> str:
    """Folder of a VOT supervised result (pysot layout ``baseline/<seq>/``)."""
    return os.path.join(os.fspath(out_dir), tracker, dataset, "baseline", *_seq_parts(seq_name))


def _vot_base(seq_name: str) -> str:
    return _seq_parts(seq_name)[-1]


def _vot_rep_path(d: str, seq_name: str, r: int) -> str:
    return os.path.join(d, f"{_vot_base(seq_name)}_{r + 1:03d}.txt")


def read_vot_trajectory(path: str) -> list:
    """Read a pysot / VOT raw result file: a list of ``[code]`` or ``[x, y, w, h, ...]`` entries."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append([float(t) for t in line.replace("\t", ",").split(",")])
    return out


def read_vot_runs(d: str, seq_name: str) -> list[list]:
    """The consecutive repetition files ``<seq>_001.txt, <seq>_002.txt, ...`` found in ``d``."""
    runs = []
    while os.path.isfile(_vot_rep_path(d, seq_name, len(runs))):
        runs.append(read_vot_trajectory(_vot_rep_path(d, seq_name, len(runs))))
    return runs


def _fmt_times(times) -> str:
    return "\n".join("NaN" if not np.isfinite(t) else f"{t:.6f}" for t in np.asarray(times).reshape(-1)) + "\n"


def result_origin(seq) -> int:
    """Pixel origin of ``seq``'s native annotation files (1 for OTB/UAV/LaSOT-style, else 0).

    Loaders shift boxes to 0-based; raw result files are written back in the dataset's own origin, as
    the reference toolkits write them, so that our files and published ones can be compared directly.
    """
    return int((getattr(seq, "attributes", None) or {}).get("annotation_origin", 0))


def to_result_origin(boxes, origin: int) -> np.ndarray:
    """0-based ``(N, 4)`` boxes in a dataset's native origin (``origin`` added to x and y)."""
    b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    b[:, :2] += origin
    return b


def _fmt_boxes(boxes) -> str:
    return "\n".join(",".join(f"{v:.4f}" for v in row) for row in np.asarray(boxes)) + "\n"


def _vot_done(runs: list, repetitions: int, deterministic_check: int = 3) -> bool:
    if len(runs) >= repetitions:
        return True
    if deterministic_check and len(runs) >= deterministic_check:
        return len({vot_run_signature(r) for r in runs[:deterministic_check]}) == 1
    return False


def _is_done(protocol, out_dir, label, dataset, seq_name, repetitions) -> bool:
    if protocol == "ope":
        return os.path.isfile(ope_paths(out_dir, label, dataset, seq_name)["boxes"])
    d = vot_dir(out_dir, label, dataset, seq_name)
    return _vot_done(read_vot_runs(d, seq_name), repetitions)


# ----------------------------------------------------------------------------------------------------------
# one task = one tracker on one sequence


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}\n\n" + "".join(traceback.format_exception(exc))


def _run_one(spec: TrackerSpec, seq, protocol: str, out_dir, dataset: str, opts: dict) -> dict:
    t0 = time.perf_counter()
    res = {"tracker": spec.label, "sequence": seq.name, "status": "done", "error": None}
    if protocol == "ope":
        paths = ope_paths(out_dir, spec.label, dataset, seq.name)
        err_path = paths["error"]
    else:
        d = vot_dir(out_dir, spec.label, dataset, seq.name)
        err_path = os.path.join(d, f"{_vot_base(seq.name)}_error.txt")
    try:
        if protocol == "ope":
            r: OPEResult = run_ope(spec.create(), seq)
            atomic_write_text(paths["times"], _fmt_times(r.times))
            atomic_write_text(paths["boxes"], _fmt_boxes(to_result_origin(r.boxes, result_origin(seq))))  # written last: marks completion
        else:
            done = read_vot_runs(d, seq.name)
            tfile = os.path.join(d, f"{_vot_base(seq.name)}_time.txt")
            cols = []
            if done and os.path.isfile(tfile):
                t = np.genfromtxt(tfile, delimiter=",", ndmin=2)
                cols = [t[:, k] for k in range(min(t.shape[1], len(done)))]
            while len(cols) < len(done):  # times of a recorded run were lost: keep the file rectangular
                cols.append(np.full(len(seq), np.nan))

            def on_run(rep: int, run: VOTRun):
                cols.append(run.times)
                mat = np.column_stack(cols)
                text = "\n".join(",".join("NaN" if not np.isfinite(v) else f"{v:.6f}" for v in row) for row in mat)
                atomic_write_text(tfile, text + "\n")
                lines = "\n".join(format_vot_entry(e) for e in run.trajectory) + "\n"
                atomic_write_text(_vot_rep_path(d, seq.name, rep), lines)

            done_runs = [VOTRun(t) for t in done]
            run_vot_supervised(
                spec.create, seq, repetitions=opts.get("repetitions", 15),
                skip_initialize=opts.get("skip_initialize", 5), done=done_runs, on_run=on_run,
            )
        if os.path.isfile(err_path):
            os.remove(err_path)
    except Exception as e:  # noqa: BLE001 - a failed sequence is recorded and the run goes on
        res["status"] = "failed"
        res["error"] = f"{type(e).__name__}: {e}"
        atomic_write_text(err_path, _error_text(e))
    res["seconds"] = time.perf_counter() - t0
    return res


# process-pool worker state (set once per worker process by the initializer)
_WORKER: dict = {}


def _single_thread():
    """One compute thread per worker process (the pool provides the parallelism).

    OpenCV's thread count is not touched here: reconfiguring OpenCV's pthread pool in a forked child
    deadlocks (it waits on the parent's worker threads, which do not exist in the child). The parent
    sets OpenCV to one thread before forking instead (:func:`_opencv_threads`).
    """
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


@contextlib.contextmanager
def _opencv_threads(n: int):
    """OpenCV's thread count set to ``n`` for the block (before forking workers), then restored."""
    import cv2

    old = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(old)


def _init_worker(specs, sequences, protocol, out_dir, dataset, opts):
    os.environ["OMP_NUM_THREADS"] = "1"
    _single_thread()
    _WORKER.update(specs=specs, sequences=sequences, protocol=protocol, out_dir=out_dir, dataset=dataset, opts=opts)


def _worker_task(ti: int, si: int) -> dict:
    _single_thread()
    w = _WORKER
    return _run_one(w["specs"][ti], w["sequences"][si], w["protocol"], w["out_dir"], w["dataset"], w["opts"])


# ----------------------------------------------------------------------------------------------------------
# the runner


@dataclass
class EvalSummary:
    out_dir: str
    dataset: str
    protocol: str
    done: list = field(default_factory=list)  # (tracker, sequence) run now
    skipped: list = field(default_factory=list)  # (tracker, sequence) already on disk
    failed: list = field(default_factory=list)  # (tracker, sequence, message)
    seconds: float = 0.0

    def __str__(self) -> str:
        s = (
            f"{len(self.done)} sequence runs done, {len(self.skipped)} already done, {len(self.failed)} failed "
            f"in {self.seconds:.1f} s -> {self.out_dir}"
        )
        for t, q, msg in self.failed:
            s += f"\n  failed: {t} on {q}: {msg}"
        return s


def shard(n: int, rank: int | None = None, world: int | None = None) -> list[int]:
    """Indices ``i < n`` this rank takes: ``i % world == rank`` (``RANK`` / ``WORLD_SIZE`` from the environment)."""
    rank = int(os.environ.get("RANK", 0)) if rank is None else int(rank)
    world = int(os.environ.get("WORLD_SIZE", 1)) if world is None else int(world)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"bad shard rank {rank} of world size {world}")
    return [i for i in range(n) if i % world == rank]


def run_eval(
    trackers,
    sequences,
    protocol: str = "ope",
    out_dir="runs/eval",
    workers: int = 1,
    dataset: str | None = None,
    repetitions: int = 15,
    skip_initialize: int = 5,
    progress: bool = True,
    rank: int | None = None,
    world_size: int | None = None,
) -> EvalSummary:
    """Run every tracker on every sequence (of this shard) and write raw results under ``out_dir``.

    Args:
        trackers: names (``"csrt"``, ``"kcf:variant"``), ``(label, factory)`` pairs or :class:`TrackerSpec`.
        sequences: :class:`~adaptrack.datasets.Sequence` objects.
        protocol: ``"ope"`` (one pass) or ``"vot"`` (supervised, with re-initialisation).
        out_dir: results root (see the module docstring for the layout).
        workers: processes; ``1`` runs in this process.
        dataset: folder name for this dataset (default: the sequences' ``dataset`` attribute).
        repetitions / skip_initialize: VOT protocol parameters.
        rank / world_size: shard (default from ``RANK`` / ``WORLD_SIZE``).

    Returns an :class:`EvalSummary`. ``KeyboardInterrupt`` stops the run; finished sequences stay on disk.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")
    specs = [parse_tracker_spec(t) for t in trackers]
    if not specs:
        raise ValueError("no trackers to evaluate")
    from ..trackers.base import get_entry

    for s in specs:  # unknown tracker names / variants fail now, not once per sequence
        if s.factory is None:
            entry = get_entry(s.name)
            if s.variant is not None:
                entry.make_params(s.variant)
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"tracker labels must be unique, got {labels}")
    sequences = list(sequences)
    if dataset is None:
        names = {getattr(s, "dataset", "") or "dataset" for s in sequences}
        dataset = names.pop() if len(names) == 1 else "dataset"
    out_dir = os.fspath(out_dir)
    opts = {"repetitions": int(repetitions), "skip_initialize": int(skip_initialize)}
    mine = shard(len(sequences), rank, world_size)
    summary = EvalSummary(out_dir, dataset, protocol)
    t_start = time.perf_counter()

    tasks = []
    for ti, spec in enumerate(specs):
        for si in mine:
            if _is_done(protocol, out_dir, spec.label, dataset, sequences[si].name, repetitions):
                summary.skipped.append((spec.label, sequences[si].name))
            else:
                tasks.append((ti, si))

    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc=f"eval {protocol} {dataset}", unit="seq", disable=not progress, dynamic_ncols=True)
    if summary.skipped:
        bar.write(f"skipping {len(summary.skipped)} sequence runs already in {out_dir}")

    def record(res):
        key = (res["tracker"], res["sequence"])
        if res["status"] == "done":
            summary.done.append(key)
        else:
            summary.failed.append((*key, res["error"]))
            bar.write(f"failed: {res['tracker']} on {res['sequence']}: {res['error']}")
        bar.set_postfix_str(f"{res['tracker']} {res['sequence']}", refresh=False)
        bar.update(1)

    try:
        if workers <= 1 or len(tasks) <= 1:
            for ti, si in tasks:
                record(_run_one(specs[ti], sequences[si], protocol, out_dir, dataset, opts))
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            with _opencv_threads(1):  # before the fork: children must not reconfigure OpenCV's pool
                ex = ProcessPoolExecutor(
                    max_workers=min(int(workers), len(tasks)), mp_context=ctx, initializer=_init_worker,
                    initargs=(specs, sequences, protocol, out_dir, dataset, opts),
                )
                try:
                    pending = {ex.submit(_worker_task, ti, si) for ti, si in tasks}
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            record(fut.result())
                except BaseException:
                    ex.shutdown(wait=False, cancel_futures=True)
                    for p in list(getattr(ex, "_processes", {}).values()):
                        p.terminate()
                    raise
                else:
                    ex.shutdown(wait=True)
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - t_start
    return summary
