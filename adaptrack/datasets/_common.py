"""Parsing and checking helpers shared by the benchmark loaders.

Everything here is layout-agnostic: finding and sorting frame files, reading numeric annotation
tables whatever their separator (comma, tab, space, semicolon), reading per-frame flag files,
checking that a folder has the layout a loader expects (:class:`~adaptrack.errors.DatasetLayoutError`
naming the path otherwise), and aligning frames with annotations (a :class:`AnnotationMismatchWarning`
naming the sequence, then truncation to the shorter, as the official toolkits do).
"""

from __future__ import annotations

import io
import os
import re
import warnings
from typing import Iterable

import numpy as np

from ..errors import DatasetLayoutError
from .base import Sequence

__all__ = [
    "read_nlp",
    "IMAGE_EXTS",
    "AnnotationMismatchWarning",
    "require_dir",
    "require_file",
    "list_frames",
    "frame_number",
    "natural_key",
    "read_table",
    "read_boxes",
    "read_flag_file",
    "read_list",
    "fit_length",
    "make_sequence",
]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

_SEP = re.compile(r"[,\t; ]+")
_DIGITS = re.compile(r"(\d+)")


class AnnotationMismatchWarning(UserWarning):
    """Frames and annotation lines of a sequence differ in number; the longer one was truncated."""


def require_dir(path: str | os.PathLike, expected: str) -> str:
    """Return ``path`` if it is a directory, else raise :class:`DatasetLayoutError` saying what was expected."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        what = "does not exist" if not os.path.exists(path) else "is not a directory"
        raise DatasetLayoutError(f"{path} {what}; expected {expected}")
    return path


def require_file(path: str | os.PathLike, expected: str) -> str:
    """Return ``path`` if it is a file, else raise :class:`DatasetLayoutError` saying what was expected."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetLayoutError(f"{path} is missing; expected {expected}")
    return path


def natural_key(name: str):
    """Sort key ordering embedded numbers numerically (``img2`` before ``img10``)."""
    return [int(t) if t.isdigit() else t.lower() for t in _DIGITS.split(os.path.basename(name))]


def frame_number(path: str) -> int | None:
    """The last run of digits in a frame file's stem (``img000123.jpg`` -> 123), or ``None``."""
    nums = _DIGITS.findall(os.path.splitext(os.path.basename(path))[0])
    return int(nums[-1]) if nums else None


def list_frames(folder: str | os.PathLike, expected: str | None = None, exts: Iterable[str] = IMAGE_EXTS) -> list[str]:
    """Image files directly in ``folder``, in natural order. Raises if the folder has none."""
    folder = require_dir(folder, expected or "a folder of frame images")
    exts = tuple(e.lower() for e in exts)
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(exts) and not f.startswith(".")]
    if not files:
        raise DatasetLayoutError(f"{folder} has no frame images ({', '.join(exts)}); expected {expected or 'frames'}")
    files.sort(key=natural_key)
    return files


