"""Every registered evolution strategy (``es=<name>``) behaves as meta-training needs.

On the fake task of tests/test_meta.py (final return = -||theta - target||^2, seven meta-parameters), each
strategy: moves its mean toward higher return; leaves the mean in place when every member ties (evosax's
rank-weight shaping would otherwise take a step of sum(z)); compiles one generation program and never
again; restores from an Orbax checkpoint into the very same program and numbers; reports es/sigma as the
mean sigma. The config group composes with any experiment and refuses bad values naming the field. Real
runs (Breakout PPO + OPEN) per strategy: the tiny generation in ``test_strategy_runs_a_real_generation``;
SIGKILL + resume in tests/test_meta_resume.py (slow); the sharded population in
``test_sharded_population_equals_unsharded`` (tests/test_meta.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from omegaconf import open_dict

from openrl.config import ConfigError, load_config, meta_job
from openrl.config.compose import resolve
from openrl.config.registry import ES_STRATEGIES
from openrl.meta.checkpoints import MetaCheckpointer
from openrl.meta.strategies import ESAlgorithm
from test_meta import TINY, _generations, _leaves_equal, fake_meta

STRATEGIES = ES_STRATEGIES.names()
O0 = {"xla_backend_optimization_level": 0}


def test_the_four_strategies_are_registered_with_open_es_the_default():
    assert set(STRATEGIES) >= {"open_es", "pgpe", "snes", "sep_cma_es"}
    _, cfg = load_config(["experiment=single_breakout"])
    assert cfg.es.strategy == "open_es" and type(cfg.es).__name__ == "OpenESConfig"
    # the paper's Table 7 row for this experiment still reaches open_es
    assert (cfg.es.sigma_init, cfg.es.sigma_decay, cfg.es.lr, cfg.es.lr_decay) == (0.03, 0.999, 0.03, 0.999)
    assert (cfg.es.population_size, cfg.es.num_generations, cfg.es.adam_b1) == (64, 500, 0.99)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategy_moves_toward_higher_return(strategy):
    gens, gen = _generations(fake_meta(target=1.0, strategy=strategy, population_size=16), 30)
    dist = [float(np.linalg.norm(np.asarray(s.mean) - 1.0)) for s, *_ in gens]
    dist.append(float(np.linalg.norm(np.asarray(gens[-1][2].mean) - 1.0)))
    assert dist[-1] < dist[0] - 0.3, dist  # from |0 - 1| * sqrt(7) = 2.65
    assert gen._cache_size() == 1  # thirty generations, one program


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_all_tied_population_leaves_the_mean_in_place(strategy):
    """Every member fails (NaN): no signal, so the mean must not move, for every shaping function."""
    meta = fake_meta(bad=((0, jnp.nan),), strategy=strategy, population_size=4, sigma_init=1e-3)
    state = meta.init(jax.random.PRNGKey(0), mean={"a": jnp.ones(3), "b": jnp.ones((2, 2))})
    new, m = jax.jit(meta.generation)(state, jax.random.PRNGKey(3))
    assert int(m["nan_count"]) == 4
    np.testing.assert_array_equal(np.asarray(new.mean), np.asarray(state.mean))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_generations_do_not_recompile_and_a_restored_state_runs_the_same_program(strategy, tmp_path):
    meta = fake_meta(strategy=strategy)
    gen = jax.jit(meta.generation)
    state0 = meta.init(jax.random.PRNGKey(0))
    state, _ = gen(state0, jax.random.PRNGKey(1))
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for g in (2, 3):
            state, m = gen(state, jax.random.PRNGKey(g))
        jax.block_until_ready(state)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == [] and gen._cache_size() == 1
    assert int(state.generation_counter) == 3
    ckpt = MetaCheckpointer(tmp_path / "ck")
    ckpt.save(3, state, {"generation": 3}, {"seed": 0})
    restored, host, step = ckpt.restore_latest(state0, {"seed": 0})
    ckpt.close()
    assert step == 3 and host == {"generation": 3}
    _leaves_equal(restored, state)
    avals = lambda t: [(x.dtype, x.shape, x.weak_type) for x in jax.tree.leaves(t)]  # noqa: E731
    assert avals(restored) == avals(state) == avals(state0)
    key = jax.random.PRNGKey(4)
    assert gen.lower(restored, key).as_text() == gen.lower(state0, key).as_text()
    _leaves_equal(gen(restored, key), gen(state, key))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_sigma_metric_is_the_mean_sigma(strategy):
    meta = fake_meta(strategy=strategy, sigma_init=0.2)
    state = meta.init(jax.random.PRNGKey(0))
    _, m = jax.jit(meta.generation)(state, jax.random.PRNGKey(1))
    assert float(m["sigma"]) == pytest.approx(float(np.mean(np.asarray(state.std))))
    assert float(m["sigma"]) == pytest.approx(0.2)  # before the first tell: sigma_init
    assert ("lr" in m) == (ESAlgorithm.lr(state) is not None)


def test_pgpe_steps_are_not_capped_by_clipup():
    """evosax's PGPE default (ClipUp, max_velocity 0.02) would cap ||step|| at 0.02; openrl uses Adam."""
    meta = fake_meta(strategy="pgpe", lr=0.1, sigma_init=0.1)
    gens, _ = _generations(meta, 1)
    step = np.asarray(gens[0][2].mean) - np.asarray(gens[0][0].mean)
    assert np.linalg.norm(step) > 0.1  # Adam's first step: ~lr per coordinate, sqrt(7) * 0.1 in norm


