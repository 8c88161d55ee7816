"""Training recipe for SiamFC++ (Xu et al., AAAI 2020), with the loss as written in the AUTracker paper
(Li, Wang, Gao, Li, Hu; ``../shared/papers/000_*``), eqs. 8-10. The network and tracker are in
:mod:`adaptrack.trackers.siamfcpp`.

Targets (:func:`siamfcpp_targets`) for score cell ``(u, v)`` at search-crop point
``(p_u, p_v) = (T/2 + s u, T/2 + s v)`` (the tracker's geometry, ``s`` = total stride, ``T`` = template
size) and a ground-truth box ``(x0, y0, x1, y1)`` in the search crop:

* eq. 9 (regression):  ``l* = p_u - x0``, ``t* = p_v - y0``, ``r* = x1 - p_u``, ``b* = y1 - p_v``;
* eq. 10 (quality, Prior Spatial Score, with the second ratio read as min/max — the paper's text has a
  typo): ``PSS* = sqrt( min(l*, r*)/max(l*, r*) * min(t*, b*)/max(t*, b*) )``, 0 outside the box;
* classification: a cell is positive when it lies inside the box **and** inside the box's central
  region of half-size ``center_ratio * (w/2, h/2)`` (``center_ratio = 0.5`` by default: the inner half
  of the box, so cells on the object's rim, whose features mostly see background, are not positives;
  ``center_ratio = 1`` gives the plain "inside the box" rule of the SiamFC++ paper). The cell nearest
  the box centre is always positive, so tiny boxes still get one. Negative pairs have no positives.

Loss (eq. 8), normalised by the number of positives ``N_pos`` in the batch:
``L = 1/N_pos sum L_cls(p, c*) + lam/N_pos sum_{c*>0} L_quality(q, PSS*) + lam/N_pos sum_{c*>0}
L_reg(t, t*)`` with the sigmoid focal loss (alpha 0.25, gamma 2), binary cross entropy and the IoU loss
``-ln IoU`` (UnitBox, as in SiamFC++) from :mod:`adaptrack.training.losses`.

Training: the backbone is frozen, so its features of every sampled pair are cached once
(:mod:`adaptrack.training.features`) and only the necks and heads train on them. Pairs come from the
shared train split's sequences and still images (:class:`~adaptrack.training.samplers.PairSampler`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..losses import bce_with_logits, focal_loss, iou_loss
from . import Recipe

__all__ = ["DEFAULTS", "build", "export", "siamfcpp_targets", "siamfcpp_loss", "prior_spatial_score", "ltrb_targets"]

DEFAULTS = {
    # trainer
    "epochs": 10,
    "batch_size": 32,
    "lr": 3e-3,
    "lr_end": 3e-5,
    "schedule": "cosine",
    "warmup_steps": 100,
    "optimizer": "adamw",
    "weight_decay": 1e-4,
    "grad_clip": 10.0,
    "seed": 0,
    # network (= tracker params)
    "backbone": "efficientnet_lite0",
    "layer": "s16",
    "channels": 64,
    "tower_convs": 2,
    "template_size": 128,
    "search_size": 256,
    # targets / loss
    "center_ratio": 0.5,
    "lam": 1.0,
    "focal_alpha": 0.25,
    "focal_gamma": 2.0,
    # data
    "pool_size": 1500,
    "num_pools": 2,
    "val_samples": 200,
    "image_prob": 0.35,
    "neg_prob": 0.1,
    "search_shift": 48.0,
    "search_scale": 0.25,
    "template_scale": 0.05,
    "max_gap": 60,
    "cache_dir": "cache",
    "cache_batch": 16,
    "cache_workers": 1,
    "auc_sequences": 0,  # >0: tracking AUC on that many val sequences after each epoch
}


def ltrb_targets(boxes: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Eq. 9: ``(B, 4, m, m)`` distances ``(l*, t*, r*, b*)`` from each cell's point ``(p_u, p_v)`` to the
    sides of ``boxes`` ``(B, 4)`` ``(x, y, w, h)``; ``positions`` ``(m,)`` are the cells' crop coordinates."""
    b = boxes.reshape(-1, 4).to(torch.float32)
    x0, y0 = b[:, 0].view(-1, 1, 1), b[:, 1].view(-1, 1, 1)
    x1, y1 = x0 + b[:, 2].view(-1, 1, 1), y0 + b[:, 3].view(-1, 1, 1)
    m = positions.numel()
    px = positions.view(1, 1, m).to(torch.float32)
    py = positions.view(1, m, 1).to(torch.float32)
    l, t = (px - x0).expand(-1, m, m), (py - y0).expand(-1, m, m)
    r, bt = (x1 - px).expand(-1, m, m), (y1 - py).expand(-1, m, m)
    return torch.stack([l, t, r, bt], dim=1)


