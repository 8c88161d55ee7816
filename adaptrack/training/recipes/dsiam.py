"""Training recipe for DSiam (Guo et al., ICCV 2017; ``../shared/papers/004_*``), sec. 3.5 joint training.

The network is :class:`adaptrack.trackers.dsiam.DSiamNet` on a frozen EfficientNet-Lite0 (layers ``s8``
and ``s16``). Its ``s8`` adjust head and response scale/bias start from the trained SiamFC (the paper
starts from SiamFC's AlexNet); the ``s16`` head is new. Trained jointly: both adjust heads,
``lambda_v`` and ``lambda_w`` of each layer (the RLR layers), the per-layer response scale/bias and the
elementwise fusion logits (eq. 9).

Clips (:class:`~adaptrack.training.samplers.ClipSampler`, ``clip_len`` frames with random steps): for
every frame ``t >= 1`` of a clip the network "tracks" frame ``t`` with the transforms learned at frame
``t - 1`` — ``V_{t-1} = RLR(f(O_1) -> f(O_{t-1}))`` (eq. 6), ``W_{t-1} = RLR(f(G_{t-1}) -> f(G_bar_{t-1}))``
(eq. 8), ``S_t`` by eqs. (2) and (9) — and the clip's loss is ``sum_t L_t`` with the logistic loss of eq.
(10) (SiamFC's balanced form, positives within ``label_radius`` pixels of the true centre), back-propagated
through the RLR layers of every frame to the lambdas, the adjust heads and the fusion maps.

Crops follow the *true* previous position (teacher forcing): ``Z_t`` is cropped around the ground-truth
box of frame ``t - 1`` (with the sampler's small jitter standing in for tracking error), and ``O_{t-1}``,
``G_{t-1}`` around the ground-truth box of frame ``t - 1``. The paper's 'Crop' layer follows the predicted
peak; crop positions are not differentiable either way, and with true positions every crop is known before
training, so the frozen backbone's features of all of them are cached once
(:mod:`adaptrack.training.features`) and an epoch costs only the trainable layers.
"""

from __future__ import annotations

import numpy as np
import torch

from ..losses import balanced_logistic_loss, siamfc_labels
from . import Recipe

__all__ = ["DEFAULTS", "build", "export", "dsiam_clip_loss", "encode_clip"]

DEFAULTS = {
    # trainer
    "epochs": 15,
    "batch_size": 4,  # clips
    "lr": 1e-3,
    "lr_end": 1e-5,
    "schedule": "cosine",
    "warmup_steps": 20,
    "optimizer": "adamw",
    "weight_decay": 1e-4,
    "grad_clip": 10.0,
    "seed": 0,
    # model (= tracker params)
    "siamfc_weights": "default",
    "backbone": "efficientnet_lite0",
    "layers": ["s8", "s16"],
    "embed_dim": 128,
    "template_size": 128,
    "search_size": 256,
    "lam_v": 0.5,
    "lam_w": 0.5,
    "bs_sigma": 1.0,
    "use_v": True,
    "use_w": True,
    "label_radius": 16.0,
    # data
    "clip_len": 6,
    "max_step": 3,
    "pool_size": 240,
    "num_pools": 1,
    "val_clips": 48,
    "search_shift": 12.0,
    "search_scale": 0.08,
    "cache_dir": "cache",
    "auc_sequences": 0,
}


def _crop(frame, box, side_ratio, out_size, context=0.5):
    from ...image import crop_and_resize
    from ..samplers import siamfc_window

    c = (box[0] + box[2] / 2.0, box[1] + box[3] / 2.0)
    side = siamfc_window(box, context) * side_ratio
    return crop_and_resize(frame, c, side, out_size), side


