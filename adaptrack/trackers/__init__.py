"""Trackers: the contract, the registry and one module per method."""

from .base import TrackOutput, Tracker, create, get_entry, list_trackers, register_tracker

__all__ = ["TrackOutput", "Tracker", "create", "get_entry", "list_trackers", "register_tracker"]
