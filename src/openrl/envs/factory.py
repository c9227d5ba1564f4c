"""``make_env(env_cfg, num_envs)``: the one place that maps an env config to an adapter.

Dispatch goes through the env-family registry (:mod:`openrl.config.registry`); the builders of
openrl's own families are below. Each imports its adapter inside the function, so building a MinAtar
env never imports Brax (and ``import openrl.envs`` stays cheap).
"""

from __future__ import annotations

from typing import Any

from openrl.config.registry import ENV_FAMILIES
from openrl.envs.base import VecEnv


def make_env(cfg: Any, num_envs: int) -> VecEnv:
    """Builds the batched environment described by an env config (:class:`openrl.config.schema.EnvConfig`
    or its family's subclass) with the builder registered for ``cfg.family``."""
    family = ENV_FAMILIES.get(cfg.family)
    if family is None:
        raise ValueError(f"env.family={cfg.family!r} is not supported")
    return family.builder()(cfg, num_envs)


def build_gymnax(cfg: Any, num_envs: int) -> VecEnv:
    """Families ``minatar`` and ``gymnax``: any gymnax env with a discrete action space, by id."""
    from openrl.envs.gymnax_env import GymnaxVecEnv  # lazy: gymnax only for these families

    return GymnaxVecEnv(cfg.id, num_envs)


def build_bsuite(cfg: Any, num_envs: int) -> VecEnv:
    """Family ``bsuite``: gymnax's Deep Sea at one fixed size."""
    from openrl.envs.gymnax_env import GymnaxVecEnv  # lazy: gymnax only for this family

    kwargs = (("size", cfg.size),) if cfg.size is not None else ()
    # gymnax 1.0.1 defaults to its random action map; the switch picks (env.randomize_actions).
    params = (("randomize_actions", bool(cfg.randomize_actions)),)
    return GymnaxVecEnv(cfg.id, num_envs, env_kwargs=kwargs, param_overrides=params)


def build_deepsea(cfg: Any, num_envs: int) -> VecEnv:
    """Family ``deepsea``: openrl's Deep Sea with a traced size (one size, or sampled per run)."""
    from openrl.envs.deepsea import DeepSeaVecEnv  # lazy: keeps other families from importing it

    low, high = (cfg.size, cfg.size) if cfg.size is not None else (cfg.size_low, cfg.size_high)
    return DeepSeaVecEnv(
        num_envs,
        max_size=cfg.max_size,
        size_low=low,
        size_high=high,
        randomize_actions=bool(cfg.randomize_actions),
    )


def build_brax(cfg: Any, num_envs: int) -> VecEnv:
    """Family ``brax``: a Brax env by name, with the authors' wrappers and normalisation."""
    from openrl.envs.brax_env import BraxVecEnv  # lazy: brax is a heavy import

    return BraxVecEnv(
        env_name=cfg.id,
        num_envs=num_envs,
        backend=cfg.backend,
        episode_length=cfg.episode_length,
        normalize_obs=cfg.normalize_obs,
        normalize_reward=cfg.normalize_reward,
        gamma=cfg.reward_gamma,
    )


def build_gridworld(cfg: Any, num_envs: int) -> VecEnv:
    """Family ``gridworld``: the OPEN paper's gridworlds, one level sampled per run from ``level``."""
    from openrl.envs.gridworld import GridWorldVecEnv  # lazy: keeps other families from importing it

    return GridWorldVecEnv(
        cfg.level,
        num_envs,
        faithful_sampling=cfg.faithful_sampling,
        inclusive_ranges=cfg.inclusive_ranges,
    )


def build_probe(cfg: Any, num_envs: int) -> VecEnv:
    """Family ``probe``: the closed-form probe envs that check the PPO loop."""
    from openrl.envs.probe import ProbeVecEnv  # lazy: keeps other families from importing it

    return ProbeVecEnv(cfg.id, num_envs)
