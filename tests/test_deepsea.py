"""openrl's traced-size Deep Sea (openrl.envs.deepsea), its config, and the `deepsea` experiments.

Dynamics are checked against closed-form returns and, step by step, against gymnax 1.0.1's DeepSea for
both action maps. Compile counts use the jitted function's cache size (``_cache_size``): a new size must
never add an entry.
"""

from __future__ import annotations

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from openrl.config import ConfigError, load_config, meta_job
from openrl.envs import make_env
from openrl.envs.deepsea import MOVE_COST, DeepSeaVecEnv, gymnax_action_map
from tiny import TINY_PPO

O0 = {"xla_backend_optimization_level": 0}
M = 12  # max_size for the unit tests (small: fast; large enough for several sizes)


def _rollout(env: DeepSeaVecEnv):
    """jit(size, actions[T, num_envs]) -> (obs[T], rewards[T], done[T], returned[T], final_obs[T])."""

    def run(size, actions):
        obs0, state = env.reset_with_size(size)

        def body(state, a):
            obs, state, out = env.step(jax.random.PRNGKey(0), state, a)
            return state, (obs, out.reward, out.done, out.returned_episode_returns, out.final_obs, out)

        _, ys = jax.lax.scan(body, state, actions)
        return obs0, ys

    return jax.jit(run)


@pytest.fixture(scope="module")
def fixed_map_rollout():
    env = DeepSeaVecEnv(num_envs=3, max_size=M, size_low=1, size_high=M)
    return env, _rollout(env)


# -- dynamics --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 4, 9, M])
def test_all_right_reaches_the_treasure(fixed_map_rollout, size):
    env, roll = fixed_map_rollout
    actions = jnp.ones((2 * size, env.num_envs), jnp.int32)  # two whole episodes
    _, (obs, reward, done, returned, _, out) = roll(size, actions)
    reward, done = np.asarray(reward), np.asarray(done)
    step_cost = np.float32(MOVE_COST) / np.float32(size)
    expected = np.full(size, -step_cost, np.float32)
    expected[-1] += 1.0  # the treasure: a "right" in the last column on the last row
    np.testing.assert_allclose(reward[:size, 0], expected, rtol=0, atol=1e-7)
    np.testing.assert_allclose(reward[size:, 0], expected, rtol=0, atol=1e-7)  # auto-reset, same again
    # episode length = size: done exactly at steps size and 2*size
    assert done[:, 0].tolist() == ([False] * (size - 1) + [True]) * 2
    ret = np.asarray(returned)[-1]
    np.testing.assert_allclose(ret, 1.0 - MOVE_COST, atol=1e-6)  # 0.99 for every size
    assert np.asarray(out.episode_length)[size - 1].tolist() == [size] * env.num_envs
    assert not np.asarray(out.truncated).any() and np.array_equal(np.asarray(out.terminated), done)


@pytest.mark.parametrize("size", [4, 9])
def test_any_left_loses_the_treasure(fixed_map_rollout, size):
    env, roll = fixed_map_rollout
    for k in range(size):  # one "left" at step k, "right" everywhere else; also all-left
        actions = np.ones((size, env.num_envs), np.int32)
        actions[k] = 0
        actions[:, 2] = 0  # env 2: always left, the local optimum (return 0)
        _, (_, reward, done, returned, _, _) = roll(size, jnp.asarray(actions))
        ret = np.asarray(returned)[-1]
        assert np.asarray(done)[-1].all() and not np.asarray(done)[:-1].any()
        np.testing.assert_allclose(
            ret[0], -(size - 1) * MOVE_COST / size, atol=1e-6
        )  # rights cost, no treasure
        assert ret[2] == 0.0


