"""One trainer for every recipe.

A recipe supplies a model and ``forward_train(model, batch) -> dict[str, Tensor]`` (the loss terms;
the key ``"loss"`` is the total that is back-propagated, or, when absent, the sum of all terms). The
:class:`Trainer` owns everything else:

* optimizer (SGD / Adam / AdamW over the trainable parameters, or the param groups you pass) and a
  per-step LR schedule (``exp`` decay to ``lr_end``, ``cosine``, ``constant``; linear warmup);
* epochs over an index-able dataset (samplers of :mod:`adaptrack.training.samplers` get
  ``set_epoch``); shuffling seeded by ``(seed, epoch)``;
* a checkpoint after every epoch (``<out>/checkpoints/last.pt``: model, optimizer, scheduler, epoch,
  step, RNG states) and ``fit(resume=True)`` continuing exactly where it stopped;
* ``torch.distributed`` data parallelism when launched by ``torchrun`` (``WORLD_SIZE > 1``): the gloo
  backend on CPU, a ``DistributedSampler``, the step wrapped in ``DistributedDataParallel``; rank 0
  logs, validates and saves. ``batch_size`` is per process;
* tqdm progress, and a JSONL log (``<out>/log.jsonl``): one ``{"type": "step", ...}`` record per step
  (losses, lr, time) and one ``{"type": "epoch", ...}`` per epoch (mean train losses, validation
  losses, callback results such as a tracking AUC). :func:`plot_log` draws curves from it.

Callbacks are ``callback(trainer, epoch) -> dict`` run on rank 0 after validation;
:class:`TrackingAUCCallback` runs one-pass tracking on a few sequences with a tracker built from the
current weights and reports the success AUC.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

__all__ = ["TrainConfig", "Trainer", "init_distributed", "TrackingAUCCallback", "plot_log", "read_log", "success_auc_local", "sequence_auc"]


@dataclass
class TrainConfig:
    """Trainer settings (recipes fill them from their defaults and ``--opts``)."""

    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-2
    lr_end: float | None = None  # for "exp": final LR (default lr / 100)
    schedule: str = "exp"  # "exp" | "cosine" | "constant"
    warmup_steps: int = 0
    optimizer: str = "sgd"  # "sgd" | "adam" | "adamw"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float | None = None
    num_workers: int = 0
    seed: int = 0
    val_batch_size: int | None = None
    progress: bool = True
    keep_every_checkpoint: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def init_distributed() -> bool:
    """Join the ``torchrun`` process group (gloo, CPU) when ``WORLD_SIZE > 1``; returns whether
    distributed. Safe to call twice; recipes may call it before building data (e.g. feature caches)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=datetime.timedelta(hours=4))
    return True


class _Step(nn.Module):
    """Wraps ``forward_train`` so DDP sees one ``forward`` call per step."""

    def __init__(self, model: nn.Module, forward_train):
        super().__init__()
        self.model = model
        self.forward_train = forward_train

    def forward(self, batch):
        return self.forward_train(self.model, batch)


def _total(losses: dict) -> torch.Tensor:
    if "loss" in losses:
        return losses["loss"]
    return sum(losses.values())


def _to_device(batch, device):
    if torch.is_tensor(batch):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _get_rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


