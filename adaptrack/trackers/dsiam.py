"""DSiam — Guo, Feng, Zhou, Huang, Wan, Wang, "Learning Dynamic Siamese Network for Visual Object
Tracking", ICCV 2017.

A SiamFC tracker whose two branches are transformed online by filters learned in closed form:

* eq. (2)  ``S^l_t = corr(V^l_{t-1} * f^l(O_1), W^l_{t-1} * f^l(Z_t))`` — ``*`` is circular convolution
  (:func:`adaptrack.nn.fft_rlr.circular_conv`), ``corr`` SiamFC's cross-correlation;
* eqs. (3)-(4) the regularised linear regression solved in the Fourier domain
  (:class:`adaptrack.nn.fft_rlr.FFTRidgeRegression`, learnable ``lambda``);
* eqs. (5)-(6) target appearance variation ``V^l_{t-1} = RLR(f^l(O_1) -> f^l(O_{t-1}))``;
* eqs. (7)-(8) background suppression ``W^l_{t-1} = RLR(f^l(G_{t-1}) -> f^l(G_bar_{t-1}))`` with
  ``G_{t-1}`` the search-sized crop around the result of frame ``t-1`` and ``G_bar`` the same crop
  multiplied by a Gaussian weight map centred on the target;
* eq. (9)  elementwise multi-layer fusion ``S_t = sum_l Upsilon^l . S^l_t`` with learned weight maps
  that sum to one over the layers at every position (a softmax over the layer axis of learned logits);
* eq. (10) the per-frame logistic loss of joint training lives in
  :mod:`adaptrack.training.recipes.dsiam` (training is not part of the tracker).

Layers. The paper fuses AlexNet conv4 and conv5: two consecutive layers at one stride. Here they are the two
blocks of the frozen EfficientNet-Lite0's stride-8 stage: ``s8a`` (the stage's first block) and ``s8`` (its
second, the layer SiamFC uses), 40 channels each, so one backbone pass to stride 8 gives both and their 15x15
responses (112/224 crops) need no resampling. Each layer has its own adjust head to the correlation width.
The ``s8s16`` variant is the previous default: ``s8`` with the deeper, more semantic ``s16`` (112 channels,
stride 16; its 9x9 response is resampled to the 17x17 stride-8 grid of 128/256 crops by bilinear
interpolation with aligned corners: cell ``i`` of the stride-16 map and cell ``2 i`` of the stride-8 map are the
same displacement ``16 (i - 4) = 8 (2 i - 8)`` pixels, so resampling moves no peak). Its backbone passes cost ~1.6x the CPU
per crop pixel (2.1x per frame with its larger crops): the default was moved off it for speed; the measured
trade-off is in ``adaptrack/weights/dsiam.md``.

Tracking (paper sec. 3.6): ``V`` and ``W`` start as identities; after each frame whose fused response
peak is above 0 (a logit, i.e. probability 1/2), ``O_t``, ``G_t`` and ``G_bar_t`` are cropped at the new
box and ``V_t``, ``W_t`` re-learned from scratch (never accumulated: the template stays ``f(O_1)``). Search
uses SiamFC's 3 scales, cosine window and scale penalty.

Variants (``adaptrack/configs/dsiam.yaml``): ``no_vt`` (V = identity), ``no_bs`` (W = identity),
``single_layer`` (``s8`` only, the paper's DSiam vs DSiamM), ``naive_update`` (the Fig. 9 baseline:
the template is replaced by ``f(O_{t-1})``, no V), ``s8s16`` (the two-stride layer pair above), ``fast`` (not
the paper: one backbone pass for the three search scales, the side scales resampled from its features).

Cost. Per frame: the backbone on the 3 search crops, and after a successful frame on ``O_t`` (112^2) and
``G_t``, ``G_bar_t`` (224^2): about 5.25 search-crop backbone passes, most of the frame's CPU time (measured:
adaptrack/weights/dsiam.md). The transforms themselves are kept cheap: ``V_t * f(O_1)`` is computed once per
update as ``F^-1(|F(f(O_1))|^2 / (|F(f(O_1))|^2 + lambda) . F(f(O_t)))`` (a per-sequence gain, since
``f(O_1)`` is fixed for a sequence), and ``W`` stays a spectrum that is folded, once per update, into the
Fourier-domain correlation kernel of that template (:func:`~adaptrack.nn.correlation.fft_kernel`): a frame
then costs one FFT of each search map and one inverse FFT per response, the same maths as eqs. (4), (6), (2)
and SiamFC's correlation. ``fast_transforms=False`` is the reference path that forms ``V`` and ``W`` as
spatial filters and convolves every frame (parity-tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..image import crop_and_resize
from ..nn.correlation import fft_kernel, xcorr, xcorr_fft_kernel
from ..nn.fft_rlr import FFTRidgeRegression, apply_spectrum, circular_conv
from ..nn.siamese import check_crop_alignment, frames_to_tensor
from ..weights import load_weights
from .base import TrackOutput, register_tracker
from .siamfc_family import SiamFCFamilyTracker, SiamFCSearchParams

__all__ = [
    "DSiamNet", "DSiamParams", "DSiamTracker", "build_dsiam_net", "gaussian_weight_map", "gaussian_weighted",
]


def gaussian_weight_map(size: int, center, sigma, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(size, size)`` map ``exp(-((x - cx)^2 / 2 sx^2 + (y - cy)^2 / 2 sy^2))`` in pixel-centre coordinates
    (pixel ``i`` sits at ``i + 0.5``); ``center = (cx, cy)``, ``sigma = (sx, sy)`` in pixels."""
    c = torch.arange(size, device=device, dtype=dtype) + 0.5
    sx, sy = float(sigma[0]), float(sigma[1])
    gx = torch.exp(-((c - float(center[0])) ** 2) / (2 * sx * sx))
    gy = torch.exp(-((c - float(center[1])) ** 2) / (2 * sy * sy))
    return gy[:, None] * gx[None, :]


