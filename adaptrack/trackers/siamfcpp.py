"""SiamFC++ (Xu, Wang, Li, Yuan, Yu: "SiamFC++: Towards Robust and Accurate Visual Tracking with Target
Estimation Guidelines", AAAI 2020), as restated in Li, Wang, Gao, Li, Hu: "Use Adversarial Template for
Model Adaptation for Siamese Networks for Real-Time Visual Object Tracking" (the AUTracker paper, whose
base tracker it is; ``adaptrack.create("siamfcpp", variant="adversarial")`` is AUTracker, see
:mod:`adaptrack.adaptation.adversarial_template`).

This module holds the *inference* pieces; the losses (eq. 8) and target assignment (eqs. 9, 10) live in
:mod:`adaptrack.training.recipes.siamfcpp`.

Network (:class:`SiamFCppNet`)
------------------------------
* Shared backbone: EfficientNet-Lite0 (ImageNet, frozen) cut at stride 16 (``s16``, 112 channels).
  Template crop 128x128 -> 8x8 features, search crop 256x256 -> 16x16 features (both multiples of the
  stride, so their 'same'-padding offsets agree and the maps are aligned).
* Per branch (classification, regression) a 3x3 *valid* conv + BN + ReLU on each side ("neck":
  8x8 -> 6x6, 16x16 -> 14x14), then depthwise cross-correlation -> a 9x9 map with C channels.
* Classification tower (``tower_convs`` x [3x3 conv, BN, ReLU]) -> ``cls`` logit (focal loss) and
  ``quality`` logit (PSS, BCE); regression tower -> ``(l, t, r, b) = exp(s * o + b0) * stride``
  (SiamFC++'s positive exp parameterisation with learnable scale ``s`` and bias ``b0``).

Score-map geometry (our eq. 9 offset): cell ``u`` (row or column) looks at the search-crop point
``p_u = template_size / 2 + stride * u`` (continuous pixel coordinates); with 128/256 and stride 16 the
9x9 map covers offsets -64..+64 px around the crop centre (128), cell 4 being the centre. The SiamFC++
paper writes ``floor(s/2) + x s`` for its AlexNet; the offset here is what our padded backbone gives
(see :func:`score_positions`).

Tracking (SiamFC++'s inference)
-------------------------------
SiamFC window ``s_z = sqrt((w + p)(h + p))``, ``p = 0.5 (w + h)``, scale ``scale_x = 128 / s_z``, search
window ``s_x = s_z * 256 / 128`` around the last centre. Per cell: score ``= sigmoid(cls) *
sigmoid(quality)``; box ``(p_u - l, p_v - t, p_u + r, p_v + b)``; size / aspect-change penalty
``exp(-(r_c * s_c - 1) * penalty_k)`` with ``s_c = max(q, 1/q)`` of the SiamFC size of the predicted box
against the current one and ``r_c`` the same for the aspect ratio; ``pscore = (1 - wi) * penalty *
score + wi * hanning``; the best cell gives the new centre directly and the size is smoothed with
``lr = penalty * score * test_lr`` (SiamFC++'s scale update); the result is clipped to the frame.

Speed: each frame's network work (search branch, correlation and head: :meth:`SiamFCppNet.frame`) runs
as one fixed-shape ONNX Runtime graph through the shared :class:`adaptrack.export.OnnxBranches`
(``backend="onnxruntime"``, the default when it is available). A parity test checks both paths agree.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..image import crop_and_resize, frame_mean
from ..nn.backbones import build_backbone
from ..nn.correlation import xcorr_depthwise
from ..nn.siamese import window_sizes
from ..weights import has_bundled, load_weights
from .base import TrackOutput, Tracker, register_tracker

__all__ = ["SiamFCppParams", "SiamFCppNet", "SiamFCppTracker", "score_positions", "ARCH_KEYS"]

#: the parameters that define the network (stored with the weights and checked on load)
ARCH_KEYS = ("backbone", "layer", "channels", "tower_convs")


@dataclass
class SiamFCppParams:
    # network (must match the weights)
    backbone: str = "efficientnet_lite0"
    layer: str = "s16"
    channels: int = 64
    tower_convs: int = 2
    #: with ``weights=None`` (untrained heads): still load the ImageNet backbone (False: random, offline tests)
    pretrained_backbone: bool = True
    # crops
    template_size: int = 128
    search_size: int = 256
    context: float = 0.5
    # SiamFC++ inference hyper-parameters
    penalty_k: float = 0.04
    window_influence: float = 0.21
    test_lr: float = 0.52
    min_size: float = 8.0
    # runtime
    backend: str = "auto"  # "auto" (onnxruntime if it imports) | "torch" | "onnxruntime"
    num_threads: int = 0  # 0: leave torch / onnxruntime thread settings alone
    # template adaptation (adaptrack.adaptation), e.g. {"method": "bim", "eps": 8, "alpha": 2, "steps": 5}
    adaptation: dict | None = None


def score_positions(map_size: int, stride: int, template_size: int) -> np.ndarray:
    """Search-crop coordinate ``template_size / 2 + stride * u`` of score cell ``u = 0..map_size-1``."""
    return template_size / 2.0 + stride * np.arange(map_size, dtype=np.float64)


def _conv_bn_relu(cin, cout, k=3, padding=0):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SiamFCppNet(nn.Module):
    """SiamFC++ on a frozen shared backbone. Inference pieces: :meth:`template_branch`,
    :meth:`search_branch`, :meth:`head` (``forward(z, x)`` chains them); training code passes cached
    backbone features to :meth:`template_neck` / :meth:`search_neck` directly."""

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        layer: str = "s16",
        channels: int = 64,
        tower_convs: int = 2,
        pretrained: bool = True,
    ):
        super().__init__()
        self.arch = {"backbone": backbone, "layer": layer, "channels": int(channels), "tower_convs": int(tower_convs)}
        self.layer = layer
        self.backbone = build_backbone(backbone, pretrained=pretrained if pretrained else False, layers=(layer,))
        self.backbone.freeze()
        cin = self.backbone.channels[layer]
        self.stride = int(self.backbone.strides[layer])
        c = int(channels)
        self.cls_z, self.reg_z = _conv_bn_relu(cin, c), _conv_bn_relu(cin, c)
        self.cls_x, self.reg_x = _conv_bn_relu(cin, c), _conv_bn_relu(cin, c)
        self.cls_tower = nn.Sequential(*[_conv_bn_relu(c, c, 3, 1) for _ in range(tower_convs)])
        self.reg_tower = nn.Sequential(*[_conv_bn_relu(c, c, 3, 1) for _ in range(tower_convs)])
        self.cls_out = nn.Conv2d(c, 1, 3, padding=1)
        self.quality_out = nn.Conv2d(c, 1, 3, padding=1)
        self.reg_out = nn.Conv2d(c, 4, 3, padding=1)
        self.reg_scale = nn.Parameter(torch.tensor(1.0))
        # exp(b0) * stride ~ 32 px: half the size of a typical target in a 128/256 crop
        self.reg_bias = nn.Parameter(torch.tensor(math.log(32.0 / self.stride)))
        prior = 0.01  # RetinaNet's prior for the focal-loss logit
        nn.init.constant_(self.cls_out.bias, -math.log((1 - prior) / prior))
        for m in (self.cls_out, self.quality_out, self.reg_out):
            nn.init.normal_(m.weight, std=0.01)
        nn.init.zeros_(self.quality_out.bias)
        nn.init.zeros_(self.reg_out.bias)

    # -- parameters that are ours (the backbone is the shared pretrained one) -----------------------
    def trainable_state_dict(self) -> dict:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.train(False)  # frozen: BN statistics stay the pretrained ones
        return self

    # -- inference pieces ---------------------------------------------------------------------------
    def features(self, img: torch.Tensor) -> torch.Tensor:
        return self.backbone(img)[self.layer]

    def template_neck(self, fz: torch.Tensor):
        return self.cls_z(fz), self.reg_z(fz)

    def search_neck(self, fx: torch.Tensor):
        return self.cls_x(fx), self.reg_x(fx)

    def template_branch(self, z: torch.Tensor):
        """``z`` (B, 3, T, T) RGB 0..255 -> (cls kernel, reg kernel)."""
        return self.template_neck(self.features(z))

    def search_branch(self, x: torch.Tensor):
        """``x`` (B, 3, S, S) RGB 0..255 -> (cls search map, reg search map)."""
        return self.search_neck(self.features(x))

    def template(self, z: torch.Tensor) -> torch.Tensor:
        """Template branch as one tensor (cls and reg kernels stacked on channels), the shape
        :class:`adaptrack.export.OnnxBranches` exports."""
        return torch.cat(self.template_branch(z), dim=1)

    def search(self, x: torch.Tensor) -> torch.Tensor:
        """Search branch as one tensor (cls and reg maps stacked on channels)."""
        return torch.cat(self.search_branch(x), dim=1)

    def split(self, t: torch.Tensor):
        """Undo the channel stacking of :meth:`template` / :meth:`search`."""
        c = t.shape[1] // 2
        return t[:, :c], t[:, c:]

    def head(self, kernels, searches):
        """Depthwise correlation + towers -> ``cls`` (B,1,m,m) logits, ``quality`` (B,1,m,m) logits,
        ``ltrb`` (B,4,m,m) distances in search-crop pixels."""
        kc, kr = kernels
        xc, xr = searches
        c = self.cls_tower(xcorr_depthwise(kc, xc))
        r = self.reg_tower(xcorr_depthwise(kr, xr))
        cls = self.cls_out(c)
        quality = self.quality_out(c)
        ltrb = torch.exp((self.reg_scale * self.reg_out(r) + self.reg_bias).clamp(max=8.0)) * self.stride
        return cls, quality, ltrb

    def forward(self, z: torch.Tensor, x: torch.Tensor):
        return self.head(self.template_branch(z), self.search_branch(x))

    def frame(self, x: torch.Tensor, zk: torch.Tensor) -> torch.Tensor:
        """One tracking step's network work on search image ``x`` with stacked template kernels ``zk``
        (:meth:`template`): ``(B, 6, m, m)`` = cls logit, quality logit, ltrb (exported as one graph by
        :class:`adaptrack.export.OnnxBranches` with ``frame=True``)."""
        return torch.cat(self.head(self.split(zk), self.search_branch(x)), dim=1)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().unsqueeze(0)


def default_weights_path() -> str:
    from ..weights import bundled_path

    return str(bundled_path("siamfcpp"))


def read_weights_arch(weights) -> dict:
    """The ``arch`` entry of a SiamFC++ weights file (``{}`` when absent or the file is missing)."""
    path = default_weights_path() if weights == "default" else os.fspath(weights)
    if not os.path.isfile(path):
        return {}
    blob = torch.load(path, map_location="cpu", weights_only=True)
    return dict(blob.get("arch") or {}) if isinstance(blob, dict) else {}


@register_tracker(
    "siamfcpp",
    SiamFCppParams,
    "SiamFC++ (Xu et al., AAAI 2020): cls + PSS quality + ltrb regression on frozen EfficientNet-Lite0; "
    "variant 'adversarial' = AUTracker (BIM template adaptation on frame 1)",
)
class SiamFCppTracker(Tracker):
    """SiamFC++ tracker; implements the template-adaptation protocol of
    :mod:`adaptrack.adaptation.adversarial_template` (``adaptation_pair``, ``template_loss``,
    ``set_template_image``)."""

    def __init__(self, params: SiamFCppParams, weights: str | None = "default"):
        self.params = params
        p = params
        if p.template_size % 16 or p.search_size % 16 or p.search_size <= p.template_size:
            raise ValueError(
                f"siamfcpp: template_size and search_size must be multiples of the backbone stride with "
                f"search > template (got {p.template_size}/{p.search_size})"
            )
        arch = {"backbone": p.backbone, "layer": p.layer, "channels": p.channels, "tower_convs": p.tower_convs}
        if weights is not None:
            file_arch = read_weights_arch(weights)
            diff = {k: (arch[k], file_arch[k]) for k in ARCH_KEYS if k in file_arch and file_arch[k] != arch[k]}
            if diff:
                raise ValueError(f"siamfcpp: parameters {diff} (params, weights file) differ from the weights {weights}")
        self.net = SiamFCppNet(**arch, pretrained=weights is not None or p.pretrained_backbone)
        load_weights(self.net, weights, "siamfcpp")  # trainable tensors only; the backbone is ImageNet's
        self.net.eval()
        for q in self.net.parameters():
            q.requires_grad_(False)
        if p.num_threads > 0:
            torch.set_num_threads(p.num_threads)
        self.stride = self.net.stride
        self.map_size = (p.search_size - p.template_size) // self.stride + 1
        self.positions = score_positions(self.map_size, self.stride, p.template_size)
        win = np.hanning(self.map_size)
        self.window = np.outer(win, win).ravel()
        self._branches = None
        self.backend = self._choose_backend(p.backend)
        self.adaptation_info: dict = {}

    @classmethod
    def has_default_weights(cls) -> bool:
        return has_bundled("siamfcpp")

    def _choose_backend(self, backend: str) -> str:
        if backend not in ("auto", "torch", "onnxruntime"):
            raise ValueError(f"siamfcpp: backend must be 'auto', 'torch' or 'onnxruntime', got {backend!r}")
        if backend == "torch":
            return "torch"
        try:
            from ..export import OnnxBranches

            self._branches = OnnxBranches.from_net(
                self.net, self.params.template_size, self.params.search_size, 1, self.params.num_threads or None,
                frame=True,
            )
            return "onnxruntime"
        except Exception:  # noqa: BLE001 - fall back to PyTorch when ONNX export / ORT is unavailable
            if backend == "onnxruntime":
                raise
            return "torch"

    # -- crops --------------------------------------------------------------------------------------
    def _windows(self, size):
        """SiamFC windows for a target ``size``: ``(s_z, scale = T / s_z, s_x)``."""
        s_z, s_x = window_sizes(size, self.params.context, self.params.template_size, self.params.search_size)
        return s_z, self.params.template_size / s_z, s_x

    def _template_image(self, frame, center, size) -> torch.Tensor:
        s_z, _, _ = self._windows(size)
        return _to_tensor(crop_and_resize(frame, center, s_z, self.params.template_size, self._pad))

    def _search_image(self, frame, center, size):
        _, scale, s_x = self._windows(size)
        return _to_tensor(crop_and_resize(frame, center, s_x, self.params.search_size, self._pad)), scale

    # -- template-adaptation protocol (adaptrack.adaptation.adversarial_template) --------------------
    def adaptation_pair(self, frame: np.ndarray, box) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """First-frame template image ``z`` (1,3,T,T), search image ``x`` (1,3,S,S) centred on the box,
        and the box in search-crop pixels ``(x, y, w, h)``, all float32."""
        box = np.asarray(box, dtype=np.float64)
        center = box[:2] + box[2:] / 2
        pad = frame_mean(frame)
        s_z, scale, s_x = self._windows(box[2:])
        z = _to_tensor(crop_and_resize(frame, center, s_z, self.params.template_size, pad))
        x = _to_tensor(crop_and_resize(frame, center, s_x, self.params.search_size, pad))
        half = self.params.search_size / 2.0
        bw, bh = box[2] * scale, box[3] * scale
        bx = torch.tensor([half - bw / 2, half - bh / 2, bw, bh], dtype=torch.float32)
        return z, x, bx

    def template_loss(self, z: torch.Tensor, x: torch.Tensor, box_in_x: torch.Tensor, label: str = "true") -> torch.Tensor:
        """SiamFC++'s training loss (eq. 8) of template image ``z`` against search image ``x`` whose target
        is ``box_in_x``; differentiable w.r.t. ``z`` (the network is frozen). ``label="true"``: the
        training targets (BIM, eq. 7); ``label="peak"``: a target label with only the cell nearest the
        box centre positive (the iterative target-class method, eq. 6)."""
        from ..training.recipes.siamfcpp import siamfcpp_loss, siamfcpp_targets

        if label not in ("true", "peak"):
            raise ValueError(f"siamfcpp: template_loss label must be 'true' or 'peak', got {label!r}")
        cached = getattr(self, "_loss_search_cache", None)
        if cached is not None and cached[0] is x:
            searches = cached[1]
        else:
            with torch.no_grad():  # constant w.r.t. z: computed once per search image
                if self._branches is not None:
                    searches = tuple(t.clone() for t in self.net.split(self._branches.search(x)))
                else:
                    searches = self.net.search_branch(x)
            self._loss_search_cache = (x, searches)
        cls, quality, ltrb = self.net.head(self.net.template_branch(z), searches)
        targets = siamfcpp_targets(
            box_in_x.reshape(1, 4), self.map_size, self.stride, self.params.template_size, peak_only=(label == "peak")
        )
        return siamfcpp_loss(cls, quality, ltrb, targets)["loss"]

    def set_template_image(self, z: torch.Tensor) -> None:
        """Use template image ``z`` (1,3,T,T RGB 0..255) for the rest of the sequence."""
        self._z = z.detach().clone()
        with torch.inference_mode():
            self._kernels = self.net.template_branch(self._z)
            self._stacked_kernels = torch.cat(self._kernels, dim=1)
        self._loss_search_cache = None

    # -- tracking -------------------------------------------------------------------------------------
    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        self._pad = frame_mean(frame)
        self.center = box[:2] + box[2:] / 2
        self.size = box[2:].astype(np.float64).copy()
        self.frame_size = (frame.shape[1], frame.shape[0])
        self.set_template_image(self._template_image(frame, self.center, self.size))
        self.adaptation_info = {}
        if self.params.adaptation:
            from ..adaptation.adversarial_template import adapt_template

            self.adaptation_info = adapt_template(self, frame, box, **self.params.adaptation)

    @torch.inference_mode()
    def _infer(self, x: torch.Tensor):
        if self._branches is not None and self._branches.has_frame:
            out = self._branches.frame(x, self._stacked_kernels)
            cls, quality, ltrb = out[:, :1], out[:, 1:2], out[:, 2:]
        else:
            searches = self.net.split(self._branches.search(x)) if self._branches is not None else self.net.search_branch(x)
            cls, quality, ltrb = self.net.head(self._kernels, searches)
        score = (torch.sigmoid(cls) * torch.sigmoid(quality)).reshape(-1).numpy().astype(np.float64)
        return score, ltrb.reshape(4, -1).numpy().astype(np.float64)

    def _track(self, frame: np.ndarray) -> TrackOutput:
        p = self.params
        x, scale = self._search_image(frame, self.center, self.size)
        score, ltrb = self._infer(x)
        px = np.tile(self.positions, self.map_size)  # column position of each cell (row-major)
        py = np.repeat(self.positions, self.map_size)
        x0, y0 = px - ltrb[0], py - ltrb[1]
        x1, y1 = px + ltrb[2], py + ltrb[3]
        bw, bh = np.maximum(x1 - x0, 1e-3), np.maximum(y1 - y0, 1e-3)
        bcx, bcy = (x0 + x1) / 2, (y0 + y1) / 2
        # size / aspect-ratio change penalty against the current target (in crop pixels)
        tw, th = self.size * scale

        def change(r):
            return np.maximum(r, 1.0 / r)

        def sz(w, h):
            pad = (w + h) * 0.5
            return np.sqrt((w + pad) * (h + pad))

        s_c = change(sz(bw, bh) / sz(tw, th))
        r_c = change((tw / th) / (bw / bh))
        penalty = np.exp(-(r_c * s_c - 1.0) * p.penalty_k)
        pscore = penalty * score
        pscore = pscore * (1 - p.window_influence) + self.window * p.window_influence
        best = int(np.argmax(pscore))
        half = p.search_size / 2.0
        cx = self.center[0] + (bcx[best] - half) / scale
        cy = self.center[1] + (bcy[best] - half) / scale
        lr = penalty[best] * score[best] * p.test_lr
        w = self.size[0] * (1 - lr) + bw[best] / scale * lr
        h = self.size[1] * (1 - lr) + bh[best] / scale * lr
        W, H = self.frame_size
        cx, cy = float(np.clip(cx, 0, W)), float(np.clip(cy, 0, H))
        w = float(np.clip(w, p.min_size, W))
        h = float(np.clip(h, p.min_size, H))
        self.center = np.array([cx, cy])
        self.size = np.array([w, h])
        return TrackOutput(np.array([cx - w / 2, cy - h / 2, w, h]), float(score[best]), {"pscore": float(pscore[best])})
