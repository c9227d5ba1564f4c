"""Gridworld suite (openrl.envs.gridworld): dynamics on hand-made levels, observation sizes, level
sampling ranges (statistically), maze connectivity, the spawn rule switch, antithetic task sampling
(pair keys and the sign of the ES step), and tiny end-to-end runs through ``openrl-train``.

Hand-made levels run in a maze-type env (tabular: objects sit at known static cells) or, for random
respawn, a ``rand_all``-type env with a state built by hand. Every jitted function is compiled once per
module and reused across levels (the level is a traced input).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import deque
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from openrl.config import ConfigError, load_config
from openrl.config.schema import OpenESConfig
from openrl.config.validate import GRIDWORLD_LEVELS
from openrl.envs.gridworld import LEVELS, TIME_SCALE, EnvState, GridState, GridWorldVecEnv, distinct_cells
from openrl.envs.gridworld_mazes import MAZE_NAMES, MAZE_SIZE, maze_walls
from openrl.meta.trainer import MetaTrainer, Task

O0 = {"xla_backend_optimization_level": 0}
REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
GRID_OPEN = REF / "pretrained" / "gridworld_OPEN.npy"
OBS_DIMS = {
    "rand_all": 601,
    "rand_dense": 485,
    "rand_sparse": 148,
    "rand_long": 364,
    "standard_maze": 1353,
    "sixteen_rooms": 1353,
    "labyrinth": 1353,
}
UP, DOWN, LEFT, RIGHT, NOOP = range(5)


# -- hand-made levels in a tabular (maze-type: G=13, N=T=3) env ---------------------------------------------
TAB = GridWorldVecEnv("labyrinth", 1)
_tab_reset = jax.jit(TAB.reset_to_level, compiler_options=O0)
_tab_step = jax.jit(TAB.step, compiler_options=O0)


class Walker:
    """Steps one env of ``TAB`` through a hand-made level; records what each step reported."""

    def __init__(self, **level):
        self.level = TAB.make_level(**level)
        self.obs, self.state = _tab_reset(jax.random.PRNGKey(0), self.level)
        self.key = jax.random.PRNGKey(1)

    def step(self, action: int):
        self.key, k = jax.random.split(self.key)
        self.obs, self.state, out = _tab_step(k, self.state, jnp.asarray([action]))
        return jax.tree.map(lambda x: np.asarray(x)[0], out)

    @property
    def pos(self) -> int:
        return int(self.state.env.pos[0])

    @property
    def exists(self) -> list[bool]:
        return np.asarray(self.state.env.exists[0]).tolist()

    @property
    def time_feature(self) -> float:
        return float(self.obs[0, -1])


def one_object(**kw):
    """A 4x4 level, start at cell 1, one object at cell 2 (type 0, reward 0.7)."""
    args = dict(grid_size=4, start_pos=1, obj_pos=[2], rewards=[0.7], p_terminate=[0.0], p_respawn=[0.0])
    args.update(kw)
    return Walker(**args)


def test_moves_walls_and_grid_edges():
    w = one_object(walls=[5], obj_pos=[15])  # 4x4: cell 5 = (1, 1) is a wall, below the start (0, 1)
    w.step(DOWN)
    assert w.pos == 1  # into a wall: stay
    w.step(UP)
    assert w.pos == 1  # off the top edge: stay
    w.step(LEFT)
    assert w.pos == 0
    w.step(LEFT)
    assert w.pos == 0  # off the left edge: stay
    w.step(DOWN)
    assert w.pos == 4  # the flat index uses the level's side g=4, not G=13
    w.step(NOOP)
    assert w.pos == 4
    for _ in range(5):
        w.step(RIGHT)
    assert w.pos == 4  # (1, 1) is a wall: blocked from the left too


def test_collect_reward_and_no_respawn_at_p0():
    w = one_object()
    out = w.step(RIGHT)
    assert w.pos == 2 and out.reward == pytest.approx(0.7) and not out.done
    assert w.exists == [False, False, False]  # slots >= n_objs never exist
    rewards = [float(w.step(a).reward) for a in [LEFT, RIGHT] * 20 + [NOOP] * 10]
    assert rewards == [0.0] * 50  # p_respawn = 0: gone for the rest of the episode


def test_respawn_at_p1_is_absent_for_one_step_then_collectable_in_place():
    w = one_object(p_respawn=[1.0])
    assert w.step(RIGHT).reward == pytest.approx(0.7)
    assert w.exists[0] is False  # collected: absent for at least one observation
    assert w.step(NOOP).reward == 0.0 and w.exists[0] is True  # respawns at its static cell, under us
    assert w.step(NOOP).reward == pytest.approx(0.7)  # standing still collects it
    assert [float(w.step(NOOP).reward) for _ in range(6)] == pytest.approx([0.0, 0.7] * 3)


def test_terminate_at_p1_and_never_at_p0():
    w = one_object(p_terminate=[1.0], p_respawn=[1.0])
    out = w.step(RIGHT)
    assert out.done and out.terminated and not out.truncated and out.reward == pytest.approx(0.7)
    assert out.episode_return == pytest.approx(0.7) and out.returned_episode_returns == pytest.approx(0.7)
    assert w.pos == 1 and w.exists[0] and w.time_feature == 0.0  # auto-reset into the same level
    w = one_object(p_terminate=[0.0], p_respawn=[1.0], max_steps=1000)
    outs = [w.step(a) for a in [RIGHT] + [NOOP] * 40]
    assert not any(o.done for o in outs)
    assert sum(o.reward for o in outs) == pytest.approx(0.7 * 21)


def test_time_limit_truncates_and_resets():
    w = one_object(max_steps=5, obj_pos=[15])
    feats, outs = [], []
    for _ in range(7):
        outs.append(w.step(NOOP))
        feats.append(w.time_feature)
    assert [bool(o.done) for o in outs] == [False] * 4 + [True, False, False]
    assert [bool(o.truncated) for o in outs] == [False] * 4 + [True, False, False]
    assert not any(o.terminated for o in outs)
    np.testing.assert_allclose(feats, np.array([1, 2, 3, 4, 0, 1, 2]) * TIME_SCALE, rtol=1e-6)
    assert outs[4].episode_length == 5


def test_tabular_obs_is_one_hot_of_cell_and_existence_pattern():
    w = one_object(obj_pos=[2, 3, 7], rewards=[1, 1, 1], p_terminate=[0, 0, 0], p_respawn=[0, 0, 0])
    G2 = MAZE_SIZE**2
    assert w.obs.shape == (1, G2 * 8 + 1)
    assert int(np.argmax(w.obs[0, :-1])) == 1 + G2 * 0b111 and w.obs[0, :-1].sum() == 1
    w.step(RIGHT)  # collects slot 0
    assert int(np.argmax(w.obs[0, :-1])) == 2 + G2 * 0b110


def test_two_objects_of_one_type_and_signed_rewards():
    w = one_object(obj_pos=[2, 3], obj_ids=[0, 0, 1], rewards=[0.5, -2.0], p_terminate=[0.0, 0.0])
    assert w.step(RIGHT).reward == pytest.approx(0.5)
    assert w.step(RIGHT).reward == pytest.approx(0.5)  # same type, same reward


# -- random respawn (non-tabular) ----------------------------------------------------------------------
RA = GridWorldVecEnv("rand_all", 1)
RA_CLEAN = GridWorldVecEnv("rand_all", 1, faithful_sampling=False)


def _hand_state(env, level, pos, obj_pos, exists):
    N = env.spec.objs
    z = jnp.zeros((1,), jnp.int32)
    st = EnvState(
        time=z,
        pos=jnp.asarray([pos], jnp.int32),
        obj_pos=jnp.asarray([obj_pos], jnp.int32),
        exists=jnp.asarray([exists + [False] * (N - len(exists))]),
        episode_return=jnp.zeros((1,)),
        episode_length=z,
        returned_episode_returns=jnp.zeros((1,)),
        returned_episode_lengths=z,
    )
    return GridState(level=level, env=st)


def test_random_respawn_takes_a_fresh_valid_cell():
    """rand_all-type level: 5x5, walls at 7 and 8; slot 0 collected, slot 1 absent and respawning (p=1)."""
    level = RA.make_level(
        grid_size=5, start_pos=6, walls=[7, 8], rewards=[1, 0, 0, 0, 0], p_terminate=[0] * 5,
        p_respawn=[0, 1, 0, 0, 0], n_objs=2,
    )  # fmt: skip
    step = jax.jit(jax.vmap(RA.step, in_axes=(0, None, None)), compiler_options=O0)
    state = _hand_state(RA, level, pos=6, obj_pos=[11, 20, 21, 22, 23], exists=[True, False])
    keys = jax.random.split(jax.random.PRNGKey(0), 3000)
    _, new, out = step(keys, state, jnp.asarray([DOWN]))  # 6 -> 11: collects slot 0
    new = jax.device_get(new.env)
    assert np.all(np.asarray(out.reward) == 1.0)
    assert not new.exists[:, 0, 0].any()  # collected: cannot respawn on the same step
    assert new.exists[:, 0, 1].all() and not new.exists[:, 0, 2:].any()
    fresh = new.obj_pos[:, 0, 1]
    # fresh cell: inside the 5x5 grid, not the agent's new cell, not any slot's current cell, not 0 / 1
    assert set(np.unique(fresh)) == set(range(25)) - {0, 1, 11, 20, 21, 22, 23}  # walls 7, 8 included!
    counts = np.bincount(fresh, minlength=25)[np.unique(fresh)]
    assert counts.min() > 0.6 * counts.mean()  # ~uniform
    np.testing.assert_array_equal(new.obj_pos[:, 0, 0], 11)  # existing/collected slots keep their cell
    # the clean rule: walls excluded, cells 0 and 1 allowed
    _, new_c, _ = jax.jit(jax.vmap(RA_CLEAN.step, in_axes=(0, None, None)), compiler_options=O0)(
        keys, state, jnp.asarray([DOWN])
    )
    assert set(np.unique(np.asarray(new_c.env.obj_pos[:, 0, 1]))) == set(range(25)) - {
        7,
        8,
        11,
        20,
        21,
        22,
        23,
    }


def test_reset_objects_follow_the_spawn_rule():
    """Objects at reset over many rand_all levels: faithful = never on cells 0/1, sometimes on walls;
    clean = never on walls. Always distinct, inside the level's grid, never on the agent."""
    keys = jax.random.split(jax.random.PRNGKey(3), 1000)
    for env, faithful in (
        (GridWorldVecEnv("rand_all", 4), True),
        (GridWorldVecEnv("rand_all", 4, False), False),
    ):
        _, st = jax.jit(jax.vmap(env.reset), compiler_options=O0)(keys)
        st = jax.device_get(st)
        lv, e = st.level, st.env
        cells = e.obj_pos  # (levels, envs, N)
        exists = e.exists
        g2 = (lv.grid_size**2)[:, None, None]
        assert np.all(cells < g2) and np.all(cells != lv.start_pos[:, None, None])
        assert all(len(set(c)) == c.size for c in cells.reshape(-1, cells.shape[-1]))
        on_wall = np.take_along_axis(lv.walls[:, None, :].repeat(4, 1), cells, axis=-1)
        frac = on_wall[exists].mean()
        if faithful:
            assert not np.isin(cells, [0, 1]).any()
            assert 0.08 < frac < 0.25, frac  # the spec measured 15.6%
        else:
            assert frac == 0.0 and np.isin(cells[exists], [0, 1]).any()


