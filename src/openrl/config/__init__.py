"""Configuration: structured schemas, validation, and composition helpers.

``load_config(overrides)`` composes ``conf/`` exactly like ``openrl-train`` does, for use from Python
(tests, benchmarks, notebooks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from openrl.config.registry import ENV_FAMILIES, OPTIMIZERS, env_field_families, register_configs
from openrl.config.schema import Config, EnvConfig, LoggerConfig, OptimizerConfig, PPOConfig
from openrl.config.validate import ConfigError, ResolvedOptimizer, resolve_optimizer, validate

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"

__all__ = [
    "BUDGET_KEYS",
    "CONF_DIR",
    "ENV_FAMILIES",
    "OPTIMIZERS",
    "apply_budget",
    "composition_hint",
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
    "es.sigma_init",
    "es.sigma_decay",
    "es.lr",
    "es.lr_decay",
    "meta.init",
    "meta.init_scale",
)


def _override_keys(overrides: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``{key: value}`` of plain ``key=value`` command-line overrides (group choices included)."""
    out = {}
    for o in overrides:
        if "=" in o and not o.startswith("~"):
            k, v = o.lstrip("+").split("=", 1)
            out[k] = v
    return out


def composition_hint(overrides: list[str] | tuple[str, ...], message: str) -> str:
    """Extra lines for a composition error ``message`` caused by another env family's key.

    Hydra's own message for ``env=breakout env.level=labyrinth`` says the key is not in the env's schema
    (and suggests ``+env.level``, which fails the same way); this names the families that have it.
    """
    lines = []
    for key in _override_keys(overrides):
        field = key.removeprefix("env.")
        if not key.startswith("env.") or "." in field or key not in message:
            continue
        owners = env_field_families(field)
        if owners and len(owners) < len(ENV_FAMILIES):
            who = f"family {owners[0]} has" if len(owners) == 1 else f"families {' and '.join(owners)} have"
            lines.append(f"{key}: only env {who} this setting; the selected env is of another family")
    return "".join(f"\n{line}" for line in lines)


def apply_budget(cfg: DictConfig, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """A copy of ``cfg`` with the selected budget preset (``budgets[budget]``) applied.

    Precedence: experiment values < budget preset < explicit command-line overrides (so
    ``budget=small es.population_size=8`` runs a population of 8). The composed config is not modified;
    the returned copy is what runs (and what is saved as ``config_resolved.yaml``). ``paper`` with no
    table entry means the experiment's own values. Every preset of the experiment is checked, not only
    the selected one.
    """
    name = cfg.get("budget", "paper")
    table = cfg.get("budgets") or {}
    errors = [
        f"budgets.{b}.{k}: unknown; allowed keys are {', '.join(BUDGET_KEYS)}"
        for b, entries in table.items()
        for k in (entries or {})
        if k not in BUDGET_KEYS
    ]
    if name not in table and name != "paper":
        errors.append(f"budget={name!r}: allowed values are {', '.join(sorted({*table, 'paper'}))}")
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))
    if name not in table:
        return cfg
    explicit = _override_keys(overrides)
    entries = {k: v for k, v in (table[name] or {}).items() if k not in explicit}
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{k}={v}" for k, v in entries.items()]))


def to_object(cfg: DictConfig, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Applies the budget (command-line ``overrides`` win over it), converts, validates.

    Raises :class:`ConfigError` naming every invalid field.
    """
    obj = OmegaConf.to_object(apply_budget(cfg, overrides))
    validate(obj)
    return obj


def load_config(overrides: list[str] | None = None, config_name: str = "config") -> tuple[DictConfig, Any]:
    """Composes ``conf/<config_name>.yaml`` with overrides; returns ``(DictConfig, validated object)``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
        except ConfigCompositionException as e:
            hint = composition_hint(list(overrides or []), f"{e} {e.__cause__}")
            if not hint:
                raise
            raise ConfigCompositionException(f"{e}{hint}") from e.__cause__
    return cfg, to_object(cfg, list(overrides or []))