class DSiamNet(nn.Module):
    """The DSiam network: frozen backbone, per-layer adjust, RLR layers for V and W, fusion maps.

    Trainable: the adjust heads (SiamFC's :class:`~adaptrack.trackers.siamfc.AdjustHead`, one per layer),
    ``lambda_v`` / ``lambda_w`` of every layer, SiamFC's response scale and bias per layer, and the fusion
    logits (``L x R x R``). With one layer, ``V = W = identity`` and the same adjust/scale/bias, the response
    is exactly SiamFC's (tested).
    """

    def __init__(
        self,
        backbone: nn.Module,
        layers=("s8", "s16"),
        embed_dim: int = 128,
        response_size: int = 17,
        lam_v: float = 0.5,
        lam_w: float = 0.5,
        relative_lambda: bool = True,
        deep_init_weight: float = 0.5,
        adjust: str = "conv3",
    ):
        super().__init__()
        from .siamfc import AdjustHead

        self.backbone = backbone
        self.layers = tuple(layers)
        for name in self.layers:
            if name not in backbone.channels:
                raise ValueError(f"DSiam layer {name!r} is not an output of the backbone ({list(backbone.channels)})")
        self.embed_dim = int(embed_dim)
        self.response_size = int(response_size)
        self.adjust = nn.ModuleDict({n: AdjustHead([backbone.channels[n]], embed_dim, adjust) for n in self.layers})
        self.rlr_v = nn.ModuleDict({n: FFTRidgeRegression(lam_v, relative=relative_lambda) for n in self.layers})
        self.rlr_w = nn.ModuleDict({n: FFTRidgeRegression(lam_w, relative=relative_lambda) for n in self.layers})
        # SiamFC's head per layer: out_scale * corr + out_bias
        self.out_scale = nn.ParameterDict({n: nn.Parameter(torch.tensor(1e-3)) for n in self.layers})
        self.out_bias = nn.ParameterDict({n: nn.Parameter(torch.tensor(0.0)) for n in self.layers})
        # fusion logits. The paper initialises the deep layer's map to ones and the shallow one's to zeros;
        # under a softmax that is approached by giving the deepest layer the weight ``deep_init_weight``
        logits = torch.zeros(len(self.layers), self.response_size, self.response_size)
        if len(self.layers) > 1:
            w = min(max(float(deep_init_weight), 1e-3), 1 - 1e-3)
            rest = (1 - w) / (len(self.layers) - 1)
            logits[-1] = math.log(w / rest)
        self.fusion_logits = nn.Parameter(logits)
        self.xcorr_method = "depthwise"  # "fft": the same correlation via FFT (faster backward; training)

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.train(mode)  # the backbone keeps its frozen BN layers in eval mode itself
        return self

    # -- pieces --------------------------------------------------------------------------------------
    def features(self, images: torch.Tensor) -> dict:
        """Backbone outputs of the DSiam layers for ``(B, 3, H, W)`` RGB 0..255."""
        out = self.backbone(images)
        return {name: out[name] for name in self.layers}

    def embed(self, feats: dict) -> dict:
        """Adjusted (correlation-width) features of every layer."""
        return {name: self.adjust[name]([feats[name]]) for name in self.layers}

    def fusion_weights(self) -> torch.Tensor:
        """Upsilon (eq. 9): ``(L, R, R)`` non-negative maps summing to one over the layers."""
        return torch.softmax(self.fusion_logits, dim=0)

    def learn_v(self, f1: dict, ft: dict) -> dict:
        """Eq. (6): per layer, the filter that maps ``f(O_1)`` to ``f(O_{t-1})``."""
        return {name: self.rlr_v[name](f1[name], ft[name]) for name in self.layers}

    def learn_w(self, fg: dict, fg_bar: dict) -> dict:
        """Eq. (8): per layer, the filter that maps ``f(G_{t-1})`` to ``f(G_bar_{t-1})``."""
        return {name: self.rlr_w[name](fg[name], fg_bar[name]) for name in self.layers}

    def layer_responses(self, z: dict, x: dict, v: dict | None = None, w: dict | None = None) -> list:
        """Eq. (2) for each layer, each resampled to ``response_size`` (list of ``(B, 1, R, R)`` logits).

        ``z``: embedded template features (batch 1 or B); ``x``: embedded search features (B);
        ``v`` / ``w``: filters from :meth:`learn_v` / :meth:`learn_w` (batch 1 or B), or ``None`` for the
        identity.
        """
        out = []
        for name in self.layers:
            zl, xl = z[name], x[name]
            if v is not None and v.get(name) is not None:
                zl = circular_conv(v[name], zl)
            if w is not None and w.get(name) is not None:
                xl = circular_conv(w[name], xl)
            out.append(self.layer_score(name, xcorr(zl, xl, method=self.xcorr_method)))
        return out

    def layer_score(self, name: str, corr: torch.Tensor) -> torch.Tensor:
        """Layer ``name``'s response from its correlation ``(B, 1, h, w)``: SiamFC's ``scale * corr + bias``,
        resampled to ``response_size``."""
        s = self.out_scale[name] * corr + self.out_bias[name]
        if s.shape[-1] != self.response_size or s.shape[-2] != self.response_size:
            s = F.interpolate(s, size=(self.response_size, self.response_size), mode="bilinear", align_corners=True)
        return s

    def fuse(self, responses: list) -> torch.Tensor:
        """Eq. (9): ``sum_l Upsilon^l . S^l``."""
        if len(responses) == 1:
            return responses[0]
        ups = self.fusion_weights()
        return sum(u[None, None] * s for u, s in zip(ups, responses))

    def response(self, z: dict, x: dict, v: dict | None = None, w: dict | None = None) -> torch.Tensor:
        """The fused response ``(B, 1, R, R)`` (logits)."""
        return self.fuse(self.layer_responses(z, x, v, w))


