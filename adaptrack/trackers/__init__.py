"""Trackers: the contract, the registry and one module per method."""

from .base import TrackOutput, Tracker, create, get_entry, list_trackers, register_tracker

__all__ = [
    "TrackOutput",
    "Tracker",
    "create",
    "get_entry",
    "list_trackers",
    "register_tracker",
    "DEFAULT_PREFERENCE",
    "default_tracker_name",
    "has_default_weights",
]

#: The default tracker is the first of these ``NAME[:VARIANT]`` specs that is registered and ready to run
#: with bundled weights. Ordered by measured success AUC on the shared val split (docs/results.md): DiMP
#: with model averaging 0.497 +- 0.024 (mean +- std over 5 seeds; 62-65 FPS), DiMP's memory update
#: 0.453 +- 0.029, AUTracker (siamfcpp:adversarial) 0.413, SiamFC++ 0.393, SiamFC 0.361, ... OpenCV's CSRT
#: (0.445), which needs no weights, is the last resort.
DEFAULT_PREFERENCE = (
    "dimp:model_averaging", "dimp", "siamfcpp:adversarial", "siamfcpp", "siamfc", "siamfc:lite_s8s16", "gradnet",
    "dsiam", "csrt",
)


def has_default_weights(name: str) -> bool:
    """Whether tracker ``name`` (or a ``NAME:VARIANT`` spec) can run with ``weights="default"``.

    A tracker class answers through its ``has_default_weights()`` classmethod (OpenCV's trackers, which
    need no weights, answer ``True``). For a class without one, the answer is whether the bundled file
    ``adaptrack/weights/<name>.pt`` exists.
    """
    name = name.partition(":")[0]
    cls = get_entry(name).cls
    check = getattr(cls, "has_default_weights", None)
    if check is not None:
        return bool(check())
    from ..weights import has_bundled

    return has_bundled(name)


def default_tracker_name() -> str:
    """The ``NAME[:VARIANT]`` spec ``adaptrack demo`` and ``adaptrack track`` use when no tracker is given."""
    known = {e.name for e in list_trackers()}
    for spec in DEFAULT_PREFERENCE:
        name, _, variant = spec.partition(":")
        if name in known and has_default_weights(name) and (not variant or variant in get_entry(name).variants()):
            return spec
    raise LookupError(
        f"none of the default trackers {', '.join(DEFAULT_PREFERENCE)} is available "
        f"(registered: {', '.join(sorted(known)) or 'none'})"
    )
