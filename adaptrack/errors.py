"""Exceptions with messages meant for people: each names the file, box or value at fault."""


class AdaptrackError(Exception):
    """Base class of every error adaptrack raises on purpose."""


class FrameReadError(AdaptrackError, OSError):
    """A frame is missing, unreadable or corrupt. The message names the file."""


class DatasetLayoutError(AdaptrackError, ValueError):
    """A dataset folder does not have the layout its loader expects. The message names the path."""


class InvalidBoxError(AdaptrackError, ValueError):
    """An initial box is NaN, non-positive in size or entirely outside the frame."""


class UnknownNameError(AdaptrackError, KeyError):
    """An unknown tracker, variant or dataset name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""
