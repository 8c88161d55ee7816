"""Training recipe for GradNet (Li et al., ICCV 2019; ``../shared/papers/003_*``), Alg. 1 and eqs. (8)-(10).

The network is :class:`adaptrack.trackers.gradnet.GradNetNet`, initialised from the trained SiamFC
(Alg. 1: "initialize the feature extraction part with SiamFC"): ``f_x`` (backbone + SiamFC's adjust
head) stays frozen, ``U1`` starts as a copy of SiamFC's stride-4 -> stride-8 blocks and adjust head,
``U2`` (3x3 conv) is new. Only ``U1``, ``U2`` and the response scale/bias are trained.

Template generalisation (sec. 3.3, Alg. 1, ``k = group`` > 1): a batch holds ``batch_size / k`` groups
of ``k`` pairs drawn independently (so from different videos or still images, almost always). In each
group the template of the *first* pair is used for all ``k`` search regions: ``beta_1 = U1(f_2(Z_1))``,
``S_i = beta_1 * f_x(X_i)``, ``L = sum_i l(S_i, Y_i)``, ``h_2 = f_2(Z_1) + U2(dL/df_2(Z_1))`` (taken with
``create_graph=True`` so ``U1`` gets second-order signal), ``beta*_1 = U1(h_2)``, and the trained loss is
``L* = sum_i l(beta*_1 * f_x(X_i), Y_i)`` (eq. 9 with the shared template). ``group = 1`` is the ordinary
training of the ``no_template_generalization`` ablation ("Ours w/o M").

``label_jitter`` (our addition, 0 = the paper): when tracking, the update's gradient is taken with the label
centred where the tracker *estimated* the target, not where it is. With ``label_jitter = s > 0`` the label of
the gradient (the input of ``U2``) is centred at the true offset plus a Gaussian error of ``s`` search-crop
pixels per axis, while the trained loss ``L*`` keeps the true labels, so ``U1``/``U2`` learn updates that
survive a misplaced label.

``l`` is SiamFC's balanced logistic loss with positives within ``label_radius`` search-crop pixels of the
target centre (:func:`adaptrack.training.losses.siamfc_labels`).

The backbone and ``f_x`` are frozen, so the stride-4 template features and the stride-8 search features of
every pair are cached once (:mod:`adaptrack.training.features`), the latter turned into ``f_x(X)`` by
SiamFC's adjust head once after loading; each step runs only the
update branch and the correlations (in the Fourier domain, :func:`adaptrack.nn.correlation.xcorr_fft`, whose
double backward is several times faster here than the depthwise convolution's).
"""

from __future__ import annotations

import torch

from ..losses import balanced_logistic_loss, siamfc_labels
from . import Recipe

__all__ = ["DEFAULTS", "build", "export", "gradnet_loss"]

DEFAULTS = {
    # trainer
    "epochs": 12,
    "batch_size": 32,  # = groups x group
    "lr": 3e-4,
    "lr_end": 1e-5,
    "schedule": "cosine",
    "warmup_steps": 20,
    "optimizer": "adamw",
    "weight_decay": 1e-4,
    "grad_clip": 10.0,
    "seed": 0,
    # model
    "siamfc_weights": "default",  # the SiamFC whose f_x GradNet is built on (Alg. 1)
    "shallow": "s4",
    "u2_init_std": 0.01,
    "template_size": 128,
    "search_size": 256,
    "group": 4,  # k of Alg. 1; 1 = no template generalisation
    "label_radius": 16.0,
    "label_jitter": 0.0,  # std (search-crop px) of the simulated tracking error in the update's label
    # data
    "pool_size": 1600,
    "num_pools": 1,
    "val_samples": 320,
    "image_prob": 0.3,
    "search_shift": 48.0,
    "search_scale": 0.2,
    "template_scale": 0.05,
    "max_gap": 60,
    "cache_dir": "cache",
    "cache_batch": 16,
    "auc_sequences": 0,
}


def gradnet_loss(model, f2, xf, search_box, group: int, template_size: int, search_size: int,
                 label_radius: float, label_jitter: float = 0.0) -> dict:
    """Alg. 1 on one batch: ``f2`` ``(B, C, h, w)`` template features (the first of each group of ``group`` is
    used), ``xf`` ``(B, D, H, W)`` embedded search features, ``search_box`` ``(B, 4)`` crop coordinates.
    ``label_jitter``: std of the error added to the label centres of the update's gradient (module doc)."""
    b = xf.shape[0]
    if b % group:
        raise ValueError(f"batch {b} is not a multiple of the group size {group}")
    stride = model.backbone.strides[model.deep]
    size = (search_size - template_size) // stride + 1
    offsets = search_box[:, :2] + search_box[:, 2:] / 2 - search_size / 2.0
    labels, weights = siamfc_labels(size, stride, label_radius, offsets=offsets)
    if label_jitter > 0:
        noisy = offsets + label_jitter * torch.randn_like(offsets)
        g_labels, g_weights = siamfc_labels(size, stride, label_radius, offsets=noisy)
    else:
        g_labels, g_weights = labels, weights
    out = model.generate(f2[::group], xf, g_labels, g_weights, create_graph=True, group=group)
    beta_star = out["beta_star"].repeat_interleave(group, dim=0) if group > 1 else out["beta_star"]
    loss = balanced_logistic_loss(model.score(beta_star, xf), labels, weights)
    initial = balanced_logistic_loss(out["score"].detach(), labels, weights)
    return {"loss": loss, "initial_loss": initial}


