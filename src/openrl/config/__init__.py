"""Configuration: structured schemas, validation, and composition helpers.

``load_config(overrides)`` composes ``conf/`` exactly like ``openrl-train`` does, for use from Python
(tests, benchmarks, notebooks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from openrl.config.schema import Config, EnvConfig, LoggerConfig, OptimizerConfig, PPOConfig, register_configs
from openrl.config.validate import ConfigError, ResolvedOptimizer, resolve_optimizer, validate

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"

__all__ = [
    "BUDGET_KEYS",
    "CONF_DIR",
    "apply_budget",
    "Config",
    "ConfigError",
    "EnvConfig",
    "LoggerConfig",
    "OptimizerConfig",
    "PPOConfig",
    "ResolvedOptimizer",
    "load_config",
    "register_configs",
    "resolve_optimizer",
    "to_object",
    "validate",
]


BUDGET_KEYS = (
    "es.population_size",
    "es.num_generations",
    "ppo.total_timesteps",
    "meta.eval_every",
    "meta.validation_seeds",
    "meta.final_eval_seeds",
    "meta.num_rollouts",
)


def apply_budget(cfg: DictConfig) -> DictConfig:
    """A copy of ``cfg`` with the selected budget preset (``budgets[budget]``) applied.

    The composed config is not modified; the returned copy is what runs (and what is saved as
    ``config_resolved.yaml``). ``paper`` with no table entry means the experiment's own values.
    """
    name = cfg.get("budget", "paper")
    table = cfg.get("budgets") or {}
    if name not in table:
        if name == "paper":
            return cfg
        allowed = ", ".join(sorted({*table, "paper"}))
        raise ConfigError(f"invalid configuration:\n  - budget={name!r}: allowed values are {allowed}")
    entries = table[name] or {}
    unknown = [k for k in entries if k not in BUDGET_KEYS]
    if unknown:
        raise ConfigError(
            "invalid configuration:\n  - "
            + "\n  - ".join(
                f"budgets.{name}.{k}: unknown; allowed keys are {', '.join(BUDGET_KEYS)}" for k in unknown
            )
        )
    out = OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{k}={v}" for k, v in entries.items()]))
    return out


def to_object(cfg: DictConfig) -> Any:
    """Applies the budget, converts to validated schema objects (raises :class:`ConfigError`)."""
    obj = OmegaConf.to_object(apply_budget(cfg))
    validate(obj)
    return obj


def load_config(overrides: list[str] | None = None, config_name: str = "config") -> tuple[DictConfig, Any]:
    """Composes ``conf/<config_name>.yaml`` with overrides; returns ``(DictConfig, validated object)``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides or []))
    return cfg, to_object(cfg)
