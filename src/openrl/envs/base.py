"""The environment contract the PPO loop relies on.

Every suite (gymnax MinAtar and bsuite, brax, gridworld, probe environments) is wrapped into a
*batched* environment: ``reset`` and ``step`` act on ``num_envs`` copies at once. Batching lives in the
adapter rather than in the PPO loop because some wrappers need the whole batch (running observation and
reward normalisation for brax compute statistics across environments, as the authors' code does).

Episode bookkeeping is part of the contract so that the PPO loop can report the return of *completed*
episodes only, and compute the authors' fitness (``returned_episode_returns`` at the final step).
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
from flax import struct


@struct.dataclass
class StepOut:
    """What one batched env step reports besides the next observation and state.

    All arrays have leading shape ``(num_envs,)``.
    """

    reward: jax.Array  # reward used for learning (normalised for brax when enabled)
    done: jax.Array  # episode ended: terminated OR truncated (the env auto-resets)
    terminated: jax.Array  # ended by the MDP (no bootstrap)
    truncated: jax.Array  # ended by a time limit
    final_obs: jax.Array  # observation the episode ended in (before the auto-reset)
    episode_return: jax.Array  # raw return of the episode that just ended (valid where done)
    episode_length: jax.Array  # length of the episode that just ended (valid where done)
    returned_episode_returns: jax.Array  # last completed episode's return, per env (authors' metric)


class VecEnv(Protocol):
    """A batched, jittable environment. Implementations are immutable (hashable) Python objects."""

    num_envs: int
    obs_dim: int
    action_dim: int  # number of discrete actions, or size of the continuous action vector
    discrete: bool
    # Steps after which the first episode is guaranteed to have ended (used to drop the start of
    # return curves, as the authors do). Purely informational.
    max_episode_steps: int

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]:
        """Returns ``(obs[num_envs, obs_dim], state)``."""
        ...

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> tuple[jax.Array, Any, StepOut]:
        """Steps every env once; auto-resets finished episodes."""
        ...