@torch.no_grad()
def _embed_search_cache(net, ds, chunk: int = 64) -> None:
    """Replace the cached backbone features ``fx`` of a feature cache by ``f_x(X)`` (float16)."""
    if "fx" not in ds.data:
        return
    net.search_adjust.eval()
    fx = ds.data.pop("fx")
    ds.data["xf"] = torch.cat([net.embed_search(fx[i : i + chunk].float()).to(torch.float16)
                               for i in range(0, len(fx), chunk)])


def _siamfc_net(cfg):
    from ...trackers.base import get_entry
    from ...trackers.siamfc import build_siamfc_net
    from ...weights import load_weights

    p = get_entry("siamfc").make_params(None, {"exemplar_size": cfg["template_size"], "instance_size": cfg["search_size"]})
    net = build_siamfc_net(p)
    load_weights(net, cfg["siamfc_weights"], p.weights_name)
    return net.eval()


def build(cfg: dict) -> Recipe:
    from ...trackers.gradnet import GradNetNet
    from ..augmentation import Augmenter, no_augmentation
    from ..data import load_training_sources
    from ..features import build_feature_cache
    from ..samplers import PairSampler

    torch.manual_seed(int(cfg["seed"]))
    group = int(cfg["group"])
    if int(cfg["batch_size"]) % group:
        raise ValueError(f"batch_size {cfg['batch_size']} must be a multiple of group {group}")
    siamfc = _siamfc_net(cfg)
    net = GradNetNet.from_siamfc(siamfc, cfg["shallow"], cfg["u2_init_std"])
    net.xcorr_method = "fft"  # exact, faster backward (see adaptrack.nn.correlation.xcorr_fft)
    net.train()
    progress = bool(cfg.get("progress", True))

    @torch.no_grad()
    def encode(batch):
        net.backbone.eval()
        return {"f2": net.backbone(batch["template"])[net.shallow], "fx": net.backbone(batch["search"])[net.deep]}

    common = dict(template_size=cfg["template_size"], search_size=cfg["search_size"], max_gap=cfg["max_gap"],
                  search_shift=cfg["search_shift"], search_scale=cfg["search_scale"],
                  template_scale=cfg["template_scale"])
    seqs, imgs = load_training_sources("train")
    sampler = PairSampler(seqs, imgs, samples_per_epoch=cfg["pool_size"], image_prob=cfg["image_prob"],
                          augment=Augmenter(), seed=cfg["seed"], **common)
    keybase = (f"gradnet|{net.shallow}|{net.deep}|{cfg['template_size']}|{cfg['search_size']}|{cfg['search_shift']}|"
               f"{cfg['search_scale']}|{cfg['template_scale']}|{cfg['max_gap']}|{cfg['image_prob']}|{cfg['seed']}")
    train = build_feature_cache(sampler, encode, keybase + f"|train|{cfg['pool_size']}x{cfg['num_pools']}",
                                cfg["pool_size"], cfg["num_pools"], cfg["cache_dir"], cfg["cache_batch"], progress=progress)
    val_seqs, _ = load_training_sources("val", images=False)
    val_sampler = PairSampler(val_seqs, (), samples_per_epoch=cfg["val_samples"], augment=no_augmentation(),
                              seed=cfg["seed"] + 1, **common)
    val = build_feature_cache(val_sampler, encode, keybase + f"|val|{cfg['val_samples']}", cfg["val_samples"], 1,
                              cfg["cache_dir"], cfg["cache_batch"], progress=progress)

    # f_x is frozen (SiamFC's adjust on the frozen backbone): embed the cached search features once
    for ds in (train, val):
        _embed_search_cache(net, ds)

    def forward_train(model, batch):
        return gradnet_loss(model, batch["f2"], batch["xf"], batch["search_box"], group, cfg["template_size"],
                            cfg["search_size"], cfg["label_radius"], float(cfg["label_jitter"]))

    callbacks = []
    if int(cfg.get("auc_sequences", 0)) > 0:
        from ..trainer import TrackingAUCCallback

        def make_tracker(model):
            from ...trackers.gradnet import GradNetParams, GradNetTracker

            return GradNetTracker(GradNetParams(backend="torch"), weights=None, net=model)

        callbacks.append(TrackingAUCCallback(make_tracker, val_seqs[: int(cfg["auc_sequences"])], max_frames=100))
    params = [q for q in net.parameters() if q.requires_grad]
    info = {"train_cache": train.meta, "val_cache": val.meta, "train_sequences": len(seqs), "train_images": len(imgs),
            "trainable_parameters": sum(q.numel() for q in params)}
    return Recipe(net, forward_train, train, val_data=val, callbacks=callbacks, params=params, info=info)


def export(model, cfg: dict) -> dict:
    """Bundled weights: everything but the ImageNet backbone (U1, U2, head, and the frozen SiamFC adjust
    head of ``f_x``, so the file does not depend on which SiamFC is bundled later)."""
    return model.own_state_dict()
