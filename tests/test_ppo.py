"""PPO trainer: every env family end to end, determinism, chunking, no recompilation, the authors'
layer-proportion / dormancy / return definitions, and the handcrafted update rules against optax.

Compilation dominates on small CPUs, so each env family is compiled once (module fixture ``family``)
and the chunking / recompilation tests reuse those compiled programs.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from openrl.agents.networks import Actor, Critic, dormancy_fraction
from openrl.builders import build_trainer
from openrl.config import load_config
from openrl.envs.base import StepOut
from openrl.optimizers.base import UpdateContext
from openrl.optimizers.handcrafted import OptaxRule
from openrl.ppo.train import (
    PPOHParams,
    PPOStatic,
    PPOTrainer,
    layer_proportions,
    minibatch_permutation,
    packed_sort_permutation,
)

FAMILIES = ("breakout", "asterix", "freeway", "spaceinvaders", "deepsea")  # ant: tests/test_brax_env.py
TINY = [
    "ppo.num_envs=4",
    "ppo.num_steps=8",
    "ppo.total_timesteps=128",
    "ppo.num_minibatches=2",
    "ppo.update_epochs=1",
]
NUM_UPDATES = 128 // (4 * 8)


class FamilyRun:
    def __init__(self, env: str):
        _, self.cfg = load_config(["experiment=ppo", f"env={env}", *TINY])
        self.trainer, self.rule_params, self.hp = build_trainer(self.cfg)
        self.train = jax.jit(self.trainer.train)
        self.state, self.metrics = jax.device_get(
            self.train(jax.random.PRNGKey(0), self.rule_params, self.hp)
        )


@pytest.fixture(scope="module")
def family():
    cache: dict[str, FamilyRun] = {}

    def get(env: str) -> FamilyRun:
        if env not in cache:
            cache[env] = FamilyRun(env)
        return cache[env]

    return get


def _leaves_equal(a, b) -> None:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))  # bitwise (NaN == NaN)


def _any_differs(a, b) -> bool:
    return any(
        not np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


# -- a. every env family runs ---------------------------------------------------------------------
@pytest.mark.parametrize("env", FAMILIES)
def test_family_tiny_run(family, env):
    run = family(env)
    s = run.trainer.static
    assert (s.num_envs, s.num_steps, s.num_updates, s.num_minibatches, s.update_epochs) == (
        4,
        8,
        NUM_UPDATES,
        2,
        1,
    )
    m = run.metrics
    expected_keys = {
        "episode_return",
        "episode_length",
        "episodes",
        "final_return",
        "value_loss",
        "actor_loss",
        "entropy",
        "dormancy",
    }
    assert set(m) == expected_keys
    for k in expected_keys - {"dormancy"}:
        assert np.shape(m[k]) == (NUM_UPDATES,), k
    for k in ("value_loss", "actor_loss", "entropy", "final_return"):
        assert np.all(np.isfinite(m[k])), (k, m[k])
    # entropy of a fresh categorical policy over A actions is close to log(A)
    assert m["entropy"][0] == pytest.approx(np.log(run.trainer.env.action_dim), rel=0.05)
    for net in ("actor", "critic"):
        assert set(m["dormancy"][net]) == {"Dense_0", "Dense_1", "Dense_2"}
        for v in m["dormancy"][net].values():
            assert v.shape == (NUM_UPDATES,) and np.all((v >= 0) & (v <= 1))
    # parameters moved and stayed finite
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(run.state.params))
    assert int(run.state.update) == NUM_UPDATES


def test_trainer_rejects_indivisible_minibatches():
    from openrl.envs.probe import ProbeVecEnv

    static = PPOStatic(
        num_envs=3,
        num_steps=5,
        num_updates=1,
        num_minibatches=2,
        update_epochs=1,
        widths=(4,),
        activation="relu",
    )
    with pytest.raises(ValueError, match="num_minibatches"):
        PPOTrainer(
            static, ProbeVecEnv("constant", 3), OptaxRule("adam", (("lr", 1e-3), ("b1", 0.9), ("b2", 0.999)))
        )


# -- b. vmapped over seeds (deadlocked on jax 0.10.2 with 2 CPU cores) ------------------------------
VMAP_SCRIPT = textwrap.dedent(
    """
    import sys
    import jax, numpy as np
    from openrl.builders import build_trainer
    from openrl.config import load_config

    _, cfg = load_config(["experiment=ppo", "env=breakout", "ppo.num_envs=64", "ppo.num_steps=8", "ppo.total_timesteps=1024"])
    trainer, rule_params, hp = build_trainer(cfg)
    assert trainer.static.batch_size == 512 and trainer.static.num_updates == 2, trainer.static
    f = jax.jit(jax.vmap(trainer.train, in_axes=(0, None, None)))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    out = {}
    for call in (0, 1):
        state, metrics = jax.block_until_ready(f(keys, rule_params, hp))
        assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.params))
        assert np.isfinite(metrics["value_loss"]).all() and metrics["value_loss"].shape == (2, 2)
        leaves = jax.tree.leaves((state.params, metrics))
        for i, x in enumerate(leaves):
            out[f"c{call}_{i}"] = np.asarray(x)
    np.savez(sys.argv[1], **out)
    print("ok", len(leaves))
    """
)


def test_vmapped_seeds_finish_and_are_deterministic(tmp_path):
    out = tmp_path / "vmap.npz"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", VMAP_SCRIPT, str(out)], capture_output=True, text=True, timeout=180
        )
    except subprocess.TimeoutExpired:
        pytest.fail("vmapped Breakout PPO (2 seeds x 512 transitions) did not finish in 180 s: deadlock?")
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = np.load(out)
    n = int(proc.stdout.split()[-1])
    differs = 0
    for i in range(n):
        a, b = data[f"c0_{i}"], data[f"c1_{i}"]
        np.testing.assert_array_equal(a, b)  # same seeds, same program: bitwise identical
        assert a.shape[0] == 2
        if a.dtype.kind == "f" and not np.array_equal(a[0], a[1]):
            differs += 1
    # the two seeds give different parameters and metrics
    assert differs > n // 2, (differs, n)


# -- c. chunked == whole ------------------------------------------------------------------------------
def test_chunked_run_equals_whole_run(family):
    # asterix's tuned Adam anneals the learning rate, so the update counter must survive chunking.
    run = family("asterix")
    assert run.trainer.rule.anneal_lr
    rng = jax.random.PRNGKey(0)
    init = jax.jit(run.trainer.init)
    chunk = jax.jit(run.trainer.run, static_argnums=3)
    state = init(rng)
    ms = []
    for _ in range(NUM_UPDATES // 2):
        state, m = chunk(state, run.rule_params, run.hp, 2)
        ms.append(m)
    metrics = jax.tree.map(lambda *xs: np.concatenate(xs), *ms)
    state = jax.device_get(state)
    _leaves_equal(metrics, run.metrics)
    _leaves_equal(state.params, run.state.params)
    _leaves_equal(state.opt_state, run.state.opt_state)
    assert int(state.update) == NUM_UPDATES


# -- d. traced hyperparameters do not recompile --------------------------------------------------------
def test_no_recompile_when_traced_values_change(family):
    run = family("breakout")
    f = run.train
    assert f._cache_size() == 1
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        rng = jax.random.PRNGKey(0)
        rp_a = {**run.rule_params, "lr": jnp.asarray(0.01, jnp.float32)}
        rp_b = {
            **run.rule_params,
            "lr": jnp.asarray(0.001, jnp.float32),
            "b2": jnp.asarray(0.999, jnp.float32),
        }
        hp_b = PPOHParams(
            gamma=0.9, gae_lambda=0.8, clip_eps=0.1, vf_coef=1.0, ent_coef=0.0, max_grad_norm=1.0
        )
        sa, _ = f(rng, rp_a, run.hp)
        sb, mb = f(rng, rp_b, run.hp)
        sc, mc = f(rng, run.rule_params, hp_b)
        jax.block_until_ready((sa, sb, sc))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert f._cache_size() == 1
    assert compiles == []
    # lr 0.01 is breakout's tuned value: identical to the fixture's run
    _leaves_equal(jax.device_get(sa.params), run.state.params)
    assert _any_differs(sa.params, sb.params)
    assert _any_differs(sa.params, sc.params)
    assert not np.array_equal(mb["value_loss"], mc["value_loss"])


def test_different_seed_differs(family):
    run = family("breakout")
    s1, _ = run.train(jax.random.PRNGKey(1), run.rule_params, run.hp)
    assert _any_differs(jax.device_get(s1.params), run.state.params)


# -- e. layer proportions and dormancy ------------------------------------------------------------------
def test_layer_proportions_discrete_actor_and_critic():
    x = jnp.zeros((1, 5))
    for net in (Actor(3, (8, 8), "relu", True), Critic((8, 8), "relu")):
        params = net.init(jax.random.PRNGKey(0), x)["params"]
        props = layer_proportions(params)
        assert set(props) == {"Dense_0", "Dense_1", "Dense_2"}
        for name, want in (("Dense_0", 0.0), ("Dense_1", 0.5), ("Dense_2", 1.0)):
            assert props[name]["kernel"] == want and props[name]["bias"] == want, (name, props[name])


def test_layer_proportions_continuous_actor_counts_log_std():
    params = Actor(2, (8, 8), "tanh", False).init(jax.random.PRNGKey(0), jnp.zeros((1, 5)))["params"]
    props = layer_proportions(params)
    assert props["Dense_0"]["kernel"] == 0.0 and props["Dense_0"]["bias"] == 0.0
    assert props["Dense_1"]["kernel"] == pytest.approx(1 / 3) and props["Dense_1"]["bias"] == pytest.approx(
        1 / 3
    )
    assert props["Dense_2"]["kernel"] == pytest.approx(2 / 3)
    assert props["log_std"] == 1.0


def test_layer_proportions_orders_layers_numerically():
    # Dense_10 comes after Dense_9 (a lexicographic sort would put it after Dense_1)
    params = {
        f"Dense_{i}": {"kernel": np.zeros(1), "bias": np.zeros(1)} for i in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9)
    }
    props = layer_proportions(params)
    for i in range(11):
        assert props[f"Dense_{i}"]["kernel"] == pytest.approx(i / 10)


def test_dormancy_fraction():
    assert float(dormancy_fraction(jnp.array([0.0, 0.0, 1.0, 1.0]))) == 0.5
    assert float(dormancy_fraction(jnp.array([1.0, 2.0, 3.0, 4.0]))) == 0.0
    # normalised score 1e-9 / mean(|a|) << 1e-7: dormant; 1e-3 of the mean is not
    assert float(dormancy_fraction(jnp.array([1e-9, 1.0, 1.0, 1.0]))) == 0.25
    assert float(dormancy_fraction(jnp.array([1e-3, 1.0, 1.0, 1.0]))) == 0.0


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000, 8192, 2**20])
def test_packed_sort_permutation_is_a_permutation(n):
    for seed in range(3):
        perm = np.asarray(packed_sort_permutation(jax.random.PRNGKey(seed), n))
        assert perm.dtype == np.int32
        np.testing.assert_array_equal(np.sort(perm), np.arange(n))
    if n >= 64:  # and it actually shuffles, differently per key
        a, b = (np.asarray(packed_sort_permutation(jax.random.PRNGKey(s), n)) for s in (0, 1))
        assert (a != np.arange(n)).mean() > 0.9 and (a != b).mean() > 0.9


def test_packed_sort_permutation_is_uniform():
    """All 24 orders of 4 items are equally likely; positions of a large batch are uniform too."""
    keys = jax.random.split(jax.random.PRNGKey(0), 24_000)
    perms = np.asarray(jax.vmap(lambda k: packed_sort_permutation(k, 4))(keys))
    codes = perms @ np.array([64, 16, 4, 1])
    counts = np.unique(codes, return_counts=True)[1]
    assert len(counts) == 24
    chi2 = float(((counts - 1000.0) ** 2 / 1000.0).sum())
    assert chi2 < 49.7  # chi-square, 23 dof: p = 0.001
    # where item 0 lands in an 8192-batch: uniform over positions (8 bins, 4000 draws)
    keys = jax.random.split(jax.random.PRNGKey(1), 4000)
    pos = np.asarray(jax.vmap(lambda k: jnp.argmax(packed_sort_permutation(k, 8192) == 0))(keys))
    bins = np.bincount(pos // 1024, minlength=8)
    assert float(((bins - 500.0) ** 2 / 500.0).sum()) < 24.3  # 7 dof: p = 0.001


def test_jax_permutation_switch_reproduces_jax():
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(
        minibatch_permutation("jax_permutation", key, 512), jax.random.permutation(key, 512)
    )
    with pytest.raises(ValueError, match="ppo.shuffle"):
        minibatch_permutation("fisher_yates", key, 512)


# -- f. metric semantics ------------------------------------------------------------------------------
def test_constant_probe_metrics_exact(probe_run):
    run = probe_run("constant")
    m, s = run.metrics, run.trainer.static
    np.testing.assert_array_equal(m["episode_return"], 1.0)
    np.testing.assert_array_equal(m["episode_length"], 1.0)
    np.testing.assert_array_equal(m["episodes"], s.num_envs * s.num_steps)
    np.testing.assert_array_equal(m["final_return"], 1.0)


def test_two_step_probe_metrics_exact(probe_run):
    run = probe_run("two_step")
    m, s = run.metrics, run.trainer.static
    assert s.num_steps % 2 == 0
    np.testing.assert_array_equal(m["episode_return"], 1.0)
    np.testing.assert_array_equal(m["episode_length"], 2.0)
    np.testing.assert_array_equal(m["episodes"], s.num_envs * s.num_steps // 2)
    np.testing.assert_array_equal(m["final_return"], 1.0)
    assert m["episode_return"].shape == (s.num_updates,)


def test_obs_reward_probe_returns_are_signs(probe_run):
    run = probe_run("obs_reward")
    m, s = run.metrics, run.trainer.static
    n_ep = s.num_envs * s.num_steps
    # the mean of n_ep signs is a multiple of 2 / n_ep; the mean of 64 envs' last signs a multiple of 2 / 64
    np.testing.assert_allclose(m["episode_return"] * n_ep / 2 % 1, 0, atol=1e-4)
    np.testing.assert_allclose(m["final_return"] * s.num_envs / 2 % 1, 0, atol=1e-4)
    assert np.all(np.abs(m["episode_return"]) < 0.3)  # balanced coin, 512 samples


def test_deepsea_returns_nan_before_first_episode(family):
    """Deep Sea of size 10 ends every episode after exactly 10 steps; with 8 steps per update the first
    update sees no completed episode and every later update sees exactly one per env."""
    run = family("deepsea")
    m = run.metrics
    n_envs = run.trainer.static.num_envs
    assert np.isnan(m["episode_return"][0]) and np.isnan(m["episode_length"][0])
    assert m["episodes"][0] == 0
    assert m["final_return"][0] == 0.0  # authors' metric: envs with no completed episode report 0
    np.testing.assert_array_equal(m["episodes"][1:], n_envs)
    np.testing.assert_array_equal(m["episode_length"][1:], 10.0)
    # one completed episode per env in the update -> the authors' final_return is the same mean
    np.testing.assert_allclose(m["final_return"][1:], m["episode_return"][1:], rtol=1e-6)


# -- time-limit handling ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeLimitEnv:
    """Reward 1 on every step; observation ``[t, 0]``; a 2-step time limit *truncates* (never terminates).

    ``final_obs`` is s1 = ``[1, 0]``: the process without the time limit would stay in s1 forever, so
    with bootstrapping the true values are V(s0) = V(s1) = 1 / (1 - gamma). Treating the limit as a
    terminal (the authors' code) gives V(s1) = 1, V(s0) = 1 + gamma.
    """

    num_envs: int
    obs_dim: int = 2
    action_dim: int = 1
    discrete: bool = True
    max_episode_steps: int = 2

    def _obs(self, t):
        return jnp.stack([t.astype(jnp.float32), jnp.zeros(t.shape)], -1)

    def reset(self, key):
        t = jnp.zeros((self.num_envs,), jnp.int32)
        return self._obs(t), t

    def step(self, key, t, action):
        trunc = t >= 1
        t_next = jnp.where(trunc, 0, t + 1)
        ones = jnp.ones((self.num_envs,))
        out = StepOut(
            reward=ones,
            done=trunc,
            terminated=jnp.zeros_like(trunc),
            truncated=trunc,
            final_obs=self._obs(jnp.ones_like(t)),
            episode_return=2 * ones,
            episode_length=2 * jnp.ones_like(t),
            returned_episode_returns=2 * ones,
        )
        return self._obs(t_next), t_next, out


def _time_limit_values(bootstrap: bool, gamma: float = 0.5):
    static = PPOStatic(
        num_envs=64,
        num_steps=8,
        num_updates=30,
        num_minibatches=4,
        update_epochs=4,
        widths=(32, 32),
        activation="tanh",
        bootstrap_truncation=bootstrap,
    )
    rule = OptaxRule("adam", (("lr", 3e-3), ("b1", 0.9), ("b2", 0.999)))
    trainer = PPOTrainer(static, TimeLimitEnv(64), rule)
    state, _ = jax.jit(trainer.train)(jax.random.PRNGKey(0), rule.default_params(), PPOHParams(gamma=gamma))
    v, _ = trainer.critic.apply({"params": state.params["critic"]}, jnp.array([[0.0, 0.0], [1.0, 0.0]]))
    return np.asarray(v)


@pytest.mark.slow  # the terminal masking itself is covered by the fast probe tests
def test_time_limit_as_terminal():
    v_s0, v_s1 = _time_limit_values(bootstrap=False)
    assert abs(v_s1 - 1.0) < 0.05, v_s1
    assert abs(v_s0 - 1.5) < 0.05, v_s0


# Regression: `done = so.terminated` once let GAE run across the auto-reset (values 4 and 6, not 2 and 2).
def test_time_limit_bootstrap():
    v_s0, v_s1 = _time_limit_values(bootstrap=True)
    assert abs(v_s1 - 2.0) < 0.05, v_s1  # 1 + gamma * V(final_obs = s1)
    assert abs(v_s0 - 2.0) < 0.05, v_s0


# -- g. handcrafted rules against optax ---------------------------------------------------------------
def _toy():
    k = jax.random.split(jax.random.PRNGKey(3), 4)
    params = {
        "actor": {"Dense_0": {"kernel": jax.random.normal(k[0], (3, 4)), "bias": jnp.zeros(4)}},
        "critic": {"Dense_0": {"kernel": jax.random.normal(k[1], (3, 2)), "bias": jnp.ones(2)}},
    }
    grads = [jax.tree.map(lambda p, i=i: jnp.sin(p * (i + 1.3)) + 0.1 * i, params) for i in range(4)]
    return params, grads


def _ctx(anneal_frac=1.0):
    return UpdateContext(
        training_prop=jnp.float32(0.0),
        batch_prop=jnp.float32(0.0),
        anneal_frac=jnp.float32(anneal_frac),
        layer_props={},
        activations={},
        key=jax.random.PRNGKey(0),
    )


def _run_rule(rule, params, grads, anneal_frac=1.0, rule_params=None):
    rp = rule.default_params() if rule_params is None else rule_params
    state = rule.init(params)
    for g in grads:
        params, state = rule.update(rp, state, g, params, _ctx(anneal_frac))
    return params


def _run_optax(tx, params, grads):
    state = tx.init(params)
    for g in grads:
        upd, state = tx.update(g, state, params)
        params = optax.apply_updates(params, upd)
    return params


def _close(a, b, atol=1e-7):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=atol)


def test_adam_rule_matches_optax():
    params, grads = _toy()
    rule = OptaxRule("adam", (("lr", 0.01), ("b1", 0.9), ("b2", 0.99)))
    ours = _run_rule(rule, params, grads)
    # Same float32 hyperparameters as the rule's traced rule_params: bitwise equal.
    f32 = jnp.float32
    _close(ours, _run_optax(optax.adam(f32(0.01), b1=f32(0.9), b2=f32(0.99)), params, grads), atol=0)
    # Python-double hyperparameters round (1 - b1) differently (1 ulp); equal to float32 precision.
    _close_f32(ours, _run_optax(optax.adam(0.01, b1=0.9, b2=0.99), params, grads))
    # the traced lr is honoured (not the default)
    rp = {**rule.default_params(), "lr": f32(0.003)}
    _close(
        _run_rule(rule, params, grads, rule_params=rp),
        _run_optax(optax.adam(f32(0.003), b1=f32(0.9), b2=f32(0.99)), params, grads),
        atol=0,
    )


def test_adam_anneal_scales_step():
    params, grads = _toy()
    params = jax.tree.map(jnp.zeros_like, params)  # from 0 the new params are the step itself, exactly
    plain = OptaxRule("adam", (("lr", 0.01), ("b1", 0.9), ("b2", 0.999)))
    anneal = OptaxRule("adam", (("lr", 0.01), ("b1", 0.9), ("b2", 0.999)), anneal_lr=True)
    for n in (1, 3):
        p_plain = _run_rule(plain, params, grads[:n], anneal_frac=0.25)  # ignored without anneal_lr
        p_anneal = _run_rule(anneal, params, grads[:n], anneal_frac=0.25)
        f32 = jnp.float32
        _close(
            p_plain, _run_optax(optax.adam(f32(0.01), b1=f32(0.9), b2=f32(0.999)), params, grads[:n]), atol=0
        )
        if n == 1:
            # one step: the annealed step is a quarter of the plain one (scaling by 1/4 is exact)
            _close(p_anneal, jax.tree.map(lambda s: 0.25 * s, p_plain), atol=0)
        else:
            lr = f32(0.01) * f32(0.25)
            _close(
                p_anneal, _run_optax(optax.adam(lr, b1=f32(0.9), b2=f32(0.999)), params, grads[:n]), atol=0
            )
    assert _any_differs(p_plain, p_anneal)
    _close(_run_rule(anneal, params, grads, anneal_frac=0.0), params, atol=0)


def _close_f32(a, b):
    """Equal up to float32 rounding of Python-double hyperparameters: optax computes ``1 - b2`` in double
    precision when b2 is a Python float, the rule in float32 (1 - f32(0.999) is 1.3e-5 off)."""
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-5, atol=1e-7)


def test_rmsprop_rule_matches_optax():
    params, grads = _toy()
    rule = OptaxRule("rmsprop", (("lr", 0.002), ("decay", 0.99)))
    f32 = jnp.float32
    ours = _run_rule(rule, params, grads)
    _close(ours, _run_optax(optax.rmsprop(f32(0.002), decay=f32(0.99), eps=1e-8), params, grads), atol=0)
    _close_f32(ours, _run_optax(optax.rmsprop(0.002, decay=0.99, eps=1e-8), params, grads))


def test_lion_rule_matches_optax_with_weight_decay():
    params, grads = _toy()
    rule = OptaxRule("lion", (("lr", 0.0008), ("b1", 0.9), ("b2", 0.99), ("weight_decay", 1e-3)))
    f32 = jnp.float32
    ours = _run_rule(rule, params, grads)
    _close(
        ours,
        _run_optax(optax.lion(f32(0.0008), b1=f32(0.9), b2=f32(0.99), weight_decay=f32(1e-3)), params, grads),
        atol=0,
    )
    # optax.lion's *default* weight decay is 1e-3, which the paper used
    _close_f32(ours, _run_optax(optax.lion(0.0008, b1=0.9, b2=0.99), params, grads))
    # ... and it matters: without it the result is measurably different
    assert _any_differs(
        ours, _run_optax(optax.lion(f32(0.0008), b1=f32(0.9), b2=f32(0.99), weight_decay=0.0), params, grads)
    )
    # zero gradient: the sign update is 0, only decoupled decay acts: p <- p - lr * wd * p
    zeros = [jax.tree.map(jnp.zeros_like, params)]
    _close_f32(_run_rule(rule, params, zeros), jax.tree.map(lambda p: p * (1 - 0.0008 * 1e-3), params))
    assert _any_differs(_run_rule(rule, params, zeros), params)
    no_wd = OptaxRule("lion", (("lr", 0.0008), ("b1", 0.9), ("b2", 0.99), ("weight_decay", 0.0)))
    _close(_run_rule(no_wd, params, zeros), params, atol=0)


def test_unknown_rule_rejected():
    with pytest.raises(ValueError, match="unknown handcrafted optimizer"):
        OptaxRule("sgd", (("lr", 0.1),)).init({"a": jnp.zeros(2)})