# -- observations and level sampling ---------------------------------------------------------------------
def test_level_names_agree_with_validation():
    assert tuple(LEVELS) == GRIDWORLD_LEVELS


@pytest.mark.parametrize("level", LEVELS)
def test_obs_sizes(level):
    env = GridWorldVecEnv(level, 3)
    assert env.obs_dim == OBS_DIMS[level] and env.action_dim == 5 and env.discrete
    obs, st = jax.jit(env.reset, compiler_options=O0)(jax.random.PRNGKey(0))
    assert obs.shape == (3, OBS_DIMS[level]) and obs.dtype == jnp.float32
    assert np.all(np.asarray(obs[:, -1]) == 0.0)  # time feature
    assert np.all(np.asarray(st.env.pos) == int(st.level.start_pos))  # one level: one start cell
    if env.spec.tabular:
        assert np.all(np.asarray(obs[:, :-1]).sum(1) == 1)
    else:
        G2 = env.spec.grid**2
        agent = np.asarray(obs[:, :G2])
        assert np.all(agent.sum(1) == 1) and np.all(agent.argmax(1) == int(st.level.start_pos))
        assert np.all(np.asarray(obs[:, G2:-1]).sum(1) == int(st.level.n_objs))  # one mark per object


def test_inclusive_ranges_switch_enlarges_rand_all():
    env = GridWorldVecEnv("rand_all", 2, inclusive_ranges=True)
    assert env.obs_dim == 11 * 11 * 7 + 1
    keys = jax.random.split(jax.random.PRNGKey(0), 3000)
    lv = jax.device_get(jax.jit(jax.vmap(env.sample_level), compiler_options=O0)(keys))
    assert set(lv.n_objs.tolist()) == set(range(1, 7)) and set(lv.grid_size.tolist()) == set(range(4, 12))


