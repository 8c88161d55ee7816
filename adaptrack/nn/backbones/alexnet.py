"""The SiamFC AlexNet with batch normalisation (Bertinetto et al., "Fully-Convolutional Siamese
Networks for Object Tracking", ECCV-W 2016, Table 1; BN after every conv but the last, as in the
authors' released BN variant), trained from scratch.

All convolutions are 'valid' (no padding), so feature ``i`` of any input is centred on input pixel
``8 * i + 43`` (stride 8): template and search crops of any sizes are aligned, and a 127 exemplar /
255 instance pair gives 6x6 and 22x22 maps and a 17x17 response.

Layers: ``s4`` is the conv2 output (after BN + ReLU, before the second pooling; 256 * width channels,
stride 4), ``s8`` the conv5 output (256 * width channels, stride 8; no BN/ReLU, as SiamFC's embedding).
``width`` scales every channel count (``width=0.5`` is the half-width variant). Inputs are RGB 0..255,
normalised as ``(x - 127.5) / 128``.
"""

from __future__ import annotations

from torch import nn

from .base import Backbone

__all__ = ["AlexNetBN"]


def _ch(c: int, width: float) -> int:
    """Channel count scaled by ``width``, rounded to an even number (conv2/4/5 use 2 groups)."""
    return max(2, int(round(c * width / 2)) * 2)


class AlexNetBN(Backbone):
    LAYERS = {"s4": (256, 4), "s8": (256, 8)}

    def __init__(self, layers=("s8",), width: float = 1.0):
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        c1, c2, c3, c4, c5 = (_ch(c, width) for c in (96, 256, 384, 384, 256))
        self.LAYERS = {"s4": (c2, 4), "s8": (c5, 8)}
        super().__init__(layers)
        self.width = width
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, c1, 11, 2), nn.BatchNorm2d(c1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2)
        )
        self.conv2 = nn.Sequential(nn.Conv2d(c1, c2, 5, 1, groups=2), nn.BatchNorm2d(c2), nn.ReLU(inplace=True))
        stages = [self.conv1, self.conv2]
        names = [None, "s4"]
        if self.deepest == "s8":
            self.conv3 = nn.Sequential(
                nn.MaxPool2d(3, 2), nn.Conv2d(c2, c3, 3, 1), nn.BatchNorm2d(c3), nn.ReLU(inplace=True)
            )
            self.conv4 = nn.Sequential(nn.Conv2d(c3, c4, 3, 1, groups=2), nn.BatchNorm2d(c4), nn.ReLU(inplace=True))
            self.conv5 = nn.Conv2d(c4, c5, 3, 1, groups=2)
            stages += [self.conv3, self.conv4, self.conv5]
            names += [None, None, "s8"]
        self._stages = stages
        self._names = names
        self._init_weights()

    def stage_modules(self):
        return self._stages

    def stage_layer_names(self):
        return self._names

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
