"""Learning diagnostics, warm starts and the ES mean's initialisation (openrl.meta.diagnostics, .init).

* The update-ratio probe measures what it claims: Adam against itself gives exactly 1, zero
  meta-parameters give exactly 0.
* A zero-start smoke run (the real job, tiny PPO) writes ``diag/theta_abs_mean`` and
  ``diag/update_ratio`` to metrics.jsonl, draws tuned Adam's level, and logs the plateau warning once.
* ``meta.init_weights`` with a released optimizer starts the ES mean there: generation-0 validation equals
  evaluating that file directly; a file of the other OPEN size is refused naming both sizes; NaN is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest

from openrl.builders import build_trainer
from openrl.config import ConfigError, load_config, meta_job
from openrl.meta.diagnostics import Baseline, Diagnostics, UpdateRatioProbe
from openrl.meta.init import initial_mean, random_meta_params
from openrl.optimizers.weights import WeightsError
from openrl.ppo.train import PPOTrainer
from tiny import TINY_PPO

SHARED = Path(os.environ.get("OPENRL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
PRETRAINED = SHARED / "reference" / "pretrained"
needs_weights = pytest.mark.skipif(
    not (PRETRAINED / "breakout_OPEN.npy").is_file(),
    reason=f"released weights fixtures not found under {PRETRAINED}",
)
SMOKE = ["experiment=ablation_breakout", "budget=smoke", "logger=disabled", "progress=false", *TINY_PPO]


def _meta(overrides: list[str]):
    from openrl.jobs.meta import build_meta

    _, cfg = load_config(overrides)
    return cfg, build_meta(meta_job(cfg, overrides))


def test_probe_of_adam_against_itself_is_one_and_of_zero_open_is_zero():
    _, adam = load_config(["experiment=ppo", "env=breakout", "optimizer=adam", *TINY_PPO])
    trainer, rp, hp = build_trainer(adam)
    same = PPOTrainer(trainer.static, trainer.env, UpdateRatioProbe(trainer.rule, trainer.rule))
    state, _ = same.run(same.init(jax.random.PRNGKey(0)), (rp, rp), hp, 2)
    sums = np.asarray(state.opt_state[2])
    assert sums[0] > 0 and sums[0] == sums[1]

    cfg, meta = _meta(SMOKE)
    diag = Diagnostics(meta.tasks, [Baseline(trainer, rp, hp)], probe_updates=2, probe_seeds=2)
    zero = meta.mean_params(meta.init(jax.random.PRNGKey(0)))
    assert diag.update_ratio(zero, jax.random.PRNGKey(1)).tolist() == [0.0]
    rnd = random_meta_params(meta.tasks[0].trainer.rule, jax.random.PRNGKey(3))
    ratio = float(diag.update_ratio(rnd, jax.random.PRNGKey(1))[0])
    assert 0.01 < ratio < 100  # the flax initialisation moves the agent at Adam's order of magnitude


# The smoke run also picks its finished optimizer with meta.selection=top_k (checked at the end): one
# compiled meta-training run serves both tests.
SMOKE_TOP_K = [*SMOKE, "meta.selection=top_k", "meta.selection_top_k=2", "meta.selection_seeds=2"]


def test_zero_start_smoke_run_logs_diagnostics_and_warns_once(tmp_path, caplog):
    from omegaconf import OmegaConf

    from openrl.config import apply_budget
    from openrl.jobs import meta as setup

    raw, cfg = load_config(SMOKE_TOP_K)
    resolved = OmegaConf.to_container(apply_budget(raw, SMOKE_TOP_K), resolve=True)
    with caplog.at_level("WARNING"):
        setup.run(meta_job(cfg, SMOKE_TOP_K), tmp_path, resolved)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    theta = [r["diag/theta_abs_mean"] for r in rows if "diag/theta_abs_mean" in r]
    ratios = [r["diag/update_ratio"] for r in rows if "diag/update_ratio" in r]
    assert len(theta) == cfg.es.num_generations == 2 and all(0 <= t < 0.05 for t in theta)
    assert len(ratios) == 3 and ratios[0] == 0.0 and all(r < 0.05 for r in ratios)
    assert any("val/adam_score" in r for r in rows)
    assert sum("zero-start plateau" in rec.message for rec in caplog.records) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["plateau_warned"] and summary["adam_validation"]["score"] > 0
    assert [f[0] for f in summary["fitness_history"]] == [1, 2]
    final = summary["final_evaluation"]["breakout"]
    assert set(final["intervals"]) >= {"Adam (tuned)"} and "p_learned_beats_adam" in final
    assert (tmp_path / "validation.png").stat().st_size > 0
    assert summary["wall_s_with_final_evaluation"] >= summary["wall_s"] > 0 and summary["cpu_s"] > 0
    # the summary schema every job writes: openrl-report reads the finished optimizer and Adam from it
    from openrl.eval.records import load_job

    recs = {r.label: r for r in load_job(tmp_path)}
    assert set(recs) == {cfg.optimizer.name, "adam"} and all(r.env == "breakout" for r in recs.values())
    assert recs["adam"].final_return.tolist() == final["adam_final_return"]
    assert recs[cfg.optimizer.name].final_return.tolist() == final["learned_final_return"]

    # benchmarks.meta_result records what the run measured, without recomputing anything
    from benchmarks.meta_result import record

    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in SMOKE))
    (tmp_path / "metadata.json").write_text('{"device": "CPU"}')
    rec = record(tmp_path)
    assert rec["command"].startswith("openrl-train experiment=ablation_breakout budget=smoke")
    assert [v["generation"] for v in rec["validation"]] == [0, 1, 2]
    assert rec["adam_mean"]["breakout"] == final["adam_mean"]
    assert rec["final_evaluation"]["breakout"]["adam_iqm"] == final["intervals"]["Adam (tuned)"]["iqm"]

    from test_selection import check_top_k_run

    check_top_k_run(tmp_path, cfg, SMOKE_TOP_K, summary)


@needs_weights
def test_warm_start_from_released_weights_validates_like_the_file(tmp_path):
    path = str(PRETRAINED / "breakout_OPEN.npy")
    cfg, meta = _meta([*SMOKE, f"meta.init_weights={path}"])
    mean, described = initial_mean(cfg.meta, meta.tasks[0].trainer.rule, meta.solution, cfg.seed)
    assert described.startswith("weights")
    state = meta.init(jax.random.PRNGKey(0), mean)
    np.testing.assert_array_equal(np.asarray(state.mean), np.load(path))
    key = jax.random.PRNGKey(5)
    from_es = np.asarray(jax.jit(lambda rp: meta.validate(rp, key, 2))(meta.mean_params(state)))
    _, direct_cfg = load_config(
        ["experiment=ablation_breakout", "budget=smoke", *TINY_PPO, "mode=ppo", f"optimizer.weights={path}"]
    )
    trainer, rp, hp = build_trainer(direct_cfg)
    keys = jax.random.split(jax.random.fold_in(key, 0), 2)
    direct = np.asarray(jax.jit(jax.vmap(lambda k: trainer.train(k, rp, hp)[1]["final_return"][-1]))(keys))
    np.testing.assert_array_equal(from_es[:, 0], direct)


@needs_weights
def test_warm_start_of_the_wrong_size_names_both_sizes():
    cfg, meta = _meta([*SMOKE, f"meta.init_weights={PRETRAINED / 'multi_OPEN.npy'}"])
    with pytest.raises(WeightsError) as e:
        initial_mean(cfg.meta, meta.tasks[0].trainer.rule, meta.solution, cfg.seed)
    assert "3571" in str(e.value) and "1211" in str(e.value)


def test_warm_start_refuses_nan_and_reads_a_run_directory(tmp_path):
    cfg, meta = _meta(SMOKE)
    rule = meta.tasks[0].trainer.rule
    bad = np.zeros(rule.num_meta_params, np.float32)
    bad[3] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    _, cfg = load_config([*SMOKE, f"meta.init_weights={tmp_path / 'bad.npy'}"])
    with pytest.raises(WeightsError, match="non-finite"):
        initial_mean(cfg.meta, rule, meta.solution, cfg.seed)
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    good = np.arange(rule.num_meta_params, dtype=np.float32) / 1e4
    np.save(run / "best" / "optimizer.npy", good)
    _, cfg = load_config([*SMOKE, f"meta.init_weights={run}"])
    mean, _ = initial_mean(cfg.meta, rule, meta.solution, cfg.seed)
    np.testing.assert_array_equal(np.asarray(meta.init(jax.random.PRNGKey(0), mean).mean), good)


def test_random_init_is_seeded_scaled_and_shaped_like_the_solution():
    cfg, meta = _meta([*SMOKE, "meta.init=random", "meta.init_scale=0.5"])
    rule = meta.tasks[0].trainer.rule
    a, described = initial_mean(cfg.meta, rule, meta.solution, seed=0)
    b, _ = initial_mean(cfg.meta, rule, meta.solution, seed=0)
    c, _ = initial_mean(cfg.meta, rule, meta.solution, seed=1)
    assert "x 0.5" in described
    assert jax.tree.structure(a) == jax.tree.structure(meta.solution)
    flat = lambda t: np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])  # noqa: E731
    assert np.array_equal(flat(a), flat(b)) and not np.array_equal(flat(a), flat(c))
    full = random_meta_params(rule, jax.random.fold_in(jax.random.PRNGKey(0), 0x1A17), 1.0)
    np.testing.assert_allclose(flat(a), 0.5 * flat(full), rtol=1e-6)


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["meta.init=ones"], "meta.init='ones': allowed values are zeros, random, weights"),
        (["meta.init=weights"], "meta.init=weights needs meta.init_weights"),
        (["meta.init_weights=/no/such/file.npy"], "meta.init_weights='/no/such/file.npy': no such file"),
        (["meta.init_scale=0"], "meta.init_scale=0.0: must be a finite number > 0"),
        (["budget=cpu", "+budgets.cpu.unknown_key=1"], "budgets.cpu.unknown_key: unknown"),
    ],
)
def test_bad_meta_init_config_names_the_field(overrides, expected):
    with pytest.raises(ConfigError) as e:
        load_config(["experiment=ablation_breakout", *overrides])
    assert expected in str(e.value)


def test_cpu_budget_changes_only_what_it_says():
    _, paper = load_config(["experiment=ablation_breakout"])
    _, cpu = load_config(["experiment=ablation_breakout", "budget=cpu"])
    assert (paper.es.sigma_init, paper.es.lr, paper.es.population_size) == (0.03, 0.03, 64)  # faithful
    assert (cpu.es.sigma_init, cpu.es.lr, cpu.es.sigma_decay, cpu.es.lr_decay) == (0.1, 0.1, 0.99, 0.99)
    assert cpu.es.population_size == 8 and cpu.ppo.total_timesteps == paper.ppo.total_timesteps == 200_000
    assert paper.meta.init is None  # the paper's zero start
    assert cpu.meta.init == "random"  # the race's winner (docs/meta-training.md)
    # a warm start on the command line replaces the preset's start; an explicit meta.init wins as usual
    warm = ["experiment=ablation_breakout", "budget=cpu", "meta.init_weights=pretrained:breakout_OPEN"]
    _, started = load_config(warm)
    assert started.meta.init is None and started.meta.init_weights == "pretrained:breakout_OPEN"
    _, zeros = load_config(["experiment=ablation_breakout", "budget=cpu", "meta.init=zeros"])
    assert zeros.meta.init == "zeros"
