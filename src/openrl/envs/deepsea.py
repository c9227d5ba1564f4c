"""Deep Sea (bsuite) whose size is a *traced* value: one compiled program trains on many sizes.

Why our own implementation: gymnax's ``DeepSea`` fixes ``size`` in the Python object, so its observation
shape, its action map and its episode length are static and every size is a separate compiled program
(and a separate network input size). The paper meta-trains on sizes drawn from [4, 26] and tests on sizes
up to 50 (Sec. 7.2, App. I.2, Figs. 6 and 17); here the size is part of the env *state*, so an ES
generation whose inner runs see different sizes is still one program.

Semantics (bsuite's Deep Sea, deterministic variant, as gymnax 1.0.1 implements it):

* the agent starts in the top-left cell ``(row 0, column 0)`` of a ``size x size`` grid and descends one
  row per step, so every episode lasts exactly ``size`` steps and ends (``terminated``) when
  ``row == size``;
* each step the action is either "right" (column + 1, clipped at ``size - 1``) or "left" (column - 1,
  clipped at 0);
* reward: ``-0.01 / size`` for every "right" (bsuite's ``unscaled_move_cost = 0.01``), plus ``1`` for a
  "right" taken in the last column -- reachable only on the last row and only after ``size - 1``
  consecutive "right"s. The optimal return is therefore ``1 - 0.01 = 0.99`` for every size; any "left"
  forfeits the treasure, and the best of those returns is ``0`` (always left) -- the local optimum the
  paper's exploration experiment is about;
* transitions and rewards are deterministic (gymnax/bsuite ``deterministic=True``, the default of both);
  the stochastic bsuite variant is not implemented.

Observation: a ``max_size x max_size`` one-hot of ``(row, column)``, flattened, as ``bool`` (the PPO
loop casts to float32; 4x less rollout memory). Cells beyond ``size`` are always zero, so a size-``s``
run uses the top-left ``s x s`` block; the observation of a finished episode (``final_obs``) is all
zeros, as in gymnax. ``max_size`` is static (it fixes the network's input width) and must cover the
largest size that will ever be evaluated: ``env.max_size: 50`` lets an optimizer meta-trained on [4, 26]
be tested up to 50 with the same agent architecture. Consequence worth knowing: the agent's first layer
has fan-in ``max_size**2`` rather than ``size**2``, so its initial weights (LeCun-normal) are smaller than
those of a gymnax ``size x size`` agent.

Size: drawn once per inner run from the run's reset key, uniformly from ``[size_low, size_high]``
(default [4, 26], the paper's training range), stored in the state and shared by all ``num_envs``
parallel envs of that run; auto-resets keep it. A fixed size is ``size_low == size_high`` (config
``env.size``). Under ES, population members share their inner-run seeds within a generation (common
random numbers), so they share the sampled size too: a generation ranks members on one size per rollout.

Action mapping (config ``env.randomize_actions``) -- the one place gymnax versions disagree:

* ``false`` (default, faithful to the authors): action 1 is always "right", action 0 always "left". This
  is gymnax 0.0.6's behaviour (its action map is all ones), the version the authors' code pins; the
  paper's Deep Sea experiments were run with it.
* ``true``: gymnax 1.0.1's default. Which action means "right" is drawn per cell, once, from the fixed key
  ``jax.random.key(0)`` (bsuite's design, so that "always action 1" is not a trivial solution). openrl
  reproduces gymnax 1.0.1's map for every size exactly (tested against gymnax): gymnax draws
  ``bernoulli(key(0), 0.5, (size, size))``, and with JAX's partitionable threefry (the default) the bit at
  ``(i, j)`` depends only on the flat index ``i * size + j``, so one flat draw of ``max_size**2`` bits
  serves every size. The map is the same in every run and every episode (not resampled).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from openrl.envs.base import StepOut

MOVE_COST = 0.01  # bsuite's unscaled_move_cost: every "right" costs MOVE_COST / size


def _partitionable() -> bool:
    """Whether JAX draws random bits per element index (default since JAX 0.5; the flag may go away)."""
    return bool(getattr(jax.config, "jax_threefry_partitionable", True))


def gymnax_action_map(max_size: int) -> np.ndarray:
    """``flat`` with ``flat[i * s + j]`` = the action meaning "right" in cell ``(i, j)`` of gymnax 1.0.1's
    ``DeepSea(size=s)``, for every ``s <= max_size``; int32, shape ``(max_size**2,)``.

    Uses that partitionable threefry bits are a function of the flat index only (module docstring). With
    the legacy non-partitionable threefry that does not hold, and the maps are drawn per size instead
    (slow: one small compilation per size) and stored as a ``(max_size, max_size**2)`` table, flattened.
    """
    return _action_map(max_size, _partitionable())


@functools.lru_cache(maxsize=8)
def _action_map(max_size: int, partitionable: bool) -> np.ndarray:
    with jax.ensure_compile_time_eval():  # concrete even when first needed inside a jit trace
        key = jax.random.key(0)
        if partitionable:
            return np.asarray(jax.random.bernoulli(key, 0.5, (max_size * max_size,)), np.int32)
        table = np.zeros((max_size, max_size * max_size), np.int32)
        for s in range(1, max_size + 1):
            table[s - 1, : s * s] = np.asarray(jax.random.bernoulli(key, 0.5, (s, s)), np.int32).ravel()
        return table.ravel()


@struct.dataclass
class DeepSeaState:
    size: jax.Array  # () int32: this run's size, shared by every env of the run
    row: jax.Array  # (num_envs,) int32
    column: jax.Array  # (num_envs,) int32
    ep_return: jax.Array  # (num_envs,) float32: return of the running episode
    ep_length: jax.Array  # (num_envs,) int32
    returned: jax.Array  # (num_envs,) float32: return of the last completed episode (0 before any)


@dataclass(frozen=True)
class DeepSeaVecEnv:
    """``num_envs`` Deep Sea envs of one traced size, padded to ``max_size`` (see the module docstring)."""

    num_envs: int
    max_size: int = 50
    size_low: int = 4
    size_high: int = 26
    randomize_actions: bool = False
    move_cost: float = MOVE_COST

    def __post_init__(self) -> None:
        if not 1 <= self.size_low <= self.size_high <= self.max_size:
            raise ValueError(
                f"Deep Sea sizes must satisfy 1 <= size_low <= size_high <= max_size; got "
                f"size_low={self.size_low}, size_high={self.size_high}, max_size={self.max_size}"
            )

    discrete: bool = True

    # -- static facts -------------------------------------------------------------------------------
    @property
    def obs_dim(self) -> int:
        return self.max_size * self.max_size

    @property
    def action_dim(self) -> int:
        return 2

    @property
    def max_episode_steps(self) -> int:
        return self.size_high  # an episode lasts exactly `size` steps

    # -- helpers ------------------------------------------------------------------------------------
    def sample_size(self, key: jax.Array) -> jax.Array:
        """The run's size: uniform integer in ``[size_low, size_high]``."""
        return jax.random.randint(key, (), self.size_low, self.size_high + 1, dtype=jnp.int32)

    def _obs(self, row: jax.Array, column: jax.Array, size: jax.Array) -> jax.Array:
        """One-hot of ``(row, column)`` in the padded ``max_size x max_size`` grid; zeros once ``row == size``."""
        cell = row * self.max_size + column
        hot = jnp.arange(self.obs_dim, dtype=jnp.int32)[None, :] == cell[:, None]
        return jnp.logical_and(hot, (row < size)[:, None])

    def _right_action(self, row: jax.Array, column: jax.Array, size: jax.Array) -> jax.Array:
        """The action that means "right" in each env's current cell."""
        if not self.randomize_actions:
            return jnp.ones_like(row)
        flat = jnp.asarray(gymnax_action_map(self.max_size))
        offset = 0 if _partitionable() else (size - 1) * self.obs_dim
        return flat[offset + row * size + column]

    # -- dynamics -----------------------------------------------------------------------------------
    def reset_with_size(self, size: jax.Array) -> tuple[jax.Array, DeepSeaState]:
        """Every env at the start of an episode of the given (traced) size; no randomness needed."""
        size = jnp.asarray(size, jnp.int32)
        zi = jnp.zeros((self.num_envs,), jnp.int32)
        zf = jnp.zeros((self.num_envs,), jnp.float32)
        state = DeepSeaState(size=size, row=zi, column=zi, ep_return=zf, ep_length=zi, returned=zf)
        return self._obs(zi, zi, size), state

    def reset(self, key: jax.Array) -> tuple[jax.Array, DeepSeaState]:
        return self.reset_with_size(self.sample_size(key))

    def step(
        self, key: jax.Array, state: DeepSeaState, action: jax.Array
    ) -> tuple[jax.Array, DeepSeaState, StepOut]:
        del key  # deterministic dynamics
        size, row, column = state.size, state.row, state.column
        right = action.astype(jnp.int32) == self._right_action(row, column, size)
        treasure = jnp.logical_and(right, column == size - 1)
        # gymnax's order of operations: + treasure, - (right * cost) / size
        reward = treasure.astype(jnp.float32) - (right.astype(jnp.float32) * self.move_cost) / size.astype(
            jnp.float32
        )
        column = jnp.where(right, jnp.minimum(column + 1, size - 1), jnp.maximum(column - 1, 0))
        row = row + 1
        done = row >= size
        final_obs = self._obs(row, column, size)  # all zeros where done (row == size)
        ep_return = state.ep_return + reward
        ep_length = state.ep_length + 1
        returned = jnp.where(done, ep_return, state.returned)
        row = jnp.where(done, 0, row)
        column = jnp.where(done, 0, column)
        new_state = DeepSeaState(
            size=size,
            row=row,
            column=column,
            ep_return=jnp.where(done, 0.0, ep_return),
            ep_length=jnp.where(done, 0, ep_length),
            returned=returned,
        )
        out = StepOut(
            reward=reward,
            done=done,
            terminated=done,
            truncated=jnp.zeros_like(done),  # the episode always ends by reaching the bottom row
            final_obs=final_obs,
            episode_return=ep_return,
            episode_length=ep_length,
            returned_episode_returns=returned,
        )
        return self._obs(row, column, size), new_state, out
