import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from adaptrack.training.trainer import Trainer, TrackingAUCCallback, plot_log, read_log, success_auc_local
from toy_training import CONFIG, ToyData, ToyModel, forward_train


def _trainer(out, **kw):
    torch.manual_seed(0)
    cfg = dict(CONFIG, **kw)
    return Trainer(ToyModel(), forward_train, ToyData(), cfg, str(out), val_data=ToyData(8, seed=9))


class _Crash(Exception):
    pass


def test_fit_logs_checkpoints_and_learns(tmp_path):
    tr = _trainer(tmp_path / "a", epochs=3)
    hist = tr.fit()
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    steps, epochs = read_log(tr.log_path)
    assert len(steps) == 3 * 6 and len(epochs) == 3  # 24 samples / batch 4
    assert {"loss", "mae", "lr", "time"} <= set(steps[0])
    assert steps[-1]["lr"] < steps[0]["lr"]  # exp schedule decays
    assert epochs[-1]["val"]["loss"] < epochs[0]["val"]["loss"] * 1.5
    assert hist[-1]["train"]["loss"] < hist[0]["train"]["loss"]
    assert os.path.isfile(os.path.join(tr.ckpt_dir, "last.pt"))
    png = plot_log(tr.log_path, str(tmp_path / "curves.png"))
    assert os.path.getsize(png) > 1000


def test_resume_continues_exactly(tmp_path):
    full = _trainer(tmp_path / "full")
    h_full = full.fit()

    def crash(trainer, epoch):
        if epoch == 2:
            raise _Crash()
        return {}

    part = _trainer(tmp_path / "part")
    part.callbacks.append(crash)
    with pytest.raises(_Crash):
        part.fit()
    torch.manual_seed(123)  # a fresh process would have another RNG state; resume must restore it
    resumed = Trainer(ToyModel(), forward_train, ToyData(), CONFIG, str(tmp_path / "part"), val_data=ToyData(8, seed=9))
    h_res = resumed.fit(resume=True)
    assert [h["epoch"] for h in h_res] == [2]
    assert h_res[0]["train"] == h_full[1]["train"]
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    steps, _ = read_log(resumed.log_path)
    full_steps, _ = read_log(full.log_path)
    assert [s["loss"] for s in steps if s["epoch"] == 2][-6:] == [s["loss"] for s in full_steps if s["epoch"] == 2]


def test_success_auc_local():
    assert success_auc_local([1.0, 1.0]) == pytest.approx(20 / 21)  # IoU 1 > every threshold but 1
    assert success_auc_local([0.0, float("nan")]) == 0.0


def test_tracking_auc_callback_with_an_oracle_tracker():
    import numpy as np

    from adaptrack.trackers.base import TrackOutput
    from training_synth import make_sequence

    seq = make_sequence(n=6)

    class Oracle:
        def initialize(self, frame, box):
            self.i = 0

        def track(self, frame):
            self.i += 1
            return TrackOutput(seq.boxes[self.i] + np.array([2.0, 0, 0, 0]))

    cb = TrackingAUCCallback(lambda model: Oracle(), [seq], max_frames=None)
    tr = _trainer("unused")
    res = cb(tr, 1)
    iou = (22 * 16) / (2 * 24 * 16 - 22 * 16)  # shifted by 2 px horizontally
    assert res["val_auc"] == pytest.approx(success_auc_local([1.0] + [iou] * 5), rel=1e-6)


@pytest.mark.slow
def test_torchrun_ddp_two_processes(tmp_path):
    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.isfile(torchrun):
        pytest.skip("torchrun unavailable")
    script = os.path.join(os.path.dirname(__file__), "toy_training.py")
    out = str(tmp_path / "ddp")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", script, out], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    p0 = torch.load(os.path.join(out, "params_rank0.pt"))
    p1 = torch.load(os.path.join(out, "params_rank1.pt"))
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k  # gradients were averaged: replicas stay identical
    steps, epochs = read_log(os.path.join(out, "log.jsonl"))
    assert len(steps) == 2 * 3 and len(epochs) == 2  # 24 samples / 2 ranks / batch 4, rank 0 logs
    assert json.loads(open(os.path.join(out, "log.jsonl")).readline())["type"] == "step"