# ---------------------------------------------------------------------------------------------------
# the tracker
# ---------------------------------------------------------------------------------------------------


@dataclass
class DSiamParams(SiamFCSearchParams):
    """DSiam tracking parameters (SiamFC's search settings plus the DSiam switches)."""

    backbone: str = "efficientnet_lite0"
    layers: tuple = ("s8a", "s8")  # two stride-8 layers (the paper: conv4 and conv5); variant s8s16: s8 + s16
    exemplar_size: int = 112
    instance_size: int = 224
    embed_dim: int = 128
    use_v: bool = True  # target appearance variation (eq. 6); False = the 'no_vt' ablation
    use_w: bool = True  # background suppression (eq. 8); False = the 'no_bs' ablation
    naive_update: bool = False  # Fig. 9 baseline: template <- f(O_{t-1}) (implies no V)
    bs_sigma: float = 1.0  # Gaussian of G_bar: sigma = bs_sigma x target size (crop pixels)
    success_threshold: float = 0.0  # update V, W only when the fused peak logit exceeds this (sec. 3.6)
    update_interval: int = 1  # re-learn V, W every N successful frames (paper: 1)
    fast_transforms: bool = True  # V, W in the Fourier domain, V * f(O_1) once per update (same maths);
    # False: the reference path (spatial V, W filters applied by circular convolution every frame)
    lam_v: float = 0.5  # initial lambdas (the bundled weights carry the trained ones)
    lam_w: float = 0.5
    backend: str = "onnx"  # "onnx" (ONNX Runtime for the fixed-shape backbone + adjust passes) | "torch"
    channels_last: bool = True
    weights_name: str = "dsiam"  # bundled file adaptrack/weights/<weights_name>.pt
    adaptation: dict | None = None  # template adaptation, e.g. {method: bim, eps: 8, alpha: 2, steps: 5}

    def __post_init__(self):
        self.layers = tuple(self.layers)
        if not self.layers:
            raise ValueError("DSiam needs at least one layer")
        if self.update_interval < 1:
            raise ValueError(f"update_interval must be >= 1, got {self.update_interval}")
        if self.backend not in ("torch", "onnx"):
            raise ValueError(f"backend must be 'torch' or 'onnx', got {self.backend!r}")
        super().__post_init__()


