"""Benchmark loaders. ``load_dataset(name, root, **kw)`` returns a list-like of :class:`Sequence`."""

from .base import Sequence

__all__ = ["Sequence"]