class Trainer:
    """Train ``model`` with ``forward_train`` on ``train_data``; see the module docstring.

    Args:
        model: the module holding every parameter (frozen ones have ``requires_grad=False``).
        forward_train: ``(model, batch) -> dict`` of scalar loss tensors.
        train_data: an index-able dataset (e.g. a sampler).
        config: :class:`TrainConfig` or a dict of its fields.
        out_dir: run directory (``log.jsonl``, ``checkpoints/``).
        val_data: optional dataset; its mean losses (under ``no_grad``, ``model.eval()``) are logged.
        callbacks: ``callback(trainer, epoch) -> dict`` after each epoch (rank 0), after the validation, whose
            mean losses are then ``trainer.last_val``.
        params: parameters or param groups to optimise (default: all with ``requires_grad``).
        collate_fn: passed to the DataLoader.
    """

    def __init__(
        self,
        model: nn.Module,
        forward_train,
        train_data,
        config: TrainConfig | dict | None = None,
        out_dir: str = "runs/train",
        val_data=None,
        callbacks=(),
        params=None,
        collate_fn=None,
    ):
        self.config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config or {})
        self.model = model
        self.forward_train = forward_train
        self.train_data = train_data
        self.val_data = val_data
        self.callbacks = list(callbacks)
        self.out_dir = out_dir
        self.collate_fn = collate_fn
        self.device = torch.device("cpu")
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.distributed = self.world_size > 1
        if self.distributed:
            init_distributed()
        self.step_module = _Step(model, forward_train)
        if self.distributed:
            self.train_module = nn.parallel.DistributedDataParallel(self.step_module)
        else:
            self.train_module = self.step_module
        if params is None:
            params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = self._build_optimizer(params)
        self.iters_per_epoch = math.ceil(len(train_data) / self.world_size / self.config.batch_size)
        self.total_steps = max(1, self.iters_per_epoch * self.config.epochs)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.epoch = 0  # epochs completed
        self.last_val: dict = {}  # mean validation losses of the last epoch
        self.step = 0
        self.history: list[dict] = []
        self.log_path = os.path.join(out_dir, "log.jsonl")
        self.ckpt_dir = os.path.join(out_dir, "checkpoints")

    # -- setup ------------------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _build_optimizer(self, params):
        c = self.config
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        raise ValueError(f"unknown optimizer {c.optimizer!r} (sgd, adam, adamw)")

    def _lr_factor(self, step: int) -> float:
        c = self.config
        if c.warmup_steps > 0 and step < c.warmup_steps:
            return (step + 1) / c.warmup_steps
        t = min(1.0, (step - c.warmup_steps) / max(1, self.total_steps - c.warmup_steps))
        if c.schedule == "constant":
            return 1.0
        if c.schedule == "cosine":
            end = (c.lr_end if c.lr_end is not None else 0.0) / c.lr
            return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * t))
        if c.schedule == "exp":
            end = (c.lr_end if c.lr_end is not None else c.lr / 100) / c.lr
            return end**t
        raise ValueError(f"unknown schedule {c.schedule!r} (exp, cosine, constant)")

    def _loader(self, data, epoch: int, train: bool) -> DataLoader:
        c = self.config
        if hasattr(data, "set_epoch"):
            data.set_epoch(epoch if train else 0)
        if train and self.distributed:
            sampler = DistributedSampler(data, self.world_size, self.rank, shuffle=True, seed=c.seed)
            sampler.set_epoch(epoch)
        elif train:
            g = torch.Generator()
            g.manual_seed(c.seed * 100003 + epoch)
            sampler = RandomSampler(data, generator=g)
        else:
            sampler = SequentialSampler(data)
        bs = c.batch_size if train else (c.val_batch_size or c.batch_size)
        return DataLoader(
            data,
            batch_size=bs,
            sampler=sampler,
            num_workers=c.num_workers,
            collate_fn=self.collate_fn,
            drop_last=False,
            persistent_workers=False,
        )

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "rng": _get_rng_state(),
            "config": asdict(self.config),
        }

    def save_checkpoint(self) -> str:
        os.makedirs(self.ckpt_dir, exist_ok=True)
        path = os.path.join(self.ckpt_dir, "last.pt")
        tmp = path + ".tmp"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        if self.config.keep_every_checkpoint:
            torch.save(self.state_dict(), os.path.join(self.ckpt_dir, f"epoch_{self.epoch:03d}.pt"))
        return path

    def load_checkpoint(self, path: str | None = None) -> bool:
        path = path or os.path.join(self.ckpt_dir, "last.pt")
        if not os.path.isfile(path):
            return False
        ck = torch.load(path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.epoch, self.step = int(ck["epoch"]), int(ck["step"])
        _set_rng_state(ck["rng"])
        return True

    # -- logging ----------------------------------------------------------------------------------
    def _log(self, record: dict) -> None:
        if not self.is_main:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- loops ------------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict:
        c = self.config
        self.model.train()
        loader = self._loader(self.train_data, epoch, train=True)
        sums: dict = {}
        n = 0
        it = loader
        bar = None
        if self.is_main and c.progress:
            from tqdm import tqdm

            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{c.epochs}", leave=False,
                       mininterval=0.5 if sys.stderr.isatty() else 30.0, dynamic_ncols=True)
            it = bar
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        for i, batch in enumerate(it):
            t0 = time.time()
            batch = _to_device(batch, self.device)
            losses = self.train_module(batch)
            loss = _total(losses)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at epoch {epoch + 1} step {self.step}: {loss.item()}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if c.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, c.grad_clip)
            lr = self.optimizer.param_groups[0]["lr"]
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            vals = {k: float(v.detach()) for k, v in losses.items()}
            vals.setdefault("loss", float(loss.detach()))
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            self._log({"type": "step", "epoch": epoch + 1, "iter": i, "step": self.step, "lr": lr,
                       "dt": time.time() - t0, "time": time.time() - self._t_start, **vals})
            if bar is not None:
                bar.set_postfix(loss=f"{vals['loss']:.4f}", lr=f"{lr:.2e}", refresh=False)
        if bar is not None:
            bar.close()
        return {k: v / max(n, 1) for k, v in sums.items()}

    @torch.no_grad()
    def validate(self) -> dict:
        if self.val_data is None:
            return {}
        was = self.model.training
        self.model.eval()
        sums: dict = {}
        n = 0
        for batch in self._loader(self.val_data, 0, train=False):
            losses = self.forward_train(self.model, _to_device(batch, self.device))
            vals = {k: float(v) for k, v in losses.items()}
            vals.setdefault("loss", float(_total(losses)))
            bs = len(next(iter(batch.values()))) if isinstance(batch, dict) else 1
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + v * bs
            n += bs
        self.model.train(was)
        return {k: v / max(n, 1) for k, v in sums.items()}

    def fit(self, resume: bool = False) -> list:
        """Run the remaining epochs; returns the per-epoch records (also written to the log)."""
        if resume and self.load_checkpoint():
            if self.is_main:
                print(f"resumed from {self.ckpt_dir}/last.pt after epoch {self.epoch}", file=sys.stderr)
        elif self.is_main and os.path.exists(self.log_path) and not resume:
            os.remove(self.log_path)
        self._t_start = time.time()
        for epoch in range(self.epoch, self.config.epochs):
            t0 = time.time()
            train = self.train_epoch(epoch)
            self.epoch = epoch + 1
            record = {"type": "epoch", "epoch": self.epoch, "step": self.step, "train": train,
                      "lr": self.optimizer.param_groups[0]["lr"], "train_time": time.time() - t0}
            if self.is_main:
                record["val"] = self.last_val = self.validate()
                for cb in self.callbacks:
                    record.update(cb(self, self.epoch) or {})
                record["time"] = time.time() - t0
                self.save_checkpoint()
                self._log(record)
            if self.distributed:
                dist.barrier()
            self.history.append(record)
        return self.history