def prior_spatial_score(ltrb: torch.Tensor) -> torch.Tensor:
    """Eq. 10 (typo fixed): ``sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b))`` over dim 1 of ``(B, 4, ...)``;
    0 where any distance is <= 0 (the cell is outside the box)."""
    d = ltrb.clamp(min=0)
    l, t, r, b = d.unbind(1)
    eps = 1e-12
    q = (torch.minimum(l, r) / torch.maximum(l, r).clamp(min=eps)) * (torch.minimum(t, b) / torch.maximum(t, b).clamp(min=eps))
    return torch.sqrt(q).unsqueeze(1)


def siamfcpp_targets(
    boxes,
    map_size: int,
    stride: int,
    template_size: int,
    center_ratio: float = 0.5,
    is_pos=None,
    peak_only: bool = False,
) -> dict:
    """Targets of a batch: ``cls`` (B,1,m,m) in {0,1}, ``ltrb`` (B,4,m,m), ``pss`` (B,1,m,m) and the
    positive mask ``pos`` (B,1,m,m) bool. See the module docstring for the rule. ``peak_only``: only the
    cell nearest the box centre is positive (the target label of eq. 6's target-class method)."""
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    bsz = boxes.shape[0]
    pos_1d = template_size / 2.0 + stride * torch.arange(map_size, dtype=torch.float32)
    ltrb = ltrb_targets(boxes, pos_1d)
    pss = prior_spatial_score(ltrb)
    cx = boxes[:, 0] + boxes[:, 2] / 2
    cy = boxes[:, 1] + boxes[:, 3] / 2
    dx = (pos_1d.view(1, 1, map_size) - cx.view(-1, 1, 1)).abs()
    dy = (pos_1d.view(1, map_size, 1) - cy.view(-1, 1, 1)).abs()
    # nearest cell to the centre (always positive)
    iu = torch.round((cx - template_size / 2.0) / stride).clamp(0, map_size - 1).long()
    iv = torch.round((cy - template_size / 2.0) / stride).clamp(0, map_size - 1).long()
    peak = torch.zeros(bsz, map_size, map_size, dtype=torch.bool)
    peak[torch.arange(bsz), iv, iu] = True
    if peak_only:
        pos = peak
    else:
        inside = ltrb.min(dim=1).values > 0
        central = (dx <= center_ratio * boxes[:, 2].view(-1, 1, 1) / 2) & (dy <= center_ratio * boxes[:, 3].view(-1, 1, 1) / 2)
        pos = (inside & central) | peak
    if is_pos is not None:
        pos = pos & (torch.as_tensor(is_pos).reshape(-1, 1, 1) > 0.5)
    pos = pos.unsqueeze(1)
    return {"cls": pos.float(), "ltrb": ltrb, "pss": pss, "pos": pos}


def siamfcpp_loss(cls, quality, ltrb, targets: dict, lam: float = 1.0, alpha: float = 0.25, gamma: float = 2.0) -> dict:
    """Eq. 8 on a batch: ``{"loss", "cls", "quality", "reg"}`` (each term already divided by ``N_pos``)."""
    pos = targets["pos"]
    npos = pos.sum().clamp(min=1).to(cls.dtype)
    l_cls = focal_loss(cls, targets["cls"], alpha=alpha, gamma=gamma, reduction="sum") / npos
    w = pos.to(cls.dtype)
    l_q = bce_with_logits(quality, targets["pss"], weight=w, reduction="sum") / npos
    pred = ltrb.permute(0, 2, 3, 1).reshape(-1, 4)
    tgt = targets["ltrb"].permute(0, 2, 3, 1).reshape(-1, 4)
    wr = w.reshape(-1)
    if wr.sum() > 0:
        l_reg = iou_loss(pred[wr > 0], tgt[wr > 0], mode="log") * wr.sum() / npos
    else:
        l_reg = ltrb.sum() * 0.0
    total = l_cls + lam * l_q + lam * l_reg
    return {"loss": total, "cls": l_cls.detach(), "quality": l_q.detach(), "reg": l_reg.detach()}


# -- the recipe --------------------------------------------------------------------------------------


def _net_from_cfg(cfg, pretrained=True):
    from ...trackers.siamfcpp import SiamFCppNet

    return SiamFCppNet(cfg["backbone"], cfg["layer"], cfg["channels"], cfg["tower_convs"], pretrained=pretrained)