def build_dsiam_net(p: DSiamParams, pretrained: bool = True) -> DSiamNet:
    """The network of parameters ``p`` (pretrained frozen backbone, untrained DSiam parts)."""
    from ..nn.backbones import build_backbone

    bb = build_backbone(p.backbone, pretrained=None if pretrained else False, layers=p.layers)
    bb.freeze()
    finest = min(bb.strides[n] for n in p.layers)
    for name in p.layers:
        check_crop_alignment(p.exemplar_size, p.instance_size, bb.strides[name], same_padding=True)
    response_size = (p.instance_size - p.exemplar_size) // finest + 1
    return DSiamNet(bb, p.layers, p.embed_dim, response_size, p.lam_v, p.lam_w)


def gaussian_weighted(crop: np.ndarray, target_wh_crop, sigma_factor: float) -> np.ndarray:
    """``G_bar``: the crop multiplied by a Gaussian centred on the crop centre (the target)."""
    size = crop.shape[0]
    g = gaussian_weight_map(size, (size / 2.0, size / 2.0), (sigma_factor * max(target_wh_crop[0], 1.0),
                                                             sigma_factor * max(target_wh_crop[1], 1.0)))
    return (crop.astype(np.float32) * g.numpy()[:, :, None]).astype(np.float32)


def load_dsiam_weights(net: DSiamNet, weights, name: str = "dsiam") -> DSiamNet:
    """Load DSiam weights; a net with a subset of the trained layers (e.g. ``single_layer``) takes the
    tensors of its layers from a file trained with more (the fusion logits are then unused)."""
    if weights is None:
        return net
    from ..weights import _read_state, bundled_path
    from pathlib import Path

    path = bundled_path(name) if weights == "default" else Path(weights)
    if not path.is_file():
        return load_weights(net, weights, name)  # raises the documented WeightsNotFoundError
    state = _read_state(path)
    own = net.state_dict()
    if "fusion_logits" in state and state["fusion_logits"].shape != own["fusion_logits"].shape:
        layer_names = sorted({k.split(".")[1] for k in state if k.startswith("adjust.")})
        if not set(net.layers) <= set(layer_names):
            from ..errors import AdaptrackError

            raise AdaptrackError(f"{path} was trained with layers {layer_names}, not {list(net.layers)}")
        keep = {k: v for k, v in state.items() if k != "fusion_logits" and (k.split(".")[1] in net.layers)}
        keep["fusion_logits"] = own["fusion_logits"]
        import tempfile, os

        with tempfile.TemporaryDirectory() as d:
            tmp = os.path.join(d, "subset.pt")
            torch.save(keep, tmp)
            return load_weights(net, tmp, name)
    return load_weights(net, weights if weights != "default" else "default", name)