def test_observation_is_a_padded_one_hot(fixed_map_rollout):
    env, roll = fixed_map_rollout
    size = 5
    actions = jnp.asarray(np.tile(np.array([[1, 0, 1]], np.int32), (size, 1)))  # right / left / right
    obs0, (obs, _, done, _, final_obs, _) = roll(size, actions)
    assert obs0.dtype == jnp.bool_ and obs0.shape == (env.num_envs, M * M)
    grid0 = np.asarray(obs0).reshape(-1, M, M)
    assert grid0.sum() == env.num_envs and grid0[:, 0, 0].all()  # start: top-left
    grid = np.asarray(obs).reshape(size, -1, M, M)
    for t in range(size - 1):  # after step t the agent is on row t + 1
        rows, cols = np.nonzero(grid[t, 0])
        assert rows.tolist() == [t + 1] and cols.tolist() == [t + 1]  # always right: the diagonal
        rows, cols = np.nonzero(grid[t, 1])
        assert rows.tolist() == [t + 1] and cols.tolist() == [0]  # always left: clipped at column 0
        assert grid[t].sum() == env.num_envs  # exactly one hot cell per env
        assert grid[t][:, size:, :].sum() == 0 and grid[t][:, :, size:].sum() == 0  # padding stays zero
    assert grid[size - 1].reshape(-1, M, M)[:, 0, 0].all()  # auto-reset obs after the last step
    assert not np.asarray(final_obs)[size - 1].any()  # the finished episode's obs is all zeros (gymnax)


# -- size: sampled per run, shared by its envs, traced -----------------------------------------------------
def test_size_is_sampled_per_run_in_range_and_shared():
    env = DeepSeaVecEnv(num_envs=4, max_size=M, size_low=3, size_high=8)
    keys = jax.random.split(jax.random.PRNGKey(0), 400)
    _, states = jax.jit(jax.vmap(env.reset))(keys)
    sizes = np.asarray(states.size)
    assert sizes.shape == (400,)  # one size per run (a scalar in each run's state), not per env
    assert set(sizes.tolist()) == set(range(3, 9))  # every size of [3, 8] drawn, nothing else
    assert env.max_episode_steps == 8

    # every env of a run lives in the run's size: all episodes last exactly `size` steps
    def episode_lengths(key):
        _, state = env.reset(key)

        def body(state, k):
            a = jax.random.bernoulli(k, 0.5, (env.num_envs,)).astype(jnp.int32)
            _, state, out = env.step(k, state, a)
            return state, jnp.where(out.done, out.episode_length, 0)

        return state.size, jax.lax.scan(body, state, jax.random.split(key, 20))[1]

    size, lengths = jax.jit(jax.vmap(episode_lengths))(keys[:8])
    for s, ls in zip(np.asarray(size), np.asarray(lengths)):
        assert set(ls[ls > 0].tolist()) == {s}


def test_fixed_size_from_config_and_validation():
    _, cfg = load_config(["experiment=ppo", "env=deepsea_random", "env.size=40"])
    env = make_env(cfg.env, 8)
    assert isinstance(env, DeepSeaVecEnv) and (env.size_low, env.size_high, env.max_size) == (40, 40, 50)
    assert env.obs_dim == 2500 and not env.randomize_actions
    _, state = env.reset(jax.random.PRNGKey(3))
    assert int(state.size) == 40
    _, cfg = load_config(["experiment=ppo", "env=deepsea_random"])
    env = make_env(cfg.env, 8)
    assert (env.size_low, env.size_high) == (4, 26)  # the paper's training range
    for overrides, expected in [
        (["env.size=51"], "env.size=51: must lie in [1, env.max_size=50]"),
        (["env.size=0"], "env.size=0"),
        (["env.size_low=30"], "env.size_low=30: must be <= env.size_high=26"),
        (["env.max_size=20"], "env.size_high=26: must lie in [1, env.max_size=20]"),
        (["env.max_size=0"], "env.max_size=0"),
    ]:
        with pytest.raises(ConfigError) as e:
            load_config(["experiment=ppo", "env=deepsea_random", *overrides])
        assert expected in str(e.value)


def test_one_compiled_program_for_every_size(fixed_map_rollout):
    env, roll = fixed_map_rollout
    before = roll._cache_size()
    for size in (2, 7, M):  # sizes as traced arguments
        roll(size, jnp.ones((M, env.num_envs), jnp.int32))
    assert roll._cache_size() - before <= 1  # at most the first call compiled

    # sampled sizes inside a whole PPO run: different keys -> different sizes, one program
    _, cfg = load_config(
        [
            "experiment=ppo",
            "env=deepsea_random",
            "env.max_size=8",
            "env.size_low=2",
            "env.size_high=8",
            *TINY_PPO,
        ]
    )
    from openrl.builders import build_trainer

    trainer, rp, hp = build_trainer(cfg)
    train = jax.jit(lambda k: trainer.train(k, rp, hp)[0].env_state.size, compiler_options=O0)
    sizes = {int(train(jax.random.PRNGKey(s))) for s in range(6)}
    assert len(sizes) > 1 and train._cache_size() == 1


