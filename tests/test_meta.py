"""ES meta-training (openrl.meta): fitness sign and shaping, non-finite members, no recompilation,
chunked == vmapped population, sharded == unsharded, checkpoints, W&B id, experiment configs, and
start-up validation of bad ES configs.

Compilation dominates on small CPUs. The ES arithmetic, the job loop (interrupt + resume) and sharding
are tested on a fake task whose "final return" is a known function of the meta-parameters (compiles in
about a second); one tiny real Breakout PPO + OPEN program (``tiny`` fixture) is compiled once per
module and shared by the no-recompilation and chunking tests. Slow (``-m slow``): one tiny generation of
every meta experiment, and sharding of the real program. The CLI end-to-end runs (SIGKILL and resume,
corrupt checkpoints, refused configs) are in tests/test_meta_resume.py (slow).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType, SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from openrl.config import CONF_DIR, ConfigError, load_config, meta_job
from openrl.config.registry import ES_STRATEGIES
from openrl.config.schema import LoggerConfig, OpenESConfig, PGPEConfig
from openrl.meta import fitness as F
from openrl.meta.checkpoints import MetaCheckpointer, config_differences
from openrl.meta.strategies import SHAPING
from openrl.meta.trainer import MetaTrainer, Task
from openrl.runs.checkpoint import CheckpointError
from tiny import TINY_META, TINY_PPO

O0 = {"xla_backend_optimization_level": 0}
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
META_EXPERIMENTS = [
    e
    for e in EXPERIMENTS
    if yaml.safe_load((CONF_DIR / "experiment" / f"{e}.yaml").read_text()).get("mode") == "meta"
]


def _leaves_equal(a, b) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))  # bitwise (NaN == NaN)


# -- a fake task: final return = -||theta - target||^2, optionally non-finite in a region ----------------
SOLUTION = {"a": np.zeros(3, np.float32), "b": np.zeros((2, 2), np.float32)}  # 7 meta-parameters
DIMS = 7


class FakeTrainer:
    """Stands in for PPOTrainer: ``train(key, rule_params, hp) -> (state, {"final_return": (updates,)})``."""

    def __init__(self, target: float, bad: tuple[tuple[int, float], ...] = ()):
        self.target = target
        self.bad = bad  # (coordinate i, value): members with theta[i] > 0 return `value`

    def train(self, key, rule_params, hp):
        flat = jnp.concatenate([x.ravel() for x in jax.tree.leaves(rule_params)])
        f = -jnp.sum((flat - self.target) ** 2)
        for i, value in self.bad:
            f = jnp.where(flat[i] > 0, value, f)
        return None, {"final_return": jnp.stack([jnp.zeros_like(f), f])}  # the last update counts


def fake_meta(
    target=1.0, bad=(), ats=False, mesh=None, population_chunk=None, strategy="open_es", **es
) -> MetaTrainer:
    """A MetaTrainer of ``strategy`` (any registered ES) on the fake task; ``es`` overrides its fields."""
    schema = ES_STRATEGIES[strategy].schema
    base = {"population_size": 8, "sigma_init": 0.1}
    if schema in (OpenESConfig, PGPEConfig):
        base["lr"] = 0.05
    es_cfg = schema(**{**base, **es})
    task = Task("fake", FakeTrainer(target, bad), None, 1.0)
    return MetaTrainer(
        [task], SOLUTION, es_cfg, population_chunk=population_chunk, mesh=mesh, antithetic_task_sampling=ats
    )


def _generations(meta: MetaTrainer, n: int, seed: int = 0):
    gen = jax.jit(meta.generation)
    state = meta.init(jax.random.PRNGKey(seed))
    out = []
    for g in range(n):
        key = jax.random.fold_in(jax.random.PRNGKey(1), g)
        k_ask = jax.random.split(key, 3)[0]  # as in MetaTrainer.generation
        population, _ = meta.strategy.ask(k_ask, state, meta.es_params)
        new, m = gen(state, key)
        out.append((state, population, new, jax.device_get(m)))
        state = new
    return out, gen


# -- fitness sign and shaping ------------------------------------------------------------------------------
def test_to_minimise_flips_sign_and_makes_non_finite_worst():
    fit = jnp.asarray([1.0, 3.0, jnp.nan, jnp.inf, -jnp.inf, -2.0])
    m, n = F.to_minimise(fit)
    np.testing.assert_array_equal(np.asarray(m), [-1.0, -3.0, np.inf, np.inf, np.inf, 2.0])
    assert int(n) == 3
    # finite=True (identity shaping): non-finite members get the worst finite value, never inf/NaN
    m, n = F.to_minimise(fit, finite=True)
    np.testing.assert_array_equal(np.asarray(m), [-1.0, -3.0, 2.0, 2.0, 2.0, 2.0])
    assert int(n) == 3
    m, n = F.to_minimise(jnp.full(4, jnp.nan), finite=True)
    np.testing.assert_array_equal(np.asarray(m), np.zeros(4))
    assert int(n) == 4


def test_centered_rank_gives_the_best_member_the_most_weight():
    fit = jnp.asarray([0.3, 5.0, jnp.nan, -1.0, 2.0, jnp.inf])  # 5.0 is best; NaN and +inf are failures
    minimised, _ = F.to_minimise(fit)
    shaped = np.asarray(SHAPING["centered_rank"](None, minimised, None, None))
    # evosax descends on sum_i shaped_i * z_i: the most negative weight pulls the mean hardest toward z_i
    assert shaped.argmin() == 1 and shaped[1] == -0.5
    assert np.all((shaped >= -0.5) & (shaped <= 0.5))
    # failures share the worst ranks (tied: averaged), below every finite member
    assert shaped[2] == shaped[5] == shaped.max() and shaped.max() > shaped[[0, 1, 3, 4]].max()
    order = np.argsort(shaped)
    assert list(order[:4]) == [1, 4, 0, 3]  # finite members in decreasing fitness


def test_antithetic_pair_fitness_non_finite_loses():
    fit = jnp.asarray([1.0, jnp.nan, jnp.nan, 2.0, 0.5, 3.0, jnp.inf, 2.0])  # pairs (i, i+4)
    pf = np.asarray(F.antithetic_pair_fitness(fit))
    np.testing.assert_array_equal(pf, [1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5])  # (2, 2) ties


def test_planted_better_member_pulls_the_mean():
    """openrl maximises; evosax minimises; the flip must make the ES move toward higher return."""
    (state0, pop, state1, m) = _generations(fake_meta(target=1.0), 1)[0][0]
    mean0, mean1 = np.asarray(state0.mean), np.asarray(state1.mean)
    step = mean1 - mean0
    flat = np.asarray(jax.vmap(meta_ravel)(pop))
    best, worst = int(np.argmax(m["fitness"])), int(np.argmin(m["fitness"]))
    assert np.dot(step, flat[best] - mean0) > 0  # toward the best member
    assert np.dot(step, flat[worst] - mean0) < 0  # away from the worst
    assert np.dot(step, np.ones(DIMS)) > 0  # toward the target (+1 everywhere)
    assert m["nan_count"] == 0 and np.all(np.isfinite(m["raw"]))
    np.testing.assert_allclose(m["raw"][:, 0], -np.sum((flat - 1.0) ** 2, axis=1), rtol=1e-6)
    np.testing.assert_allclose(m["fitness"], m["raw"][:, 0])  # one task, normaliser 1


def meta_ravel(tree):
    return jnp.concatenate([x.ravel() for x in jax.tree.leaves(tree)])


def test_mirrored_objective_mirrors_the_step_and_es_converges():
    up, _ = _generations(fake_meta(target=1.0), 6)
    down, _ = _generations(fake_meta(target=-1.0), 1)
    step_up = np.asarray(up[0][2].mean) - np.asarray(up[0][0].mean)
    step_down = np.asarray(down[0][2].mean) - np.asarray(down[0][0].mean)
    # antithetic pairs + ranks: the mirrored objective gives exactly the mirrored step
    np.testing.assert_allclose(step_down, -step_up, rtol=1e-6)
    dist = [float(np.linalg.norm(np.asarray(s.mean) - 1.0)) for s, *_ in up] + [
        float(np.linalg.norm(np.asarray(up[-1][2].mean) - 1.0))
    ]
    assert dist[-1] < dist[0] - 0.2, dist  # six generations of lr 0.05 Adam steps toward the target


# -- non-finite fitness -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shaping,ats",
    [("centered_rank", False), ("identity", False), ("identity", True)],
    ids=["rank", "identity", "pairs"],
)
def test_non_finite_members_rank_worst_are_counted_and_the_run_goes_on(shaping, ats):
    # theta[0] > 0 -> NaN, theta[1] > 0 -> +inf (which would be the *best* return if taken at face value);
    # the target lies in that region, so any member the ES trusted there would drag the mean toward it.
    bad = ((1, jnp.inf), (0, jnp.nan))
    gens, gen = _generations(fake_meta(target=1.0, bad=bad, fitness_shaping=shaping, ats=ats), 3)
    for _state, pop, new, m in gens:
        flat = np.asarray(jax.vmap(meta_ravel)(pop))
        n_bad = int(np.sum((flat[:, 0] > 0) | (flat[:, 1] > 0)))
        assert 0 < n_bad < 8
        assert int(m["nan_count"]) == n_bad
        assert int(np.sum(~np.isfinite(m["raw"]))) == n_bad
        assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(new))  # the run goes on
        assert np.all(np.isfinite(m["sigma"])) and np.isfinite(m["mean_abs"])
    first_step = np.asarray(gens[0][2].mean) - np.asarray(gens[0][0].mean)
    # the ES moved away from the failing region although the objective's target lies inside it
    assert first_step[0] < 0 and first_step[1] < 0
    assert gen._cache_size() == 1


def test_all_members_failing_leaves_the_mean_in_place():
    for shaping in ("centered_rank", "identity"):
        meta = fake_meta(bad=((0, jnp.nan),), fitness_shaping=shaping, population_size=4, sigma_init=1e-3)
        state = meta.init(jax.random.PRNGKey(0), mean={"a": jnp.ones(3), "b": jnp.ones((2, 2))})
        new, m = jax.jit(meta.generation)(state, jax.random.PRNGKey(3))
        assert int(m["nan_count"]) == 4
        np.testing.assert_array_equal(np.asarray(new.mean), np.asarray(state.mean))


# -- one tiny real program: Breakout PPO + OPEN, population 4 --------------------------------------------
TINY = TINY_META


@pytest.fixture(scope="module")
def tiny():
    from openrl.jobs.meta import build_meta

    _, cfg = load_config(TINY)
    meta = build_meta(meta_job(cfg, TINY))
    gen = jax.jit(meta.generation, compiler_options=O0)
    state0 = meta.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    state1, m1 = jax.block_until_ready(gen(state0, key))
    return SimpleNamespace(cfg=cfg, meta=meta, gen=gen, state0=state0, key=key, state1=state1, m1=m1)


def test_tiny_generation_is_meaningful(tiny):
    raw = np.asarray(tiny.m1["raw"])
    assert raw.shape == (4, 1) and np.all(np.isfinite(raw))
    assert len(np.unique(raw)) > 1  # members differ, so the equality tests below compare real numbers
    assert not np.array_equal(np.asarray(tiny.state1.mean), np.asarray(tiny.state0.mean))
    assert int(tiny.state1.generation_counter) == 1


def test_generations_do_not_recompile(tiny):
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    state = tiny.state1
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for g in (1, 2):  # generations 2 and 3 (the fixture ran the first)
            state, m = tiny.gen(state, jax.random.fold_in(tiny.key, g))
        jax.block_until_ready(state)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert tiny.gen._cache_size() == 1
    assert compiles == []
    assert int(state.generation_counter) == 3
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state))


def test_restored_state_runs_the_same_program(tmp_path):
    """A resumed run compiles the very program of an uninterrupted one (job.run compiles once, from the
    initial or the restored state), and the compiled program gives the same next generation."""
    meta = fake_meta()
    gen = jax.jit(meta.generation)
    state0 = meta.init(jax.random.PRNGKey(0))
    state, _ = gen(state0, jax.random.PRNGKey(1))
    state, _ = gen(state, jax.random.PRNGKey(2))
    ckpt = MetaCheckpointer(tmp_path / "ck")
    ckpt.save(2, state, {"generation": 2}, {"seed": 0})
    restored, host, step = ckpt.restore_latest(state0, {"seed": 0})
    ckpt.close()
    assert step == 2 and host == {"generation": 2}
    _leaves_equal(restored, state)
    avals = lambda t: [(x.dtype, x.shape, x.weak_type) for x in jax.tree.leaves(t)]  # noqa: E731
    assert avals(restored) == avals(state) == avals(state0)
    key = jax.random.PRNGKey(3)
    assert gen.lower(restored, key).as_text() == gen.lower(state0, key).as_text()
    compiled = gen.lower(state0, key).compile()  # what job.run does
    _leaves_equal(compiled(restored, key), compiled(state, key))
    assert gen._cache_size() == 1


def test_population_chunks_equal_one_vmap(tiny):
    chunked = MetaTrainer(tiny.meta.tasks, tiny.meta.solution, tiny.cfg.es, population_chunk=2)
    state, m = jax.jit(chunked.generation, compiler_options=O0)(tiny.state0, tiny.key)
    _leaves_equal(m["raw"], tiny.m1["raw"])
    _leaves_equal(state, tiny.state1)


SHARD_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, numpy as np
    from jax.sharding import Mesh
    from openrl.config import load_config, meta_job
    from openrl.jobs.meta import build_meta, make_mesh
    from openrl.meta.trainer import MetaTrainer
    assert len(jax.devices()) == 2, jax.devices()
    out_path, mode, tests_dir, TINY = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if mode == "fake":
        sys.path.insert(0, tests_dir)
        from test_meta import fake_meta
        mesh = Mesh(np.asarray(jax.devices()), ("pop",))
        from openrl.config.registry import ES_STRATEGIES
        variants = {}
        for s in ES_STRATEGIES.names():
            p = "" if s == "open_es" else s + "_"
            variants[p + "plain"] = fake_meta(strategy=s)
            variants[p + "sharded"] = fake_meta(mesh=mesh, strategy=s)
            variants[p + "sharded_chunked"] = fake_meta(mesh=mesh, population_chunk=2, strategy=s)
    else:
        _, cfg = load_config(TINY)
        mesh = make_mesh(cfg)  # what `openrl-train` does: meta.shard=true and 2 devices
        assert mesh is not None and mesh.shape == {"pop": 2}, mesh
        variants = {"plain": build_meta(meta_job(cfg, TINY), None), "sharded": build_meta(meta_job(cfg, TINY), mesh)}
        # a population that does not divide over the devices is refused, naming the field
        _, bad = load_config([*TINY, "es.antithetic=false", "es.population_size=3"])
        try:
            make_mesh(bad)
            raise SystemExit("make_mesh accepted population 3 on 2 devices")
        except ValueError as e:
            assert "es.population_size=3" in str(e), e
    out = {}
    for name, meta in variants.items():
        state = meta.init(jax.random.PRNGKey(0))
        gen = jax.jit(meta.generation, compiler_options={"xla_backend_optimization_level": 0})
        for g in range(2 if mode == "fake" else 1):
            state, met = gen(state, jax.random.fold_in(jax.random.PRNGKey(1), g))
        if not name.endswith("plain"):
            assert len(met["raw"].sharding.device_set) == 2, met["raw"].sharding
        out[name + "_mean"] = np.asarray(state.mean)
        out[name + "_raw"] = np.asarray(met["raw"])
    np.savez(out_path, **out)
    print("ok")
    """
)


