"""Figures a finished run writes: the return curve (mean and standard error over seeds)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def return_curve(steps: np.ndarray, returns: np.ndarray, path: Path, title: str, label: str,
                 reference: float | None = None) -> Path:
    """``returns``: (seeds, updates), NaN where no episode finished in an update."""
    returns = np.atleast_2d(returns)
    mean = np.nanmean(returns, axis=0)
    n = np.maximum(np.sum(np.isfinite(returns), axis=0), 1)
    se = np.nanstd(returns, axis=0) / np.sqrt(n)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(steps, mean, label=f"{label} ({returns.shape[0]} seed{'s' if returns.shape[0] > 1 else ''})")
    ax.fill_between(steps, mean - se, mean + se, alpha=0.25)
    if reference is not None:
        ax.axhline(reference, color="grey", ls="--", lw=1, label=f"authors' Adam return ({reference:g})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return of completed episodes")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
