"""Protocols on synthetic sequences: one pass, and the VOT supervised failure / skip / re-init rules."""

from __future__ import annotations

import numpy as np

from adaptrack.datasets.base import Sequence
from adaptrack.evaluation.protocols import run_ope, run_vot_supervised, vot_run_signature
from tests.evaluation.helpers import BlobTracker, ConstTracker, NoisyTracker, make_sequence


def test_ope_records_initial_box_boxes_times_scores(tmp_path):
    seq = make_sequence(tmp_path, "s", n=8, speed=3.0)
    r = run_ope(BlobTracker(), seq)
    assert np.array_equal(r.boxes[0], seq.boxes[0])
    assert np.allclose(r.boxes, seq.boxes)
    assert r.times.shape == (8,) and (r.times > 0).all()
    assert np.isnan(r.scores[0]) and (r.scores[1:] == 1).all()


def test_vot_failure_skip_reinit_rules(tmp_path):
    seq = make_sequence(tmp_path, "s", n=30, speed=5.0)
    (run,) = run_vot_supervised(ConstTracker, seq, repetitions=1)
    traj = run.trajectory
    codes = [int(e[0]) if len(e) == 1 else -1 for e in traj]
    assert len(traj) == 30 and codes[0] == 1
    fails = [i for i, c in enumerate(codes) if c == 2]
    assert fails, "a constant box must lose a target moving 5 px per frame"
    for f in fails:
        assert codes[f + 1 : f + 5] == [0, 0, 0, 0]
        if f + 5 < 30:
            assert codes[f + 5] == 1
    # every reported box overlaps the ground truth (else it would be a failure)
    for i, e in enumerate(traj):
        if len(e) == 4:
            b, g = np.array(e), seq.boxes[i]
            iw = min(b[0] + b[2], g[0] + g[2]) - max(b[0], g[0])
            ih = min(b[1] + b[3], g[1] + g[3]) - max(b[1], g[1])
            assert iw > 0 and ih > 0
    assert np.isnan(run.times[fails[0] + 1])  # skipped frames have no time


def test_vot_reinit_waits_for_an_annotated_frame(tmp_path):
    base = make_sequence(tmp_path, "s", n=30, speed=5.0)
    (first,) = run_vot_supervised(ConstTracker, base, repetitions=1)
    f = [i for i, e in enumerate(first.trajectory) if len(e) == 1 and e[0] == 2][0]
    boxes = base.boxes.copy()
    boxes[f + 5] = np.nan  # no annotation where the re-initialisation would happen
    seq = Sequence(base.name, base.frames, boxes)
    (run,) = run_vot_supervised(ConstTracker, seq, repetitions=1)
    codes = [int(e[0]) if len(e) == 1 else -1 for e in run.trajectory]
    assert codes[f + 5] == 0 and codes[f + 6] == 1


def test_vot_repetitions_and_deterministic_early_stop(tmp_path):
    seq = make_sequence(tmp_path, "s", n=12, speed=2.0)
    runs = run_vot_supervised(ConstTracker, seq, repetitions=15)
    assert len(runs) == 3 and len({vot_run_signature(r) for r in runs}) == 1
    noisy = run_vot_supervised(NoisyTracker, seq, repetitions=5)
    assert len(noisy) == 5
    # resume: given 2 recorded runs, only the missing ones are run and reported
    seen = []
    more = run_vot_supervised(ConstTracker, seq, repetitions=15, done=runs[:2], on_run=lambda r, run: seen.append(r))
    assert seen == [2] and len(more) == 3
