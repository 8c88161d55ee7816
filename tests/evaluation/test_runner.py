"""Runner: raw result files, resume after an interruption or a kill, failed sequences, process pool, shards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from adaptrack.evaluation import metrics as M
from adaptrack.evaluation.runner import ope_paths, parse_tracker_spec, read_vot_runs, run_eval, shard, vot_dir
from tests.evaluation.helpers import BlobParams, BlobTracker, make_sequence

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _seqs(tmp_path, k=4, n=10):
    return [make_sequence(tmp_path / "data", f"grp/s{i}", n=n, speed=1.0 + i) for i in range(k)]


def test_tracker_specs():
    s = parse_tracker_spec("kcf:fast")
    assert (s.label, s.name, s.variant) == ("kcf-fast", "kcf", "fast")
    assert parse_tracker_spec("csrt").label == "csrt"
    assert parse_tracker_spec(("mine", BlobTracker)).label == "mine"
    with pytest.raises(ValueError):
        parse_tracker_spec(3)


def test_ope_writes_got10k_format_and_tracks(tmp_path):
    seqs = _seqs(tmp_path)
    s = run_eval(["test_blob", "test_const"], seqs, out_dir=tmp_path / "out", dataset="syn", progress=False)
    assert len(s.done) == 8 and not s.failed and not s.skipped
    for seq in seqs:
        p = ope_paths(tmp_path / "out", "test_blob", "syn", seq.name)
        assert p["boxes"].endswith(os.path.join("test_blob", "syn", "grp", seq.name.split("/")[1] + ".txt"))
        boxes = np.loadtxt(p["boxes"], delimiter=",")
        times = np.loadtxt(p["times"])
        assert boxes.shape == (len(seq), 4) and times.shape == (len(seq),) and (times >= 0).all()
        assert np.allclose(boxes, seq.boxes, atol=1e-3)  # the blob tracker finds the square exactly
    blob = [np.loadtxt(ope_paths(tmp_path / "out", "test_blob", "syn", q.name)["boxes"], delimiter=",") for q in seqs]
    const = [np.loadtxt(ope_paths(tmp_path / "out", "test_const", "syn", q.name)["boxes"], delimiter=",") for q in seqs]
    gts = [q.boxes for q in seqs]
    assert M.success_auc(blob, gts) == pytest.approx(20 / 21)
    assert M.success_auc(const, gts) < 0.5
    # a second run finds everything done
    s2 = run_eval(["test_blob", "test_const"], seqs, out_dir=tmp_path / "out", dataset="syn", progress=False)
    assert len(s2.skipped) == 8 and not s2.done


def test_interrupted_run_resumes_without_redoing(tmp_path):
    seqs = _seqs(tmp_path, k=5)
    BlobTracker.inits = 0
    stopper = ("test_blob", lambda: BlobTracker(BlobParams(stop_after=2)))
    with pytest.raises(KeyboardInterrupt):
        run_eval([stopper], seqs, out_dir=tmp_path / "out", dataset="syn", progress=False)
    done = [q for q in seqs if os.path.isfile(ope_paths(tmp_path / "out", "test_blob", "syn", q.name)["boxes"])]
    assert len(done) == 2
    mtimes = {q.name: os.stat(ope_paths(tmp_path / "out", "test_blob", "syn", q.name)["boxes"]).st_mtime_ns for q in done}
    BlobTracker.inits = 0
    s = run_eval(["test_blob"], seqs, out_dir=tmp_path / "out", dataset="syn", progress=False)
    assert BlobTracker.inits == 3 and len(s.done) == 3 and len(s.skipped) == 2
    for q in done:
        assert os.stat(ope_paths(tmp_path / "out", "test_blob", "syn", q.name)["boxes"]).st_mtime_ns == mtimes[q.name]
    # no temporary files left behind
    assert not [f for _, _, fs in os.walk(tmp_path / "out") for f in fs if ".tmp" in f]


def test_corrupt_and_missing_frames_fail_the_sequence_and_the_run_goes_on(tmp_path):
    seqs = _seqs(tmp_path, k=3)
    with open(seqs[0].frames[4], "wb") as f:
        f.write(b"not an image")
    os.remove(seqs[2].frames[6])
    s = run_eval(["test_blob"], seqs, out_dir=tmp_path / "out", dataset="syn", progress=False, workers=1)
    assert [q for _, q, _ in s.failed] == [seqs[0].name, seqs[2].name]
    assert s.done == [("test_blob", seqs[1].name)]
    for q, frame in ((seqs[0], seqs[0].frames[4]), (seqs[2], seqs[2].frames[6])):
        p = ope_paths(tmp_path / "out", "test_blob", "syn", q.name)
        assert not os.path.exists(p["boxes"])
        msg = open(p["error"]).read()
        assert "FrameReadError" in msg and frame in msg
    # fixed data: the failed sequences are retried and their error files removed
    make_sequence(tmp_path / "data", seqs[0].name, n=10, speed=1.0)
    make_sequence(tmp_path / "data", seqs[2].name, n=10, speed=3.0)
    s2 = run_eval(["test_blob"], seqs, out_dir=tmp_path / "out", dataset="syn", progress=False)
    assert len(s2.done) == 2 and not s2.failed
    assert not os.path.exists(ope_paths(tmp_path / "out", "test_blob", "syn", seqs[0].name)["error"])


def test_process_pool_and_shards(tmp_path):
    seqs = _seqs(tmp_path, k=5)
    assert shard(5, 0, 2) == [0, 2, 4] and shard(5, 1, 2) == [1, 3]
    s0 = run_eval(["test_blob"], seqs, out_dir=tmp_path / "a", dataset="syn", progress=False, workers=2, rank=0, world_size=2)
    s1 = run_eval(["test_blob"], seqs, out_dir=tmp_path / "a", dataset="syn", progress=False, workers=2, rank=1, world_size=2)
    assert sorted(q for _, q in s0.done) == [seqs[i].name for i in (0, 2, 4)]
    assert sorted(q for _, q in s1.done) == [seqs[i].name for i in (1, 3)]
    for q in seqs:
        b = np.loadtxt(ope_paths(tmp_path / "a", "test_blob", "syn", q.name)["boxes"], delimiter=",")
        assert np.allclose(b, q.boxes, atol=1e-3)


_KILL_SCRIPT = r"""
import sys
sys.path.insert(0, {repo!r})
from tests.evaluation.helpers import make_sequence, BlobTracker, BlobParams
from adaptrack.evaluation.runner import run_eval
seqs = [make_sequence({data!r}, f"s{{i}}", n=12) for i in range(6)]
run_eval([("test_blob", lambda: BlobTracker(BlobParams(delay={delay})))], seqs, out_dir={out!r},
         dataset="syn", workers=2, progress=False)