def _levels(name: str, n: int = 4000, seed: int = 0):
    env = GridWorldVecEnv(name, 1)
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    return jax.device_get(jax.jit(jax.vmap(env.sample_level), compiler_options=O0)(keys)), env


def _check_cells(lv, env):
    g2 = lv.grid_size**2
    cells = np.concatenate([lv.start_pos[:, None], lv.static_obj_pos], axis=1)
    assert np.all(cells < g2[:, None])
    assert not np.take_along_axis(lv.walls, cells, axis=1).any()  # start and static cells are free
    assert all(len(set(c)) == c.size for c in cells)


def test_rand_all_sampling_ranges():
    lv, env = _levels("rand_all")
    assert set(lv.n_objs.tolist()) == {1, 2, 3, 4, 5}  # half-open [1, 6)
    assert set(lv.grid_size.tolist()) == set(range(4, 11))  # half-open [4, 11)
    assert np.all(np.abs(np.bincount(lv.n_objs)[1:] / len(lv.n_objs) - 0.2) < 0.03)
    assert lv.max_steps.min() >= 20 and lv.max_steps.max() <= 750
    assert 105 < np.median(lv.max_steps) < 140  # log-uniform: median sqrt(20 * 750) ~ 122
    assert np.all((lv.rewards[:, 0] >= 0) & (lv.rewards[:, 0] < 1))
    assert np.all((lv.rewards[:, 1:] >= -1) & (lv.rewards[:, 1:] < 1)) and lv.rewards[:, 1:].min() < -0.99
    assert abs(lv.rewards[:, 1:].mean()) < 0.03
    for p, lo, hi in ((lv.p_terminate, 0.01, 1.0), (lv.p_respawn, 0.001, 0.1)):
        assert p.min() >= lo * 0.9999 and p.max() <= hi * 1.0001
        assert abs(np.log(p).mean() - 0.5 * (np.log(lo) + np.log(hi))) < 0.05  # log-uniform
    np.testing.assert_array_equal(lv.obj_ids, np.tile(np.arange(5), (len(lv.n_objs), 1)))
    assert np.all(lv.walls.sum(1) == 15)  # drawn over the 10x10 maximum grid...
    inside = np.array([w[: g * g].sum() for w, g in zip(lv.walls, lv.grid_size)])
    for g in (4, 7, 10):  # ... so 15 g^2 / 100 fall inside on average (spec: 2.38, 7.35, 15.0)
        assert abs(inside[lv.grid_size == g].mean() - 15 * g * g / 100) < 0.5 + 0.05 * g * g / 10
    _check_cells(lv, env)