class _FlatEmbed(nn.Module):
    """``net.embed(net.features(x))`` with the layers flattened and concatenated: one ONNX output."""

    def __init__(self, net: DSiamNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        e = self.net.embed(self.net.features(x))
        return torch.cat([e[n].flatten(2) for n in self.net.layers], dim=2)


class _OnnxEmbedder:
    """ONNX Runtime sessions of the DSiam embedding (backbone + adjust heads) for the three fixed input
    shapes of the tracker: the exemplar crop (batch 1), the search scales, and ``G``/``G_bar`` (batch 2)."""

    def __init__(self, net: DSiamNet, p: "DSiamParams", search_batch: int):
        from ..export import fingerprint_of, cached_export, ort_session

        flat = _FlatEmbed(net)
        fp = fingerprint_of(flat)
        self.sessions, self.sizes = {}, {}
        with torch.no_grad():
            for batch, side in ((1, p.exemplar_size), (search_batch, p.instance_size), (2, p.instance_size)):
                example = torch.zeros(batch, 3, side, side)
                e = net.embed(net.features(example))
                self.sizes[(batch, side)] = [tuple(e[n].shape[-2:]) for n in net.layers]
                self.sessions[(batch, side)] = ort_session(cached_export(flat, "forward", example, fp))
        self.layers = net.layers

    def __call__(self, x: torch.Tensor) -> dict:
        key = (int(x.shape[0]), int(x.shape[-1]))
        a = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        flat = torch.from_numpy(self.sessions[key].run(None, {"image": a})[0])
        out, start = {}, 0
        for name, (h, w) in zip(self.layers, self.sizes[key]):
            out[name] = flat[:, :, start : start + h * w].reshape(flat.shape[0], flat.shape[1], h, w)
            start += h * w
        return out


@register_tracker(
    "dsiam",
    DSiamParams,
    "DSiam (Guo et al. 2017): SiamFC with online target-variation and background-suppression transforms "
    "learned by FFT ridge regression, elementwise two-layer fusion",
    "adaptrack",
)
class DSiamTracker(SiamFCFamilyTracker):
    """DSiam tracking loop (paper sec. 3.6) on a :class:`DSiamNet`."""

    def __init__(self, params: DSiamParams | None = None, weights="default", net: DSiamNet | None = None):
        self.params = p = params or DSiamParams()
        if net is None:
            net = build_dsiam_net(p)
            load_dsiam_weights(net, weights, p.weights_name)
        self.net = net.eval()
        if p.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self._build_searcher(net.response_size, min(net.backbone.strides[n] for n in net.layers))

        self._onnx = _OnnxEmbedder(self.net, p, self.search_batch) if p.backend == "onnx" else None

    # -- pieces ----------------------------------------------------------------------------------------
    def _embed(self, crops) -> dict:
        x = frames_to_tensor(crops, self.params.channels_last and self._onnx is None)
        if self._onnx is not None:
            return self._onnx(x)
        return self.net.embed(self.net.features(x))

    def _learn_transforms(self, frame: np.ndarray) -> None:
        """Crop ``O_t``, ``G_t``, ``G_bar_t`` at the current box and re-learn ``V_t`` / ``W_t`` (eqs. 6, 8).

        Fast path (default): ``V_t`` is never formed; the template it produces, ``V_t * f(O_1)``, is computed
        here once per update from the per-sequence gain of ``f(O_1)``
        (:meth:`~adaptrack.nn.fft_rlr.FFTRidgeRegression.transform_fixed_input`), and ``W_t`` is kept as its
        spectrum. Reference path (``fast_transforms=False``): ``V_t``, ``W_t`` as spatial filters, applied to
        ``f(O_1)`` and ``f(Z)`` by circular convolution every frame (parity-tested)."""
        p = self.params
        net = self.net
        if p.use_v or p.naive_update:
            o = crop_and_resize(frame, self.center, self.s_z, p.exemplar_size, self.avg_color)
            fo = self._embed(o)
            if p.naive_update:
                self.zf = fo
            elif not p.fast_transforms:
                self.v = net.learn_v(self.z1, fo)
            else:
                self.zf = {n: net.rlr_v[n].transform_fixed_input(self._v_gain[n], fo[n]) for n in net.layers}
        if p.use_w:
            g = crop_and_resize(frame, self.center, self.s_x, p.instance_size, self.avg_color)
            wh_crop = self.size * p.instance_size / self.s_x
            gb = gaussian_weighted(g, wh_crop, p.bs_sigma)
            f = self._embed(np.stack([g.astype(np.float32), gb]))
            fg, fgb = {n: t[:1] for n, t in f.items()}, {n: t[1:] for n, t in f.items()}
            if p.fast_transforms:
                self.w_hat = {n: net.rlr_w[n].spectrum(fg[n], fgb[n]) for n in net.layers}
            else:
                self.w = net.learn_w(fg, fgb)
        self._kernel = None  # the template and/or W changed

    def _start_template(self, z1: dict) -> None:
        """``O_1``'s features become the template; ``V`` restarts from the identity and, on the fast path,
        the per-sequence gain of ``f(O_1)`` for eq. (6) is computed once here."""
        self.z1 = self.zf = z1
        self._kernel = None
        self.v = None
        if self.params.use_v and self.params.fast_transforms:
            self._v_gain = {n: self.net.rlr_v[n].fixed_input_gain(z1[n]) for n in self.net.layers}

    def _kernels(self, xf: dict) -> dict:
        """Per layer, the Fourier-domain correlation kernel of the current template for search maps of
        ``xf``'s sizes, with the current ``W`` folded in (:func:`~adaptrack.nn.correlation.fft_kernel`);
        rebuilt after every change of ``self.zf`` / ``self.w_hat`` (those set ``self._kernel = None``)."""
        sizes = {n: tuple(t.shape[-2:]) for n, t in xf.items()}
        if self._kernel is None or self._kernel[0] != sizes:
            w_hat = self.w_hat if self.params.use_w and self.w_hat is not None else {}
            self._kernel = (sizes, {n: fft_kernel(self.zf[n], sizes[n], w_hat.get(n)) for n in self.net.layers})
        return self._kernel[1]

    def _transform_search(self, xf: dict) -> dict:
        """``W_{t-1} * f(Z_t)`` per layer (identity before the first update or without W)."""
        if not self.params.use_w:
            return xf
        if self.params.fast_transforms:
            if self.w_hat is None:
                return xf
            return {n: apply_spectrum(self.w_hat[n], xf[n]) for n in xf}
        if self.w is None:
            return xf
        return {n: circular_conv(self.w[n], xf[n]) for n in xf}

    def _response(self, xf: dict) -> torch.Tensor:
        """The fused response of eqs. (2), (9) for embedded search features ``xf``."""
        p = self.params
        if p.fast_transforms:  # V is already in self.zf, W in the kernels (both updated once per successful frame)
            net = self.net
            kernels = self._kernels(xf)
            return net.fuse([net.layer_score(n, xcorr_fft_kernel(kernels[n], xf[n], self.zf[n].shape[-2:]))
                             for n in net.layers])
        v = self.v if p.use_v and not p.naive_update else None
        return self.net.response(self.zf, xf, v, self.w if p.use_w else None)

    # -- tracking loop ---------------------------------------------------------------------------------

    @property
    def _runs_onnx(self) -> bool:
        return self._onnx is not None

    # -- template adaptation protocol (adaptrack.adaptation.adversarial_template; added for AUTracker) ----
    def template_loss(self, z, x, box_in_x, label: str = "true"):
        """DSiam's per-frame logistic loss (eq. 10) of exemplar ``z`` against ``x`` with the first frame's
        background suppression ``W_1`` (``V`` = identity: ``O_1`` is the exemplar itself)."""
        from ..training.losses import balanced_logistic_loss

        cached = getattr(self, "_adapt_x", None)
        if cached is None or cached[0] is not x:
            with torch.no_grad():
                cached = (x, self._transform_search(self.net.embed(self.net.features(x))))
            self._adapt_x = cached
        zf = self.net.embed(self.net.features(z))
        logits = self.net.response(zf, cached[1])
        stride = min(self.net.backbone.strides[n] for n in self.net.layers)
        labels, weights = self._adaptation_labels(logits.shape[-2:], stride, box_in_x, label, 16.0)
        return balanced_logistic_loss(logits, labels, weights)

    def set_template_image(self, z) -> None:
        """Use exemplar image ``z`` as ``O_1`` from now on (``V`` restarts from the identity)."""
        self._adapt_x = None
        with torch.inference_mode():
            self._start_template(self.net.embed(self.net.features(z.detach().contiguous(memory_format=torch.channels_last))))

    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        p = self.params
        z = self._start(frame, box)
        self.v = self.w = self.w_hat = self._kernel = None  # identities until the first update (sec. 3.6)
        self._successes = 0
        with torch.inference_mode():
            self._start_template(self._embed(z))
            if p.use_v or p.use_w:  # the first frame's box is given: V_1, W_1 from it
                self._learn_transforms(frame)
                if p.naive_update:
                    self.zf, self._kernel = self.z1, None
        self._adapt(frame, box)

    def _track(self, frame: np.ndarray) -> TrackOutput:
        p = self.params
        with torch.inference_mode():
            xf = {n: self._scale_features(t) for n, t in self._embed(self._search_crops(frame)).items()}
            res = self.searcher(self._response(xf), self.center, self.s_x)
            box = self._advance(res, frame)
            updated = False
            if res.peak_score > p.success_threshold and (p.use_v or p.use_w or p.naive_update):
                self._successes += 1
                if self._successes % p.update_interval == 0:
                    self._learn_transforms(frame)
                    updated = True
        score = float(1.0 / (1.0 + np.exp(-res.peak_score)))
        return TrackOutput(box, score, {"scale_index": res.scale_index, "peak_logit": res.peak_score, "updated": updated})
