"""Brax Ant adapter: contract shapes, normalisers against numpy, episode bookkeeping, a tiny PPO run.

Compiling brax's positional Ant step costs ~10 s on 2 CPU cores, so every check reads one short jitted
rollout (a module-scoped fixture, vmapped over 2 seeds, which exercises ``vmap`` of ``reset``/``step`` over a
leading seed axis) and the PPO test compiles the trainer once. Both compile at XLA backend optimisation
level 0 (about half the compile time).
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from openrl.envs.brax_env import BraxVecEnv

NUM_ENVS = 4
EP_LEN = 5
T = 12
GAMMA = 0.99
SEEDS = 2


@pytest.fixture(scope="module")
def env():
    return BraxVecEnv("ant", NUM_ENVS, episode_length=EP_LEN, gamma=GAMMA)


def _compile(fn, *args):
    # Brax's positional pipeline is slow to compile on CPU; XLA's backend optimisation level 0 halves it.
    return jax.jit(fn).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})


@pytest.fixture(scope="module")
def rollout_all(env):
    """Per seed: reset + T steps with uniform random actions. vmapped over SEEDS leading keys, which
    exercises ``jax.vmap`` of ``reset``/``step`` over a seed axis; also resets an env with both normalisers
    off. Returned as numpy."""
    raw_env = BraxVecEnv("ant", NUM_ENVS, episode_length=EP_LEN, normalize_obs=False, normalize_reward=False)

    def one(key):
        k_reset, k_act = jax.random.split(key)
        obs0, st0 = env.reset(k_reset)
        actions = jax.random.uniform(k_act, (T, NUM_ENVS, env.action_dim), minval=-1.0, maxval=1.0)

        def body(st, a):
            obs, st, so = env.step(jax.random.PRNGKey(0), st, a)
            raw = dict(
                raw_obs=st.brax_state.obs,
                raw_reward=st.brax_state.reward,
                first_obs=st.brax_state.info["first_obs"],
                steps=st.brax_state.info["steps"],
            )
            return st, (obs, so, raw)

        st_end, (obs, so, raw) = jax.lax.scan(body, st0, actions)
        return obs0, st0, obs, so, raw, st_end, raw_env.reset(k_reset)

    keys = jax.random.split(jax.random.PRNGKey(42), SEEDS)
    out = _compile(jax.vmap(one), keys)(keys)
    return jax.tree.map(np.asarray, out)


@pytest.fixture(scope="module", params=range(SEEDS))
def rollout(rollout_all, request):
    return jax.tree.map(lambda x: x[request.param], rollout_all[:6])


def _np_merge(mean, var, count, batch):
    batch = np.asarray(batch, np.float64)
    bm, bv, bc = batch.mean(0), batch.var(0), batch.shape[0]
    delta = bm - mean
    tot = count + bc
    new_mean = mean + delta * bc / tot
    m2 = var * count + bv * bc + delta**2 * count * bc / tot
    return new_mean, m2 / tot, tot


def test_static_facts(env):
    assert env.obs_dim == 27
    assert env.action_dim == 8
    assert env.discrete is False
    assert env.max_episode_steps == EP_LEN
    assert hash(env) == id(env)
    default = BraxVecEnv(num_envs=2)
    assert (default.env_name, default.backend, default.episode_length) == ("ant", "positional", 1000)
    assert default.normalize_obs and default.normalize_reward and default.gamma == 0.99


def test_shapes_and_dtypes(rollout):
    obs0, st0, obs, so, raw, _ = rollout
    assert obs0.shape == (NUM_ENVS, 27) and obs0.dtype == np.float32
    assert obs.shape == (T, NUM_ENVS, 27) and obs.dtype == np.float32
    assert so.final_obs.shape == (T, NUM_ENVS, 27) and so.final_obs.dtype == np.float32
    for name in ("reward", "episode_return", "returned_episode_returns"):
        assert getattr(so, name).shape == (T, NUM_ENVS) and getattr(so, name).dtype == np.float32, name
    for name in ("done", "terminated", "truncated"):
        assert getattr(so, name).shape == (T, NUM_ENVS) and getattr(so, name).dtype == np.bool_, name
    assert so.episode_length.shape == (T, NUM_ENVS) and so.episode_length.dtype == np.int32
    assert np.all(np.isfinite(obs)) and np.all(np.isfinite(so.reward))


def test_vmap_over_seeds(rollout_all):
    obs0, st0, obs, so, raw, st_end, _ = rollout_all
    assert obs0.shape == (SEEDS, NUM_ENVS, 27) and obs.shape == (SEEDS, T, NUM_ENVS, 27)
    assert so.done.shape == (SEEDS, T, NUM_ENVS) and st_end.obs_mean.shape == (SEEDS, 27)
    assert not np.allclose(st0.brax_state.obs[0], st0.brax_state.obs[1])  # seeds differ


def test_done_truncation_and_final_obs(rollout):
    _, _, obs, so, raw, _ = rollout
    np.testing.assert_array_equal(so.done, so.terminated | so.truncated)
    assert not np.any(so.terminated & so.truncated)
    assert so.truncated.any(), "episode_length=5 over 12 steps must truncate something"
    # Truncation happens exactly at the time limit.
    np.testing.assert_array_equal(so.episode_length[so.truncated], EP_LEN)
    assert np.all(so.episode_length[so.terminated] <= EP_LEN)
    # Finished envs restart from brax's saved first observation; the others keep going.
    np.testing.assert_array_equal(raw["raw_obs"][so.done], raw["first_obs"][so.done])
    np.testing.assert_array_equal(raw["steps"][so.done], so.episode_length[so.done])  # brax's own counter
    # final_obs is the returned obs where nothing ended, and differs from it (pre-reset obs) where it did.
    np.testing.assert_allclose(so.final_obs[~so.done], obs[~so.done])
    assert not np.allclose(so.final_obs[so.done], obs[so.done])


def test_obs_normalisation_matches_numpy_welford(rollout):
    obs0, st0, obs, so, raw, st_end = rollout
    mean, var, count = np.zeros(27), np.ones(27), 1e-4
    raw0 = np.asarray(st0.brax_state.obs, np.float64)
    mean, var, count = _np_merge(mean, var, count, raw0)
    np.testing.assert_allclose(obs0, (raw0 - mean) / np.sqrt(var + 1e-8), rtol=1e-4, atol=1e-4)
    for t in range(T):
        x = np.asarray(raw["raw_obs"][t], np.float64)
        mean, var, count = _np_merge(mean, var, count, x)
        np.testing.assert_allclose(obs[t], (x - mean) / np.sqrt(var + 1e-8), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(st_end.obs_mean, mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(st_end.obs_var, var, rtol=1e-4, atol=1e-5)
    assert math.isclose(float(st_end.obs_count), 1e-4 + NUM_ENVS * (T + 1), rel_tol=1e-6)
    # Pooled over the whole (stationary-ish) sequence, the raw data normalised by the final stats is standardised.
    allx = np.concatenate([raw0[None], raw["raw_obs"]]).reshape(-1, 27)
    z = (allx - st_end.obs_mean) / np.sqrt(st_end.obs_var + 1e-8)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(z.var(0)[allx.var(0) > 1e-6], 1.0, atol=1e-2)


def test_reward_normalisation_matches_numpy(rollout):
    _, _, _, so, raw, st_end = rollout
    mean, var, count = 0.0, 1.0, 1e-4
    ret = np.zeros(NUM_ENVS)
    for t in range(T):
        r = np.asarray(raw["raw_reward"][t], np.float64)
        ret = ret * GAMMA * (1.0 - so.done[t]) + r
        mean, var, count = _np_merge(mean, var, count, ret)
        np.testing.assert_allclose(so.reward[t], r / np.sqrt(var + 1e-8), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(st_end.return_val, ret, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(st_end.rew_var, var, rtol=1e-4)


def test_episode_return_is_raw_sum(rollout):
    _, _, _, so, raw, _ = rollout
    acc = np.zeros(NUM_ENVS)
    length = np.zeros(NUM_ENVS, int)
    last = np.zeros(NUM_ENVS)
    for t in range(T):
        acc += raw["raw_reward"][t]
        length += 1
        d = so.done[t]
        np.testing.assert_allclose(so.episode_return[t][d], acc[d], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(so.episode_length[t][d], length[d])
        last = np.where(d, acc, last)
        np.testing.assert_allclose(so.returned_episode_returns[t], last, rtol=1e-5, atol=1e-5)
        acc[d] = 0.0
        length[d] = 0
    assert so.done.sum() >= NUM_ENVS


def test_normalisation_switches(rollout_all):
    obs, st = rollout_all[-1]
    np.testing.assert_array_equal(obs, st.brax_state.obs)  # raw observation passes through
    np.testing.assert_allclose(st.obs_count, 1e-4)  # statistics untouched
    np.testing.assert_array_equal(st.obs_mean, 0.0)
    # Same seeds, same raw reset observation as the normalising env.
    np.testing.assert_array_equal(st.brax_state.obs, rollout_all[1].brax_state.obs)


def test_ppo_two_updates(env):
    from openrl.optimizers.handcrafted import OptaxRule
    from openrl.ppo.train import PPOStatic, PPOTrainer

    static = PPOStatic(
        num_envs=NUM_ENVS * 2,
        num_steps=10,
        num_updates=2,
        num_minibatches=2,
        update_epochs=1,
        widths=(64, 64),
        activation="tanh",
    )
    ppo_env = BraxVecEnv("ant", static.num_envs, episode_length=EP_LEN)
    rule = OptaxRule("adam", (("lr", 3e-4), ("b1", 0.99), ("b2", 0.99)))
    trainer = PPOTrainer(static, ppo_env, rule)
    key, rp = jax.random.PRNGKey(0), rule.default_params()
    state, metrics = _compile(trainer.train, key, rp)(key, rp)
    for name in ("episode_return", "episode_length", "final_return", "value_loss", "actor_loss", "entropy"):
        v = np.asarray(metrics[name])
        assert v.shape == (2,), name
        assert np.all(np.isfinite(v)), (name, v)
    assert np.all(np.asarray(metrics["episodes"]) > 0)
    assert state.obs.shape == (static.num_envs, 27)


def test_validation_reads_brax_env_names_and_backends_from_the_installed_brax():
    """Start-up validation reads them from brax's source (no import of brax); they are brax's own tables."""
    import inspect

    from brax import envs as brax_envs
    from brax.envs import base

    from openrl.config.registry import _brax_source_keys, brax_backends, brax_env_names

    assert _brax_source_keys("envs/__init__.py", "_envs") == tuple(brax_envs._envs) == brax_env_names()
    assert "ant" in brax_env_names()
    source = inspect.getsource(base.PipelineEnv.__init__)
    assert set(brax_backends()) >= {"generalized", "spring", "positional"}
    assert all(f"'{b}'" in source for b in brax_backends())
