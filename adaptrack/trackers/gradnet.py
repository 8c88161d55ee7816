"""GradNet — Li, Chen, Ouyang, Wang, Yang, Lu, "GradNet: Gradient-Guided Network for Visual Object
Tracking", ICCV 2019.

SiamFC (eq. 1, ``S = beta * f_x(X)``) whose template ``beta`` is generated from the shallow target features
``f_2(Z)`` and the *gradient* of an initial loss (sec. 3.2):

* eq. (4)  initial embedding ``beta = U1(f_2(Z))``;
* eq. (5)  initial loss ``L = l(beta * f_x(X), Y)`` (SiamFC's balanced logistic loss);
* eq. (6)  ``h_2(Z) = f_2(Z) + U2(dL / d f_2(Z))`` — the gradient is taken *inside* the forward with
  ``torch.autograd.grad``; with ``create_graph=True`` (training) it stays a function of ``U1``'s parameters,
  so the final loss gives ``U1`` second-order signal;
* eq. (7)  ``beta* = U1(h_2(Z))`` (the same ``U1``, applied twice), ``S* = beta* * f_x(X)``;
* eqs. (8)-(10) and Alg. 1 (the final loss, template generalisation: one template against ``k`` search
  regions of different videos) are the training recipe, :mod:`adaptrack.training.recipes.gradnet`.

Architecture here. ``f_x`` is the bundled SiamFC's search branch, frozen (EfficientNet-Lite0 to stride 8
+ SiamFC's trained adjust head). ``f_2`` is the same backbone's stride-4 output on the template crop (the
paper takes SiamFC's conv2). ``U1`` has the structure of the layers between them — the backbone's
stride-4 -> stride-8 blocks followed by the adjust head, "the same structure as the last layers of
SiamFC" as in sec. 3.5 — initialised as a copy of them (Alg. 1 initialises from SiamFC), so before
training ``beta = U1(f_2(Z))`` is exactly SiamFC's template, and then trained, unshared with the search
branch. ``U2`` is one 3x3 conv. The gradient is divided by its root mean square (per
sample) before ``U2``: its raw scale depends on the loss normalisation and the response size, which
``U2`` should not have to undo.

Online tracking (sec. 3.4-3.5): at the first frame ``h_2(Z_1)`` and ``beta*_1`` come from eqs. (4)-(7) on
the first search region; every frame whose peak score (sigmoid of the raw response) exceeds ``0.5 x``
the first frame's is stored as the reliable sample ``(X_t, Y_t)`` (``Y_t`` centred on the found
position); every ``update_interval`` (5) frames the latest reliable sample updates the template through
eqs. (4)-(7) with ``h_2(Z_1)`` in place of ``f_2(Z)`` (no ``create_graph``); the template used for search
is ``(1 - template_mix) beta*_1 + template_mix beta*_t``.

Variants (``adaptrack/configs/gradnet.yaml``): ``no_template_generalization`` (weights trained on
ordinary pairs, a separate file), ``no_update`` (``beta*_1`` only).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..image import crop_and_resize
from ..nn.correlation import xcorr
from ..nn.siamese import check_crop_alignment, frames_to_tensor
from ..training.losses import balanced_logistic_loss, siamfc_labels
from ..weights import load_weights
from .base import TrackOutput, register_tracker
from .siamfc_family import SiamFCFamilyTracker, SiamFCSearchParams

__all__ = ["GradNetNet", "GradNetParams", "GradNetTracker", "blocks_between", "build_gradnet_net"]


def blocks_between(backbone: nn.Module, shallow: str, deep: str) -> nn.Sequential:
    """A copy of the backbone stages that turn layer ``shallow`` into layer ``deep``."""
    names = list(backbone.stage_layer_names())
    if shallow not in names or deep not in names:
        raise ValueError(f"backbone emits {[n for n in names if n]}, not both {shallow!r} and {deep!r}")
    i, j = names.index(shallow), names.index(deep)
    if j <= i:
        raise ValueError(f"layer {deep!r} must be deeper than {shallow!r}")
    stages = backbone.stage_modules()[i + 1 : j + 1]
    return nn.Sequential(*[copy.deepcopy(s) for s in stages])


def _freeze_bn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class GradNetNet(nn.Module):
    """``f_x`` (frozen), ``f_2`` (frozen), the update branch ``U1`` / ``U2`` and the response head.

    Args:
        backbone: a backbone emitting ``shallow`` and ``deep`` layers (frozen here).
        search_adjust: the SiamFC adjust layer of the search branch (frozen copy is kept).
        shallow, deep: layer names of ``f_2`` and of ``f_x``.
        out_scale, out_bias: SiamFC's response scale/bias (initial values of the trainable head).
    """

    def __init__(
        self,
        backbone: nn.Module,
        search_adjust: nn.Module,
        shallow: str = "s4",
        deep: str = "s8",
        out_scale: float = 1e-3,
        out_bias: float = 0.0,
        u2_init_std: float = 1e-2,
    ):
        super().__init__()
        self.backbone = backbone
        self.shallow, self.deep = shallow, deep
        self.search_adjust = copy.deepcopy(search_adjust)
        for p in list(self.backbone.parameters()) + list(self.search_adjust.parameters()):
            p.requires_grad_(False)
        self.u1 = nn.Sequential(blocks_between(backbone, shallow, deep), copy.deepcopy(search_adjust))
        for p in self.u1.parameters():
            p.requires_grad_(True)
        c2 = backbone.channels[shallow]
        self.u2 = nn.Conv2d(c2, c2, 3, padding=1)
        nn.init.normal_(self.u2.weight, std=u2_init_std)
        nn.init.zeros_(self.u2.bias)
        self.log_scale = nn.Parameter(torch.tensor(math.log(out_scale)))
        self.bias = nn.Parameter(torch.tensor(float(out_bias)))
        self.xcorr_method = "depthwise"

    def train(self, mode: bool = True):
        super().train(mode)
        # batch statistics of the pretrained layers are never re-estimated from small batches
        _freeze_bn(self.backbone)
        _freeze_bn(self.search_adjust)
        _freeze_bn(self.u1)
        return self

    # -- branches ------------------------------------------------------------------------------------
    def search_features(self, images: torch.Tensor) -> torch.Tensor:
        """``f_x(X)``: embedded deep features of search crops ``(B, 3, S, S)`` RGB 0..255."""
        return self.embed_search(self.backbone(images)[self.deep])

    def shallow_features(self, images: torch.Tensor) -> torch.Tensor:
        """``f_2(Z)``: shallow features of template crops."""
        return self.backbone(images)[self.shallow]

    def embed_search(self, deep_feats: torch.Tensor) -> torch.Tensor:
        """``f_x`` from (cached) backbone features."""
        return self.search_adjust([deep_feats])

    def template(self, f2: torch.Tensor) -> torch.Tensor:
        """``U1``: shallow template features -> template (eqs. 4 and 7)."""
        blocks, head = self.u1[0], self.u1[1]
        return head([blocks(f2)])

    def own_state_dict(self) -> dict:
        """Everything but the ImageNet backbone (which comes from its package): the bundled weights."""
        return {k: v.detach().cpu().clone() for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    @classmethod
    def from_siamfc(cls, siamfc_net: nn.Module, shallow: str = "s4", u2_init_std: float = 1e-2) -> "GradNetNet":
        """GradNet initialised from a trained :class:`~adaptrack.trackers.siamfc.SiamFCNet` (Alg. 1)."""
        from ..nn.backbones import build_backbone

        layers = tuple(siamfc_net.backbone.layers)
        if len(layers) != 1:
            raise ValueError(f"GradNet needs a single-layer SiamFC, got layers {layers}")
        bb = build_backbone(siamfc_net.backbone_name, pretrained=None, layers=(shallow, layers[0]))
        bb.freeze()
        net = cls(bb, siamfc_net.adjust, shallow, layers[0], siamfc_net.out_scale.item(), siamfc_net.out_bias.item(),
                  u2_init_std)
        return net

    def score(self, beta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Eq. (1): ``beta * f_x(X)`` scaled to logits; ``beta`` batch 1 or ``len(x)``.
        ``xcorr_method = "fft"`` (set by the training recipe) computes the same correlation in the Fourier
        domain, whose double backward is much faster here."""
        return xcorr(beta, x, method=self.xcorr_method) * self.log_scale.exp() + self.bias

    # -- eqs. (4)-(7) --------------------------------------------------------------------------------
    def generate(self, f2: torch.Tensor, x: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                 create_graph: bool | None = None, group: int = 1) -> dict:
        """Template generation on shallow features ``f2`` (``(G, C, h, w)``) with search features ``x``
        (``(G * group, D, H, W)``: ``group`` search regions per template, Alg. 1) and their label maps.

        Returns ``beta``, ``score`` (initial ``S``), ``grad`` (``dL/df2``), ``h2`` and ``beta_star``.
        ``create_graph`` defaults to ``self.training``.
        """
        if create_graph is None:
            create_graph = self.training
        if x.shape[0] != f2.shape[0] * group:
            raise ValueError(f"GradNet: {f2.shape[0]} templates x group {group} != {x.shape[0]} search maps")
        # works under torch.no_grad() and torch.inference_mode() too (tracking): the gradient of eq. (6)
        # is part of the forward pass, so autograd is switched on locally for it
        with torch.inference_mode(False), torch.enable_grad():
            if torch.is_inference(f2) or torch.is_inference(x):
                f2, x = f2.clone(), x.clone()
                labels, weights = labels.clone(), weights.clone()
            f2_in = f2 if f2.requires_grad else f2.detach().requires_grad_(True)
            beta = self.template(f2_in)
            s = self.score(beta.repeat_interleave(group, dim=0) if group > 1 else beta, x)
            # eq. (5), summed over the search regions of each template (Alg. 1, step 2c)
            loss = balanced_logistic_loss(s, labels, weights) * s.shape[0]
            (grad,) = torch.autograd.grad(loss, f2_in, create_graph=create_graph)
            return self.update(f2 if create_graph else f2.detach(), grad, beta=beta, score=s)

    def update(self, f2: torch.Tensor, grad: torch.Tensor, **extra) -> dict:
        """Eqs. (6)-(7) from a given gradient: ``h2 = f2 + U2(grad / rms(grad))``, ``beta* = U1(h2)``."""
        rms = grad.square().mean(dim=(1, 2, 3), keepdim=True).sqrt()
        h2 = f2 + self.u2(grad / (rms + 1e-12))
        beta_star = self.template(h2)
        return {"grad": grad, "h2": h2, "beta_star": beta_star, **extra}


