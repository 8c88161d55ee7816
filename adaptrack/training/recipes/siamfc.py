"""Training recipe for SiamFC (Bertinetto et al., 2016) on the :class:`~adaptrack.trackers.siamfc.SiamFCNet`
of :mod:`adaptrack.trackers.siamfc`.

Loss (paper eq. 1-2): the logistic loss over the score map, positives within ``r_pos`` search-crop pixels
of the target centre, balanced between positives and negatives
(:func:`~adaptrack.training.losses.siamfc_labels`, :func:`~adaptrack.training.losses.balanced_logistic_loss`).
Unlike the paper the target is not always centred in the search crop: the sampler shifts the search
window by up to ``search_shift`` pixels and the labels follow the target (no learned centre bias), and a
fraction ``neg_prob`` of pairs are negatives (search region from another video or image, all labels 0).

Data: pairs from the train-split sequences (frames at most ``max_gap`` apart) and from still images
(two differently jittered and augmented crops of one object), see
:class:`~adaptrack.training.samplers.PairSampler`.

CPU mode (default, ``cache=True``): the backbone is frozen (``freeze="all"``), so its features of
``cache_pool`` sampled pairs are computed once (:mod:`adaptrack.training.features`) and only the adjust
head, ``out_scale`` and ``out_bias`` train on them, for many epochs. Each step crops a random
``feature_crop x feature_crop`` window of the cached search features (a translation of the target by
whole strides: fresh shifts every epoch from the same cache; labels follow). With ``cache=False`` the
images go through the whole net each step (needed when backbone stages are trainable, e.g. AlexNet).

Validation: the loss on pairs of the val split (features cached too, full search map), and the
one-pass success AUC of a :class:`~adaptrack.trackers.siamfc.SiamFCTracker` built from the current
weights on the first ``val_auc_frames`` frames of ``val_auc_sequences`` val sequences.
"""

from __future__ import annotations

import json

import torch

from ..augmentation import Augmenter
from ..data import load_training_sources
from ..features import build_feature_cache
from ..losses import balanced_logistic_loss, siamfc_labels
from ..samplers import PairSampler
from ..trainer import TrackingAUCCallback
from . import Recipe

__all__ = ["DEFAULTS", "build", "export", "forward_train", "make_tracker"]

DEFAULTS = {
    # trainer
    "epochs": 18,
    "batch_size": 16,
    "lr": 1e-2,
    "lr_end": 1e-4,
    "schedule": "exp",
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "grad_clip": 10.0,
    "seed": 0,
    # network (= SiamFCParams of the tracker)
    "backbone": "efficientnet_lite0",
    "layers": ["s8"],
    "adjust": "conv3",
    "adjust_channels": 128,
    "freeze": "all",
    "exemplar_size": 128,
    "instance_size": 256,
    "context": 0.5,
    # labels
    "r_pos": 16.0,
    "r_neg": 16.0,
    "learn_out_scale": False,
    # data
    "data_root": None,
    "samples_per_epoch": 2000,  # without cache; with cache an epoch is the cache pool
    "max_gap": 100,
    "image_prob": 0.3,
    "neg_prob": 0.1,
    "search_shift": 40.0,
    "search_scale": 0.15,
    "template_scale": 0.05,
    "image_shift": 48.0,
    "image_scale": 0.25,
    "augment": True,
    # feature cache (frozen backbone)
    "cache": True,
    "cache_dir": "cache",
    "cache_pool": 1200,
    "cache_pools": 3,
    "feature_crop": 24,  # search-feature window per step (cells); 0 = whole map
    # validation
    "val_pairs": 128,
    "val_auc_sequences": 3,
    "val_auc_frames": 60,
    "val_auc_every": 0,  # 0 = after the last epoch only; -1 = never
}


def _net(cfg):
    from ...trackers.siamfc import SiamFCNet

    pretrained = None if cfg["backbone"].startswith("efficientnet") else False
    return SiamFCNet(cfg["backbone"], tuple(cfg["layers"]), cfg["adjust"], int(cfg["adjust_channels"]),
                     cfg["freeze"], pretrained)


