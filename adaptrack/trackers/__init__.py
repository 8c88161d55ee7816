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

#: The default tracker is the first of these that is registered and ready to run with bundled weights
#: (best adaptrack tracker first; OpenCV's CSRT, which needs no weights, is the last resort).
DEFAULT_PREFERENCE = ("dimp", "siamfcpp", "dsiam", "gradnet", "siamfc", "csrt")


def has_default_weights(name: str) -> bool:
    """Whether tracker ``name`` can run with ``weights="default"``.

    A tracker class answers through its ``has_default_weights()`` classmethod (OpenCV's trackers, which
    need no weights, answer ``True``). For a class without one, the answer is whether the bundled file
    ``adaptrack/weights/<name>.pt`` exists.
    """
    cls = get_entry(name).cls
    check = getattr(cls, "has_default_weights", None)
    if check is not None:
        return bool(check())
    from ..weights import has_bundled

    return has_bundled(name)


def default_tracker_name() -> str:
    """The name ``adaptrack demo`` and ``adaptrack track`` use when no tracker is given."""
    known = {e.name for e in list_trackers()}
    for name in DEFAULT_PREFERENCE:
        if name in known and has_default_weights(name):
            return name
    raise LookupError(
        f"none of the default trackers {', '.join(DEFAULT_PREFERENCE)} is available "
        f"(registered: {', '.join(sorted(known)) or 'none'})"
    )
