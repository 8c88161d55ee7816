"""The tracker contract and the registry that builds trackers by name.

Contract: ``initialize(frame, box)`` then ``track(frame) -> TrackOutput`` for each later frame. Frames
are ``H x W x 3`` uint8 RGB arrays (other layouts are converted by :func:`adaptrack.image.as_rgb_uint8`),
boxes ``(x, y, w, h)`` floats, 0-based. Subclasses implement ``_initialize`` / ``_track``; the public
methods validate input once, here, for every tracker.

Registry: each tracker module decorates its class with :func:`register_tracker`, giving a name and a
parameter dataclass. Variants are data: ``adaptrack/configs/<name>.yaml`` holds
``variants: {variant_name: {param: value, ...}}`` applied on top of the dataclass defaults.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ..errors import UnknownNameError
from ..geometry import validate_init_box
from ..image import as_rgb_uint8

__all__ = ["TrackOutput", "Tracker", "register_tracker", "create", "list_trackers", "get_entry", "TrackerEntry"]


@dataclass
class TrackOutput:
    """One frame's result: ``box`` ``(x, y, w, h)``, a confidence ``score`` and tracker-specific ``extras``."""

    box: np.ndarray
    score: float = 1.0
    extras: dict = field(default_factory=dict)


class Tracker(ABC):
    """Base class of every tracker. Subclasses implement :meth:`_initialize` and :meth:`_track`."""

    name: str = "tracker"
    variant: str | None = None

    def initialize(self, frame, box) -> None:
        """Start tracking the object in ``box`` of ``frame``.

        Raises :class:`~adaptrack.errors.InvalidBoxError` (``ValueError``) for NaN, non-positive or
        fully-outside boxes, naming the box and the frame size.
        """
        frame = as_rgb_uint8(frame)
        box = validate_init_box(box, frame.shape)
        self._initialize(frame, box)
        self._initialized = True

    def track(self, frame) -> TrackOutput:
        """Locate the target in the next frame."""
        if not getattr(self, "_initialized", False):
            raise RuntimeError(f"{self.name}: call initialize(frame, box) before track(frame)")
        out = self._track(as_rgb_uint8(frame))
        out.box = np.asarray(out.box, dtype=np.float64).reshape(4)
        return out

    @abstractmethod
    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None: ...

    @abstractmethod
    def _track(self, frame: np.ndarray) -> TrackOutput: ...

    def __repr__(self) -> str:
        v = f", variant={self.variant!r}" if self.variant else ""
        return f"{type(self).__name__}(name={self.name!r}{v})"


@dataclass(frozen=True)
class TrackerEntry:
    name: str
    cls: type
    params_cls: type
    description: str = ""
    family: str = "adaptrack"

    def variants(self) -> dict[str, dict]:
        return _load_variants(self.name)

    def make_params(self, variant: str | None = None, overrides: dict | None = None):
        values: dict = {}
        if variant is not None:
            variants = self.variants()
            if variant not in variants:
                known = ", ".join(sorted(variants)) or "none"
                raise UnknownNameError(f"tracker {self.name!r} has no variant {variant!r} (variants: {known})")
            values.update(variants[variant] or {})
        values.update(overrides or {})
        names = {f.name for f in dataclasses.fields(self.params_cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UnknownNameError(
                f"tracker {self.name!r} has no parameter(s) {', '.join(unknown)} (parameters: {', '.join(sorted(names))})"
            )
        return self.params_cls(**values)


_REGISTRY: dict[str, TrackerEntry] = {}

# Modules that register built-in trackers; imported on first use of the registry.
_BUILTIN_MODULES = (
    "adaptrack.trackers.opencv",
    "adaptrack.trackers.siamfc",
    "adaptrack.trackers.gradnet",
    "adaptrack.trackers.dsiam",
    "adaptrack.trackers.siamfcpp",
    "adaptrack.trackers.siamtfa",
    "adaptrack.trackers.dimp",
)
_loaded = False


def _ensure_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _BUILTIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:  # a missing dependency inside an existing module is a real error
                raise


def _load_variants(name: str) -> dict[str, dict]:
    import yaml

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", f"{name}.yaml")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    return dict(data.get("variants") or {})


def register_tracker(name: str, params_cls: type, description: str = "", family: str = "adaptrack"):
    """Class decorator: register ``cls(params, weights=...)`` under ``name`` with its parameter dataclass."""

    def deco(cls):
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"tracker name {name!r} registered twice")
        _REGISTRY[name] = TrackerEntry(name, cls, params_cls, description, family)
        cls.name = name
        return cls

    return deco


def get_entry(name: str) -> TrackerEntry:
    _ensure_builtins()
    if name not in _REGISTRY:
        raise UnknownNameError(f"unknown tracker {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]


def list_trackers() -> list[TrackerEntry]:
    """All registered trackers, adaptrack's first, then peers, each group by name."""
    _ensure_builtins()
    return sorted(_REGISTRY.values(), key=lambda e: (e.family != "adaptrack", e.name))


def create(name: str, variant: str | None = None, weights: str | None = "default", **params) -> Tracker:
    """Build a tracker by name: ``create("siamfc")``, ``create("dimp", variant="no_update")``.

    ``weights`` is ``"default"`` (the bundled weights), a path to a ``.pt`` file, or ``None`` (random
    initialisation, for tests). Keyword arguments override single parameters of the chosen variant.
    """
    entry = get_entry(name)
    p = entry.make_params(variant, params)
    tracker = entry.cls(p, weights=weights)
    tracker.variant = variant
    return tracker