# -- the action map switch, and parity with gymnax 1.0.1 -------------------------------------------------------
@pytest.mark.parametrize("randomize", [False, True])
def test_matches_gymnax_step_by_step(randomize):
    n, T = 16, 30
    for size in (5, 11):
        env = DeepSeaVecEnv(
            num_envs=n, max_size=M, size_low=size, size_high=size, randomize_actions=randomize
        )
        genv, params = gymnax.make("DeepSea-bsuite", size=size)
        params = params.replace(randomize_actions=randomize)
        actions = jax.random.bernoulli(jax.random.PRNGKey(size), 0.8, (T, n)).astype(jnp.int32)
        best = np.diag(np.asarray(genv.action_mapping)) if randomize else np.ones(size, np.int32)
        actions = actions.at[:size, 0].set(best)  # env 0 walks the diagonal: the optimal first episode
        _, (obs, reward, done, returned, final_obs, _) = _rollout(env)(size, actions)

        def gym(actions, genv=genv, params=params):
            keys = jax.random.split(jax.random.PRNGKey(1), n)
            _, s = jax.vmap(genv.reset, in_axes=(0, None))(keys, params)

            def body(s, a):
                o, s, r, term, trunc, info = jax.vmap(genv.step, in_axes=(0, 0, 0, None))(keys, s, a, params)
                return s, (o, r, term, info["final_observation"])

            return jax.lax.scan(body, s, actions)[1]

        g_obs, g_rew, g_term, g_final = jax.jit(gym)(actions)
        # equal up to float32 rounding (XLA may fold gymnax's constant size into a reciprocal)
        np.testing.assert_allclose(np.asarray(reward), np.asarray(g_rew), rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(np.asarray(done), np.asarray(g_term))
        crop = lambda x: np.asarray(x).reshape(T, n, M, M)[:, :, :size, :size]  # noqa: E731
        np.testing.assert_array_equal(crop(obs), np.asarray(g_obs) > 0)
        np.testing.assert_array_equal(crop(final_obs), np.asarray(g_final) > 0)
        np.testing.assert_allclose(np.asarray(returned)[size - 1, 0], 1.0 - MOVE_COST, atol=1e-6)


def test_action_map_switch():
    size = 9
    fixed = DeepSeaVecEnv(num_envs=2, max_size=M, size_low=size, size_high=size)
    rand = DeepSeaVecEnv(num_envs=2, max_size=M, size_low=size, size_high=size, randomize_actions=True)
    rows, cols = jnp.arange(size).repeat(size), jnp.tile(jnp.arange(size), size)
    s = jnp.asarray(size)
    assert np.all(np.asarray(fixed._right_action(rows, cols, s)) == 1)  # gymnax 0.0.6: 1 is always right
    rmap = np.asarray(rand._right_action(rows, cols, s)).reshape(size, size)
    genv, _ = gymnax.make("DeepSea-bsuite", size=size)
    np.testing.assert_array_equal(rmap, np.asarray(genv.action_mapping))  # gymnax 1.0.1's fixed map
    assert 0 < rmap.mean() < 1
    # the map is a fixed function of the size, the same in every run
    assert gymnax_action_map(M) is gymnax_action_map(M)
    # env.randomize_actions reaches both Deep Sea families
    _, cfg = load_config(["experiment=ppo", "env=deepsea", "env.randomize_actions=true"])
    assert make_env(cfg.env, 2).params.randomize_actions is True
    _, cfg = load_config(["experiment=ppo", "env=deepsea"])
    assert make_env(cfg.env, 2).params.randomize_actions is False


def test_action_map_with_legacy_threefry():
    """Non-partitionable threefry: per-size maps (the flat-index shortcut does not hold there)."""
    prev = jax.config.jax_threefry_partitionable
    jax.config.update("jax_threefry_partitionable", False)
    try:
        env = DeepSeaVecEnv(num_envs=1, max_size=5, size_low=1, size_high=5, randomize_actions=True)
        for size in (3, 5):
            rows, cols = jnp.arange(size).repeat(size), jnp.tile(jnp.arange(size), size)
            got = np.asarray(env._right_action(rows, cols, jnp.asarray(size))).reshape(size, size)
            np.testing.assert_array_equal(
                got, np.asarray(gymnax.make("DeepSea-bsuite", size=size)[0].action_mapping)
            )
    finally:
        jax.config.update("jax_threefry_partitionable", prev)


# -- experiments ---------------------------------------------------------------------------------------------
def test_deepsea_experiments_compose():
    _, cfg = load_config(["experiment=deepsea"])
    assert cfg.mode == "meta" and cfg.es.num_generations == 48 and cfg.env.family == "deepsea"
    assert cfg.env.size is None and (cfg.env.size_low, cfg.env.size_high) == (4, 26)
    assert cfg.optimizer.name == "open" and (cfg.optimizer.gru_features, cfg.optimizer.hidden) == (8, 16)
    for opt in ("open", "open_separated"):
        for stoch in ("true", "false"):
            _, c = load_config(
                ["experiment=deepsea", f"optimizer={opt}", f"optimizer.use_stochasticity={stoch}"]
            )
            assert c.optimizer.separated is (opt == "open_separated")
    for budget in ("smoke", "small", "paper"):  # evaluation runs as long as the training runs
        _, tr = load_config(["experiment=deepsea", f"budget={budget}"])
        _, ev = load_config(["experiment=deepsea_eval", f"budget={budget}", "env.size=50"])
        assert ev.mode == "ppo" and ev.env.size == 50 and ev.env.max_size == tr.env.max_size
        assert ev.ppo.total_timesteps == tr.ppo.total_timesteps
    _, ev = load_config(["experiment=deepsea_eval"])
    assert ev.num_seeds == 128
    # openrl-eval form: the four presets of the 2x2 study, each an existing optimizer config
    from openrl.jobs.evaluate import parse_entry

    presets = {parse_entry(e).preset for e in ev.eval.optimizers}
    assert presets == {"open", "open_separated", "open_no_stochasticity", "open_separated_no_stochasticity"}
    _, c = load_config(["experiment=deepsea", "optimizer=open_separated_no_stochasticity"])
    assert c.optimizer.separated is True and c.optimizer.use_stochasticity is False


def test_deepsea_sweeps_are_the_papers_grids():
    """experiment=deepsea sweeps the 2x2 study; deepsea_eval sweeps sizes 4..50 (Figs. 6 and 17)."""
    import yaml
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from openrl.config import CONF_DIR

    def grid(name: str) -> dict:
        params = yaml.safe_load((CONF_DIR / "experiment" / f"{name}.yaml").read_text())["hydra"]["sweeper"][
            "params"
        ]
        parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
        return {o.key_or_group: list(o.sweep_iterator()) for o in parsed}

    assert grid("deepsea") == {
        "optimizer": ["open", "open_separated"],
        "optimizer.use_stochasticity": [True, False],
    }
    assert grid("deepsea_eval") == {"env.size": list(range(4, 51, 2))}


def test_deepsea_meta_runs_one_tiny_generation():
    from openrl.jobs.meta import build_meta

    overrides = [
        "experiment=deepsea",
        "budget=smoke",
        "es.population_size=2",
        *TINY_PPO,
        "env.max_size=12",
        "env.size_high=12",
    ]
    _, cfg = load_config(overrides)
    meta = build_meta(meta_job(cfg, overrides))
    assert isinstance(meta.tasks[0].trainer.env, DeepSeaVecEnv)
    state, m = jax.jit(meta.generation, compiler_options=O0)(
        meta.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
    )
    m = jax.device_get(m)
    assert m["raw"].shape == (2, 1) and np.all(np.isfinite(m["raw"])) and int(m["nan_count"]) == 0
    assert np.all(np.abs(m["raw"]) <= 1.0)  # Deep Sea returns lie in [-0.01, 0.99]
    assert int(state.generation_counter) == 1
