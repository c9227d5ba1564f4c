"""Which validated ES mean becomes the finished optimizer (``meta.selection``).

Meta-training validates the ES mean every ``eval_every`` generations on ``validation_seeds`` seeds and
keeps every validated mean (``validated/gen<g>/``, a few KB each). Picking the best of ~10 noisy 8-seed
scores selects noise as much as skill: the winner's score is biased up, and a mean that was merely lucky
on those 8 seeds can win. The rules:

* ``best_validated`` (the authors' rule): the best validation score.
* ``top_k``: the ``selection_top_k`` best validated means are run again on ``selection_seeds`` fresh
  seeds (the same seeds for every candidate, drawn from :data:`SELECTION_KEY_BASE` + the run's seed, a
  stream no other key of the run uses); the best mean return over validation and fresh seeds together
  wins. It costs ``selection_top_k x selection_seeds`` inner runs, once, at the end.

``benchmarks/selection.py`` measures what each rule picks against the truth on many more seeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from openrl.optimizers.weights import META_FILE, OPTIMIZER_FILE

VALIDATED_DIR = "validated"  # one optimizer directory per validated generation: gen00005/, ...
SELECTION_KEY_BASE = 30_000  # fresh seeds: PRNGKey(SELECTION_KEY_BASE + seed)


@dataclass(frozen=True)
class Candidate:
    """One validated ES mean: its generation, flat meta-parameters and validation returns (seeds, tasks)."""

    generation: int
    flat: np.ndarray
    returns: np.ndarray
    score: float


def load_validated(run_dir: Path) -> list[Candidate]:
    """Every validated ES mean a run kept, in generation order (an unreadable entry is skipped: it can
    only be a directory a SIGKILL interrupted while it was written, and the mean is validated again)."""
    out = []
    for d in sorted((Path(run_dir) / VALIDATED_DIR).glob("gen*")):
        try:
            meta = json.loads((d / META_FILE).read_text())
            flat = np.load(d / OPTIMIZER_FILE)
        except (OSError, ValueError):
            continue
        returns = np.asarray(meta["validation_returns"], np.float64)
        out.append(Candidate(int(meta["generation"]), flat, returns, float(meta["validation_score"])))
    return out


def top_k(candidates: list[Candidate], k: int) -> list[Candidate]:
    """The ``k`` best validation scores (ties: the later generation, the one trained longer)."""
    return sorted(candidates, key=lambda c: (c.score, c.generation), reverse=True)[:k]


def select_top_k(
    candidates: list[Candidate],
    k: int,
    fresh_returns: Callable[[np.ndarray], np.ndarray],
    normalisers: np.ndarray,
) -> tuple[Candidate, dict[str, Any]]:
    """Re-runs the top ``k`` on fresh seeds (``fresh_returns(flat) -> (seeds, tasks)``) and returns the
    best by its normalised mean over validation and fresh seeds, with a table of every candidate."""
    if not candidates:
        raise ValueError("meta.selection=top_k: the run kept no validated ES means to choose from")
    rows = []
    for c in top_k(candidates, k):
        fresh = np.asarray(fresh_returns(c.flat), np.float64)
        both = np.concatenate([c.returns, fresh], axis=0)
        rows.append(
            {
                "generation": c.generation,
                "validation_score": c.score,
                "fresh_score": float(np.mean(fresh / normalisers)),
                "score": float(np.mean(both / normalisers)),
                "seeds": int(both.shape[0]),
            }
        )
    best = max(rows, key=lambda r: (r["score"], r["generation"]))
    chosen = next(c for c in candidates if c.generation == best["generation"])
    return chosen, {"rule": "top_k", "k": k, "chosen_generation": chosen.generation, "candidates": rows}
