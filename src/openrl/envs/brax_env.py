"""Brax environments (Ant, as in the paper) behind the batched :class:`VecEnv` contract.

The authors' stack (``make_train`` in their ``rl_optimizer/train.py``, and ``utils.py``) is PureJaxRL's::

    BraxGymnaxWrapper("ant", backend="positional")   # EpisodeWrapper(1000, 1) + AutoResetWrapper, done = done > 0.5
    -> ClipAction -> LogWrapper (raw rewards) -> VecEnv -> NormalizeVecObservation -> NormalizeVecReward(gamma)

Here the brax part is brax's own API: ``brax.envs.get_environment`` wrapped by brax's training wrappers
``VmapWrapper`` -> ``EpisodeWrapper`` -> ``AutoResetWrapper`` (the order of ``brax.envs.training.wrap``;
batching inside brax rather than ``vmap`` around the whole stack gives the same numbers). Action clipping is
done by the PPO loop (``PPOStatic.clip_action``). Episode bookkeeping and the two running normalisers are
re-expressed as pure functions of a :class:`BraxEnvState`, with the same arithmetic as PureJaxRL's
``LogWrapper``, ``NormalizeVecObservation`` and ``NormalizeVecReward``:

* episode stats use the **raw** reward (LogWrapper sits below the normalisers);
* observation statistics are updated over the whole batch on ``reset`` and on every ``step`` (Chan et al.
  parallel-variance merge, initial count ``1e-4``, initial mean 0 / var 1) and the returned observation is
  normalised with the *updated* statistics: ``(obs - mean) / sqrt(var + 1e-8)``;
* reward normalisation keeps ``return_val = return_val * gamma * (1 - done) + reward`` per env (PureJaxRL's
  form: it uses the done of the *current* step), merges its batch mean/var into running statistics the same
  way, and returns ``reward / sqrt(var + 1e-8)`` with the *updated* variance; no mean subtraction.

PureJaxRL's observation normaliser initialises ``mean``/``var`` with ``zeros_like(obs)`` of the batched
observation, so its statistics have shape ``(num_envs, obs_dim)`` with identical rows; we keep one
``(obs_dim,)`` row, which is numerically the same.

brax facts relied on (brax 0.14.2, ``brax/envs/wrappers/training.py``):

* ``EpisodeWrapper.step`` sets ``done = 1`` when ``steps >= episode_length`` and
  ``info["truncation"] = 1 - env_done`` there (so truncation is 1 only when the MDP did not also terminate).
* ``AutoResetWrapper.step`` replaces ``obs`` and ``pipeline_state`` of finished envs by
  ``info["first_obs"]`` / ``info["first_pipeline_state"]`` -- the state saved at ``reset`` (brax's auto-reset
  returns every env to *its own first* initial state rather than drawing a new one; the authors have the same
  behaviour). The pre-reset observation is not kept anywhere, so :class:`_RecordFinalObs` (a pass-through
  wrapper placed between ``EpisodeWrapper`` and ``AutoResetWrapper``) copies it into ``info["final_obs"]``.
* Brax dynamics are deterministic: the ``key`` passed to :meth:`BraxVecEnv.step` is unused.
* brax wrappers mutate ``state.info`` / ``state.metrics`` dicts in place; :meth:`BraxVecEnv.step` rebuilds the
  containers first so that the input state is never modified (matters only when called eagerly).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
from brax import envs as brax_envs
from brax.envs.base import State as BraxState
from brax.envs.base import Wrapper as BraxWrapper
from brax.envs.wrappers.training import AutoResetWrapper, EpisodeWrapper, VmapWrapper
from flax import struct

from openrl.envs.base import StepOut

OBS_COUNT0 = 1e-4  # initial count of the running statistics (PureJaxRL / gym)
NORM_EPS = 1e-8


class _RecordFinalObs(BraxWrapper):
    """Stores the observation an env reached in ``info["final_obs"]`` before brax's auto-reset overwrites it."""

    def reset(self, rng: jax.Array) -> BraxState:
        state = self.env.reset(rng)
        state.info["final_obs"] = state.obs
        return state

    def step(self, state: BraxState, action: jax.Array) -> BraxState:
        state = self.env.step(state, action)
        state.info["final_obs"] = state.obs
        return state


