"""DiMP offline training (Bhat et al., ICCV 2019, sec. 3.6, eqs. 8-9) on a CPU with a frozen backbone.

Data: pairs of sets ``(M_train, M_test)`` from :class:`~adaptrack.training.samplers.SetSampler` -- 3 + 3
frames from a 60-frame segment of a training sequence (train frames from the first part, test frames
after them), or 6 differently jittered crops of a still image; crops are 5x the target size (sqrt area)
resized to 288x288, photometric augmentation and flips.

Frozen: the whole EfficientNet-Lite0 up to stride 16 (ImageNet weights). Its features for each crop
never change, so they are computed once into a feature cache (:mod:`adaptrack.training.features`) and
training runs only the trained heads (classification feature block, initializer, learned loss, the GD
variant's step lengths, IoU-Net). See ``docs/dimp.md`` for the numbers behind this choice.

Loss (``forward_train``):

* classification, eq. 9: the model predictor runs ``iterations`` (5) steepest-descent recursions from
  the initializer on ``S_train``; every iterate ``f^(0..N)`` is evaluated on the test frames with the
  regression error of eq. 8 (``s - z`` where the Gaussian label ``z > T``, ``max(0, s)`` where
  ``z <= T``, ``T = 0.05``), squared and averaged over positions, frames and iterates;
* box estimation: ATOM's IoU-Net, modulation from the first train frame, ``num_proposals`` candidates
  per test frame drawn around the true box with a Gaussian mixture of scales, MSE to the true IoU;
* ``L_tot = beta * L_cls + L_bb`` with ``beta = 100``;
* the ``gd`` variant's coefficient-wise step lengths are learned in the same run by an extra term
  ``beta * L_cls(GD iterates)`` computed on detached features and loss parameters, so it trains only
  the step lengths and leaves the steepest-descent model untouched.
"""

from __future__ import annotations

import math

import torch

from ...trackers.dimp import DiMPNet, apply_filter
from . import Recipe

DEFAULTS = dict(
    # trainer
    epochs=12,
    batch_size=8,
    lr=2e-3,
    lr_end=2e-4,
    schedule="exp",
    optimizer="adam",
    weight_decay=0.0,
    grad_clip=10.0,
    seed=0,
    # data / cache
    pool_size=1800,
    num_pools=1,
    val_size=96,
    image_prob=0.25,
    segment_len=60,
    num_train=3,
    num_test=3,
    image_size=288,
    area_factor=5.0,
    cache_dir="cache",
    cache_workers=1,
    # model
    cls_dim=64,
    cls_mid=64,
    iou_width=64,
    # loss
    iterations=5,
    beta=100.0,
    hinge_threshold=0.05,
    num_proposals=16,
    proposal_sigmas=[0.02, 0.05, 0.1, 0.2, 0.3],
    train_gd=True,
    # early stopping of the box branch only: the exported IoU-Net is the one of the epoch with the lowest
    # validation IoU loss ("bb"); the classifier is the last epoch's (the two branches share no parameters).
    # Measured in session 4: that IoU-Net tracks worse (val AUC -0.04 to -0.06 with the classifier fixed;
    # adaptrack/weights/dimp.md), so it is off
    box_early_stop=False,
)


def build_model(cfg: dict) -> DiMPNet:
    return DiMPNet(cls_dim=cfg["cls_dim"], cls_mid=cfg["cls_mid"], iou_width=cfg["iou_width"],
                   image_size=cfg["image_size"], area_factor=cfg["area_factor"])


def _encoder(backbone):
    """Frozen-backbone encoder for the feature cache: s16 of every crop, s8 of the reference (first
    train) crop and of the test crops (the IoU-Net needs nothing else)."""

    @torch.no_grad()
    def encode(batch):
        tr, te = batch["train_images"], batch["test_images"]
        B, n_tr = tr.shape[:2]
        n_te = te.shape[1]
        f_tr = backbone(tr.flatten(0, 1))
        f_te = backbone(te.flatten(0, 1))
        return {
            "train_s16": f_tr["s16"].unflatten(0, (B, n_tr)),
            "ref_s8": f_tr["s8"].unflatten(0, (B, n_tr))[:, 0],
            "test_s16": f_te["s16"].unflatten(0, (B, n_te)),
            "test_s8": f_te["s8"].unflatten(0, (B, n_te)),
        }

    return encode


