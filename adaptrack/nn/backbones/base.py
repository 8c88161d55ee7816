"""The common shape of every backbone: a chain of stages, some of which are named output layers.

A backbone takes ``x`` float ``(B, 3, H, W)`` RGB in ``0..255`` (it normalises internally) and returns
``dict[layer_name -> Tensor]`` for the layers it was built with. It is built truncated after the deepest
requested layer, so no compute is spent on stages nobody reads. ``channels[layer]`` and
``strides[layer]`` describe each output.

Fine-tuning policy: :meth:`Backbone.freeze` stops gradients for every stage up to (and including) a
layer and keeps the BatchNorm layers of those stages in eval mode even when ``.train()`` is called, so
running statistics of pretrained layers are never overwritten by small tracking batches.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Backbone"]


class Backbone(nn.Module):
    """A chain of stages; ``stage_layer[i]`` is the layer name emitted after stage ``i`` (or ``None``)."""

    #: layer name -> (channels, stride) of every layer this architecture can emit, shallow to deep
    LAYERS: dict[str, tuple[int, int]] = {}

    def __init__(self, layers):
        super().__init__()
        if isinstance(layers, str):
            layers = (layers,)
        layers = tuple(layers)
        if not layers:
            raise ValueError(f"{type(self).__name__}: give at least one output layer")
        unknown = [name for name in layers if name not in self.LAYERS]
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no layer(s) {unknown}; layers: {', '.join(self.LAYERS)}"
            )
        order = list(self.LAYERS)
        self.layers = tuple(sorted(set(layers), key=order.index))
        self.channels = {name: self.LAYERS[name][0] for name in self.layers}
        self.strides = {name: self.LAYERS[name][1] for name in self.layers}
        self._frozen_upto = -1  # index of the last frozen stage

    # subclasses provide these two
    def stage_modules(self) -> list[nn.Module]:
        """The stages in order (each a module called as ``x = stage(x)``)."""
        raise NotImplementedError

    def stage_layer_names(self) -> list[str | None]:
        """For each stage, the layer name emitted after it, or ``None``."""
        raise NotImplementedError

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - 127.5) / 128.0

    @property
    def deepest(self) -> str:
        return self.layers[-1]

    @property
    def total_stride(self) -> int:
        return self.strides[self.deepest]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"{type(self).__name__} expects (B, 3, H, W) RGB 0..255, got {tuple(x.shape)}")
        x = self.normalize(x)
        out = {}
        wanted = set(self.layers)
        for stage, name in zip(self.stage_modules(), self.stage_layer_names()):
            x = stage(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out

    # ---- fine-tuning policy -------------------------------------------------------------------------
    def freeze(self, upto: str | None = None) -> "Backbone":
        """Freeze every stage up to and including layer ``upto`` (default: the whole backbone).

        Frozen parameters get ``requires_grad=False`` and frozen BatchNorm layers stay in eval mode
        through later ``.train()`` calls. ``freeze(upto=None)`` freezes all; :meth:`unfreeze` undoes it.
        """
        names = self.stage_layer_names()
        if upto is None:
            last = len(names) - 1
        else:
            if upto not in names:
                raise ValueError(f"cannot freeze up to {upto!r}: this backbone emits {[n for n in names if n]}")
            last = names.index(upto)
        self._frozen_upto = last
        for i, stage in enumerate(self.stage_modules()):
            for p in stage.parameters():
                p.requires_grad_(i > last)
        self.train(self.training)
        return self

    def unfreeze(self) -> "Backbone":
        self._frozen_upto = -1
        for p in self.parameters():
            p.requires_grad_(True)
        return self

    def frozen_parameter_names(self) -> set[str]:
        return {n for n, p in self.named_parameters() if not p.requires_grad}

    def train(self, mode: bool = True):
        super().train(mode)
        for i, stage in enumerate(self.stage_modules()):
            if i <= self._frozen_upto:
                for m in stage.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
        return self
