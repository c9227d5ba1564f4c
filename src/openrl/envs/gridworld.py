"""Gridworlds of the OPEN paper (groove's ``GridWorld``: LPG grids and MiniMax mazes) as a batched VecEnv.

Written from a reading of the code the authors ran (groove's ``environments/gridworld/gridworld.py``,
``configs.py`` and ``custom_mazes.py``, imported by AlexGoldie/rl-learned-optimization), not copied.

**One level per training run.** :meth:`GridWorldVecEnv.reset` samples *one* level from the level type's
distribution with the run's reset key and stores it in the env state; all ``num_envs`` parallel envs
share it and each resets at its own pace inside it (same start cell; same object cells in tabular
levels). This is how OPEN trains and evaluates (``reset_env_params`` once per inner run). The level is
part of the state, so ``vmap`` over seeds (or over an ES population sharing seeds) gives one level per
seed, and antithetic pairs that share a run key share a level.

Level types (``env.level``): ``rand_all`` (the meta-training distribution, paper App. D 'all'),
``rand_dense``, ``rand_sparse``, ``rand_long`` (LPG grids as groove implements them), ``standard_maze``,
``sixteen_rooms``, ``labyrinth`` (13x13 tabular mazes). Observation sizes: 601, 485, 148, 364 and 1353.

Dynamics, per env step (groove's ``step_env``, in this order): move (5 actions: up, down, left, right,
no-op; off the grid or into a wall = stay); collect every existing object on the new cell; independent
respawn draws for every slot; in non-tabular levels a slot that did not exist and respawns takes a fresh
random cell; collected objects disappear (so cannot respawn on the step they were collected); early
termination with probability ``sum(p_terminate * collected)``; time limit. ``terminated`` is the early
termination, ``truncated`` the time limit (the authors treat both as ``done``: ``env.truncation=done``).

Faithfulness switches (defaults reproduce the authors' code; docs/faithfulness.md):

* ``faithful_sampling=True``: groove's spawn-valid set for random object cells excludes the cells whose
  *index* equals a *value* of the boolean wall array, i.e. cell 0 always and cell 1 whenever the wall
  array has a wall, instead of the wall cells. So objects can spawn on walls (unreachable: ~16% of objects
  at reset on ``rand_all``) and never on cells 0 and 1. ``False``: objects spawn on any free cell other
  than the agent's (walls excluded, cells 0 and 1 allowed). Tabular mazes are unaffected (their object
  cells are sampled correctly with the level).
* ``inclusive_ranges=False``: ``rand_all`` draws the number of objects from {1..5} and the grid side from
  {4..10}, the code's half-open reading of the paper's "[1, 6]" and "[4, 11]" (App. D, Table 8).
  ``True``: the closed reading, {1..6} objects on grids of side {4..11}; this enlarges the static
  maximum (11x11 grid, 6 object slots and types), so the observation becomes 11*11*7+1 = 848.

Other departures of the code from the paper's tables, reproduced without a switch (docs/faithfulness.md):
``rand_all``'s 15 walls are drawn over the 10x10 maximum grid whatever the level's side, so only those
with index < g*g fall inside (and are read with the level's own side, row = idx // g); no connectivity
check (an agent or object can be walled off); the LPG grids follow groove (``rand_sparse`` is 7x7 with
three objects, not the paper's table; 4 moves + no-op instead of LPG's 9 moves); unused object slots
still draw respawns and block fresh cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from openrl.envs.base import StepOut
from openrl.envs.gridworld_mazes import MAZE_NAMES, MAZE_SIZE, maze_walls

NUM_ACTIONS = 5  # up, down, left, right, no-op
TIME_SCALE = 0.001  # the observation's last entry is time * 0.001


@struct.dataclass
class Level:
    """One sampled level (groove's ``EnvParams``). Shapes are fixed by the level type: G*G cells, N
    object slots, T object types. Flat cell index ``row * g + col`` uses the level's own side ``g``."""

    max_steps: jax.Array  # int32: time limit
    grid_size: jax.Array  # int32: active side g <= G
    walls: jax.Array  # bool[G*G]
    start_pos: jax.Array  # int32: agent start cell (same every episode)
    n_objs: jax.Array  # int32: active slots; slots >= n_objs never exist
    obj_ids: jax.Array  # int32[N]: type of each slot
    static_obj_pos: jax.Array  # int32[N]: object cells of tabular levels
    rewards: jax.Array  # float32[T]
    p_terminate: jax.Array  # float32[T]
    p_respawn: jax.Array  # float32[T]


@struct.dataclass
class EnvState:
    """Per-env state (leading axis ``num_envs`` inside :class:`GridState`)."""

    time: jax.Array  # int32
    pos: jax.Array  # int32 agent cell
    obj_pos: jax.Array  # int32[N] object cell per slot
    exists: jax.Array  # bool[N]
    episode_return: jax.Array  # float32 return of the running episode
    episode_length: jax.Array  # int32
    returned_episode_returns: jax.Array  # float32 return of the last completed episode
    returned_episode_lengths: jax.Array  # int32


@struct.dataclass
class GridState:
    level: Level  # shared by all envs of the run (no env axis)
    env: EnvState  # leading axis num_envs


@dataclass(frozen=True)
class LevelType:
    """Static facts of a level type: shapes, tabular-ness, and its level sampler."""

    name: str
    grid: int  # G: maximum side (observation and wall arrays)
    objs: int  # N: object slots
    types: int  # T: object types
    tabular: bool  # static object cells and one-hot (cell, existence pattern) observation
    max_episode_steps: int  # largest time limit the sampler can draw
    sample: Callable[[jax.Array], Level] = field(repr=False, compare=False)

    @property
    def obs_dim(self) -> int:
        cells = self.grid * self.grid
        return cells * 2**self.objs + 1 if self.tabular else cells * (self.types + 1) + 1


# -- sampling helpers ------------------------------------------------------------------------------------
def _log_uniform(key: jax.Array, shape: tuple[int, ...], lo: float, hi: float) -> jax.Array:
    return jnp.exp(jax.random.uniform(key, shape, minval=math.log(lo), maxval=math.log(hi)))


def _log_uniform_int(key: jax.Array, lo: float, hi: float) -> jax.Array:
    """round(exp(U[ln lo, ln hi])): lands in [lo, hi] inclusive (groove's max-steps sampler)."""
    return jnp.round(_log_uniform(key, (), lo, hi)).astype(jnp.int32)


def distinct_cells(key: jax.Array, valid: jax.Array, n: int) -> jax.Array:
    """``n`` distinct cells drawn uniformly without replacement from the cells where ``valid`` is True.

    Sequential draws, one uniform each, of the rank-``r`` cell among those still valid: the same
    distribution as groove's ``choice(..., replace=False, p=valid)``, with ``n`` random numbers instead of
    one per cell. One prefix sum of ``valid`` serves every draw (each drawn cell lowers the prefix sum
    from its index on), which is ~7x faster on CPU than a prefix sum per draw. ``n`` is static and small
    (the object slots), so the draws are unrolled. Assumes at least ``n`` valid cells (as groove does: the
    alternative has probability ~1e-9 on ``rand_all``).
    """
    cells = jnp.arange(valid.shape[-1])
    prefix = jax.lax.associative_scan(jnp.add, valid.astype(jnp.int32))
    total = prefix[-1]
    u = jax.random.uniform(key, (n,))
    taken = jnp.zeros_like(prefix)  # number of drawn cells at or before each index
    out = []
    for i in range(n):
        count = total - i
        rank = jnp.minimum(jnp.floor(u[i] * count), count - 1).astype(jnp.int32)
        idx = jnp.sum(prefix - taken <= rank).astype(jnp.int32)  # first index whose prefix exceeds rank
        out.append(idx)
        taken = taken + (cells >= idx)
    return jnp.stack(out)


def _level(max_steps, grid_size, walls, n_objs, obj_ids, cells, rewards, p_terminate, p_respawn) -> Level:
    """Assembles a :class:`Level`; ``cells`` holds N+1 distinct free cells: start, then object cells."""
    return Level(
        max_steps=jnp.asarray(max_steps, jnp.int32),
        grid_size=jnp.asarray(grid_size, jnp.int32),
        walls=jnp.asarray(walls, bool),
        start_pos=cells[0].astype(jnp.int32),
        n_objs=jnp.asarray(n_objs, jnp.int32),
        obj_ids=jnp.asarray(obj_ids, jnp.int32),
        static_obj_pos=cells[1:].astype(jnp.int32),
        rewards=jnp.asarray(rewards, jnp.float32),
        p_terminate=jnp.asarray(p_terminate, jnp.float32),
        p_respawn=jnp.asarray(p_respawn, jnp.float32),
    )


def _free_cells(g: Any, walls: jax.Array) -> jax.Array:
    return (jnp.arange(walls.shape[0]) < g * g) & ~walls


def _sample_rand_all(key: jax.Array, G: int, N: int, n_walls: int = 15) -> Level:
    """The meta-training distribution (paper App. D 'all', groove ``rand_all`` in ``configs.py``)."""
    k = jax.random.split(key, 10)
    rewards = jax.random.uniform(k[0], (N,), minval=-1.0, maxval=1.0)
    rewards = rewards.at[0].set(jax.random.uniform(k[1], ()))  # object 0 (always present) is >= 0
    p_term = _log_uniform(k[2], (N,), 0.01, 1.0)
    p_resp = _log_uniform(k[3], (N,), 0.001, 0.1)
    max_steps = _log_uniform_int(k[4], 20.0, 750.0)
    n_objs = jax.random.randint(k[5], (), 1, N + 1)
    g = jax.random.randint(k[6], (), 4, G + 1)
    wall_idx = jax.random.choice(k[7], G * G, (n_walls,), replace=False)  # over G*G, whatever g is
    walls = jnp.zeros(G * G, bool).at[wall_idx].set(True)
    cells = distinct_cells(k[8], _free_cells(g, walls), N + 1)
    return _level(max_steps, g, walls, n_objs, jnp.arange(N), cells, rewards, p_term, p_resp)


def _sample_maze(key: jax.Array, walls_np: np.ndarray) -> Level:
    """A held-out maze level: fixed walls, 3 objects of their own types, tabular (groove's
    ``get_maze_params``)."""
    G, N = MAZE_SIZE, 3
    k = jax.random.split(key, 5)
    walls = jnp.asarray(walls_np)
    cells = distinct_cells(k[0], _free_cells(G, walls), N + 1)
    return _level(
        _log_uniform_int(k[1], 25.0, 50.0),
        G,
        walls,
        N,
        jnp.arange(N),
        cells,
        jax.random.uniform(k[2], (N,)),
        _log_uniform(k[3], (N,), 0.01, 1.0),
        _log_uniform(k[4], (N,), 0.001, 0.1),
    )


def _sample_lpg(key: jax.Array, G: int, obj_ids, rewards, p_term, p_resp, max_steps: int) -> Level:
    """A fixed LPG grid as groove implements it (its ``ENV_MODE_PARAMS``): no walls, only the start cell
    is random."""
    N = len(obj_ids)
    walls = jnp.zeros(G * G, bool)
    cells = distinct_cells(key, _free_cells(G, walls), N + 1)
    return _level(max_steps, G, walls, N, obj_ids, cells, rewards, p_term, p_resp)


def level_type(name: str, inclusive_ranges: bool = False) -> LevelType:
    """The :class:`LevelType` called ``name`` (one of :data:`LEVELS`)."""
    if name == "rand_all":
        G, N = (11, 6) if inclusive_ranges else (10, 5)
        return LevelType(name, G, N, N, False, 750, lambda k: _sample_rand_all(k, G, N))
    if name in MAZE_NAMES:
        walls = maze_walls(name)
        return LevelType(name, MAZE_SIZE, 3, 3, True, 50, lambda k: _sample_maze(k, walls))
    lpg = {
        # name: (G, obj_ids, per-type reward, p_terminate, p_respawn, max steps)   (groove's ENV_MODE_PARAMS)
        "rand_dense": (11, (0, 0, 1, 2), (1.0, -1.0, -1.0), (0.0, 0.5, 0.0), (0.05, 0.1, 0.5), 500),
        "rand_sparse": (7, (0, 1, 1), (1.0, -1.0), (1.0, 1.0), (1.0, 1.0), 50),
        "rand_long": (11, (0, 0, 1, 1), (1.0, -1.0), (0.0, 0.5), (0.01, 1.0), 1000),
    }
    if name in lpg:
        G, ids, r, pt, pr, steps = lpg[name]
        return LevelType(
            name, G, len(ids), len(r), False, steps, lambda k: _sample_lpg(k, G, ids, r, pt, pr, steps)
        )
    raise ValueError(f"env.level={name!r}: allowed values are {', '.join(LEVELS)}")


# OPEN's evaluation list order is [sixteen_rooms, labyrinth, rand_sparse, rand_dense, rand_long,
# standard_maze, rand_all]; here the training distribution comes first.
LEVELS = ("rand_all", "rand_dense", "rand_sparse", "rand_long", "standard_maze", "sixteen_rooms", "labyrinth")


# -- the batched environment ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class GridWorldVecEnv:
    """``num_envs`` copies of one sampled gridworld level, with auto-reset and episode bookkeeping."""

    level_name: str
    num_envs: int
    faithful_sampling: bool = True
    inclusive_ranges: bool = False
    spec: LevelType = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", level_type(self.level_name, self.inclusive_ranges))

    # -- static facts -------------------------------------------------------------------------------
    @property
    def obs_dim(self) -> int:
        return self.spec.obs_dim

    @property
    def action_dim(self) -> int:
        return NUM_ACTIONS

    @property
    def discrete(self) -> bool:
        return True

    @property
    def max_episode_steps(self) -> int:
        return self.spec.max_episode_steps

    # -- levels ---------------------------------------------------------------------------------------
    def sample_level(self, key: jax.Array) -> Level:
        return self.spec.sample(key)

    def make_level(
        self,
        *,
        grid_size: int,
        start_pos: int,
        rewards,
        p_terminate,
        p_respawn,
        walls=(),
        obj_pos=None,
        obj_ids=None,
        n_objs: int | None = None,
        max_steps: int = 100,
    ) -> Level:
        """A hand-made level with this type's shapes (for tests and demos). ``walls``: wall cell indices;
        ``rewards``/``p_*``: per type (padded to T with zeros); ``obj_pos``: static cells of the slots."""
        G, N, T = self.spec.grid, self.spec.objs, self.spec.types
        ids = list(range(N)) if obj_ids is None else list(obj_ids)
        pos = [0] * N if obj_pos is None else list(obj_pos) + [0] * (N - len(obj_pos))

        def pad(x):
            x = list(x)
            return np.asarray(x + [0.0] * (T - len(x)), np.float32)

        w = np.zeros(G * G, bool)
        w[list(walls)] = True
        return Level(
            max_steps=jnp.int32(max_steps),
            grid_size=jnp.int32(grid_size),
            walls=jnp.asarray(w),
            start_pos=jnp.int32(start_pos),
            n_objs=jnp.int32(len(obj_pos or ids) if n_objs is None else n_objs),
            obj_ids=jnp.asarray(ids, jnp.int32),
            static_obj_pos=jnp.asarray(pos, jnp.int32),
            rewards=jnp.asarray(pad(rewards)),
            p_terminate=jnp.asarray(pad(p_terminate)),
            p_respawn=jnp.asarray(pad(p_respawn)),
        )

    # -- single-env pieces (vmapped over envs) --------------------------------------------------------
    def _spawn_valid(self, level: Level, agent: jax.Array) -> jax.Array:
        """Cells where a random object may appear (non-tabular levels); see ``faithful_sampling``."""
        cells = jnp.arange(self.spec.grid**2)
        valid = (cells < level.grid_size**2) & (cells != agent)
        if self.faithful_sampling:  # groove: excludes the indices {0, 1} = the *values* of the wall array
            return valid & (cells != 0) & ~((cells == 1) & jnp.any(level.walls))
        return valid & ~level.walls

    def _reset_one(self, key: jax.Array, level: Level) -> EnvState:
        N = self.spec.objs
        pos = level.start_pos
        if self.spec.tabular:
            obj_pos = level.static_obj_pos
        else:
            obj_pos = distinct_cells(key, self._spawn_valid(level, pos), N)
        return EnvState(
            time=jnp.zeros((), jnp.int32),
            pos=pos,
            obj_pos=obj_pos,
            exists=jnp.arange(N) < level.n_objs,
            episode_return=jnp.zeros((), jnp.float32),
            episode_length=jnp.zeros((), jnp.int32),
            returned_episode_returns=jnp.zeros((), jnp.float32),
            returned_episode_lengths=jnp.zeros((), jnp.int32),
        )

    def _obs_one(self, s: EnvState, level: Level) -> jax.Array:
        G2, N, T = self.spec.grid**2, self.spec.objs, self.spec.types
        time = (s.time * TIME_SCALE).astype(jnp.float32)[None]
        if self.spec.tabular:
            pattern = jnp.sum(s.exists.astype(jnp.int32) << jnp.arange(N))
            onehot = jnp.arange(G2 * 2**N) == s.pos + G2 * pattern
            return jnp.concatenate([onehot.astype(jnp.float32), time])
        cells = jnp.arange(G2)
        agent = (cells == s.pos).astype(jnp.float32)
        by_type = ((level.obj_ids[:, None] == jnp.arange(T)) & s.exists[:, None]).astype(jnp.float32)
        at_cell = (s.obj_pos[:, None] == cells).astype(jnp.float32)
        maps = jnp.minimum(by_type.T @ at_cell, 1.0)  # (T, G2)
        return jnp.concatenate([agent, maps.reshape(-1), time])

    def _step_one(self, key: jax.Array, s: EnvState, action: jax.Array, level: Level):
        N = self.spec.objs
        k_resp, k_cells, k_term, k_reset = jax.random.split(key, 4)
        g = level.grid_size
        row, col = s.pos // g, s.pos % g
        target = jnp.select(
            [(action == 0) & (row > 0), (action == 1) & (row < g - 1), (action == 2) & (col > 0)]
            + [(action == 3) & (col < g - 1)],
            [s.pos - g, s.pos + g, s.pos - 1, s.pos + 1],
            s.pos,
        )
        pos = jnp.where(level.walls[target], s.pos, target)
        collected = s.exists & (s.obj_pos == pos)
        respawn = jax.random.uniform(k_resp, (N,)) < level.p_respawn[level.obj_ids]
        if self.spec.tabular:
            obj_pos = s.obj_pos  # objects reappear at their static cells
        else:
            occupied = jnp.any(s.obj_pos[:, None] == jnp.arange(self.spec.grid**2), axis=0)
            fresh = distinct_cells(k_cells, self._spawn_valid(level, pos) & ~occupied, N)
            obj_pos = jnp.where(~s.exists & respawn, fresh, s.obj_pos)
        exists = (s.exists | respawn) & ~collected & (jnp.arange(N) < level.n_objs)
        p_term = jnp.sum(level.p_terminate[level.obj_ids] * collected)
        terminated = jax.random.uniform(k_term) < p_term  # exact for p = 0 and p = 1 (u in [0, 1))
        reward = jnp.sum(level.rewards[level.obj_ids] * collected)
        time = s.time + 1
        time_up = time >= level.max_steps
        done = terminated | time_up
        ep_return = s.episode_return + reward
        ep_length = s.episode_length + 1
        stepped = EnvState(
            time=time,
            pos=pos,
            obj_pos=obj_pos,
            exists=exists,
            episode_return=ep_return,
            episode_length=ep_length,
            returned_episode_returns=jnp.where(done, ep_return, s.returned_episode_returns),
            returned_episode_lengths=jnp.where(done, ep_length, s.returned_episode_lengths),
        )
        final_obs = self._obs_one(stepped, level)
        fresh_state = self._reset_one(k_reset, level).replace(
            returned_episode_returns=stepped.returned_episode_returns,
            returned_episode_lengths=stepped.returned_episode_lengths,
        )
        new = jax.tree.map(lambda a, b: jnp.where(done, a, b), fresh_state, stepped)
        obs = self._obs_one(new, level)
        out = StepOut(
            reward=reward,
            done=done,
            terminated=terminated,
            truncated=time_up & ~terminated,
            final_obs=final_obs,
            episode_return=ep_return,
            episode_length=ep_length,
            returned_episode_returns=stepped.returned_episode_returns,
        )
        return obs, new, out

    # -- batched contract -----------------------------------------------------------------------------
    def reset_to_level(self, key: jax.Array, level: Level) -> tuple[jax.Array, GridState]:
        """Resets ``num_envs`` envs inside the given ``level``."""
        keys = jax.random.split(key, self.num_envs)
        env = jax.vmap(self._reset_one, in_axes=(0, None))(keys, level)
        obs = jax.vmap(self._obs_one, in_axes=(0, None))(env, level)
        return obs, GridState(level=level, env=env)

    def reset(self, key: jax.Array) -> tuple[jax.Array, GridState]:
        """Samples ONE level from ``key`` and resets every env inside it."""
        k_level, k_envs = jax.random.split(key)
        return self.reset_to_level(k_envs, self.sample_level(k_level))

    def step(
        self, key: jax.Array, state: GridState, action: jax.Array
    ) -> tuple[jax.Array, GridState, StepOut]:
        keys = jax.random.split(key, self.num_envs)
        obs, env, out = jax.vmap(self._step_one, in_axes=(0, 0, 0, None))(
            keys, state.env, action.astype(jnp.int32), state.level
        )
        return obs, GridState(level=state.level, env=env), out

    def __hash__(self) -> int:  # identity hashing, like the other adapters
        return id(self)
