"""Training recipes, one module per method, found by name.

A recipe module ``adaptrack/training/recipes/<name>.py`` defines:

* ``DEFAULTS: dict`` — every setting with its default: the :class:`~adaptrack.training.trainer.TrainConfig`
  fields (``epochs``, ``batch_size``, ``lr``, ...) and the recipe's own (sampler sizes, backbone, ...).
  ``--opts key=value`` on the command line overrides them (values parsed as YAML scalars).
* ``build(cfg: dict) -> Recipe`` — the model, ``forward_train(model, batch) -> dict of losses`` and the
  data; nothing else (the trainer does the loop).
* optionally ``export(model, cfg) -> dict`` — the state dict to bundle as the tracker's weights
  (trainable parameters only); ``train.py --export PATH`` saves it.

No registration call is needed: :func:`get_recipe` imports the module by name and :func:`list_recipes`
lists the modules of this package.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

from ...errors import UnknownNameError

__all__ = ["Recipe", "get_recipe", "list_recipes"]


@dataclass
class Recipe:
    """What ``build(cfg)`` returns.

    Attributes:
        model: the module holding all parameters (frozen ones with ``requires_grad=False``).
        forward_train: ``(model, batch) -> dict[str, Tensor]``; key ``"loss"`` is the total.
        train_data: index-able dataset of training samples (a sampler or a feature cache).
        val_data: optional dataset for the per-epoch validation loss.
        callbacks: ``callback(trainer, epoch) -> dict`` (e.g. a tracking AUC).
        params: optimizer param groups (default: every trainable parameter).
        collate_fn: DataLoader collate function (default: torch's).
        info: free-form facts for the log / model card (e.g. cache build time).
    """

    model: Any
    forward_train: Callable
    train_data: Any
    val_data: Any = None
    callbacks: list = field(default_factory=list)
    params: Any = None
    collate_fn: Callable | None = None
    info: dict = field(default_factory=dict)


def list_recipes() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get_recipe(name: str):
    """The recipe module ``name`` (has ``DEFAULTS`` and ``build``). Raises :class:`UnknownNameError`."""
    if name.startswith("_") or name not in list_recipes():
        raise UnknownNameError(f"unknown training recipe {name!r}; available: {', '.join(list_recipes()) or 'none'}")
    mod = importlib.import_module(f"{__name__}.{name}")
    if not hasattr(mod, "build") or not hasattr(mod, "DEFAULTS"):
        raise UnknownNameError(f"module {mod.__name__} is not a recipe (needs DEFAULTS and build)")
    return mod
