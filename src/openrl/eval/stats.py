"""Aggregate statistics with rliable: point estimates and stratified-bootstrap confidence intervals.

Everything here is a thin, *seeded* layer over ``rliable.library.get_interval_estimates`` and
``rliable.metrics`` so that the numbers in a report are exactly what rliable gives and are reproducible
run to run:

* rliable's ``StratifiedBootstrap.update_indices`` draws from NumPy's *global* RNG (``np.random.choice``),
  not from the ``random_state`` it is given, so passing a ``RandomState`` alone does not make a CI
  reproducible. :func:`seeded` seeds the global RNG for the duration of one call and restores the caller's
  state afterwards (nothing else in the process sees a changed RNG).
* Scores are ``(num_runs, num_tasks)`` matrices, rliable's layout: one row per seed, one column per env.
  A single env is a ``(num_runs, 1)`` matrix.
* Optimality gap is only meaningful on normalised scores (threshold ``gamma``, 1 = Adam's return).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

METRICS = ("iqm", "mean", "median", "optimality_gap")
# rliable's "median" is the median over *tasks* of the per-task mean: on one env it equals the mean.
# Per env, the median over seeds is the informative one; it is bootstrapped the same way.
EXTRA_METRICS = ("run_median",)
DEFAULT_REPS = 2000
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval ``[lo, hi]``."""

    value: float
    lo: float
    hi: float

    def as_dict(self) -> dict[str, float | list[float]]:
        """The summary.json form: ``{"value": v, "ci": [lo, hi]}``."""
        d = asdict(self)
        return {"value": d["value"], "ci": [d["lo"], d["hi"]]}

    def fmt(self, digits: int = 2) -> str:
        """``"12.34 [10.10, 14.50]"`` (Markdown tables)."""
        if not np.isfinite(self.value):
            return "n/a"
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seeds NumPy's global RNG (which rliable's bootstrap uses) and restores it on exit.

    (rliable's ``random_state`` argument is not passed: its resampling ignores it, and arch 7 deprecates it
    with a FutureWarning.)
    """
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def _metric_fns(gamma: float) -> dict[str, Callable[[np.ndarray], float]]:
    from rliable import metrics

    return {
        "iqm": metrics.aggregate_iqm,
        "mean": metrics.aggregate_mean,
        "median": metrics.aggregate_median,
        "optimality_gap": lambda s: metrics.aggregate_optimality_gap(s, gamma),
        "run_median": lambda s: np.median(s),  # over every run of every task
    }


def as_matrix(scores: np.ndarray | Sequence[float]) -> np.ndarray:
    """``(num_runs,)`` -> ``(num_runs, 1)``; a ``(num_runs, num_tasks)`` matrix is returned as is."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"scores must be (num_runs,) or (num_runs, num_tasks), got shape {arr.shape}")
    return arr


def interval_estimates(
    scores: Mapping[str, np.ndarray],
    metrics: Sequence[str] = ("iqm", "mean", "median"),
    *,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    gamma: float = 1.0,
) -> dict[str, dict[str, Interval]]:
    """``{algorithm: {metric: Interval}}`` over runs and tasks (rliable stratified bootstrap).

    Args:
        scores: algorithm -> ``(num_runs, num_tasks)`` (or ``(num_runs,)`` for one task). Runs are
            resampled within each task (stratified); the task set is fixed.
        metrics: any of :data:`METRICS` (rliable's aggregates) or ``run_median`` (median over all runs,
            the per-env median); all are computed on the same bootstrap resamples.
        reps: bootstrap replications (rliable's default is 50,000; 2,000 gives CIs stable to about 1% of
            their width and keeps a report of dozens of cells within seconds).
        confidence: coverage of the interval.
        seed: seeds the bootstrap; the same seed and data give the same intervals.
        gamma: optimality-gap threshold (for Adam-normalised scores 1 means "as good as Adam").
    """
    from rliable import library

    unknown = [m for m in metrics if m not in METRICS + EXTRA_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; allowed: {', '.join(METRICS + EXTRA_METRICS)}")
    fns = _metric_fns(gamma)
    chosen = [fns[m] for m in metrics]

    def func(x: np.ndarray) -> np.ndarray:
        return np.array([f(x) for f in chosen])

    out: dict[str, dict[str, Interval]] = {}
    # One call per algorithm, each reseeded: an algorithm's CI does not depend on which others are present.
    for name, s in scores.items():
        with seeded(seed):
            point, ci = library.get_interval_estimates(
                {name: as_matrix(s)}, func, reps=reps, confidence_interval_size=confidence
            )
        out[name] = {
            m: Interval(float(point[name][i]), float(ci[name][0][i]), float(ci[name][1][i]))
            for i, m in enumerate(metrics)
        }
    return out


def probability_of_improvement(
    x: np.ndarray,
    y: np.ndarray,
    *,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """P(X > Y): probability that a run of X beats a run of Y on a task, averaged over tasks.

    ``x`` and ``y`` are ``(num_runs, num_tasks)`` (run counts may differ); the CI resamples each
    independently within each task (rliable's ``StratifiedIndependentBootstrap``).
    """
    from rliable import library, metrics

    x, y = as_matrix(x), as_matrix(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"X and Y must cover the same tasks: {x.shape[1]} vs {y.shape[1]} columns")
    with seeded(seed):
        point, ci = library.get_interval_estimates(
            {"p": [x, y]},
            lambda a, b: np.array([metrics.probability_of_improvement(a, b)]),
            reps=reps,
            confidence_interval_size=confidence,
        )
    return Interval(float(point["p"][0]), float(ci["p"][0][0]), float(ci["p"][1][0]))


def normalise(scores: np.ndarray, baseline: float | np.ndarray) -> np.ndarray:
    """Divides each task's column by its baseline return (e.g. Adam's mean return on that env).

    The paper normalises by Adam (Fig. 3: 1.0 = Adam). A zero or non-finite baseline cannot normalise:
    it raises instead of silently producing inf.
    """
    s = as_matrix(scores)
    b = np.broadcast_to(np.asarray(baseline, dtype=np.float64), (s.shape[1],))
    if not np.all(np.isfinite(b)) or np.any(b == 0):
        raise ValueError(f"cannot normalise by baseline {b.tolist()}: must be finite and non-zero")
    return s / b[None, :]


def iqm(x: np.ndarray | Sequence[float]) -> float:
    """Interquartile mean of all values (rliable's ``aggregate_iqm``, a 25% trimmed mean)."""
    from rliable import metrics

    return float(metrics.aggregate_iqm(as_matrix(x)))


__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_REPS",
    "METRICS",
    "Interval",
    "as_matrix",
    "interval_estimates",
    "iqm",
    "normalise",
    "probability_of_improvement",
    "seeded",
]