# ---------------------------------------------------------------------------------------------------
# the tracker
# ---------------------------------------------------------------------------------------------------


@dataclass
class GradNetParams(SiamFCSearchParams):
    """GradNet tracking parameters (SiamFC's search settings plus the update schedule of sec. 3.5)."""

    backbone: str = "efficientnet_lite0"
    shallow: str = "s4"  # f_2
    deep: str = "s8"  # f_x (SiamFC's layer)
    adjust: str = "conv3"
    adjust_channels: int = 128
    label_radius: float = 16.0  # positive radius of the label maps Y (search-crop pixels)
    use_update: bool = True  # False = the 'no_update' ablation (beta*_1 only)
    update_interval: int = 5  # frames between template updates
    reliable_ratio: float = 0.5  # a frame is reliable when its peak score > ratio x the first frame's
    template_mix: float = 0.5  # template = (1 - mix) beta*_1 + mix beta*_t
    backend: str = "onnx"  # "onnx" (ONNX Runtime for the fixed-shape search branch f_x) | "torch"
    channels_last: bool = True
    weights_name: str = "gradnet"  # bundled file adaptrack/weights/<weights_name>.pt
    adaptation: dict | None = None  # template adaptation, e.g. {method: bim, eps: 8, alpha: 2, steps: 5}

    def __post_init__(self):
        if self.update_interval < 1:
            raise ValueError(f"update_interval must be >= 1, got {self.update_interval}")
        if not 0.0 <= self.template_mix <= 1.0:
            raise ValueError(f"template_mix must be in [0, 1], got {self.template_mix}")
        if self.backend not in ("torch", "onnx"):
            raise ValueError(f"backend must be 'torch' or 'onnx', got {self.backend!r}")
        super().__post_init__()