@struct.dataclass
class BraxEnvState:
    """Everything :class:`BraxVecEnv` carries between steps (a pytree; all leaves are arrays)."""

    brax_state: BraxState  # batched brax state (leading axis num_envs)
    # running observation statistics (NormalizeVecObservation)
    obs_mean: jax.Array  # (obs_dim,)
    obs_var: jax.Array  # (obs_dim,)
    obs_count: jax.Array  # ()
    # running statistics of the discounted return (NormalizeVecReward)
    rew_mean: jax.Array  # ()
    rew_var: jax.Array  # ()
    rew_count: jax.Array  # ()
    return_val: jax.Array  # (num_envs,)
    # episode bookkeeping on raw rewards (LogWrapper)
    episode_returns: jax.Array  # (num_envs,) running return of the current episode
    episode_lengths: jax.Array  # (num_envs,)
    returned_episode_returns: jax.Array  # (num_envs,) return of the last completed episode
    returned_episode_lengths: jax.Array  # (num_envs,)


def _merge_stats(mean, var, count, batch):
    """Merge the batch mean/var of ``batch`` (over axis 0) into running stats: PureJaxRL's update."""
    batch_mean = jnp.mean(batch, axis=0)
    batch_var = jnp.var(batch, axis=0)
    batch_count = batch.shape[0]
    delta = batch_mean - mean
    tot_count = count + batch_count
    new_mean = mean + delta * batch_count / tot_count
    m_a = var * count
    m_b = batch_var * batch_count
    m2 = m_a + m_b + jnp.square(delta) * count * batch_count / tot_count
    return new_mean, m2 / tot_count, tot_count


