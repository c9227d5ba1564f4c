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
    "CONF_DIR",
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


def to_object(cfg: DictConfig) -> Any:
    """Converts a composed DictConfig into validated schema objects (raises :class:`ConfigError`)."""
    obj = OmegaConf.to_object(cfg)
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