def build_gradnet_net(p: GradNetParams) -> GradNetNet:
    """The GradNet network of parameters ``p``: pretrained frozen backbone, untrained U1/U2/adjust."""
    from ..nn.backbones import build_backbone
    from .siamfc import AdjustHead

    bb = build_backbone(p.backbone, pretrained=None, layers=(p.shallow, p.deep))
    bb.freeze()
    adjust = AdjustHead([bb.channels[p.deep]], p.adjust_channels, p.adjust)
    return GradNetNet(bb, adjust, p.shallow, p.deep)


def load_gradnet_weights(net: GradNetNet, weights, name: str = "gradnet") -> GradNetNet:
    """Load GradNet weights (``"default"`` | path | ``None``, see :mod:`adaptrack.weights`). The file must
    also hold the search branch's adjust head (frozen, so :func:`load_weights` alone would not ask for it)."""
    if weights is None:
        return net
    from pathlib import Path

    from ..errors import AdaptrackError
    from ..weights import _read_state, bundled_path

    load_weights(net, weights, name)
    path = bundled_path(name) if weights == "default" else Path(weights)
    need = {k for k in net.state_dict() if k.startswith("search_adjust.")}
    if not need <= set(_read_state(path)):
        raise AdaptrackError(f"{path} lacks the search branch's adjust head (search_adjust.*): not GradNet weights")
    return net


