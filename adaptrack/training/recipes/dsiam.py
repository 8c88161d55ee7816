"""Training recipe for DSiam (Guo et al., ICCV 2017; ``../shared/papers/004_*``), sec. 3.5 joint training.

The network is :class:`adaptrack.trackers.dsiam.DSiamNet` on a frozen EfficientNet-Lite0 (layers ``s8a``
and ``s8`` by default; ``layers=[s8, s16]`` with 128/256 crops trains the ``s8s16`` variant). Its ``s8``
adjust head and response scale/bias start from the trained SiamFC (the paper starts from SiamFC's AlexNet);
the other layer's head is new. Trained jointly: both adjust heads,
``lambda_v`` and ``lambda_w`` of each layer (the RLR layers), the per-layer response scale/bias and the
elementwise fusion logits (eq. 9).

Clips (:class:`~adaptrack.training.samplers.ClipSampler`, ``clip_len`` frames with random steps): for
every frame ``t >= 1`` of a clip the network "tracks" frame ``t`` with the transforms learned at frame
``t - 1`` — ``V_{t-1} = RLR(f(O_1) -> f(O_{t-1}))`` (eq. 6), ``W_{t-1} = RLR(f(G_{t-1}) -> f(G_bar_{t-1}))``
(eq. 8), ``S_t`` by eqs. (2) and (9) — and the clip's loss is ``sum_t L_t`` with the logistic loss of eq.
(10) (SiamFC's balanced form, positives within ``label_radius`` pixels of the true centre), back-propagated
through the RLR layers of every frame to the lambdas, the adjust heads and the fusion maps.

Crops follow the tracker's situation (``crops="displaced"``, the default): the paper's 'Crop' layer
cuts ``Z_t``, ``O_{t-1}``, ``G_{t-1}`` at the position the network itself predicted at ``t - 1``; with a
frozen backbone whose features are cached once (:mod:`adaptrack.training.features`) the prediction cannot
be replayed every epoch, so the recipe stands in for it with the *true* previous box plus a random
tracking error: per clip step ``t - 1 >= 1`` an estimated box ``b~_{t-1}`` = the true box of frame ``t - 1``
with its centre moved by ``N(0, track_error^2)`` x ``sqrt(w h)`` per axis (clipped at ``track_error_max``
x ``sqrt(w h)``) and its size scaled by ``exp(N(0, track_scale_error^2))``. That one estimate is used
consistently, as the tracker would: ``O_{t-1}``, ``G_{t-1}`` and ``G_bar_{t-1}`` are cropped around
``b~_{t-1}`` (the Gaussian of ``G_bar`` centred on the crop centre, sized by ``b~``), and ``Z_t`` is cropped
in frame ``t`` around ``b~_{t-1}`` with the search window of ``b~_{t-1}``; the labels of ``S_t`` sit at the
true centre of frame ``t`` in that crop. Frame 0's box is given (as at tracking initialisation), so
``O_1``, ``G_0`` and ``Z_1``'s centre are exact. ``V`` therefore sees ``O_{t-1}`` displaced from the target
and is trained to respond at the true target anyway, instead of learning (as with crops at the true
position, ``crops="true"``, the first bundled weights) that ``O_{t-1}`` is always centred. The default
``track_error = 0.15`` is the per-axis standard deviation of SiamFC's centre error, relative to
``sqrt(w h)``, on val-split frames it tracked with IoU > 0.3 (``runs/eval_gd/siamfc``, 997 frames).
All crops pad with frame 0's mean colour, as the tracker does. (``search_shift`` / ``search_scale`` only
jitter the sampler's own search crops, which this recipe does not use.) Measured outcome: this did not stop V
from copying tracking errors on whole sequences (val AUC and the reason in ``adaptrack/weights/dsiam.md``).

The response scales (~1e-3) train at ``lr * scale_lr_factor``: with Adam's ~lr-sized steps at the common lr
they change sign within a few steps.
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
    "scale_lr_factor": 0.01,  # lr multiplier of the response scales (SiamFC's 1e-3: Adam's ~lr steps flip them)
    "seed": 0,
    # model (= tracker params)
    "siamfc_weights": "default",
    "backbone": "efficientnet_lite0",
    "layers": ["s8a", "s8"],
    "embed_dim": 128,
    "template_size": 112,
    "search_size": 224,
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
    "crops": "displaced",  # "displaced": true previous box + a tracking error (module docstring) | "true"
    "track_error": 0.15,  # per-axis centre error std, x sqrt(w h) of the target
    "track_error_max": 0.5,
    "track_scale_error": 0.05,  # std of the log size error
    "cache_dir": "cache",
    "auc_sequences": 0,
}


def _crop(frame, box, side_ratio, out_size, context=0.5):
    from ...image import crop_and_resize
    from ..samplers import siamfc_window

    c = (box[0] + box[2] / 2.0, box[1] + box[3] / 2.0)
    side = siamfc_window(box, context) * side_ratio
    return crop_and_resize(frame, c, side, out_size), side


def clip_crop_boxes(boxes: np.ndarray, mode: str, track_error: float, track_error_max: float,
                    track_scale_error: float, rng) -> np.ndarray:
    """The boxes the crops of each clip step are centred on: ``est[t]`` (frames ``t = 0 .. T-2``) is where
    the simulated tracker believes the target of frame ``t`` is. ``mode="true"``: the true boxes;
    ``"displaced"``: frame 0 exact, later frames with a random centre and size error (module docstring)."""
    est = np.asarray(boxes, dtype=np.float64)[:-1].copy()
    if mode == "true":
        return est
    if mode != "displaced":
        raise ValueError(f"crops must be 'true' or 'displaced', got {mode!r}")
    for t in range(1, len(est)):
        x, y, w, h = est[t]
        side = np.sqrt(max(w * h, 1.0))
        d = np.clip(rng.normal(0.0, track_error, size=2), -track_error_max, track_error_max) * side
        k = float(np.exp(rng.normal(0.0, track_scale_error)))
        cx, cy = x + w / 2 + d[0], y + h / 2 + d[1]
        est[t] = (cx - w * k / 2, cy - h * k / 2, w * k, h * k)
    return est


def _clip_rng(batch, seed: int):
    """A generator determined by the clip (frame ids and boxes) and the seed, so encoding one clip twice
    (the cache's probe) draws the same errors."""
    import hashlib

    h = hashlib.sha1(str(int(seed)).encode())
    if "frame_ids" in batch:
        h.update(np.ascontiguousarray(batch["frame_ids"][0].numpy()).tobytes())
    h.update(np.ascontiguousarray(batch["boxes"][0].numpy()).tobytes())
    return np.random.default_rng(int.from_bytes(h.digest()[:8], "little"))


def encode_clip(net, batch, template_size: int, search_size: int, bs_sigma: float, crops: str = "displaced",
                track_error: float = 0.15, track_error_max: float = 0.5, track_scale_error: float = 0.05,
                seed: int = 0) -> dict:
    """Backbone features of one clip (a ClipSampler item collated with batch size 1, ``return_frames``).

    Returns per layer ``o_<l>`` (``(1, T-1, C, hz, wz)``: ``O_0 .. O_{T-2}``), ``g_<l>`` / ``gb_<l>``
    (``G_t`` / ``G_bar_t`` for ``t = 0 .. T-2``) and ``z_<l>`` (search crops ``Z_1 .. Z_{T-1}``), all cropped
    around the boxes of :func:`clip_crop_boxes`, and ``zoff`` (``(1, T-1, 2)``): the true target centre of
    frames ``1 .. T-1`` in their search crops, relative to the crop centre, in crop pixels.
    """
    from ...image import crop_and_resize, frame_mean
    from ...nn.siamese import frames_to_tensor
    from ...trackers.dsiam import gaussian_weighted
    from ..samplers import siamfc_window

    frames = [f[0].numpy() if torch.is_tensor(f) else np.asarray(f[0]) for f in batch["frames"]]
    boxes = batch["boxes"][0].numpy().astype(np.float64)
    n = len(frames)
    ratio = search_size / template_size
    est = clip_crop_boxes(boxes, crops, track_error, track_error_max, track_scale_error, _clip_rng(batch, seed))
    pad = frame_mean(frames[0])
    o_crops, g_crops, z_crops, zoff = [], [], [], []
    for t in range(n - 1):
        c = est[t, :2] + est[t, 2:] / 2.0
        side_z = siamfc_window(est[t])
        side_x = side_z * ratio
        o_crops.append(crop_and_resize(frames[t], c, side_z, template_size, pad))
        g = crop_and_resize(frames[t], c, side_x, search_size, pad)
        g_crops.append(g.astype(np.float32))
        g_crops.append(gaussian_weighted(g, est[t, 2:] * search_size / side_x, bs_sigma))
        z_crops.append(crop_and_resize(frames[t + 1], c, side_x, search_size, pad))
        true_c = boxes[t + 1, :2] + boxes[t + 1, 2:] / 2.0
        zoff.append((true_c - c) * search_size / side_x)
    o = frames_to_tensor(np.stack(o_crops))
    g = frames_to_tensor(np.stack(g_crops))
    z = frames_to_tensor(np.stack(z_crops))
    fo, fg, fz = net.features(o), net.features(g), net.features(z)
    out = {"zoff": torch.tensor(np.asarray(zoff), dtype=torch.float32)[None]}
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
    if "zoff" in batch:  # encode_clip's own search crops
        offsets = batch["zoff"].flatten(0, 1)
    else:  # a sampler's search crops (search_box in crop coordinates)
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
        return encode_clip(net, batch, cfg["template_size"], cfg["search_size"], cfg["bs_sigma"], cfg["crops"],
                           cfg["track_error"], cfg["track_error_max"], cfg["track_scale_error"], cfg["seed"])

    common = dict(clip_len=cfg["clip_len"], max_step=cfg["max_step"], template_size=cfg["template_size"],
                  search_size=cfg["search_size"], search_shift=cfg["search_shift"], search_scale=cfg["search_scale"],
                  return_frames=True)
    seqs, _ = load_training_sources("train", images=False)
    # photometric augmentation is applied by the sampler to its own crops only, so it is off here: O, G and
    # G_bar are cropped from the raw frames and must look like Z
    sampler = ClipSampler(seqs, samples_per_epoch=cfg["pool_size"], seed=cfg["seed"], augment=None, **common)
    keybase = (f"dsiam|{cfg['backbone']}|{','.join(cfg['layers'])}|{cfg['template_size']}|{cfg['search_size']}|"
               f"{cfg['clip_len']}|{cfg['max_step']}|{cfg['search_shift']}|{cfg['search_scale']}|{cfg['bs_sigma']}|"
               f"{cfg['seed']}|crops={cfg['crops']},{cfg['track_error']},{cfg['track_error_max']},{cfg['track_scale_error']}|"
               f"pad=frame0")
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
    # the response scales are ~1e-3 (SiamFC's): Adam moves every parameter by ~lr per step, so at the common lr
    # they would change sign within a step or two (the first bundled weights ended with a negative s8 scale,
    # an inverted s8 response); they get their own, smaller lr
    scales = [q for q in net.out_scale.parameters()]
    ids = {id(q) for q in scales}
    rest = [q for q in net.parameters() if q.requires_grad and id(q) not in ids]
    params = [{"params": rest}, {"params": scales, "lr": cfg["lr"] * float(cfg["scale_lr_factor"])}]
    info = {"train_cache": train.meta, "val_cache": val.meta, "train_sequences": len(seqs),
            "trainable_parameters": sum(q.numel() for g in params for q in g["params"]),
            "crops": ("true previous position plus a simulated tracking error (O, G, G_bar, Z of a step share it)"
                      if cfg["crops"] == "displaced" else "teacher forcing: crops follow the true previous position")}
    return Recipe(net, forward_train, train, val_data=val, callbacks=callbacks, params=params, info=info)


def export(model, cfg: dict) -> dict:
    """Bundled weights: everything but the frozen ImageNet backbone."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not k.startswith("backbone.")}