@dataclass(frozen=True, eq=False)
class BraxVecEnv:
    """``num_envs`` copies of a brax environment with auto-reset, episode logging and normalisation."""

    env_name: str = "ant"
    num_envs: int = 1
    backend: str = "positional"
    episode_length: int = 1000
    normalize_obs: bool = True
    normalize_reward: bool = True
    gamma: float = 0.99
    _env: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        env = brax_envs.get_environment(self.env_name, backend=self.backend)
        env = VmapWrapper(env)  # batch_size=None: reset takes the already split keys
        env = EpisodeWrapper(env, episode_length=self.episode_length, action_repeat=1)
        env = _RecordFinalObs(env)
        env = AutoResetWrapper(env)
        object.__setattr__(self, "_env", env)

    # -- static facts -------------------------------------------------------------------------------
    @functools.cached_property
    def obs_dim(self) -> int:
        # brax's ``observation_size`` runs a reset eagerly; tracing one is enough.
        shape = jax.eval_shape(self._env.unwrapped.reset, jax.random.PRNGKey(0)).obs.shape
        return int(shape[-1])

    @property
    def action_dim(self) -> int:
        return int(self._env.action_size)

    @property
    def discrete(self) -> bool:
        return False

    @property
    def max_episode_steps(self) -> int:
        return int(self.episode_length)

    # -- helpers ------------------------------------------------------------------------------------
    def _split(self, key: jax.Array) -> jax.Array:
        keys = jax.random.split(key, self.num_envs)
        if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
            keys = jax.random.key_data(keys)  # brax reads the batch shape from rng.shape[:-1]
        return keys

    def _norm_obs(self, obs, mean, var):
        if not self.normalize_obs:
            return obs
        return (obs - mean) / jnp.sqrt(var + NORM_EPS)

    # -- dynamics -----------------------------------------------------------------------------------
    def reset(self, key: jax.Array) -> tuple[jax.Array, BraxEnvState]:
        bstate = self._env.reset(self._split(key))
        obs = bstate.obs.astype(jnp.float32)
        obs_mean = jnp.zeros((obs.shape[-1],), jnp.float32)
        obs_var = jnp.ones((obs.shape[-1],), jnp.float32)
        obs_count = jnp.asarray(OBS_COUNT0, jnp.float32)
        if self.normalize_obs:
            obs_mean, obs_var, obs_count = _merge_stats(obs_mean, obs_var, obs_count, obs)
        zeros = jnp.zeros((self.num_envs,), jnp.float32)
        state = BraxEnvState(
            brax_state=bstate,
            obs_mean=obs_mean,
            obs_var=obs_var,
            obs_count=obs_count,
            rew_mean=jnp.zeros((), jnp.float32),
            rew_var=jnp.ones((), jnp.float32),
            rew_count=jnp.asarray(OBS_COUNT0, jnp.float32),
            return_val=zeros,
            episode_returns=zeros,
            episode_lengths=jnp.zeros((self.num_envs,), jnp.int32),
            returned_episode_returns=zeros,
            returned_episode_lengths=jnp.zeros((self.num_envs,), jnp.int32),
        )
        return self._norm_obs(obs, obs_mean, obs_var), state

    def step(
        self, key: jax.Array, state: BraxEnvState, action: jax.Array
    ) -> tuple[jax.Array, BraxEnvState, StepOut]:
        del key  # brax dynamics are deterministic
        # Fresh dict containers: brax's wrappers mutate state.info / state.metrics in place.
        bstate = jax.tree.map(lambda x: x, state.brax_state)
        bstate = self._env.step(bstate, action)
        obs = bstate.obs.astype(jnp.float32)
        final_obs = bstate.info["final_obs"].astype(jnp.float32)
        reward = bstate.reward.astype(jnp.float32)
        done = bstate.done > 0.5
        truncated = jnp.logical_and(done, bstate.info["truncation"] > 0.5)
        terminated = jnp.logical_and(done, jnp.logical_not(truncated))
        done_f = done.astype(jnp.float32)

        # LogWrapper (raw rewards)
        new_ret = state.episode_returns + reward
        new_len = state.episode_lengths + 1
        episode_returns = new_ret * (1.0 - done_f)
        episode_lengths = new_len * (1 - done.astype(jnp.int32))
        returned_episode_returns = jnp.where(done, new_ret, state.returned_episode_returns)
        returned_episode_lengths = jnp.where(done, new_len, state.returned_episode_lengths)

        # NormalizeVecObservation
        obs_mean, obs_var, obs_count = state.obs_mean, state.obs_var, state.obs_count
        if self.normalize_obs:
            obs_mean, obs_var, obs_count = _merge_stats(obs_mean, obs_var, obs_count, obs)

        # NormalizeVecReward
        rew_mean, rew_var, rew_count = state.rew_mean, state.rew_var, state.rew_count
        return_val = state.return_val
        learn_reward = reward
        if self.normalize_reward:
            return_val = return_val * self.gamma * (1.0 - done_f) + reward
            rew_mean, rew_var, rew_count = _merge_stats(rew_mean, rew_var, rew_count, return_val)
            learn_reward = reward / jnp.sqrt(rew_var + NORM_EPS)

        new_state = BraxEnvState(
            brax_state=bstate,
            obs_mean=obs_mean,
            obs_var=obs_var,
            obs_count=obs_count,
            rew_mean=rew_mean,
            rew_var=rew_var,
            rew_count=rew_count,
            return_val=return_val,
            episode_returns=episode_returns,
            episode_lengths=episode_lengths,
            returned_episode_returns=returned_episode_returns,
            returned_episode_lengths=returned_episode_lengths,
        )
        out = StepOut(
            reward=learn_reward,
            done=done,
            terminated=terminated,
            truncated=truncated,
            final_obs=self._norm_obs(final_obs, obs_mean, obs_var),  # same statistics as the returned obs
            episode_return=returned_episode_returns,
            episode_length=returned_episode_lengths,
            returned_episode_returns=returned_episode_returns,
        )
        return self._norm_obs(obs, obs_mean, obs_var), new_state, out

    def __hash__(self) -> int:  # identity hashing: one env object per config, used as a static arg
        return id(self)