def _tracker_params(cfg, **kw):
    from ...trackers.siamfc import SiamFCParams

    return SiamFCParams(backbone=cfg["backbone"], layers=tuple(cfg["layers"]), adjust=cfg["adjust"],
                        adjust_channels=int(cfg["adjust_channels"]), freeze=cfg["freeze"],
                        exemplar_size=int(cfg["exemplar_size"]), instance_size=int(cfg["instance_size"]),
                        context=float(cfg["context"]), **kw)


def make_tracker(model, cfg):
    """A :class:`SiamFCTracker` sharing ``model`` (no copy; channels-last off so training is untouched)."""
    from ...trackers.siamfc import SiamFCTracker

    return SiamFCTracker(_tracker_params(cfg, channels_last=False), weights=None, net=model)


def _crop_search(xfs: list, sizes_full: int, crop: int, generator=None):
    """Random ``crop x crop`` windows (one offset per sample, shared by all layers at one stride)."""
    b = xfs[0].shape[0]
    hi = sizes_full - crop
    offs = torch.randint(0, hi + 1, (b, 2), generator=generator)
    out = []
    for xf in xfs:
        out.append(torch.stack([xf[i, :, offs[i, 1] : offs[i, 1] + crop, offs[i, 0] : offs[i, 0] + crop]
                                for i in range(b)]))
    return out, offs


def forward_train(model, batch, cfg):
    """Balanced logistic loss of one batch (images or cached features; see the module docstring)."""
    layers = list(model.backbone.layers)
    stride = model.total_stride
    if "template" in batch:  # images through the whole net
        zf = model.template(batch["template"])
        xf = model.search(batch["search"])
        shift_cells = torch.zeros(len(zf), 2)
    else:
        zs = [batch[f"z_{n}"] for n in layers]
        xs = [batch[f"x_{n}"] for n in layers]
        crop = int(cfg["feature_crop"])
        full = xs[0].shape[-1]
        if model.training and 0 < crop < full and len(layers) == 1:
            xs, offs = _crop_search(xs, full, crop)
            shift_cells = offs.float() - (full - crop) / 2.0  # window centre relative to the full map's
        else:
            shift_cells = torch.zeros(len(zs[0]), 2)
        zf = model.adjust(zs)
        xf = model.adjust(xs)
    logits = model.score(zf, xf)
    centre = float(cfg["instance_size"]) / 2.0
    sb = batch["search_box"]
    offsets = sb[:, :2] + sb[:, 2:] / 2 - centre - shift_cells * stride
    labels, weights = siamfc_labels(tuple(logits.shape[-2:]), stride, float(cfg["r_pos"]), float(cfg["r_neg"]),
                                    offsets=offsets, is_pos=batch["is_pos"])
    loss = balanced_logistic_loss(logits, labels, weights)
    with torch.no_grad():  # how often the peak is on a positive cell (positive pairs only)
        pos = batch["is_pos"] > 0.5
        flat = logits.flatten(1).argmax(1)
        hit = labels.flatten(1).gather(1, flat[:, None])[:, 0]
        peak_acc = hit[pos].mean() if pos.any() else torch.tensor(0.0)
    return {"loss": loss, "peak_acc": peak_acc}


def _sampler(cfg, sources, split: str, n: int, seed: int):
    seqs, imgs = sources
    aug = Augmenter() if (cfg["augment"] and split == "train") else None
    return PairSampler(
        seqs, imgs, samples_per_epoch=n, template_size=int(cfg["exemplar_size"]), search_size=int(cfg["instance_size"]),
        context=float(cfg["context"]), max_gap=int(cfg["max_gap"]), image_prob=float(cfg["image_prob"]),
        neg_prob=float(cfg["neg_prob"]), search_shift=float(cfg["search_shift"]), search_scale=float(cfg["search_scale"]),
        template_scale=float(cfg["template_scale"]) if split == "train" else 0.0,
        image_shift=float(cfg["image_shift"]), image_scale=float(cfg["image_scale"]), augment=aug, seed=seed,
    )