def _sharded_run(tmp_path, mode: str) -> dict:
    out = tmp_path / "shard.npz"
    proc = subprocess.run(
        [sys.executable, "-c", SHARD_SCRIPT, str(out), mode, str(Path(__file__).parent), *TINY],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(out))


def test_sharded_population_equals_unsharded(tmp_path):
    """The MetaTrainer's sharding over a 2-device mesh (and with chunks on top) changes no number, for every
    registered ES strategy."""
    d = _sharded_run(tmp_path, "fake")
    for strategy in ES_STRATEGIES.names():  # every registered ES
        p = "" if strategy == "open_es" else strategy + "_"
        for name in ("sharded", "sharded_chunked"):
            # The ES update sums over the sharded population axis: the order of that sum may differ (ulps),
            # so generation 2's members, and with them their returns, may differ by ulps too. OpenAI-ES's
            # update happens to round alike here, and its returns stay bitwise equal.
            raw, plain = d[f"{p}{name}_raw"], d[f"{p}plain_raw"]
            if strategy == "open_es":
                np.testing.assert_array_equal(raw, plain)
            np.testing.assert_allclose(raw, plain, rtol=1e-6)
            np.testing.assert_allclose(d[f"{p}{name}_mean"], d[f"{p}plain_mean"], rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_sharded_ppo_population_equals_unsharded(tmp_path):
    """The same with the real program: Breakout PPO + OPEN partitioned over 2 CPU devices by GSPMD."""
    d = _sharded_run(tmp_path, "real")
    assert len(np.unique(d["plain_raw"])) > 1
    np.testing.assert_array_equal(d["sharded_raw"], d["plain_raw"])
    np.testing.assert_allclose(d["sharded_mean"], d["plain_mean"], rtol=0, atol=1e-7)


# -- checkpoints --------------------------------------------------------------------------------------------
def _state(g: int):
    return {"mean": jnp.arange(4.0) + g, "counter": jnp.asarray(g, jnp.int32)}


CFG = {"seed": 0, "es": {"sigma_init": 0.03, "num_generations": 10}, "logger": {"wandb_mode": "disabled"}}


def _three_checkpoints(directory: Path) -> None:
    ck = MetaCheckpointer(directory, keep=3)
    for g in (1, 2, 3):
        ck.save(g, _state(g), {"generation": g}, CFG)
    ck.close()


@pytest.mark.parametrize("damage", ["garbage_data", "truncate_all", "garbage_config"])
def test_corrupt_latest_checkpoint_is_skipped_and_set_aside(tmp_path, caplog, damage):
    d = tmp_path / "checkpoints"
    _three_checkpoints(d)
    files = [p for p in (d / "3").rglob("*") if p.is_file()]
    if damage == "garbage_data":
        for p in files:
            if "/d/" in str(p):
                p.write_bytes(b"\x00garbage" * 8)
    elif damage == "truncate_all":
        for p in files:
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    else:
        (d / "3" / "config" / "metadata").write_text("{not json")
    before = {str(p.relative_to(d / "3")): p.read_bytes() for p in files}
    ck = MetaCheckpointer(d, keep=3)
    with caplog.at_level("WARNING", logger="openrl.meta.checkpoints"):
        state, host, step = ck.restore_latest(_state(0), CFG)
    assert step == 2 and host == {"generation": 2}
    _leaves_equal(state, _state(2))
    assert "trying the previous one" in caplog.text and "/3" in caplog.text
    # kept for inspection, byte for byte, and out of Orbax's way: step 3 can be written again
    aside = d / "3.corrupt"
    assert {str(p.relative_to(aside)): p.read_bytes() for p in aside.rglob("*") if p.is_file()} == before
    ck.save(3, _state(3), {"generation": 3}, CFG)
    assert ck.mngr.all_steps() == [1, 2, 3]
    ck.close()
    again, _, step = MetaCheckpointer(d).restore_latest(_state(0), CFG)
    assert step == 3
    _leaves_equal(again, _state(3))


def test_checkpoint_from_another_config_is_refused_naming_the_key(tmp_path):
    d = tmp_path / "checkpoints"
    _three_checkpoints(d)
    listing = sorted(str(p) for p in d.rglob("*"))
    other = {**CFG, "es": {**CFG["es"], "sigma_init": 0.05}}
    with pytest.raises(CheckpointError, match=r"es\.sigma_init: checkpoint has 0\.03, this run has 0\.05"):
        MetaCheckpointer(d).restore_latest(_state(0), other)
    assert sorted(str(p) for p in d.rglob("*")) == listing  # nothing moved or deleted
    # keys that do not change the result may differ (e.g. extending the run, another logger)
    tolerant = {**CFG, "es": {**CFG["es"], "num_generations": 20}, "logger": {"wandb_mode": "offline"}}
    assert config_differences(CFG, tolerant) == []
    assert MetaCheckpointer(d).restore_latest(_state(0), tolerant)[2] == 3
    # the rule picking the finished optimizer acts after the last generation: a run may resume under
    # another one, and a checkpoint written before meta.selection existed resumes
    picked = {
        **CFG,
        "meta": {**CFG.get("meta", {}), "selection": "top_k", "selection_top_k": 3, "selection_seeds": 16},
    }
    assert config_differences(CFG, picked) == []
    # meta.init: null means zeros (weights when init_weights is set): spelling it out is no change ...
    meta = CFG.get("meta", {})
    assert config_differences(CFG, {**CFG, "meta": {**meta, "init": "zeros"}}) == []
    weights = {**CFG, "meta": {**meta, "init": None, "init_weights": "w.npy"}}
    assert (
        config_differences(weights, {**CFG, "meta": {**meta, "init": "weights", "init_weights": "w.npy"}})
        == []
    )
    # ... but another start is
    assert config_differences(CFG, {**CFG, "meta": {**meta, "init": "random"}}) == [
        "meta.init: checkpoint has 'zeros', this run has 'random'"
    ]
    # the preset tables are provenance: a preset changed since the checkpoint (budget=cpu's start became
    # random) resumes a run that pinned its own start; the value it supplied is what is compared
    saved = {**CFG, "budget": "cpu", "budgets": {"cpu": {"meta.init": None}}, "es_settings": {"open_es": {}}}
    edited = {
        **saved,
        "budgets": {"cpu": {"meta.init": "random"}, "small": {}},
        "es_settings": {"open_es": {"lr": 0.1}},
    }
    assert config_differences(saved, edited) == []
    assert config_differences(saved, {**edited, "budget": "small"}) == [
        "budget: checkpoint has 'cpu', this run has 'small'"
    ]


def test_no_readable_checkpoint_is_an_error_and_deletes_nothing(tmp_path):
    d = tmp_path / "checkpoints"
    _three_checkpoints(d)
    for g in (1, 2, 3):
        (d / str(g) / "config" / "metadata").write_text("garbage")
    listing = sorted(str(p) for p in d.rglob("*"))
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        MetaCheckpointer(d).restore_latest(_state(0), CFG)
    assert sorted(str(p) for p in d.rglob("*")) == listing


# -- the job loop: interrupted + resumed == uninterrupted (in-process; the CLI + SIGKILL version is in
#    tests/test_meta_resume.py) ---------------------------------------------------------------------------
def _job_cfg(**meta):
    return SimpleNamespace(
        seed=0,
        task_name="fake",
        progress=False,
        logger=LoggerConfig(wandb_mode="disabled"),
        meta=SimpleNamespace(**{"resume": True, "keep_checkpoints": 3, "checkpoint_every": 1, **meta}),
    )


def _run_job(run_dir: Path, cfg=None, generations: int = 5):
    from openrl.meta import job

    resolved = {"seed": 0, "es": {"sigma_init": 0.1, "num_generations": generations}}
    arch = {"optimizer": "fake", "num_meta_params": DIMS}
    return job.run(cfg or _job_cfg(), run_dir, resolved, fake_meta(), generations, 2, 2, arch)


def test_job_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch, caplog):
    from openrl.meta import job
    from openrl.runs.logger import RunLogger

    with caplog.at_level("INFO", logger="openrl.meta.job"):
        ref = _run_job(tmp_path / "a")
    assert "generation program compiled in" in caplog.text
    assert "predicted remaining time" in caplog.text  # the duration forecast after the first generation

    class Interrupted(RunLogger):
        def log(self, metrics, step):
            super().log(metrics, step)
            if step == 3 and "es/sigma" in metrics:  # generation 3 done, not yet checkpointed
                raise KeyboardInterrupt

    monkeypatch.setattr(job, "RunLogger", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run_job(tmp_path / "b")
    monkeypatch.setattr(job, "RunLogger", RunLogger)
    assert not (tmp_path / "b" / "latest").exists()
    assert max(int(p.name) for p in (tmp_path / "b" / "checkpoints").iterdir()) == 2
    caplog.clear()
    with caplog.at_level("INFO", logger="openrl.meta.job"):
        out = _run_job(tmp_path / "b")
    assert "at generation 2" in caplog.text  # resumed from the last checkpoint
    for name in ("latest/optimizer.npy", "best/optimizer.npy"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes(), name
    assert out["validation"] == ref["validation"] and out["best_generation"] == ref["best_generation"]
    assert out["generations"] == ref["generations"] == 5
    latest = np.load(tmp_path / "a" / "latest" / "optimizer.npy")
    assert latest.dtype == np.float32 and latest.shape == (DIMS,) and np.any(latest != 0)
    meta = (tmp_path / "a" / "latest" / "meta.json").read_text()
    assert '"generation": 5' in meta and '"num_meta_params": 7' in meta
    # extending a finished run (es.num_generations is resume-tolerant) continues from its last checkpoint
    more = _run_job(tmp_path / "a", generations=7)
    assert more["generations"] == 7 and [h["generation"] for h in more["validation"]][-1] == 7


def test_job_without_resume_refuses_existing_checkpoints(tmp_path):
    _run_job(tmp_path, generations=2)
    listing = sorted(str(p) for p in (tmp_path / "checkpoints").rglob("*"))
    with pytest.raises(CheckpointError, match="meta.resume=false"):
        _run_job(tmp_path, cfg=_job_cfg(resume=False), generations=2)
    assert sorted(str(p) for p in (tmp_path / "checkpoints").rglob("*")) == listing


# -- W&B run id survives a resume ---------------------------------------------------------------------------
def test_wandb_run_id_persists_across_resume(tmp_path, monkeypatch):
    from openrl.runs.logger import RunLogger

    calls = []

    class FakeRun:
        summary: dict = {}

        def log(self, *a, **k):
            pass

        def finish(self):
            pass

    fake = ModuleType("wandb")
    fake.init = lambda **kw: calls.append(kw) or FakeRun()
    fake.Settings = lambda **kw: kw
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = LoggerConfig(wandb_mode="offline")
    for _ in range(2):  # first run, then the resumed one in the same run directory
        with RunLogger(tmp_path, cfg, {"task_name": "t"}, name="t/seed=0", job_type="meta_train"):
            pass
    assert len(calls) == 2
    assert calls[0]["id"] == calls[1]["id"] == (tmp_path / "wandb_id.txt").read_text().strip()
    assert calls[1]["resume"] == "allow"


# -- experiment configs ---------------------------------------------------------------------------------------
def test_meta_experiments_found():
    assert {"single_breakout", "multitask_minatar", "ablation_breakout", "single_ant"} <= set(
        META_EXPERIMENTS
    )


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("budget", ["paper", "smoke", "small"])
def test_experiment_composes(experiment, budget):
    spec = yaml.safe_load((CONF_DIR / "experiment" / f"{experiment}.yaml").read_text())
    if budget != "paper" and budget not in (spec.get("budgets") or {}):
        pytest.skip(f"{experiment} has no {budget} budget")
    _, cfg = load_config([f"experiment={experiment}", f"budget={budget}"])
    assert cfg.mode == spec.get("mode", "ppo")
    for key, value in ((spec.get("budgets") or {}).get(budget) or {}).items():
        section, field = key.split(".")
        assert getattr(getattr(cfg, section), field) == value, key


@pytest.mark.parametrize("experiment", META_EXPERIMENTS)
def test_meta_experiment_builds(experiment):
    """Every meta experiment builds its tasks (envs, rule, normalisers) without compiling anything."""
    from openrl.jobs.meta import build_meta

    spec = yaml.safe_load((CONF_DIR / "experiment" / f"{experiment}.yaml").read_text())
    overrides = [f"experiment={experiment}"] + (
        ["budget=smoke"] if "smoke" in (spec.get("budgets") or {}) else []
    )
    _, cfg = load_config(overrides)
    meta = build_meta(meta_job(cfg, overrides))
    names = [t.name for t in meta.tasks]
    if cfg.meta.envs:
        assert names == list(cfg.meta.envs)
        # multi-task: each game's return is divided by Adam's return on that game
        assert all(n != 1.0 for n in np.asarray(meta.normalisers))
    else:
        assert names == [cfg.env.name] and np.asarray(meta.normalisers).tolist() == [1.0]
    assert meta.strategy.population_size == cfg.es.population_size
    assert meta.strategy.num_dims > 100


def test_multitask_builds_all_four_games():
    from openrl.jobs.meta import build_meta

    overrides = ["experiment=multitask_minatar", "budget=smoke"]
    _, cfg = load_config(overrides)
    meta = build_meta(meta_job(cfg, overrides))
    assert sorted(t.name for t in meta.tasks) == ["asterix", "breakout", "freeway", "spaceinvaders"]
    assert len({id(t.trainer.env) for t in meta.tasks}) == 4
    assert len({t.trainer.env.action_dim for t in meta.tasks}) > 1  # really four different games
    # the budget reached every task's config, not only the first
    assert {t.trainer.static.num_updates for t in meta.tasks} == {
        cfg.ppo.total_timesteps // (cfg.ppo.num_envs * cfg.ppo.num_steps)
    }


def _ablation_variants() -> list[str]:
    spec = yaml.safe_load((CONF_DIR / "experiment" / "ablation_breakout.yaml").read_text())
    return spec["hydra"]["sweeper"]["params"]["optimizer"].split(",")


@pytest.mark.parametrize("variant", _ablation_variants())
def test_ablation_variant_composes_and_builds(variant):
    from openrl.jobs.meta import build_meta

    overrides = ["experiment=ablation_breakout", f"optimizer={variant}", "budget=smoke"]
    _, cfg = load_config(overrides)
    assert cfg.mode == "meta" and cfg.task_name == "ablation_breakout"
    meta = build_meta(meta_job(cfg, overrides))
    assert meta.strategy.num_dims > 0


TINY_RUN = ["es.population_size=2", *TINY_PPO]
RUNS = [
    pytest.param(e, [], marks=pytest.mark.slow, id=e)
    for e in META_EXPERIMENTS
    if e not in ("single_breakout", "ablation_breakout")  # single_breakout: the `tiny` fixture above
] + [
    pytest.param(
        "ablation_breakout", ["optimizer=open_no_stochasticity"], marks=pytest.mark.slow, id="ablation"
    )
]


@pytest.mark.parametrize("experiment,extra", RUNS)
def test_meta_experiment_runs_one_tiny_generation(experiment, extra):
    """Every meta experiment runs one generation (tiny explicit sizes: a budget preset would override
    them); multitask_minatar evaluates every member on all four games."""
    from openrl.jobs.meta import build_meta

    overrides = [f"experiment={experiment}", *extra, *TINY_RUN]
    if experiment == "single_ant":
        overrides.append("env.episode_length=16")
    _, cfg = load_config(overrides)
    meta = build_meta(meta_job(cfg, overrides))
    state, m = jax.jit(meta.generation, compiler_options=O0)(
        meta.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
    )
    m = jax.device_get(m)
    assert m["raw"].shape == (2, len(cfg.meta.envs) or 1)
    assert np.all(np.isfinite(m["raw"])) and int(m["nan_count"]) == 0
    assert np.all(np.isfinite(np.asarray(state.mean))) and int(state.generation_counter) == 1


# -- bad ES configs fail at start-up, naming the field --------------------------------------------------------
@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["es.population_size=5"], "es.population_size=5: antithetic sampling needs an even population"),
        (
            ["meta.population_chunk=3"],
            "meta.population_chunk=3: must be a positive divisor of es.population_size",
        ),
        (["meta.population_chunk=0"], "meta.population_chunk=0"),
        (["optimizer=adam"], "optimizer=adam: meta-training needs a learned optimizer"),
        (["budget=typo"], "budget='typo': allowed values are cpu, paper, small, smoke"),
        (["budget=smoke", "+budgets.smoke.unknown_key=1"], "budgets.smoke.unknown_key: unknown"),
        (["es.sigma_decay=1.5"], "es.sigma_decay=1.5"),
        (["es.fitness_shaping=rank"], "es.fitness_shaping='rank'"),
        (["es.antithetic=false", "meta.antithetic_task_sampling=true"], "meta.antithetic_task_sampling=true"),
    ],
)
def test_bad_es_config_names_the_field(overrides, expected):
    with pytest.raises(ConfigError) as e:
        load_config(["experiment=single_breakout", *overrides])
    assert expected in str(e.value)


def test_cli_rejects_bad_es_config_before_building(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "openrl.cli.train",
            "experiment=single_breakout",
            "es.population_size=5",
            "meta.population_chunk=3",
            "logger=disabled",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "es.population_size=5" in proc.stderr and "meta.population_chunk=3" in proc.stderr
    assert not (tmp_path / "checkpoints").exists()