def read_table(path: str | os.PathLike, ncols: int | Iterable[int] | None = None, what: str = "annotation") -> np.ndarray:
    """Read a numeric table whose fields are separated by commas, tabs, spaces or semicolons.

    Empty lines are skipped; ``nan``/``NaN`` fields are NaN. ``ncols`` (one count or several
    allowed counts) is checked for every row. Returns a float64 ``(rows, cols)`` array (``(0, 0)`` for
    an empty file). Raises :class:`DatasetLayoutError` naming the file and line on malformed rows.
    """
    path = os.fspath(path)
    allowed = None if ncols is None else ({ncols} if isinstance(ncols, int) else set(ncols))
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if not text.strip():
        return np.zeros((0, 0))
    # fast path: numpy's C parser on the text with every separator turned into a space
    norm = text.replace(",", " ").replace("\t", " ").replace(";", " ")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.loadtxt(io.StringIO(norm), dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        pass  # ragged or non-numeric: the slow path names the line
    else:
        if allowed is None or arr.shape[1] in allowed:
            return arr
    return _read_table_slow(path, allowed, what)


def _read_table_slow(path: str, allowed: set | None, what: str) -> np.ndarray:
    """Line-by-line parse that names the first malformed line."""
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            fields = [t for t in _SEP.split(line) if t]
            try:
                row = [float(t) for t in fields]
            except ValueError:
                raise DatasetLayoutError(f"{path}, line {lineno}: not a row of numbers: {line[:80]!r}") from None
            if allowed is not None and len(row) not in allowed:
                want = " or ".join(str(c) for c in sorted(allowed))
                raise DatasetLayoutError(f"{path}, line {lineno}: {len(row)} numbers, expected {want} ({what})")
            if rows and len(row) != len(rows[0]):
                raise DatasetLayoutError(
                    f"{path}, line {lineno}: {len(row)} numbers where earlier lines have {len(rows[0])}"
                )
            rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def read_boxes(path: str | os.PathLike) -> np.ndarray:
    """An ``x, y, w, h`` annotation file as a float64 ``(N, 4)`` array (NaN rows kept)."""
    path = require_file(path, "an annotation file with one x,y,w,h line per frame")
    arr = read_table(path, ncols=4, what="x,y,w,h per line")
    if arr.size == 0:
        raise DatasetLayoutError(f"{path} is empty; expected one x,y,w,h line per frame")
    return arr


def read_flag_file(path: str | os.PathLike, dtype=np.int64) -> np.ndarray:
    """Per-frame values, one per line or all on one comma-separated line (LaSOT style)."""
    arr = read_table(path, what="per-frame flags")
    return arr.reshape(-1).astype(dtype) if arr.size else np.zeros(0, dtype=dtype)


def read_list(path: str | os.PathLike) -> list[str]:
    """Non-empty, stripped lines of a list file (``list.txt``)."""
    with open(path, encoding="utf-8") as f:
        return [ln.strip() for ln in f if ln.strip()]


def fit_length(values: np.ndarray, n: int, fill=0) -> np.ndarray:
    """``values`` cut or padded (with ``fill``) to length ``n`` along the first axis."""
    values = np.asarray(values)
    if len(values) >= n:
        return values[:n]
    pad = np.full((n - len(values),) + values.shape[1:], fill, dtype=values.dtype)
    return np.concatenate([values, pad])


def make_sequence(
    name: str,
    frames: list[str],
    boxes: np.ndarray,
    *,
    dataset: str,
    one_based: bool = False,
    polygons: np.ndarray | None = None,
    flags: dict[str, np.ndarray] | None = None,
    attributes: dict | None = None,
    first_only: bool = False,
    nan_where: np.ndarray | None = None,
) -> Sequence:
    """Build a :class:`Sequence`, shifting 1-based annotations to 0-based and aligning lengths.

    ``first_only`` marks test splits that publish only the first box: the other rows become NaN and
    no mismatch is reported. Otherwise, when the numbers of frames and annotation rows differ, an
    :class:`AnnotationMismatchWarning` names the sequence and both are truncated to the shorter.
    Flags are cut or zero-padded to the final length. ``nan_where`` (a per-frame bool array, e.g. the
    absence flags) turns those rows of ``boxes`` into NaN.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    if polygons is not None:
        polygons = np.asarray(polygons, dtype=np.float64).copy()
    if one_based:
        boxes[:, :2] -= 1.0
        if polygons is not None:
            polygons -= 1.0
    n = len(frames)
    if first_only:
        full = np.full((n, 4), np.nan)
        full[: min(1, n)] = boxes[:1]
        boxes = full
    elif len(boxes) != n:
        m = min(n, len(boxes))
        warnings.warn(
            f"sequence {name!r} ({dataset}): {n} frames but {len(boxes)} annotation rows; truncated to {m}",
            AnnotationMismatchWarning,
            stacklevel=3,
        )
        frames, boxes = frames[:m], boxes[:m]
        if polygons is not None:
            polygons = polygons[:m]
        n = m
    if n == 0:
        raise DatasetLayoutError(f"sequence {name!r} ({dataset}) has no frames with annotations")
    flags = {k: fit_length(v, n) for k, v in (flags or {}).items()}
    if nan_where is not None:
        boxes[fit_length(np.asarray(nan_where, dtype=bool), n)] = np.nan
    attrs = dict(attributes or {})
    attrs.setdefault("annotation_origin", 1 if one_based else 0)
    return Sequence(
        name=name, frames=list(frames), boxes=boxes, polygons=polygons, flags=flags, attributes=attrs, dataset=dataset
    )


def read_nlp(seq_dir: str) -> str | None:
    """The one-line language description ``<seq_dir>/nlp.txt`` (LaSOT / TNL2K style), or ``None``."""
    path = os.path.join(seq_dir, "nlp.txt")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().strip()
