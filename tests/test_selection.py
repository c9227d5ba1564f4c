"""meta.selection: every validated ES mean is kept, and top_k re-runs the best few on fresh seeds."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from openrl.config import ConfigError, load_config, meta_job
from openrl.meta import selection
from openrl.optimizers.weights import export_optimizer
from tiny import TINY_PPO

SMOKE = ["experiment=ablation_breakout", "budget=smoke", "logger=disabled", "progress=false", *TINY_PPO]


def _write(run_dir, generation: int, returns: list[list[float]]) -> None:
    score = float(np.mean(returns))
    export_optimizer(
        run_dir / selection.VALIDATED_DIR / f"gen{generation:05d}",
        np.full(3, generation, np.float32),
        {"generation": generation, "validation_score": score, "validation_returns": returns},
    )


def test_top_k_re_runs_the_best_validated_and_picks_by_all_their_seeds(tmp_path):
    # validation (2 seeds): gen 0 -> 1, gen 5 -> 9 (lucky), gen 10 -> 8, gen 15 -> 8 (tie with gen 10)
    for g, r in [(0, [[1.0], [1.0]]), (5, [[9.0], [9.0]]), (10, [[8.0], [8.0]]), (15, [[7.0], [9.0]])]:
        _write(tmp_path, g, r)
    (tmp_path / selection.VALIDATED_DIR / "gen00020").mkdir()  # interrupted while written: skipped
    cands = selection.load_validated(tmp_path)
    assert [c.generation for c in cands] == [0, 5, 10, 15]
    assert [c.generation for c in selection.top_k(cands, 3)] == [5, 15, 10]  # tie: the later generation
    fresh = {5: 2.0, 10: 7.0, 15: 6.0}  # on fresh seeds gen 5 falls back: it was lucky
    seen = []

    def fresh_returns(flat):
        g = int(flat[0])
        seen.append(g)
        return np.full((6, 1), fresh[g])

    chosen, table = selection.select_top_k(cands, 3, fresh_returns, np.ones(1))
    assert sorted(seen) == [5, 10, 15] and chosen.generation == 10
    np.testing.assert_array_equal(chosen.flat, np.full(3, 10, np.float32))
    rows = {r["generation"]: r for r in table["candidates"]}
    assert rows[5]["score"] == pytest.approx((2 * 9 + 6 * 2) / 8) and rows[10]["score"] == 7.25
    assert rows[15]["fresh_score"] == 6.0 and rows[15]["seeds"] == 8
    with pytest.raises(ValueError, match="no validated ES means"):
        selection.select_top_k([], 3, fresh_returns, np.ones(1))


@pytest.mark.parametrize(
    "override, message",
    [
        ("meta.selection=topk", "meta.selection='topk': allowed values are best_validated, top_k"),
        ("meta.selection_top_k=0", "meta.selection_top_k=0"),
        ("meta.selection_seeds=-1", "meta.selection_seeds=-1"),
    ],
)
def test_bad_selection_settings_fail_at_start_up(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config([*SMOKE, override])


def check_top_k_run(run_dir, cfg, overrides: list[str], summary: dict) -> None:
    """A finished ``meta.selection=top_k`` run (``selection_top_k=2``, ``selection_seeds=2``): every validated
    mean was kept and ``best/`` is the re-run winner, whose recorded fresh score re-running reproduces.
    Called by tests/test_meta_diagnostics.py on its smoke run (one compiled meta-training run for both)."""
    from openrl.jobs.meta import build_meta

    cands = selection.load_validated(run_dir)
    assert [c.generation for c in cands] == [h["generation"] for h in summary["validation"]] == [0, 1, 2]
    assert [c.score for c in cands] == [h["score"] for h in summary["validation"]]
    assert all(c.returns.shape == (cfg.meta.validation_seeds, 1) for c in cands)

    table = json.loads((run_dir / "selection.json").read_text())
    assert table == summary["selection"] and len(table["candidates"]) == 2
    chosen = table["chosen_generation"]
    assert chosen in [c.generation for c in selection.top_k(cands, 2)]
    best = np.load(run_dir / "best" / "optimizer.npy")
    np.testing.assert_array_equal(best, next(c.flat for c in cands if c.generation == chosen))
    assert json.loads((run_dir / "best" / "meta.json").read_text())["generation"] == chosen
    assert "learned (selected)" in summary["final_evaluation"]["breakout"]["intervals"] or np.array_equal(
        best, np.load(run_dir / "latest" / "optimizer.npy")
    )

    # the fresh seeds are PRNGKey(30000 + seed): re-running the winner there gives the recorded score
    meta = build_meta(meta_job(cfg, overrides))
    key = jax.random.PRNGKey(selection.SELECTION_KEY_BASE + cfg.seed)
    rp = meta.strategy._unravel_solution(jax.numpy.asarray(best))
    again = np.asarray(meta.validate(rp, key, 2))
    row = next(r for r in table["candidates"] if r["generation"] == chosen)
    assert float(np.mean(again)) == pytest.approx(row["fresh_score"], rel=1e-6)


def test_selection_benchmark_rules_pick_what_they_should():
    from benchmarks.selection import picks, summarise

    def row(g, val, extra, truth):
        return {"generation": g, "validation": [val] * 8, "extra": [extra] * 24, "truth": [truth] * 4}

    # gen 10: lucky on the 8 validation seeds; gen 20: best on extra and truth; gen 30: last, middling
    doc = {
        "run": "r",
        "command": "c",
        "candidates": [row(10, 9.0, 1.0, 1.0), row(20, 6.0, 8.0, 8.0), row(30, 5.0, 5.0, 5.0)],
        "adam_truth": [4.0] * 4,
        "cpu_s": 1.0,
    }
    chosen = picks(doc)
    # best_of_16: gen 10 (9*8+1*8)/16 = 5.0 < gen 20 (6*8+8*8)/16 = 7.0
    assert chosen == {
        "best_of_8": 10,
        "best_of_16": 20,
        "best_of_32": 20,
        "top3_rerun_16": 20,
        "last": 30,
        "oracle": 20,
    }
    table = summarise([doc])["rules"]
    assert table["best_of_8"]["mean_regret"] == 7.0 and table["best_of_8"]["beats_adam"] == 0
    assert table["top3_rerun_16"]["mean_truth_over_adam"] == 2.0 and table["oracle"]["picks_oracle"] == 1
