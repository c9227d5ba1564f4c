"""Probe environments: tiny MDPs whose optimal value and policy are known in closed form.

They catch bugs that real environments hide (wrong GAE indexing, a missing ``1 - done``, a sign error in
the policy loss). Each probe is one-hot/scalar-observation and ends episodes at known times.

- ``constant``: one action, obs 0, one step, reward 1.            V(s0) -> 1
- ``obs_reward``: one action, obs in {-1, +1}, one step, r = obs.  V(s) -> s
- ``two_step``: one action, obs 0 then 1, reward 1 at the end.     V(s0) -> gamma, V(s1) -> 1
- ``action_reward``: two actions, one step, reward 1 iff action 0. pi(0) -> 1, V -> 1
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from openrl.envs.base import StepOut

PROBES = ("constant", "obs_reward", "two_step", "action_reward")


@struct.dataclass
class ProbeState:
    t: jax.Array  # step within the episode, (num_envs,)
    sign: jax.Array  # the observation sign for obs_reward, (num_envs,)
    ep_return: jax.Array
    ep_len: jax.Array
    returned: jax.Array


@dataclass(frozen=True)
class ProbeVecEnv:
    kind: str
    num_envs: int

    def __post_init__(self) -> None:
        if self.kind not in PROBES:
            raise ValueError(f"unknown probe {self.kind!r}; allowed: {', '.join(PROBES)}")

    obs_dim: int = 2
    discrete: bool = True

    @property
    def action_dim(self) -> int:
        return 2 if self.kind == "action_reward" else 1

    @property
    def max_episode_steps(self) -> int:
        return 2 if self.kind == "two_step" else 1

    def _obs(self, t: jax.Array, sign: jax.Array) -> jax.Array:
        if self.kind == "obs_reward":
            return jnp.stack([sign, jnp.zeros_like(sign)], -1)
        if self.kind == "two_step":
            return jnp.stack([t.astype(jnp.float32), jnp.zeros_like(sign)], -1)
        return jnp.zeros((self.num_envs, 2), jnp.float32)

    def _fresh(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        t = jnp.zeros((self.num_envs,), jnp.int32)
        sign = jnp.where(jax.random.bernoulli(key, 0.5, (self.num_envs,)), 1.0, -1.0)
        return t, sign

    def reset(self, key: jax.Array):
        t, sign = self._fresh(key)
        z = jnp.zeros((self.num_envs,), jnp.float32)
        state = ProbeState(t, sign, z, jnp.zeros_like(t), z)
        return self._obs(t, sign), state

    def step(self, key: jax.Array, state: ProbeState, action: jax.Array):
        obs_before = self._obs(state.t, state.sign)
        if self.kind == "constant":
            reward, done = jnp.ones(self.num_envs), jnp.ones(self.num_envs, bool)
        elif self.kind == "obs_reward":
            reward, done = state.sign, jnp.ones(self.num_envs, bool)
        elif self.kind == "two_step":
            done = state.t >= 1
            reward = done.astype(jnp.float32)
        else:
            reward, done = (action == 0).astype(jnp.float32), jnp.ones(self.num_envs, bool)
        del obs_before
        ep_return = state.ep_return + reward
        ep_len = state.ep_len + 1
        t_next = jnp.where(done, 0, state.t + 1)
        _, sign_new = self._fresh(key)
        sign = jnp.where(done, sign_new, state.sign)
        returned = jnp.where(done, ep_return, state.returned)
        new_state = ProbeState(
            t_next, sign, jnp.where(done, 0.0, ep_return), jnp.where(done, 0, ep_len), returned
        )
        out = StepOut(
            reward=reward.astype(jnp.float32),
            done=done,
            terminated=done,
            truncated=jnp.zeros_like(done),
            final_obs=self._obs(state.t + 1, state.sign),
            episode_return=ep_return,
            episode_length=ep_len,
            returned_episode_returns=returned,
        )
        return self._obs(t_next, sign), new_state, out
