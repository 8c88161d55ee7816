"""SiamFC: Bertinetto, Valmadre, Henriques, Vedaldi, Torr, "Fully-Convolutional Siamese Networks for
Object Tracking", ECCV Workshops 2016 (the base of GradNet and DSiam).

Eq. 2 of the paper, the whole method: ``f(z, x) = phi(z) * phi(x) + b 1`` — one embedding ``phi`` for the
exemplar ``z`` and the search image ``x``, their cross-correlation ``*`` gives a score map whose peak is
the target. Here ``phi = adjust o backbone`` and the map is ``a * (phi(z) * phi(x)) + b`` with a learned
scale ``a`` (initialised to 0.001, the constant of the authors' code) and bias ``b``.

:class:`SiamFCNet` holds the inference pieces only (training lives in
``adaptrack/training/recipes/siamfc.py``): ``template(z_img) -> zf``, ``search(x_img) -> xf``,
``score(zf, xf) -> (B, 1, h, w)`` logits; ``forward(z, x) = score(template(z), search(x))``.
Images are float ``(B, 3, H, W)`` RGB 0..255.

:class:`SiamFCTracker` (registered as ``"siamfc"``) runs the tracking loop of the paper (sec. 2.4): the
exemplar is extracted once from the first frame; each frame searches 3 scales in one batch around the
previous position, upsamples the responses 16x bicubically, penalises scale changes, adds a cosine
window, moves to the peak and damps the size change (formulas in :mod:`adaptrack.nn.siamese`).

Default architecture (measured in docs/backbones.md): a frozen ImageNet EfficientNet-Lite0 cut at stride
8 plus a small trainable adjust head, exemplar/instance crops of 112/224 px (14x14 and 28x28 feature
maps, 15x15 response; the weights were trained on 128/256 crops, kept as the ``x256`` variant). With
ONNX Runtime (the default backend) the search branch stops before the head's final 1x1 conv + BN, which
is folded onto the template once (:meth:`SiamFCNet.fold_template`: the correlation is linear in the
search features), and the per-frame PyTorch work runs on one thread (``export.torch_threads``). The SiamFC AlexNet (full or half width, trained from scratch) is the
``alexnet`` / ``alexnet_half`` variant with the paper's 127/255 crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn.backbones import build_backbone
from ..nn.correlation import xcorr
from ..nn.siamese import check_crop_alignment, frames_to_tensor
from ..weights import load_weights
from .base import TrackOutput, register_tracker
from .siamfc_family import SiamFCFamilyTracker, SiamFCSearchParams

__all__ = ["SiamFCNet", "AdjustHead", "SiamFCParams", "SiamFCTracker", "build_siamfc_net"]


class AdjustHead(nn.Module):
    """Maps backbone layers to the correlation width ``C``.

    ``kind="conv3"``: per layer a 1x1 conv + BN to ``C`` (deeper layers upsampled bilinearly to the
    shallowest layer's grid and summed), then a 3x3 depthwise conv + BN + ReLU and a 1x1 conv + BN.
    ``kind="linear"``: the per-layer 1x1 conv + BN and the sum only.
    ``kind="none"``: identity (one layer only; SiamFC's AlexNet correlates conv5 directly).
    """

    def __init__(self, in_channels: list[int], channels: int, kind: str = "conv3"):
        super().__init__()
        if kind not in ("conv3", "linear", "none"):
            raise ValueError(f"adjust must be 'conv3', 'linear' or 'none', got {kind!r}")
        if kind == "none" and len(in_channels) != 1:
            raise ValueError("adjust='none' needs exactly one backbone layer")
        self.kind = kind
        self.out_channels = in_channels[0] if kind == "none" else channels
        if kind == "none":
            return
        self.proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, channels, 1, bias=False), nn.BatchNorm2d(channels)) for c in in_channels
        )
        if kind == "conv3":  # depthwise-separable: 3x3 depthwise + BN + ReLU, 1x1 + BN
            self.refine = nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels, channels, 1, bias=False),
                nn.BatchNorm2d(channels),
            )

    def _fuse(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        y = self.proj[0](feats[0])
        for proj, f in zip(self.proj[1:], feats[1:]):
            g = proj(f)
            if g.shape[-2:] != size:
                g = F.interpolate(g, size=size, mode="bilinear", align_corners=False)
            y = y + g
        return y

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        if self.kind == "none":
            return feats[0]
        y = self._fuse(feats)
        return self.refine(y) if self.kind == "conv3" else y

    def trunk(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """``conv3`` only: the head without its final 1x1 conv + BN (``forward = refine[3:] o trunk``)."""
        if self.kind != "conv3":
            raise ValueError(f"only the 'conv3' adjust head has a trunk, this one is {self.kind!r}")
        return self.refine[:3](self._fuse(feats))


class SiamFCNet(nn.Module):
    """``a * (phi(z) * phi(x)) + b`` with ``phi = adjust o backbone`` (inference pieces only).

    ``freeze``: ``"all"`` freezes the whole backbone (default for pretrained EfficientNet), a layer name
    freezes up to that layer (fine-tune the rest), ``None`` trains everything (AlexNet from scratch).
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        layers=("s8",),
        adjust: str = "conv3",
        adjust_channels: int = 128,
        freeze: str | None = "all",
        pretrained: bool | None = None,
        xcorr_method: str = "depthwise",
    ):
        super().__init__()
        self.backbone = build_backbone(backbone, pretrained=pretrained, layers=tuple(layers))
        self.backbone_name = backbone
        if freeze == "all":
            self.backbone.freeze()
        elif freeze:
            self.backbone.freeze(upto=freeze)
        self.adjust = AdjustHead([self.backbone.channels[n] for n in self.backbone.layers], adjust_channels, adjust)
        self.out_scale = nn.Parameter(torch.tensor(1e-3))
        self.out_bias = nn.Parameter(torch.tensor(0.0))
        self.xcorr_method = xcorr_method

    @property
    def total_stride(self) -> int:
        return min(self.backbone.strides.values())

    @property
    def same_padding(self) -> bool:
        return self.backbone_name.startswith("efficientnet")

    def embed(self, img: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(img)
        return self.adjust([feats[n] for n in self.backbone.layers])

    def template(self, z_img: torch.Tensor) -> torch.Tensor:
        """Exemplar features ``phi(z)``: ``(B, 3, Z, Z)`` -> ``(B, C, hz, wz)``."""
        return self.embed(z_img)

    def search(self, x_img: torch.Tensor) -> torch.Tensor:
        """Search features ``phi(x)``: ``(B, 3, X, X)`` -> ``(B, C, hx, wx)``."""
        return self.embed(x_img)

    def score(self, zf: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        """Response logits ``a * xcorr(zf, xf) + b``: ``(B, 1, hx-hz+1, wx-wz+1)`` (``zf`` may have batch 1)."""
        return self.out_scale * xcorr(zf, xf, method=self.xcorr_method) + self.out_bias

    # -- inference shortcut: the last linear layer of the search branch moved to the template side -------
    @property
    def foldable(self) -> bool:
        """True when the embedding ends in a linear layer (the ``conv3`` adjust head's 1x1 conv + BN)."""
        return getattr(self.adjust, "kind", None) == "conv3"

    def _last_linear(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(A, c)`` of the adjust head's final 1x1 conv + BN in eval mode: ``y = A h + c`` per position."""
        conv, bn = self.adjust.refine[3], self.adjust.refine[4]
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        return s[:, None] * conv.weight[:, :, 0, 0], bn.bias - bn.running_mean * s

    def search_trunk(self, x_img: torch.Tensor) -> torch.Tensor:
        """The search embedding without its final linear layer: ``h`` with ``search(x) = A h + c``."""
        feats = self.backbone(x_img)
        return self.adjust.trunk([feats[n] for n in self.backbone.layers])

    def fold_template(self, zf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(zk, k)`` with ``score(zf, search(x)) = a * (xcorr(zk, search_trunk(x)) + k) + b``.

        The correlation is linear in the search features, so with ``search(x) = A h + c`` (``c`` per channel):
        ``sum_{c,u,v} zf[c,u,v] (A h + c)[c, i+u, j+v] = xcorr(A^T zf, h)[i, j] + sum_{c,u,v} zf[c,u,v] c[c]``.
        Per frame this saves the 1x1 conv on the whole search batch (done once per template instead).
        """
        a, c = self._last_linear()
        zk = torch.einsum("cd,bcuv->bduv", a, zf).contiguous()
        k = torch.einsum("bcuv,c->b", zf, c).reshape(-1, 1, 1, 1)
        return zk, k

    def folded_correlation_model(self, zf: torch.Tensor, search_shape) -> bytes:
        """ONNX graph (:func:`adaptrack.export.correlation_model`) computing :meth:`score` of template ``zf``
        ``(1, C, hz, wz)`` from :meth:`search_trunk` features of shape ``search_shape``: the folded template
        as constant weights, ``a * (xcorr(zk, h) + k) + b`` as its scale and bias."""
        from ..export import correlation_model

        with torch.inference_mode():
            zk, k = self.fold_template(zf)
            a, b = float(self.out_scale), float(self.out_bias)
        return correlation_model(zk, search_shape, a, a * float(k) + b)

    def forward(self, z_img: torch.Tensor, x_img: torch.Tensor) -> torch.Tensor:
        return self.score(self.template(z_img), self.search(x_img))

    def feature_size(self, image_size: int) -> int:
        """Side of the feature map of a square input of ``image_size`` (measured with a dummy pass)."""
        with torch.inference_mode():
            was = self.training
            self.eval()
            out = self.embed(torch.zeros(1, 3, image_size, image_size)).shape[-1]
            self.train(was)
        return int(out)


@dataclass
class SiamFCParams(SiamFCSearchParams):
    # 112/224 crops (14x14 and 28x28 features, 15x15 response): the bundled weights were trained on 128/256
    # crops of the same context (the network is fully convolutional); on the val split both sizes give
    # AUC 0.361 and 112/224 runs the search branch in ~25% less time (adaptrack/weights/siamfc.md)
    exemplar_size: int = 112
    instance_size: int = 224
    backbone: str = "efficientnet_lite0"
    layers: tuple = ("s8",)
    adjust: str = "conv3"
    adjust_channels: int = 128
    freeze: str | None = "all"  # "all" | layer name | None (see SiamFCNet)
    # "onnx": ONNX Runtime runs the template and search branches (same graphs, ~3x faster here);
    # "torch": PyTorch; "auto": onnx when the tracker builds its own net, torch when given one (a model
    # being trained changes every step, so exporting it would be wasted)
    backend: str = "auto"
    channels_last: bool = True
    weights_name: str = "siamfc"  # bundled file adaptrack/weights/<weights_name>.pt for weights="default"
    adaptation: dict | None = None  # template adaptation, e.g. {method: bim, eps: 8, alpha: 2, steps: 5}


def build_siamfc_net(p: SiamFCParams) -> SiamFCNet:
    pretrained = None if p.backbone.startswith("efficientnet") else False
    return SiamFCNet(p.backbone, tuple(p.layers), p.adjust, p.adjust_channels, p.freeze, pretrained)


@register_tracker("siamfc", SiamFCParams, "SiamFC (Bertinetto et al. 2016): fully-convolutional Siamese matching, no online update", "adaptrack")
class SiamFCTracker(SiamFCFamilyTracker):
    """SiamFC tracking loop on a :class:`SiamFCNet`."""

    def __init__(self, params: SiamFCParams | None = None, weights="default", net: SiamFCNet | None = None):
        self.params = p = params or SiamFCParams()
        if p.backend not in ("auto", "torch", "onnx"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'onnx', got {p.backend!r}")
        self.backend = p.backend if p.backend != "auto" else ("onnx" if net is None else "torch")
        if net is None:
            net = build_siamfc_net(p)
            load_weights(net, weights, p.weights_name)
        self.net = net.eval()
        check_crop_alignment(p.exemplar_size, p.instance_size, net.total_stride, net.same_padding)
        if p.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self._search_side = net.feature_size(p.instance_size)
        self._build_searcher(self._search_side - net.feature_size(p.exemplar_size) + 1, net.total_stride)
        self._branches = None
        # with ONNX Runtime, the search branch stops before the embedding's final linear layer, which is
        # applied to the template instead, once (SiamFCNet.fold_template; same scores up to float rounding)
        self._folded = self.backend == "onnx" and net.foldable
        if self.backend == "onnx":
            from ..export import OnnxBranches

            self._branches = OnnxBranches.from_net(
                self.net, p.exemplar_size, p.instance_size, self.search_batch,
                search_method="search_trunk" if self._folded else "search",
            )

    # -- the two branches (PyTorch or ONNX Runtime) --------------------------------------------------
    def _template(self, crop: np.ndarray) -> torch.Tensor:
        if self._branches is not None:
            return self._branches.template(frames_to_tensor(crop))
        x = frames_to_tensor(crop, self.params.channels_last)
        with torch.inference_mode():
            return self.net.template(x)

    def _search(self, crops: np.ndarray) -> torch.Tensor:
        """Search features of the crops: ``phi(x)``, or the trunk's ``h`` when the template is folded."""
        if self._branches is not None:
            return self._branches.search(frames_to_tensor(crops))
        x = frames_to_tensor(crops, self.params.channels_last)
        with torch.inference_mode():
            return self.net.search(x)

    def _set_template(self, zf: torch.Tensor) -> None:
        """Use template features ``zf``; on the ONNX Runtime path, fold them (:meth:`SiamFCNet.fold_template`)
        and build the correlation graph with the folded template as a constant (``export.correlation_model``:
        ONNX Runtime packs it once, then correlates on 2 threads without PyTorch's spinning workers)."""
        self.zf = zf
        if self._folded:
            from ..export import ort_session

            shape = (len(self.searcher.scales), zf.shape[1], self._search_side, self._search_side)
            self._corr = ort_session(self.net.folded_correlation_model(zf, shape), self._branches.num_threads)

    def _score(self, xf: torch.Tensor) -> torch.Tensor:
        """Response logits of this frame's search features (see :meth:`_search`)."""
        if self._folded:
            out = self._corr.run(None, {"features": np.ascontiguousarray(xf.numpy(), dtype=np.float32)})[0]
            return torch.from_numpy(out)
        with torch.inference_mode():
            return self.net.score(self.zf, xf)

    @property
    def _runs_onnx(self) -> bool:
        return self._branches is not None

    # -- template adaptation protocol (adaptrack.adaptation.adversarial_template; added for AUTracker) ----
    def template_loss(self, z, x, box_in_x, label: str = "true"):
        """SiamFC's training loss (balanced logistic, positives within 16 px) of exemplar ``z`` against
        ``x``; differentiable w.r.t. ``z``."""
        from ..training.losses import balanced_logistic_loss

        cached = getattr(self, "_adapt_x", None)
        if cached is None or cached[0] is not x:
            with torch.no_grad():
                cached = (x, self.net.search(x))
            self._adapt_x = cached
        logits = self.net.score(self.net.template(z), cached[1])
        labels, weights = self._adaptation_labels(logits.shape[-2:], self.net.total_stride, box_in_x, label, 16.0)
        return balanced_logistic_loss(logits, labels, weights)

    def set_template_image(self, z) -> None:
        """Use exemplar image ``z`` from now on."""
        self._adapt_x = None
        with torch.inference_mode():
            self._set_template(self.net.template(z.detach().contiguous(memory_format=torch.channels_last)))

    # -- tracking loop -------------------------------------------------------------------------------
    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        self._set_template(self._template(self._start(frame, box)))
        self._adapt(frame, box)

    def _track(self, frame: np.ndarray) -> TrackOutput:
        xf = self._search(self._search_crops(frame))
        responses = self._score(self._scale_features(xf))
        res = self.searcher(responses, self.center, self.s_x)
        box = self._advance(res, frame)
        score = float(1.0 / (1.0 + np.exp(-res.peak_score)))
        return TrackOutput(box, score, {"scale_index": res.scale_index, "peak_logit": res.peak_score})