def _cache(cfg, model, sampler, split, pool, pools, sources):
    layers = list(model.backbone.layers)
    bb = model.backbone.eval()

    def encode(batch):
        zf = bb(batch["template"])
        xf = bb(batch["search"])
        out = {f"z_{n}": zf[n] for n in layers}
        out.update({f"x_{n}": xf[n] for n in layers})
        return out

    keys = ["backbone", "layers", "exemplar_size", "instance_size", "context", "max_gap", "image_prob", "neg_prob",
            "search_shift", "search_scale", "template_scale", "image_shift", "image_scale", "augment", "seed",
            "data_root"]
    key = json.dumps({"recipe": "siamfc", "split": split,
                      "sources": [len(sources.sequences), len(sources.images)],
                      **{k: cfg[k] for k in keys}}, sort_keys=True, default=str)
    return build_feature_cache(sampler, encode, key, pool, pools, cache_dir=cfg["cache_dir"],
                               progress=bool(cfg.get("progress", True)))


def build(cfg: dict) -> Recipe:
    torch.manual_seed(int(cfg["seed"]))
    model = _net(cfg)
    if not cfg["learn_out_scale"]:
        # a fixed 1e-3 as in the authors' code: the adjust head's last BN scale already sets the response
        # scale, and a learned ``a`` receives gradients ~1e3x larger than the head's (the raw correlation
        # sums C*hz*wz products), which blew the loss up within two SGD steps in a smoke run.
        model.out_scale.requires_grad_(False)
    train_src = load_training_sources("train", root=cfg["data_root"])
    val_src = load_training_sources("val", root=cfg["data_root"], images=False)
    seed = int(cfg["seed"])
    info = {"train_sequences": len(train_src.sequences), "train_images": len(train_src.images),
            "val_sequences": len(val_src.sequences)}
    if cfg["cache"]:
        if any(p.requires_grad for p in model.backbone.parameters()):
            raise ValueError("cache=True needs a frozen backbone (freeze='all'); use cache=False to fine-tune it")
        train_data = _cache(cfg, model, _sampler(cfg, train_src, "train", int(cfg["cache_pool"]), seed), "train",
                            int(cfg["cache_pool"]), int(cfg["cache_pools"]), train_src)
        val_data = _cache(cfg, model, _sampler(cfg, val_src, "val", int(cfg["val_pairs"]), seed + 1), "val",
                          int(cfg["val_pairs"]), 1, val_src) if cfg["val_pairs"] else None
        info["cache_build_seconds"] = {"train": train_data.meta.get("build_seconds"),
                                       "val": val_data.meta.get("build_seconds") if val_data else None}
    else:
        train_data = _sampler(cfg, train_src, "train", int(cfg["samples_per_epoch"]), seed)
        val_data = _sampler(cfg, val_src, "val", int(cfg["val_pairs"]), seed + 1) if cfg["val_pairs"] else None
    callbacks = []
    if int(cfg["val_auc_every"]) >= 0 and int(cfg["val_auc_sequences"]) > 0:
        k = int(cfg["val_auc_sequences"])
        seqs = val_src.sequences[:: max(1, len(val_src.sequences) // k)][:k]  # spread over the groups
        callbacks.append(TrackingAUCCallback(lambda m: make_tracker(m, cfg), seqs, int(cfg["val_auc_frames"]),
                                             every=int(cfg["val_auc_every"])))
    return Recipe(model=model, forward_train=lambda m, b: forward_train(m, b, cfg), train_data=train_data,
                  val_data=val_data, callbacks=callbacks, info=info)


def export(model, cfg) -> dict:
    """The tensors bundled as ``adaptrack/weights/siamfc.pt`` (frozen backbone excluded)."""
    from ...weights import trainable_state_dict

    return trainable_state_dict(model)