@pytest.mark.parametrize("strategy", ["pgpe", "snes", "sep_cma_es"])
def test_strategy_composes_with_every_budget_of_an_experiment(strategy):
    for budget in ("paper", "smoke", "small", "cpu"):
        _, cfg = load_config(["experiment=ablation_breakout", f"es={strategy}", f"budget={budget}"])
        assert cfg.es.strategy == strategy, budget
    _, cfg = load_config(["experiment=ablation_breakout", f"es={strategy}", "budget=smoke"])
    assert (cfg.es.population_size, cfg.es.num_generations) == (4, 2)  # the budget's common fields


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["es=pgpe", "es.population_size=5"], "es.population_size=5: PGPE samples antithetic pairs"),
        (["es=pgpe", "es.std_max_change=1.5"], "es.std_max_change=1.5"),
        (["es=snes", "es.lr_std=-1"], "es.lr_std=-1.0"),
        (["es=snes", "es.lr_decay=0"], "es.lr_decay=0.0: must lie in (0, 1]"),
        (["es=sep_cma_es", "es.elite_ratio=0.01"], "es.elite_ratio=0.01: selects no member"),
        (["es=sep_cma_es", "es.c_mean=nan"], "es.c_mean"),
        (["es=snes", "meta.antithetic_task_sampling=true"], "needs an ES with antithetic pairs (es=snes"),
        (["es=typo"], "es"),
    ],
)
def test_bad_strategy_values_fail_at_start_up_naming_the_field(overrides, expected):
    with pytest.raises(Exception) as e:
        load_config(["experiment=single_breakout", *overrides])
    assert expected in str(e.value)


def _with_snes_budget(overrides: list[str]):
    """ablation_breakout's cpu preset, edited to run SNES with lr_std 0.2, resolved with ``overrides``."""
    dcfg, _ = load_config(overrides)
    with open_dict(dcfg):
        dcfg.budgets.cpu["es"] = "snes"
        dcfg.budgets.cpu["es.lr_std"] = 0.2
        del dcfg.budgets.cpu["es.sigma_decay"]  # open_es's: a preset's es.* values are its strategy's
    return resolve(dcfg, overrides)[0]


def test_a_budget_preset_may_run_another_strategy_and_the_command_line_wins():
    base = ["experiment=ablation_breakout", "budget=cpu"]
    cfg = _with_snes_budget(base)
    assert cfg.es.strategy == "snes" and cfg.es.lr_std == 0.2 and cfg.es.population_size == 8
    cfg = _with_snes_budget([*base, "es=pgpe"])  # explicit es= wins; snes's lr_std does not apply to PGPE
    assert cfg.es.strategy == "pgpe" and cfg.es.sigma_init == 0.1 and cfg.es.population_size == 8
    dcfg, _ = load_config(base)
    with open_dict(dcfg):
        dcfg.budgets.cpu["es"] = "snes"  # but still carrying open_es's sigma_decay: refused, naming it
    with pytest.raises(ConfigError, match="budgets.cpu: Key 'sigma_decay' not in 'SNESConfig'"):
        resolve(dcfg, base)
    with pytest.raises(ConfigError, match="es_settings.open_es.nope: not a setting of es=open_es"):
        load_config(["experiment=ablation_breakout", "+es_settings.open_es.nope=1"])


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s != "open_es"])
def test_strategy_runs_a_real_generation(strategy):
    """Breakout PPO + OPEN, population 4: members differ, the mean moves, everything stays finite."""
    from openrl.jobs.meta import build_meta

    overrides = [*TINY, f"es={strategy}"]
    _, cfg = load_config(overrides)
    meta = build_meta(meta_job(cfg, overrides))
    state0 = meta.init(jax.random.PRNGKey(0))
    state1, m = jax.jit(meta.generation, compiler_options=O0)(state0, jax.random.PRNGKey(1))
    raw = np.asarray(m["raw"])
    assert raw.shape == (4, 1) and np.all(np.isfinite(raw)) and len(np.unique(raw)) > 1
    assert not np.array_equal(np.asarray(state1.mean), np.asarray(state0.mean))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state1))
