"""PNG plots of evaluation curves (matplotlib, Agg backend): one function for every curve type."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["plot_curves", "plot_eao"]

_STYLES = ["-", "--", "-.", ":"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_curves(
    x, curves: dict, path: str, title: str, xlabel: str, ylabel: str, score_fmt: str = "{:.3f}", xlim=None
) -> str:
    """Plot ``curves = {label: (y, score)}`` against ``x``, legend ``label [score]`` sorted by score (best
    first). Returns ``path``."""
    plt = _plt()
    order = sorted(curves, key=lambda k: (-np.nan_to_num(curves[k][1], nan=-np.inf), k))
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    cmap = plt.get_cmap("tab10")
    for i, label in enumerate(order):
        y, score = curves[label]
        ax.plot(x, y, _STYLES[(i // 10) % len(_STYLES)], color=cmap(i % 10), linewidth=2 if i == 0 else 1.5,
                label=f"{label} [{score_fmt.format(score)}]")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, ylim=(0, 1.0), xlim=xlim if xlim else (float(np.min(x)), float(np.max(x))))
    ax.grid(True, alpha=0.4)
    if order:
        ax.legend(loc="lower left" if "uccess" in ylabel else "lower right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_eao(curves: dict, interval, path: str, title: str = "Expected average overlap") -> str:
    """EAO curves ``{label: (curve, eao)}`` against sequence length, the averaging ``interval`` shaded."""
    plt = _plt()
    order = sorted(curves, key=lambda k: (-np.nan_to_num(curves[k][1], nan=-np.inf), k))
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    cmap = plt.get_cmap("tab10")
    lo, hi = interval
    ax.axvspan(lo, hi, color="0.85", zorder=0, label=f"interval {lo}-{hi}")
    for i, label in enumerate(order):
        curve, score = curves[label]
        ax.plot(np.arange(1, len(curve) + 1), curve, _STYLES[(i // 10) % len(_STYLES)], color=cmap(i % 10),
                label=f"{label} [{score:.3f}]")
    ax.set(xlabel="Sequence length (frames)", ylabel="Expected average overlap", title=title, ylim=(0, 1.0))
    ax.set_xlim(left=1)
    ax.grid(True, alpha=0.4)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