def encode_clip(net, batch, template_size: int, search_size: int, bs_sigma: float) -> dict:
    """Backbone features of one clip (a ClipSampler item collated with batch size 1, ``return_frames``).

    Returns per layer ``o_<l>`` (``(1, T-1, C, hz, wz)``: ``O_0 .. O_{T-2}``), ``g_<l>`` / ``gb_<l>``
    (``G_t`` / ``G_bar_t`` for ``t = 0 .. T-2``) and ``z_<l>`` (search crops ``Z_1 .. Z_{T-1}`` of the sampler).
    """
    from ...nn.siamese import frames_to_tensor
    from ...trackers.dsiam import gaussian_weighted

    frames = [f[0].numpy() if torch.is_tensor(f) else np.asarray(f[0]) for f in batch["frames"]]
    boxes = batch["boxes"][0].numpy().astype(np.float64)
    n = len(frames)
    ratio = search_size / template_size
    o_crops, g_crops = [], []
    for t in range(n - 1):
        o, _ = _crop(frames[t], boxes[t], 1.0, template_size)
        g, side = _crop(frames[t], boxes[t], ratio, search_size)
        wh_crop = boxes[t, 2:] * search_size / side
        o_crops.append(o)
        g_crops.append(g.astype(np.float32))
        g_crops.append(gaussian_weighted(g, wh_crop, bs_sigma))
    o = frames_to_tensor(np.stack(o_crops))
    g = frames_to_tensor(np.stack(g_crops))
    z = batch["search"][0, 1:].float()
    fo, fg, fz = net.features(o), net.features(g), net.features(z)
    out = {}
    for name in net.layers:
        out[f"o_{name}"] = fo[name][None]
        out[f"g_{name}"] = fg[name][0::2][None]
        out[f"gb_{name}"] = fg[name][1::2][None]
        out[f"z_{name}"] = fz[name][None]
    return out


def dsiam_clip_loss(model, batch: dict, search_size: int, label_radius: float, use_v: bool = True,
                    use_w: bool = True) -> dict:
    """Eq. (10) summed over the frames of each clip, averaged over clips (see the module docstring)."""
    layers = model.layers
    b, steps = batch[f"z_{layers[0]}"].shape[:2]

    def emb(prefix):
        return model.embed({n: batch[f"{prefix}_{n}"].flatten(0, 1) for n in layers})

    fo, fz = emb("o"), emb("z")
    # O_1 of each clip, repeated for its steps
    f1 = {n: fo[n].unflatten(0, (b, steps))[:, :1].expand(-1, steps, -1, -1, -1).flatten(0, 1) for n in layers}
    v = model.learn_v(f1, fo) if use_v else None
    w = None
    if use_w:
        w = model.learn_w(emb("g"), emb("gb"))
    s = model.response(f1, fz, v, w)
    stride = min(model.backbone.strides[n] for n in layers)
    sb = batch["search_box"][:, 1:].flatten(0, 1)
    offsets = sb[:, :2] + sb[:, 2:] / 2 - search_size / 2.0
    labels, weights = siamfc_labels(s.shape[-1], stride, label_radius, offsets=offsets)
    loss = balanced_logistic_loss(s, labels, weights) * steps  # sum over the clip's frames, mean over clips
    with torch.no_grad():
        plain = model.response(f1, fz, None, None)
        plain_loss = balanced_logistic_loss(plain, labels, weights) * steps
    out = {"loss": loss, "static_loss": plain_loss}
    for n in layers:
        out[f"lam_v_{n}"] = model.rlr_v[n].lam.detach()
        out[f"lam_w_{n}"] = model.rlr_w[n].lam.detach()
    return out


def _init_from_siamfc(net, cfg) -> None:
    """Copy SiamFC's trained adjust head and response scale/bias into the DSiam layer SiamFC uses."""
    from ...trackers.base import get_entry
    from ...trackers.siamfc import build_siamfc_net
    from ...weights import load_weights

    p = get_entry("siamfc").make_params(None, {"exemplar_size": cfg["template_size"], "instance_size": cfg["search_size"]})
    sf = build_siamfc_net(p)
    load_weights(sf, cfg["siamfc_weights"], p.weights_name)
    (layer,) = tuple(sf.backbone.layers)
    if layer in net.layers:
        net.adjust[layer].load_state_dict(sf.adjust.state_dict())
        with torch.no_grad():
            net.out_scale[layer].copy_(sf.out_scale)
            net.out_bias[layer].copy_(sf.out_bias)