def sample_proposals(boxes: torch.Tensor, num: int, sigmas, generator: torch.Generator | None = None):
    """ATOM-style candidate boxes around ``boxes`` ``(B, 4)`` xywh: each proposal picks a scale ``sigma``
    from ``sigmas`` and perturbs the centre by ``N(0, sigma * (w, h))`` and the log-size by ``N(0, sigma)``.
    Returns proposals ``(B, num, 4)`` and their true IoU with the box ``(B, num)``."""
    B = boxes.shape[0]
    sig = torch.tensor(sigmas, dtype=boxes.dtype)[torch.randint(len(sigmas), (B, num), generator=generator)]
    wh = boxes[:, None, 2:]
    c = boxes[:, None, :2] + wh / 2 + torch.randn(B, num, 2, generator=generator) * sig[..., None] * wh
    size = wh * torch.exp(torch.randn(B, num, 2, generator=generator) * sig[..., None])
    props = torch.cat([c - size / 2, size], dim=-1)
    return props, box_iou(props, boxes[:, None].expand_as(props))


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of xywh boxes, elementwise over leading dims."""
    x1 = torch.maximum(a[..., 0], b[..., 0])
    y1 = torch.maximum(a[..., 1], b[..., 1])
    x2 = torch.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    y2 = torch.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return inter / union.clamp(min=1e-9)


def classification_loss(model: DiMPNet, iterates, test_feat, test_boxes, threshold: float):
    """Eq. 9 (averaged over positions, test frames and all iterates) with the eq. 8 regression error.
    Returns the mean and the per-iterate values."""
    z = model.gaussian_label(test_boxes, test_feat.shape[-1])
    per_iter = []
    for f in iterates:
        s = apply_filter(test_feat, f)
        err = torch.where(z > threshold, s - z, torch.relu(s))
        per_iter.append((err * err).mean())
    per_iter = torch.stack(per_iter)
    return per_iter.mean(), per_iter


def make_forward_train(cfg: dict):
    beta, T, N = float(cfg["beta"]), float(cfg["hinge_threshold"]), int(cfg["iterations"])
    P, sigmas = int(cfg["num_proposals"]), list(cfg["proposal_sigmas"])
    train_gd = bool(cfg["train_gd"])

    def forward_train(model: DiMPNet, batch: dict) -> dict:
        tr16, te16 = batch["train_s16"], batch["test_s16"]  # (B, n, C, H, W)
        B, n_tr = tr16.shape[:2]
        n_te = te16.shape[1]
        tr_boxes = batch["train_boxes"].transpose(0, 1)  # (n, B, 4)
        te_boxes = batch["test_boxes"].transpose(0, 1)
        feats = model.classification_features(torch.cat([tr16, te16], 1).flatten(0, 1))
        feats = feats.unflatten(0, (B, n_tr + n_te)).transpose(0, 1)  # (n, B, C, H, W)
        tr_feat, te_feat = feats[:n_tr], feats[n_tr:]
        iterates = model.predict_filter(tr_feat, tr_boxes, N, mode="sd")
        l_cls, per_iter = classification_loss(model, iterates, te_feat, te_boxes, T)
        out = {"cls": l_cls, "cls_init": per_iter[0].detach(), "cls_final": per_iter[-1].detach()}
        total = beta * l_cls
        if train_gd:
            y, m, v, reg = (t.detach() for t in model.loss_maps(tr_boxes, tr_feat.shape[-1]))
            gd_iter = model.predict_filter(tr_feat.detach(), tr_boxes, N, mode="gd", f0=iterates[0].detach(),
                                           loss_params=lambda *_: (y, m, v, reg))
            l_gd, _ = classification_loss(model, gd_iter, te_feat.detach(), te_boxes, T)
            out["cls_gd"] = l_gd
            total = total + beta * l_gd
        # IoU-Net: reference = first train frame, candidates on every test frame
        props, iou = sample_proposals(batch["test_boxes"].flatten(0, 1), P, sigmas)
        seq_index = torch.arange(B).repeat_interleave(n_te)
        pred = model.iou_net((batch["ref_s8"], tr16[:, 0]), batch["train_boxes"][:, 0],
                             (batch["test_s8"].flatten(0, 1), te16.flatten(0, 1)), props, seq_index)
        l_bb = torch.mean((pred - iou) ** 2)
        out["bb"] = l_bb
        out["loss"] = total + l_bb
        return out

    return forward_train


def _cache_key(cfg: dict, split: str, size: int, seed: int) -> str:
    keys = ("image_prob", "segment_len", "num_train", "num_test", "image_size", "area_factor")
    return "dimp|effl0-s8s16|" + split + "|" + "|".join(f"{k}={cfg[k]}" for k in keys) + f"|n={size}|seed={seed}"


def build(cfg: dict) -> Recipe:
    from ..augmentation import Augmenter, no_augmentation
    from ..data import load_training_sources
    from ..features import build_feature_cache
    from ..samplers import SetSampler

    model = build_model(cfg)
    encode = _encoder(model.backbone.eval())
    common = dict(num_train=cfg["num_train"], num_test=cfg["num_test"], segment_len=cfg["segment_len"],
                  output_size=cfg["image_size"], area_factor=cfg["area_factor"])
    seqs, imgs = load_training_sources(split="train")
    train_sampler = SetSampler(seqs, imgs, samples_per_epoch=cfg["pool_size"], image_prob=cfg["image_prob"],
                               augment=Augmenter(), seed=cfg["seed"], **common)
    image_keys = ("train_images", "test_images")
    train_data = build_feature_cache(train_sampler, encode, _cache_key(cfg, "train", cfg["pool_size"], cfg["seed"]),
                                     cfg["pool_size"], cfg["num_pools"], cfg["cache_dir"], batch_size=8,
                                     image_keys=image_keys, num_workers=cfg["cache_workers"],
                                     progress=cfg.get("progress", True))
    val_data = None
    if cfg["val_size"]:
        val_seqs, _ = load_training_sources(split="val", images=False)
        val_sampler = SetSampler(val_seqs, (), samples_per_epoch=cfg["val_size"], augment=no_augmentation(),
                                 seed=cfg["seed"] + 1000, **common)
        val_data = build_feature_cache(val_sampler, encode, _cache_key(cfg, "val", cfg["val_size"], cfg["seed"] + 1000),
                                       cfg["val_size"], 1, cfg["cache_dir"], batch_size=8, image_keys=image_keys,
                                       num_workers=cfg["cache_workers"], progress=cfg.get("progress", True))
    n_frozen = sum(p.numel() for p in model.backbone.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    info = {"frozen_backbone_params": n_frozen, "trained_params": n_train,
            "cache_build_seconds": train_data.meta.get("build_seconds"),
            "train_sequences": len(seqs), "train_images": len(imgs)}
    callbacks = [BestBoxBranch()] if cfg["box_early_stop"] and val_data is not None else []
    return Recipe(model=model, forward_train=make_forward_train(cfg), train_data=train_data, val_data=val_data,
                  callbacks=callbacks, info=info)


class BestBoxBranch:
    """Early stopping for the IoU-Net alone (recipe option ``box_early_stop``): after each epoch, keep a copy
    of ``model.iou_net``'s state if its validation IoU loss (``bb``) is the lowest so far; after the last
    epoch, put that copy back. The classifier branch is left as trained to the end. Logs ``box_best_epoch``.
    The copy lives in memory only: a run continued with ``--resume`` chooses among the epochs it ran itself."""

    def __init__(self):
        self.best, self.best_epoch, self.state = float("inf"), 0, None

    def __call__(self, trainer, epoch: int) -> dict:
        bb = float(trainer.last_val.get("bb", float("inf")))
        iou_net = trainer.model.iou_net
        if bb < self.best:
            self.best, self.best_epoch = bb, epoch
            self.state = {k: v.detach().clone() for k, v in iou_net.state_dict().items()}
        if epoch >= trainer.config.epochs and self.state is not None:
            iou_net.load_state_dict(self.state)
        return {"box_best_epoch": self.best_epoch, "box_best_val_bb": self.best}


def export(model: DiMPNet, cfg: dict) -> dict:
    """Bundled weights: the trained parts only (the backbone is the registry's ImageNet model)."""
    return {"state_dict": model.trainable_state_dict(), "config": dict(model.config), "recipe": "dimp",
            "train_cfg": {k: v for k, v in cfg.items() if not callable(v)}}