"""


def test_killed_subprocess_resumes(tmp_path):
    out = str(tmp_path / "out")
    script = _KILL_SCRIPT.format(repo=REPO, data=str(tmp_path / "data"), out=out, delay=0.05)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    paths = [os.path.join(out, "test_blob", "syn", f"s{i}.txt") for i in range(6)]
    deadline = time.time() + 60
    while time.time() < deadline and sum(os.path.exists(p) for p in paths) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run, workers included, mid-sequence
    proc.wait()
    before = {p: os.stat(p).st_mtime_ns for p in paths if os.path.exists(p)}
    assert 2 <= len(before) < 6
    script2 = _KILL_SCRIPT.format(repo=REPO, data=str(tmp_path / "data"), out=out, delay=0.0)
    subprocess.run([sys.executable, "-c", script2], check=True, timeout=120)
    assert all(os.path.exists(p) for p in paths)
    for p, m in before.items():
        assert os.stat(p).st_mtime_ns == m  # finished sequences were not redone
    for p in paths:
        assert np.loadtxt(p, delimiter=",").shape == (12, 4)


def test_vot_protocol_records_failures_and_reinitialises(tmp_path):
    seqs = [make_sequence(tmp_path / "data", "v0", n=30, speed=4.0)]
    s = run_eval(["test_const"], seqs, protocol="vot", out_dir=tmp_path / "out", dataset="syn", progress=False)
    assert not s.failed
    d = vot_dir(tmp_path / "out", "test_const", "syn", "v0")
    runs = read_vot_runs(d, "v0")
    assert len(runs) == 3  # deterministic: stops after 3 identical repetitions
    codes = [int(e[0]) if len(e) == 1 else -1 for e in runs[0]]
    assert codes[0] == 1
    f = codes.index(2)  # the constant box loses the moving square
    assert codes[f + 1 : f + 5] == [0, 0, 0, 0] and codes[f + 5] == 1
    times = np.genfromtxt(os.path.join(d, "v0_time.txt"), delimiter=",")
    assert times.shape == (30, 3)
    # overlaps on tracked frames are > 0 (else it would be a failure)
    ov = M.vot_overlaps(runs[0], seqs[0].boxes)
    assert np.nanmin(ov) > 0
    # a random tracker runs all repetitions
    s2 = run_eval(["test_noisy"], seqs, protocol="vot", out_dir=tmp_path / "out", dataset="syn", progress=False, repetitions=4)
    assert len(read_vot_runs(vot_dir(tmp_path / "out", "test_noisy", "syn", "v0"), "v0")) == 4 and not s2.failed


def test_unknown_tracker_or_protocol_fails_before_any_work(tmp_path):
    from adaptrack.errors import UnknownNameError

    seqs = _seqs(tmp_path, k=1)
    with pytest.raises(UnknownNameError, match="nope"):
        run_eval(["nope"], seqs, out_dir=tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="protocol"):
        run_eval(["test_blob"], seqs, protocol="tre", out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_results_are_written_in_the_datasets_native_origin(tmp_path):
    """A 1-based dataset (OTB/UAV/LaSOT-style) gets 1-based result files, read back to 0-based by the report."""
    from adaptrack.evaluation.report import evaluate

    seqs = _seqs(tmp_path, k=2)
    for q in seqs:
        q.attributes["annotation_origin"] = 1
    run_eval(["test_blob"], seqs, out_dir=tmp_path / "out", dataset="syn", progress=False)
    for q in seqs:
        raw = np.loadtxt(ope_paths(tmp_path / "out", "test_blob", "syn", q.name)["boxes"], delimiter=",")
        assert np.allclose(raw[:, :2], q.boxes[:, :2] + 1, atol=1e-3)
        assert np.allclose(raw[:, 2:], q.boxes[:, 2:], atol=1e-3)
    rep = evaluate(tmp_path / "out", seqs, "syn")
    assert rep.rows[0]["auc"] == pytest.approx(20 / 21)


_POOL_AFTER_OPENCV_SCRIPT = r"""
import sys
sys.path.insert(0, {repo!r})
import cv2, numpy as np
cv2.setNumThreads(2)
img = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
for _ in range(20):  # start OpenCV's worker threads in the parent
    cv2.GaussianBlur(cv2.resize(img, (1280, 720)), (9, 9), 0)
from tests.evaluation.helpers import make_sequence
from adaptrack.evaluation.runner import run_eval
seqs = [make_sequence({data!r}, f"s{{i}}", n=8) for i in range(4)]
s = run_eval(["test_blob"], seqs, out_dir={out!r}, dataset="syn", workers=2, progress=False)
assert len(s.done) == 4, s
assert cv2.getNumThreads() == 2  # restored after the pool
print("ok")
"""


def test_process_pool_after_opencv_used_threads_does_not_hang(tmp_path):
    """Forked workers must not touch OpenCV's thread pool (reconfiguring it after fork deadlocks)."""
    script = _POOL_AFTER_OPENCV_SCRIPT.format(repo=REPO, data=str(tmp_path / "data"), out=str(tmp_path / "out"))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