def build(cfg: dict) -> Recipe:
    from ...trackers.dsiam import DSiamParams, build_dsiam_net
    from ..augmentation import Augmenter
    from ..data import load_training_sources
    from ..features import build_feature_cache
    from ..samplers import ClipSampler

    torch.manual_seed(int(cfg["seed"]))
    p = DSiamParams(backbone=cfg["backbone"], layers=tuple(cfg["layers"]), embed_dim=cfg["embed_dim"],
                    exemplar_size=cfg["template_size"], instance_size=cfg["search_size"], lam_v=cfg["lam_v"],
                    lam_w=cfg["lam_w"], bs_sigma=cfg["bs_sigma"])
    net = build_dsiam_net(p)
    if cfg.get("siamfc_weights"):
        _init_from_siamfc(net, cfg)
    net.xcorr_method = "fft"  # exact, faster backward (see adaptrack.nn.correlation.xcorr_fft)
    net.train()
    progress = bool(cfg.get("progress", True))

    @torch.no_grad()
    def encode(batch):
        net.backbone.eval()
        return encode_clip(net, batch, cfg["template_size"], cfg["search_size"], cfg["bs_sigma"])

    common = dict(clip_len=cfg["clip_len"], max_step=cfg["max_step"], template_size=cfg["template_size"],
                  search_size=cfg["search_size"], search_shift=cfg["search_shift"], search_scale=cfg["search_scale"],
                  return_frames=True)
    seqs, _ = load_training_sources("train", images=False)
    # photometric augmentation is applied by the sampler to its own crops only, so it is off here: O, G and
    # G_bar are cropped from the raw frames and must look like Z
    sampler = ClipSampler(seqs, samples_per_epoch=cfg["pool_size"], seed=cfg["seed"], augment=None, **common)
    keybase = (f"dsiam|{cfg['backbone']}|{','.join(cfg['layers'])}|{cfg['template_size']}|{cfg['search_size']}|"
               f"{cfg['clip_len']}|{cfg['max_step']}|{cfg['search_shift']}|{cfg['search_scale']}|{cfg['bs_sigma']}|"
               f"{cfg['seed']}")
    image_keys = ("template", "search", "frames")
    train = build_feature_cache(sampler, encode, keybase + f"|train|{cfg['pool_size']}x{cfg['num_pools']}",
                                cfg["pool_size"], cfg["num_pools"], cfg["cache_dir"], 1, image_keys=image_keys,
                                progress=progress)
    val_seqs, _ = load_training_sources("val", images=False)
    val_sampler = ClipSampler(val_seqs, samples_per_epoch=cfg["val_clips"], seed=cfg["seed"] + 1, **common)
    val = build_feature_cache(val_sampler, encode, keybase + f"|val|{cfg['val_clips']}", cfg["val_clips"], 1,
                              cfg["cache_dir"], 1, image_keys=image_keys, progress=progress)

    def forward_train(model, batch):
        return dsiam_clip_loss(model, batch, cfg["search_size"], cfg["label_radius"], cfg["use_v"], cfg["use_w"])

    callbacks = []
    if int(cfg.get("auc_sequences", 0)) > 0:
        from ..trainer import TrackingAUCCallback

        def make_tracker(model):
            from ...trackers.dsiam import DSiamTracker

            import dataclasses

            return DSiamTracker(dataclasses.replace(p, backend="torch"), weights=None, net=model)

        callbacks.append(TrackingAUCCallback(make_tracker, val_seqs[: int(cfg["auc_sequences"])], max_frames=100))
    params = [q for q in net.parameters() if q.requires_grad]
    info = {"train_cache": train.meta, "val_cache": val.meta, "train_sequences": len(seqs),
            "trainable_parameters": sum(q.numel() for q in params),
            "crops": "teacher forcing: crops follow the true previous position"}
    return Recipe(net, forward_train, train, val_data=val, callbacks=callbacks, params=params, info=info)


def export(model, cfg: dict) -> dict:
    """Bundled weights: everything but the frozen ImageNet backbone."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not k.startswith("backbone.")}
