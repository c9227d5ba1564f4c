"""Configuration: structured schemas, validation, override parsing and composition.

``load_config(overrides)`` composes ``conf/`` exactly like ``openrl-train`` does, for use from Python
(tests, benchmarks, notebooks). Hydra is imported by this package and the command-line layer only.
"""

from __future__ import annotations

from openrl.config.compose import (
    BUDGET_KEYS,
    CONF_DIR,
    MetaJob,
    adam_config,
    apply_budget,
    compose,
    composition_hint,
    load_config,
    meta_job,
    resolve,
    task_configs,
    to_object,
)
from openrl.config.registry import ENV_FAMILIES, OPTIMIZERS, register_configs
from openrl.config.schema import Config, EnvConfig, LoggerConfig, OptimizerConfig, PPOConfig
from openrl.config.validate import ConfigError, ResolvedOptimizer, resolve_optimizer, validate

__all__ = [
    "BUDGET_KEYS",
    "CONF_DIR",
    "ENV_FAMILIES",
    "OPTIMIZERS",
    "Config",
    "ConfigError",
    "EnvConfig",
    "LoggerConfig",
    "MetaJob",
    "OptimizerConfig",
    "PPOConfig",
    "ResolvedOptimizer",
    "adam_config",
    "apply_budget",
    "compose",
    "composition_hint",
    "load_config",
    "meta_job",
    "register_configs",
    "resolve",
    "resolve_optimizer",
    "task_configs",
    "to_object",
    "validate",
]
