"""``make_env(env_cfg, num_envs)``: the one place that maps an env config to an adapter."""

from __future__ import annotations

from openrl.envs.base import VecEnv


def make_env(cfg, num_envs: int) -> VecEnv:
    """Builds the batched environment described by an :class:`openrl.config.schema.EnvConfig`."""
    if cfg.family in ("minatar", "gymnax"):
        from openrl.envs.gymnax_env import GymnaxVecEnv

        return GymnaxVecEnv(cfg.id, num_envs)
    if cfg.family == "bsuite":
        from openrl.envs.gymnax_env import GymnaxVecEnv

        kwargs = (("size", cfg.size),) if cfg.size is not None else ()
        # gymnax 1.0.1 defaults to its random action map; the switch picks (env.randomize_actions).
        params = (("randomize_actions", bool(cfg.randomize_actions)),)
        return GymnaxVecEnv(cfg.id, num_envs, env_kwargs=kwargs, param_overrides=params)
    if cfg.family == "deepsea":
        from openrl.envs.deepsea import DeepSeaVecEnv

        low, high = (cfg.size, cfg.size) if cfg.size is not None else (cfg.size_low, cfg.size_high)
        return DeepSeaVecEnv(
            num_envs,
            max_size=cfg.max_size,
            size_low=low,
            size_high=high,
            randomize_actions=bool(cfg.randomize_actions),
        )
    if cfg.family == "brax":
        from openrl.envs.brax_env import BraxVecEnv

        return BraxVecEnv(
            env_name=cfg.id,
            num_envs=num_envs,
            backend=cfg.backend,
            episode_length=cfg.episode_length,
            normalize_obs=cfg.normalize_obs,
            normalize_reward=cfg.normalize_reward,
            gamma=cfg.reward_gamma,
        )
    if cfg.family == "gridworld":
        from openrl.envs.gridworld import GridWorldVecEnv

        return GridWorldVecEnv(
            cfg.level,
            num_envs,
            faithful_sampling=cfg.faithful_sampling,
            inclusive_ranges=cfg.inclusive_ranges,
        )
    if cfg.family == "probe":
        from openrl.envs.probe import ProbeVecEnv

        return ProbeVecEnv(cfg.id, num_envs)
    raise ValueError(f"env.family={cfg.family!r} is not supported")
