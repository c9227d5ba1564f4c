"""Figures a finished run writes: the return curve (mean and standard error over seeds)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def return_curve(
    steps: np.ndarray, returns: np.ndarray, path: Path, title: str, label: str, reference: float | None = None
) -> Path:
    """One optimizer's return curve; ``returns``: (seeds, updates), NaN where no episode finished."""
    seeds = np.atleast_2d(returns).shape[0]
    ref = None if reference is None else (f"authors' Adam return ({reference:g})", reference)
    return compare_curves(
        steps, {f"{label} ({seeds} seed{'s' if seeds > 1 else ''})": returns}, path, title, ref
    )


def compare_curves(
    steps: np.ndarray,
    curves: dict[str, np.ndarray],
    path: Path,
    title: str,
    reference: tuple[str, float] | None = None,
) -> Path:
    """Several optimizers' return curves (each (seeds, updates)) with standard-error bands."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, returns in curves.items():
        returns = np.atleast_2d(returns)
        mean = np.nanmean(returns, axis=0)
        n = np.maximum(np.sum(np.isfinite(returns), axis=0), 1)
        se = np.nanstd(returns, axis=0) / np.sqrt(n)
        ax.plot(steps, mean, label=label)
        ax.fill_between(steps, mean - se, mean + se, alpha=0.25)
    if reference is not None:
        ax.axhline(reference[1], color="grey", ls="--", lw=1, label=reference[0])
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return of completed episodes")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def validation_curve(
    generations: list[int],
    scores: list[float],
    path: Path,
    reference: float | None = None,
    fitness: list[list[float]] | None = None,
) -> Path:
    """Validation score of the ES mean over generations (held-out seeds).

    ``reference``: tuned Adam's score on the same validation seeds (a dashed line). ``fitness``: rows of
    ``[generation, population mean, population best]`` (the training fitness, same units for one task).
    """
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    if fitness:
        f = np.asarray(fitness, dtype=np.float64)
        ax.plot(f[:, 0], f[:, 1], color="tab:grey", lw=1, alpha=0.8, label="fitness: population mean")
        ax.plot(f[:, 0], f[:, 2], color="tab:green", lw=1, alpha=0.6, label="fitness: population best")
    ax.plot(generations, scores, marker="o", color="tab:blue", label="ES mean, validation seeds")
    if reference is not None and np.isfinite(reference):
        ax.axhline(
            reference, color="tab:red", ls="--", lw=1.2, label=f"tuned Adam, same seeds ({reference:.3g})"
        )
    ax.set_xlabel("generation")
    ax.set_ylabel("validation score\n(mean final return; multi-task: Adam-normalised)")
    ax.set_title("ES mean on held-out seeds")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