# -- tracking AUC during validation -------------------------------------------------------------


def success_auc_local(ious, thresholds=None) -> float:
    """Success-plot AUC of per-frame IoUs (NaN rows skipped): mean over thresholds 0..1 (21 points)
    of the fraction of frames with IoU > threshold (a quick check of :func:`sequence_auc`)."""
    ious = np.asarray(ious, dtype=np.float64)
    ious = ious[np.isfinite(ious)]
    if ious.size == 0:
        return float("nan")
    thr = np.linspace(0, 1, 21) if thresholds is None else np.asarray(thresholds)
    return float(np.mean([(ious > t).mean() for t in thr]))


def sequence_auc(pred, gt) -> float:
    """One-pass success AUC of one sequence: :func:`adaptrack.evaluation.metrics.success_auc`
    (got10k convention: first frame = ground truth, NaN ground-truth rows dropped)."""
    from ..evaluation.metrics import success_auc

    return float(success_auc(np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)))


@dataclass
class TrackingAUCCallback:
    """After an epoch: build a tracker from the current model, run one pass over ``sequences`` (the
    first ``max_frames`` frames of each, starting at the first annotated frame; frames with a NaN
    ground-truth box are not scored) and return ``{name: mean success AUC over sequences}`` plus
    per-sequence values. Runs every ``every`` epochs and after the last one (``every=0``: last only)."""

    make_tracker: object  # callable(model) -> adaptrack Tracker
    sequences: list = field(default_factory=list)
    max_frames: int | None = 150
    name: str = "val_auc"
    every: int = 1

    def __call__(self, trainer: Trainer, epoch: int) -> dict:
        last = epoch >= trainer.config.epochs
        if not last and (self.every <= 0 or epoch % self.every):
            return {}
        model = trainer.model
        was = model.training
        model.eval()
        per_seq = {}
        try:
            with torch.inference_mode():
                tracker = self.make_tracker(model)
                for seq in self.sequences:
                    n = len(seq) if self.max_frames is None else min(len(seq), self.max_frames)
                    first = next((i for i in range(n) if np.isfinite(seq.boxes[i]).all()), None)
                    if first is None or n - first < 2:
                        continue
                    tracker.initialize(seq.frame(first), seq.boxes[first])
                    preds = [seq.boxes[first]]
                    for i in range(first + 1, n):
                        preds.append(tracker.track(seq.frame(i)).box)
                    per_seq[seq.name] = sequence_auc(np.asarray(preds), seq.boxes[first:n])
        finally:
            model.train(was)
        vals = [v for v in per_seq.values() if np.isfinite(v)]
        return {self.name: float(np.mean(vals)) if vals else float("nan"), self.name + "_per_seq": per_seq}