@pytest.mark.parametrize("name", MAZE_NAMES)
def test_maze_sampling(name):
    lv, env = _levels(name, 1500)
    np.testing.assert_array_equal(lv.walls, np.tile(maze_walls(name), (len(lv.n_objs), 1)))
    assert np.all(lv.grid_size == 13) and np.all(lv.n_objs == 3)
    assert lv.max_steps.min() == 25 and lv.max_steps.max() == 50
    assert np.all((lv.rewards >= 0) & (lv.rewards < 1))
    assert lv.p_terminate.min() >= 0.0099 and lv.p_respawn.max() <= 0.10001
    _check_cells(lv, env)
    free = np.flatnonzero(~maze_walls(name))
    assert len(np.unique(lv.start_pos)) > 0.6 * len(free)  # start spread over the free cells


@pytest.mark.parametrize(
    "name,g,ids,r,pt,pr,steps",
    [
        ("rand_dense", 11, [0, 0, 1, 2], [1, -1, -1], [0, 0.5, 0], [0.05, 0.1, 0.5], 500),
        ("rand_sparse", 7, [0, 1, 1], [1, -1], [1, 1], [1, 1], 50),
        ("rand_long", 11, [0, 0, 1, 1], [1, -1], [0, 0.5], [0.01, 1.0], 1000),
    ],
)
def test_lpg_levels_are_fixed_but_the_start(name, g, ids, r, pt, pr, steps):
    lv, env = _levels(name, 500)
    assert np.all(lv.grid_size == g) and np.all(lv.max_steps == steps) and not lv.walls.any()
    assert np.all(lv.obj_ids == ids) and np.all(lv.n_objs == len(ids))
    np.testing.assert_allclose(lv.rewards, np.tile(r, (500, 1)))
    np.testing.assert_allclose(lv.p_terminate, np.tile(pt, (500, 1)))
    np.testing.assert_allclose(lv.p_respawn, np.tile(pr, (500, 1)))
    assert len(np.unique(lv.start_pos)) > 0.8 * g * g