@register_tracker(
    "gradnet",
    GradNetParams,
    "GradNet (Li et al. 2019): SiamFC whose template is updated from the gradient of a logistic loss "
    "through a learned network (U1, U2)",
    "adaptrack",
)
class GradNetTracker(SiamFCFamilyTracker):
    """GradNet online tracking (sec. 3.4-3.5) on a :class:`GradNetNet`."""

    def __init__(self, params: GradNetParams | None = None, weights="default", net: GradNetNet | None = None):
        self.params = p = params or GradNetParams()
        if net is None:
            net = build_gradnet_net(p)
            load_gradnet_weights(net, weights, p.weights_name)
            for q in net.parameters():
                q.requires_grad_(False)  # tracking needs d L / d f_2 only
        self.net = net.eval()
        stride = net.backbone.strides[net.deep]
        check_crop_alignment(p.exemplar_size, p.instance_size, stride, same_padding=True)
        if p.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.stride = stride
        self._build_searcher((p.instance_size - p.exemplar_size) // stride + 1, stride)

        self._onnx_search = None
        if p.backend == "onnx":
            from ..export import cached_export, ort_session

            example = torch.zeros(self.search_batch, 3, p.instance_size, p.instance_size)
            model = cached_export(self.net, "search_features", example)
            self._onnx_search = ort_session(model)

    def _search_features(self, crops: np.ndarray) -> torch.Tensor:
        """``f_x`` of the multi-scale batch (PyTorch or ONNX Runtime)."""
        if self._onnx_search is not None:
            a = np.ascontiguousarray(frames_to_tensor(crops).numpy(), dtype=np.float32)
            return torch.from_numpy(self._onnx_search.run(None, {"image": a})[0])
        return self.net.search_features(frames_to_tensor(crops, self.params.channels_last))

    def _labels(self, offset=(0.0, 0.0)):
        return siamfc_labels(self.response_size, self.stride, self.params.label_radius, offsets=[list(offset)])

    def _generate(self, f2: torch.Tensor, xf: torch.Tensor, offset) -> dict:
        labels, weights = self._labels(offset)
        out = self.net.generate(f2, xf, labels, weights, create_graph=False)
        return {k: v.detach() for k, v in out.items()}

    @property
    def _runs_onnx(self) -> bool:
        return self._onnx_search is not None

    # -- template adaptation protocol (adaptrack.adaptation.adversarial_template; added for AUTracker) ----
    def template_loss(self, z, x, box_in_x, label: str = "true"):
        """GradNet's final loss (eq. 8 for one pair): the logistic loss of ``beta* = U1(h_2(Z))`` generated
        from exemplar ``z`` (eqs. 4-7, the inner gradient kept differentiable) against ``x``."""
        from ..training.losses import balanced_logistic_loss

        cached = getattr(self, "_adapt_x", None)
        if cached is None or cached[0] is not x:
            with torch.no_grad():
                cached = (x, self.net.search_features(x))
            self._adapt_x = cached
        xf = cached[1]
        labels, weights = self._adaptation_labels((self.response_size, self.response_size), self.stride, box_in_x,
                                                  label, self.params.label_radius)
        out = self.net.generate(self.net.shallow_features(z), xf, labels, weights, create_graph=True)
        return balanced_logistic_loss(self.net.score(out["beta_star"], xf), labels, weights)

    def set_template_image(self, z) -> None:
        """Regenerate the first-frame template (eqs. 4-7) from exemplar image ``z``."""
        self._adapt_x = None
        with torch.no_grad():
            f2 = self.net.shallow_features(z.detach().contiguous(memory_format=torch.channels_last))
            out = self._generate(f2, self._xf1, (0.0, 0.0))
            self.h2 = out["h2"]
            self.beta1 = out["beta_star"]
            self.template = self.beta1
            self.threshold = float(torch.sigmoid(self.net.score(self.beta1, self._xf1)).max())

    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        p = self.params
        z = self._start(frame, box)
        x = crop_and_resize(frame, self.center, self.s_x, p.instance_size, self.avg_color)
        with torch.no_grad():
            f2 = self.net.shallow_features(frames_to_tensor(z, p.channels_last))
            xf = self.net.search_features(frames_to_tensor(x, p.channels_last))
            out = self._generate(f2, xf, (0.0, 0.0))
            self._xf1 = xf  # the first search region (template adaptation regenerates beta*_1 from it)
            self.h2 = out["h2"]  # h_2(Z_1), the starting point of every later update (sec. 3.4)
            self.beta1 = out["beta_star"]
            self.template = self.beta1
            self.threshold = float(torch.sigmoid(self.net.score(self.beta1, xf)).max())
        self.frame_index = 0
        self.reliable = None  # (search features, offset) of the latest reliable frame
        self.updates = 0
        self._adapt(frame, box)

    def _track(self, frame: np.ndarray) -> TrackOutput:
        p = self.params
        self.frame_index += 1
        with torch.no_grad():
            xf = self._scale_features(self._search_features(self._search_crops(frame)))
            responses = self.net.score(self.template, xf)
        old_center, window = self.center.copy(), self.s_x
        res = self.searcher(responses, self.center, self.s_x)
        score = float(1.0 / (1.0 + np.exp(-res.peak_score)))
        reliable = score > p.reliable_ratio * self.threshold
        if reliable and p.use_update:
            offset = (res.center - old_center) * p.instance_size / (window * res.scale)
            self.reliable = (xf[res.scale_index : res.scale_index + 1].clone(), tuple(float(v) for v in offset))
        updated = False
        if p.use_update and self.frame_index % p.update_interval == 0 and self.reliable is not None:
            out = self._generate(self.h2, *self.reliable)
            self.template = (1.0 - p.template_mix) * self.beta1 + p.template_mix * out["beta_star"]
            self.reliable = None
            self.updates += 1
            updated = True
        box = self._advance(res, frame)
        return TrackOutput(box, score, {"scale_index": res.scale_index, "peak_logit": res.peak_score,
                                        "reliable": bool(reliable), "updated": updated})
