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
    rule = make_rule(resolve_optimizer(cfg.optimizer, cfg.env.name, cfg.ppo.total_timesteps))
    trainer = PPOTrainer(ppo_static(cfg, env), env, rule)
    return trainer, rule.default_params(), ppo_hparams(cfg)