def build(cfg: dict) -> Recipe:
    from ..augmentation import Augmenter, no_augmentation
    from ..data import load_training_sources
    from ..features import build_feature_cache
    from ..samplers import PairSampler

    torch.manual_seed(int(cfg["seed"]))
    net = _net_from_cfg(cfg)
    net.backbone.to(memory_format=torch.channels_last)
    net.train()
    stride = net.stride
    map_size = (cfg["search_size"] - cfg["template_size"]) // stride + 1
    progress = bool(cfg.get("progress", True))

    @torch.no_grad()
    def encode(batch):
        # one crop at a time in channels-last: the fastest way to run the frozen backbone on this CPU
        net.backbone.eval()
        out = {"fz": [], "fx": []}
        for key, img in (("fz", batch["template"]), ("fx", batch["search"])):
            for i in range(img.shape[0]):
                x = img[i : i + 1].contiguous(memory_format=torch.channels_last)
                out[key].append(net.features(x).contiguous())
        return {k: torch.cat(v) for k, v in out.items()}

    common = dict(
        template_size=cfg["template_size"], search_size=cfg["search_size"], max_gap=cfg["max_gap"],
        search_shift=cfg["search_shift"], search_scale=cfg["search_scale"], template_scale=cfg["template_scale"],
    )
    seqs, imgs = load_training_sources("train")
    train_sampler = PairSampler(
        seqs, imgs, samples_per_epoch=cfg["pool_size"], image_prob=cfg["image_prob"], neg_prob=cfg["neg_prob"],
        augment=Augmenter(), seed=cfg["seed"], **common,
    )
    keybase = (f"siamfcpp|{cfg['backbone']}|{cfg['layer']}|{cfg['template_size']}|{cfg['search_size']}|"
               f"{cfg['search_shift']}|{cfg['search_scale']}|{cfg['template_scale']}|{cfg['max_gap']}|"
               f"{cfg['image_prob']}|{cfg['neg_prob']}|{cfg['seed']}")
    train = build_feature_cache(train_sampler, encode, keybase + f"|train|{cfg['pool_size']}x{cfg['num_pools']}",
                                cfg["pool_size"], cfg["num_pools"], cfg["cache_dir"], cfg["cache_batch"],
                                num_workers=cfg["cache_workers"], progress=progress)
    val_seqs, _ = load_training_sources("val", images=False)
    val_sampler = PairSampler(val_seqs, (), samples_per_epoch=cfg["val_samples"], neg_prob=cfg["neg_prob"],
                              augment=no_augmentation(), seed=cfg["seed"] + 1, **common)
    val = build_feature_cache(val_sampler, encode, keybase + f"|val|{cfg['val_samples']}", cfg["val_samples"], 1,
                              cfg["cache_dir"], cfg["cache_batch"], num_workers=cfg["cache_workers"], progress=progress)

    def forward_train(model, batch):
        kern = model.template_neck(batch["fz"])
        srch = model.search_neck(batch["fx"])
        cls, quality, ltrb = model.head(kern, srch)
        targets = siamfcpp_targets(batch["search_box"], map_size, stride, cfg["template_size"],
                                   cfg["center_ratio"], is_pos=batch["is_pos"])
        return siamfcpp_loss(cls, quality, ltrb, targets, cfg["lam"], cfg["focal_alpha"], cfg["focal_gamma"])

    callbacks = []
    if int(cfg.get("auc_sequences", 0)) > 0:
        from ..trainer import TrackingAUCCallback

        def make_tracker(model):
            from ...trackers.base import get_entry

            entry = get_entry("siamfcpp")
            params = entry.make_params(None, {k: cfg[k] for k in ("backbone", "layer", "channels", "tower_convs",
                                                                   "template_size", "search_size")} | {"backend": "torch"})
            tr = entry.cls(params, weights=None)
            tr.net = model  # the trained network itself (pretrained backbone, current heads)
            return tr

        callbacks.append(TrackingAUCCallback(make_tracker, val_seqs[: int(cfg["auc_sequences"])], max_frames=100))
    info = {"train_cache": train.meta, "val_cache": val.meta, "map_size": map_size, "stride": stride,
            "train_sequences": len(seqs), "train_images": len(imgs)}
    return Recipe(net, forward_train, train, val_data=val, callbacks=callbacks, info=info)


def export(model, cfg: dict) -> dict:
    """Bundled weights: the architecture and the trainable (non-backbone) parameters."""
    return {"arch": dict(model.arch), "state_dict": {k: v.detach().clone() for k, v in model.trainable_state_dict().items()}}