# -- log reading and plots ----------------------------------------------------------------------


def read_log(log_path: str) -> tuple[list, list]:
    """``(step_records, epoch_records)`` of a JSONL log."""
    steps, epochs = [], []
    with open(log_path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            (steps if r.get("type") == "step" else epochs).append(r)
    return steps, epochs


def plot_log(log_path: str, out_png: str, smooth: int = 20) -> str:
    """Draw training losses (moving average over ``smooth`` steps), the LR, validation losses and
    callback metrics per epoch from a trainer log into ``out_png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, epochs = read_log(log_path)
    skip = {"type", "epoch", "iter", "step", "lr", "dt", "time"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    if steps:
        x = np.array([r["step"] for r in steps])
        for k in sorted({k for r in steps for k in r} - skip):
            y = np.array([r.get(k, np.nan) for r in steps], dtype=float)
            if smooth > 1 and len(y) >= smooth:
                y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
                ax.plot(x[smooth - 1 :], y, label=k)
            else:
                ax.plot(x, y, label=k)
        ax.legend()
    ax.set(title="train losses", xlabel="step")
    ax = axes[1]
    if steps:
        ax.plot([r["step"] for r in steps], [r["lr"] for r in steps])
    ax.set(title="learning rate", xlabel="step", yscale="log")
    ax = axes[2]
    if epochs:
        e = [r["epoch"] for r in epochs]
        for k in sorted({k for r in epochs for k in r.get("val", {})}):
            ax.plot(e, [r.get("val", {}).get(k, np.nan) for r in epochs], "o-", label=f"val {k}")
        ax.plot(e, [r["train"].get("loss", np.nan) for r in epochs], "s--", label="train loss")
        metrics = sorted({k for r in epochs for k, v in r.items() if isinstance(v, (int, float)) and k.endswith("auc")})
        if metrics:
            ax2 = ax.twinx()
            for k in metrics:
                ax2.plot(e, [r.get(k, np.nan) for r in epochs], "^-", color="k", label=k)
            ax2.set_ylabel("AUC")
            ax2.legend(loc="upper right")
        ax.legend(loc="upper left")
    ax.set(title="per epoch", xlabel="epoch")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png