@pytest.mark.parametrize("name", MAZE_NAMES)
def test_maze_is_connected(name):
    walls = maze_walls(name).reshape(MAZE_SIZE, MAZE_SIZE)
    free = {(r, c) for r in range(MAZE_SIZE) for c in range(MAZE_SIZE) if not walls[r, c]}
    seen, todo = {min(free)}, deque([min(free)])
    while todo:
        r, c = todo.popleft()
        for nb in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if nb in free and nb not in seen:
                seen.add(nb)
                todo.append(nb)
    assert seen == free
    assert {"standard_maze": 73, "sixteen_rooms": 46, "labyrinth": 72}[name] == walls.sum()


def test_distinct_cells_is_uniform_over_valid_cells():
    valid = jnp.asarray(np.random.default_rng(0).random(30) < 0.5)
    draws = np.asarray(
        jax.jit(jax.vmap(lambda k: distinct_cells(k, valid, 4)))(
            jax.random.split(jax.random.PRNGKey(0), 20000)
        )
    )
    assert np.all(np.asarray(valid)[draws]) and all(len(set(d)) == 4 for d in draws[:2000])
    for slot in range(4):  # every slot (not only the first draw) is uniform over the valid cells
        counts = np.bincount(draws[:, slot], minlength=30)[np.asarray(valid)]
        assert np.abs(counts / 20000 * valid.sum() - 1).max() < 0.1


def test_one_level_per_run_each_env_at_its_own_pace():
    env = GridWorldVecEnv("rand_all", 16)
    reset = jax.jit(env.reset, compiler_options=O0)
    _, st = reset(jax.random.PRNGKey(0))
    _, st2 = reset(jax.random.PRNGKey(1))
    assert int(st.level.grid_size) != int(st2.level.grid_size) or int(st.level.max_steps) != int(
        st2.level.max_steps
    )  # the reset key picks the level

    def roll(st, key):
        def body(st, k):
            k1, k2 = jax.random.split(k)
            _, st, out = env.step(k2, st, jax.random.randint(k1, (16,), 0, 5))
            return st, out.done

        return jax.lax.scan(body, st, jax.random.split(key, 200))

    end, dones = jax.jit(roll, compiler_options=O0)(st, jax.random.PRNGKey(2))
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), end.level, st.level))  # fixed level
    assert len(np.unique(np.asarray(end.env.time))) > 1  # envs reset independently


# -- config ------------------------------------------------------------------------------------------------
def test_config_composes_and_rejects_unknown_level():
    _, cfg = load_config(["experiment=ppo", "env=gridworld", "env.level=labyrinth"])
    assert cfg.env.family == "gridworld" and cfg.env.level == "labyrinth"
    p = cfg.ppo
    assert (p.num_envs, p.num_steps, p.total_timesteps, p.num_minibatches, p.update_epochs) == (
        1024, 20, 30_000_000, 16, 2,
    )  # fmt: skip
    assert (p.width, p.activation) == (16, "tanh")
    from openrl.config import resolve_optimizer

    adam = resolve_optimizer(cfg.optimizer, cfg.env.name)
    assert (adam.lr, adam.b1, adam.b2, adam.anneal_lr) == (1e-4, 0.99, 0.99, True)
    with pytest.raises(ConfigError) as e:
        load_config(["experiment=ppo", "env=gridworld", "env.level=maze"])
    assert "env.level='maze'" in str(e.value) and "labyrinth" in str(e.value)


def test_meta_experiment_config():
    for budget in ("paper", "small", "smoke"):
        _, cfg = load_config(["experiment=gridworld", f"budget={budget}"])
        assert cfg.mode == "meta" and cfg.meta.antithetic_task_sampling and cfg.env.level == "rand_all"
        assert cfg.es.fitness_shaping == "identity"
    _, cfg = load_config(["experiment=gridworld"])
    es = cfg.es
    assert (es.population_size, es.sigma_init, es.sigma_decay, es.lr, es.lr_decay) == (
        64,
        0.01,
        0.999,
        0.005,
        0.99,
    )
    assert cfg.meta.eval_every == 9 and es.num_generations == 350


