"""From a validated config to the jittable pieces: env, update rule, PPO trainer, traced values."""

from __future__ import annotations

from typing import Any

from openrl.config import resolve_optimizer
from openrl.envs import make_env
from openrl.optimizers import make_rule
from openrl.ppo.train import PPOHParams, PPOStatic, PPOTrainer


def ppo_static(cfg: Any, env: Any) -> PPOStatic:
    p = cfg.ppo
    return PPOStatic(
        num_envs=p.num_envs,
        num_steps=p.num_steps,
        num_updates=p.total_timesteps // (p.num_envs * p.num_steps),
        num_minibatches=p.num_minibatches,
        update_epochs=p.update_epochs,
        widths=(p.width,) * p.hidden_layers,
        activation=p.activation,
        shared_init_key=p.shared_init_key,
        bootstrap_truncation=cfg.env.truncation == "bootstrap",
        clip_action=p.clip_action,
        shuffle=p.shuffle,
    )


def ppo_hparams(cfg: Any) -> PPOHParams:
    p = cfg.ppo
    return PPOHParams(p.gamma, p.gae_lambda, p.clip_eps, p.vf_coef, p.ent_coef, p.max_grad_norm)


def build_trainer(cfg: Any) -> tuple[PPOTrainer, Any, PPOHParams]:
    """``(trainer, rule_params, hparams)``; rule_params and hparams are the traced inputs of a run."""
    env = make_env(cfg.env, cfg.ppo.num_envs)
    rule = make_rule(resolve_optimizer(cfg.optimizer, cfg.env.name))
    trainer = PPOTrainer(ppo_static(cfg, env), env, rule)
    return trainer, rule.default_params(), ppo_hparams(cfg)


def compose(overrides: list[str]) -> Any:
    """Composes and validates ``conf/config.yaml`` with ``overrides`` (inside or outside a Hydra app)."""
    from hydra.core.global_hydra import GlobalHydra

    from openrl.config import load_config, to_object

    if GlobalHydra.instance().is_initialized():
        import hydra

        return to_object(hydra.compose(config_name="config", overrides=list(overrides)), list(overrides))
    return load_config(list(overrides))[1]


def _without(overrides: list[str], *keys: str) -> list[str]:
    """Drops overrides that set ``key`` or anything below it (``env=...``, ``optimizer.lr=...``)."""
    out = []
    for o in overrides:
        k = o.lstrip("+~").split("=", 1)[0]
        if any(k == key or k.startswith(key + ".") for key in keys):
            continue
        out.append(o)
    return out


def task_configs(cfg: Any, overrides: list[str]) -> list[Any]:
    """One validated config per meta-training task: ``meta.envs`` composed with the run's overrides."""
    if not cfg.meta.envs:
        return [cfg]
    base = _without(overrides, "env")
    return [compose([*base, f"env={name}"]) for name in cfg.meta.envs]


def adam_config(cfg: Any, overrides: list[str]) -> Any:
    """The same env and PPO settings with tuned Adam (the baseline every learned optimizer faces).

    Single-task runs keep their ``env.<field>`` overrides (e.g. ``env.level=labyrinth``), so Adam faces
    the same env; multi-task configs (``meta.envs``) never carry them (see :func:`task_configs`).
    """
    base = _without(overrides, "optimizer", "env", "mode")
    env_fields = [] if cfg.meta.envs else [o for o in overrides if o.lstrip("+~").startswith("env.")]
    return compose([*base, f"env={cfg.env.name}", *env_fields, "optimizer=adam", "mode=ppo"])