# -- antithetic task sampling ----------------------------------------------------------------------------------
class KeyTrainer:
    """Return = a number derived from the run key only (to see which members share keys)."""

    def train(self, key, rule_params, hp):
        v = jax.random.uniform(key)
        return None, {"final_return": jnp.stack([jnp.zeros_like(v), v])}


class ScaledTrainer:
    """Return = -scale(key) * ||theta - 1||^2: a per-level reward scale spanning 3 orders of magnitude."""

    def train(self, key, rule_params, hp):
        flat = jnp.concatenate([x.ravel() for x in jax.tree.leaves(rule_params)])
        scale = 10.0 ** jax.random.uniform(key, minval=-1.0, maxval=2.0)
        f = -scale * jnp.sum((flat - 1.0) ** 2)
        return None, {"final_return": jnp.stack([jnp.zeros_like(f), f])}


SOL = {"w": np.zeros(6, np.float32)}


def _meta(trainer, pop=8, ats=True, **kw):
    es = OpenESConfig(population_size=pop, sigma_init=0.1, lr=0.05, fitness_shaping="identity")
    return MetaTrainer([Task("t", trainer, None, 1.0)], SOL, es, antithetic_task_sampling=ats, **kw)


def test_antithetic_pairs_share_keys_and_pairs_differ():
    meta = _meta(KeyTrainer(), pop=8, num_rollouts=2)
    state = meta.init(jax.random.PRNGKey(0))
    _, m = jax.jit(meta.generation, compiler_options=O0)(state, jax.random.PRNGKey(1))
    raw = np.asarray(m["raw"][:, 0])
    np.testing.assert_array_equal(raw[:4], raw[4:])  # member i and its antithetic partner i + N/2
    assert len(np.unique(raw[:4])) == 4  # each pair its own keys (its own level)
    chunked = _meta(KeyTrainer(), pop=8, num_rollouts=2, population_chunk=2)
    _, mc = jax.jit(chunked.generation, compiler_options=O0)(state, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(np.asarray(mc["raw"]), np.asarray(m["raw"]))
    # without task sampling every member sees the same seeds (unchanged path)
    _, m0 = jax.jit(_meta(KeyTrainer(), pop=8, ats=False).generation, compiler_options=O0)(
        state, jax.random.PRNGKey(1)
    )
    assert len(np.unique(np.asarray(m0["raw"]))) == 1


def test_antithetic_step_moves_toward_the_better_member(monkeypatch):
    """A planted pair: the better member (closer to the target) must pull the ES mean toward it after
    tell (the authors' HEAD flips this sign; open-reference.md §7 bug 2 -- reproduced below, it moves
    the mean away, so this test tells the two apart)."""
    from openrl.meta import fitness as F

    meta = _meta(ScaledTrainer(), pop=2)
    state = meta.init(jax.random.PRNGKey(0))
    k_ask = jax.random.split(jax.random.PRNGKey(1), 3)[0]
    pop, _ = meta.strategy.ask(k_ask, state, meta.es_params)
    new, m = jax.jit(meta.generation, compiler_options=O0)(state, jax.random.PRNGKey(1))
    pop = np.asarray(jax.vmap(lambda t: t["w"])(pop))
    better = int(np.argmax(np.asarray(m["fitness"])))
    step = np.asarray(new.mean) - np.asarray(state.mean)
    mean0 = np.asarray(state.mean)
    assert np.dot(step, pop[better] - mean0) > 0
    assert np.linalg.norm(np.asarray(new.mean) - pop[better]) < np.linalg.norm(mean0 - pop[better])
    pair_fitness = F.antithetic_pair_fitness
    monkeypatch.setattr(F, "antithetic_pair_fitness", lambda f: 1.0 - pair_fitness(f))  # HEAD's sign
    head, _ = jax.jit(_meta(ScaledTrainer(), pop=2).generation, compiler_options=O0)(
        state, jax.random.PRNGKey(1)
    )
    assert np.dot(np.asarray(head.mean) - mean0, pop[better] - mean0) < 0
    monkeypatch.undo()
    # many pairs, many levels with wildly different reward scales: the mean still walks to the target
    meta = _meta(ScaledTrainer(), pop=16)
    gen = jax.jit(meta.generation, compiler_options=O0)
    state = meta.init(jax.random.PRNGKey(0))
    d0 = np.linalg.norm(np.asarray(state.mean) - 1.0)
    for g in range(8):
        state, _ = gen(state, jax.random.PRNGKey(100 + g))
    assert np.linalg.norm(np.asarray(state.mean) - 1.0) < d0 - 0.2


# -- end to end ------------------------------------------------------------------------------------------------
TINY_PPO = [
    "ppo.num_envs=16",
    "ppo.num_steps=8",
    "ppo.total_timesteps=256",
    "ppo.num_minibatches=2",
    "ppo.update_epochs=1",
    "ppo.width=8",
]


def _cli(tmp_path, *args):
    proc = subprocess.run(
        [sys.executable, "-m", "openrl.cli.train", *args, "logger=disabled", "progress=false",
         "save_agent=false", f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_tiny_ppo_adam_one_level_per_seed_one_compile():
    """PPO + tuned Adam learns nothing in 2 updates, but runs, stays finite, and the same compiled program
    serves different levels (the level is traced state, not a compile-time constant)."""
    from openrl.builders import build_trainer

    _, cfg = load_config(["experiment=ppo", "env=gridworld", "env.level=rand_sparse", *TINY_PPO])
    trainer, rp, hp = build_trainer(cfg)
    train = jax.jit(jax.vmap(trainer.train, in_axes=(0, None, None)), compiler_options=O0)
    state, m = train(jax.random.split(jax.random.PRNGKey(0), 3), rp, hp)
    assert np.all(np.isfinite(np.asarray(m["final_return"]))) and m["final_return"].shape == (3, 2)
    assert len(set(np.asarray(state.env_state.level.start_pos).tolist())) > 1  # one level per seed
    assert int(m["episodes"].sum()) > 0  # rand_sparse: 50-step limit, 2 x 8 steps x 16 envs
    train(jax.random.split(jax.random.PRNGKey(1), 3), rp, hp)
    assert train._cache_size() == 1


@pytest.mark.slow  # a subprocess: imports + compiles (~15 s idle, ~45 s on a loaded 2-core CPU)
def test_cli_ppo_run_writes_per_seed_final_returns(tmp_path):
    _cli(tmp_path, "experiment=ppo", "env=gridworld", "env.level=labyrinth", "num_seeds=2", *TINY_PPO)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["env"] == "gridworld" and len(summary["final_return"]) == 2
    assert all(np.isfinite(summary["final_return"]))


@pytest.mark.slow  # ~1-2 min on 2 CPU cores: compiles the generation, validation and final evaluation
def test_cli_meta_smoke_run(tmp_path):
    _cli(
        tmp_path, "experiment=gridworld", "budget=smoke", "es.population_size=4", *TINY_PPO,
        "ppo.total_timesteps=128",
    )  # fmt: skip
    assert (tmp_path / "best" / "optimizer.npy").exists() or (tmp_path / "summary.md").exists()
    evaluation = json.loads((tmp_path / "final_evaluation.json").read_text())
    assert len(evaluation["gridworld"]["learned_final_return"]) == 2


@pytest.mark.slow  # compiles PPO + OPEN (~40 s on a loaded 2-core CPU)
@pytest.mark.skipif(not GRID_OPEN.is_file(), reason=f"released gridworld_OPEN.npy not found at {GRID_OPEN}")
def test_released_gridworld_open_trains_a_tiny_run():
    from openrl.builders import build_trainer

    _, cfg = load_config(
        ["experiment=ppo", "env=gridworld", "optimizer=open", f"optimizer.weights={GRID_OPEN}", *TINY_PPO]
    )
    trainer, rp, hp = build_trainer(cfg)
    init = trainer.init(jax.random.PRNGKey(0))
    state, m = jax.jit(trainer.train, compiler_options=O0)(jax.random.PRNGKey(0), rp, hp)
    assert np.all(np.isfinite(np.asarray(m["final_return"])))
    moved = [
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(init.params))
    ]
    assert max(moved) > 0 and all(np.isfinite(moved))


def test_meta_final_evaluation_adam_faces_the_same_level_type():
    from openrl.config import adam_config

    overrides = ["experiment=gridworld", "budget=smoke", "env.level=labyrinth"]
    _, cfg = load_config(overrides)
    adam = adam_config(cfg, overrides)
    assert adam.optimizer.name == "adam" and adam.mode == "ppo" and adam.env.level == "labyrinth"
