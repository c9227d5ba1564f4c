"""Composition: the one place where Hydra turns override strings into validated config objects.

The command-line layer composes everything a job needs here, once, before anything is built or compiled:
the run's own config, one config per meta-training task, the tuned-Adam baseline of each task, and
``openrl-eval``'s (env, optimizer) pairs. Jobs receive the validated objects and never re-enter Hydra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from openrl.config import overrides as ov
from openrl.config.registry import ENV_FAMILIES, env_field_families, register_configs
from openrl.config.validate import ConfigError, resolve_optimizer, validate

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"

# Keys a budget preset may set besides the strategy's own fields (``es.<field>``) and the strategy itself
# (``es: <name>``, a conf/es preset used at that budget unless es= is given on the command line).
BUDGET_KEYS = (
    "ppo.total_timesteps",
    "meta.eval_every",
    "meta.validation_seeds",
    "meta.final_eval_seeds",
    "meta.selection",
    "meta.selection_top_k",
    "meta.selection_seeds",
    "meta.num_rollouts",
    "meta.init",
    "meta.init_scale",
)


def _budget_key_problem(k: str) -> str | None:
    if k in BUDGET_KEYS or k == "es" or (k.startswith("es.") and k.count(".") == 1):
        return None
    return f"unknown; allowed keys are es, es.<field of the strategy>, {', '.join(BUDGET_KEYS)}"


def budget_strategy(cfg: DictConfig, overrides: list[str] | tuple[str, ...] = ()) -> str | None:
    """The ES strategy the selected budget preset asks for (its ``es`` key), unless the command line
    chose one (``es=...``); None when the composed strategy stands."""
    entry = (cfg.get("budgets") or {}).get(cfg.get("budget", "paper")) or {}
    if "es" not in entry or "es" in ov.as_dict(overrides):
        return None
    return str(entry["es"])


def apply_budget(cfg: DictConfig, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """A copy of ``cfg`` with the experiment's settings for its ES strategy and the selected budget
    preset (``budgets[budget]``) applied.

    Precedence: ``conf/es/<strategy>.yaml`` < the experiment's ``es_settings[<strategy>]`` < budget preset
    < explicit command-line overrides (so ``budget=small es.population_size=8`` runs a population of 8).
    ``meta.init_weights`` on the command line also replaces the preset's ``meta.init`` (a warm start is a
    start: ``budget=cpu meta.init_weights=...`` starts from the file, not the preset's random start).
    A preset's ``es.<field>`` values belong to the strategy it runs (its ``es`` key, else the experiment's);
    with another strategy chosen on the command line (``es=snes``), the fields that strategy does not have
    are left out. The composed config is not modified; the returned copy is what runs (and what is saved
    as ``config_resolved.yaml``). ``paper`` with no table entry means the experiment's own values. Every
    preset of the experiment is checked, not only the selected one.
    """
    name = cfg.get("budget", "paper")
    table = cfg.get("budgets") or {}
    errors = [
        f"budgets.{b}.{k}: {problem}"
        for b, entries in table.items()
        for k in (entries or {})
        if (problem := _budget_key_problem(str(k))) is not None
    ]
    if name not in table and name != "paper":
        errors.append(f"budget={name!r}: allowed values are {', '.join(sorted({*table, 'paper'}))}")
    es_node = cfg.get("es")
    strategy = es_node.get("strategy") if es_node is not None else None
    es_fields = set(es_node.keys()) if es_node is not None else set()
    settings = (cfg.get("es_settings") or {}).get(strategy) or {}
    errors += [
        f"es_settings.{strategy}.{k}: not a setting of es={strategy}; allowed: {', '.join(sorted(es_fields))}"
        for k in settings
        if k not in es_fields or k == "strategy"
    ]
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))
    explicit = ov.as_dict(overrides)
    entries = {f"es.{k}": v for k, v in settings.items()}
    preset = dict(table.get(name) or {})
    preset.pop("es", None)
    for k, v in preset.items():
        if k.startswith("es.") and k[3:] not in es_fields and "es" in explicit:
            continue  # another strategy's setting: es= on the command line replaced that strategy
        if k == "meta.init" and "meta.init_weights" in explicit:
            continue  # a warm start on the command line replaces the preset's start
        entries[k] = v
    entries = {k: v for k, v in entries.items() if k not in explicit}
    if not entries:
        return cfg
    try:
        return OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{k}={v}" for k, v in entries.items()]))
    except OmegaConfBaseException as e:
        where = f"budgets.{name}" if name in table else f"es_settings.{strategy}"
        raise ConfigError(f"invalid configuration:\n  - {where}: {str(e).splitlines()[0]}") from e


def to_object(cfg: DictConfig, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Applies the budget (command-line ``overrides`` win over it), converts, validates.

    Raises :class:`ConfigError` naming every invalid field.
    """
    return resolve(cfg, overrides)[0]


def resolve(cfg: DictConfig, overrides: list[str] | tuple[str, ...] = ()) -> tuple[Any, dict[str, Any]]:
    """``(validated object, plain resolved dict)`` of ``cfg`` with its budget applied once: the object
    runs, the dict is what the run directory records (``config_resolved.yaml``) and W&B shows.

    A budget preset that runs another ES strategy (``budgets.<name>.es``) recomposes the config with
    ``es=<strategy>`` added to ``overrides``, as if it had been given on the command line.

    The dict records the optimizer as it runs: tuned values filled in for the env and T (``lr: 0.01``,
    not ``lr: null``), and of the ``tuned`` table only the row that supplied them.
    """
    wanted = budget_strategy(cfg, overrides)
    if wanted is not None and wanted != cfg.es.strategy:
        budgets = cfg.budgets  # the table that asked for it (as composed, with any edits made to it)
        cfg = _compose_raw([*overrides, f"es={wanted}"])
        with open_dict(cfg):
            cfg.budgets = budgets
    budgeted = apply_budget(cfg, overrides)
    obj = OmegaConf.to_object(budgeted)
    validate(obj)
    return obj, record_effective(OmegaConf.to_container(budgeted, resolve=True), obj)


def record_effective(resolved: dict[str, Any], obj: Any) -> dict[str, Any]:
    """``resolved`` with ``optimizer`` holding the values the run uses (see :func:`resolve`)."""
    opt = dict(resolved.get("optimizer") or {})
    effective = resolve_optimizer(obj.optimizer, obj.env.name, obj.ppo.total_timesteps)
    opt.update(effective.as_dict())
    row = (obj.optimizer.tuned or {}).get(effective.tuned_for) if effective.tuned_for else None
    opt["tuned"] = {effective.tuned_for: dict(row)} if row else {}
    return {**resolved, "optimizer": opt}


def _compose_raw(overrides: list[str], config_name: str = "config") -> DictConfig:
    """Hydra's composition of ``overrides``, inside a Hydra app (its search path) or outside one."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return hydra_compose(config_name=config_name, overrides=list(overrides))
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def composition_hint(overrides: list[str] | tuple[str, ...], message: str) -> str:
    """Extra lines for a composition error ``message`` caused by another env family's key.

    Hydra's own message for ``env=breakout env.level=labyrinth`` says the key is not in the env's schema
    (and suggests ``+env.level``, which fails the same way); this names the families that have it.
    """
    lines = []
    for key in ov.as_dict(overrides):
        field = key.removeprefix("env.")
        if not key.startswith("env.") or "." in field or key not in message:
            continue
        owners = env_field_families(field)
        if owners and len(owners) < len(ENV_FAMILIES):
            who = f"family {owners[0]} has" if len(owners) == 1 else f"families {' and '.join(owners)} have"
            lines.append(f"{key}: only env {who} this setting; the selected env is of another family")
    return "".join(f"\n{line}" for line in lines)


def load_config(overrides: list[str] | None = None, config_name: str = "config") -> tuple[DictConfig, Any]:
    """Composes ``conf/<config_name>.yaml`` with overrides; returns ``(DictConfig, validated object)``.

    For use outside a Hydra app (tests, benchmarks, notebooks); it replaces any global Hydra state.
    """
    # hydra's compose API imports its whole plugin machinery: only the callers that compose pay for it
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            cfg = hydra_compose(config_name=config_name, overrides=list(overrides or []))
        except ConfigCompositionException as e:
            hint = composition_hint(list(overrides or []), f"{e} {e.__cause__}")
            if not hint:
                raise
            raise ConfigCompositionException(f"{e}{hint}") from e.__cause__
    return cfg, to_object(cfg, list(overrides or []))


def compose(overrides: list[str], config_name: str = "config") -> Any:
    """The validated object of ``conf/<config_name>.yaml`` with ``overrides``, inside or outside a Hydra
    app (inside one, its search path and registered schemas are reused). Hydra's own composition errors
    (an unknown group option, a malformed override) become :class:`ConfigError` naming the overrides."""
    from hydra import compose as hydra_compose
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        if GlobalHydra.instance().is_initialized():
            return to_object(hydra_compose(config_name=config_name, overrides=list(overrides)), overrides)
        return load_config(list(overrides), config_name=config_name)[1]
    except (HydraException, OmegaConfBaseException) as e:
        hint = composition_hint(overrides, f"{e} {e.__cause__}")
        hint = "" if hint.strip() in str(e) else hint  # load_config already added it
        raise ConfigError(f"cannot compose {' '.join(overrides)}: {e}{hint}") from e


def task_configs(cfg: Any, overrides: list[str]) -> list[Any]:
    """One validated config per meta-training task: ``meta.envs`` composed with the run's overrides."""
    if not cfg.meta.envs:
        return [cfg]
    base = ov.without(overrides, "env")
    return [compose([*base, f"env={name}"]) for name in cfg.meta.envs]


def adam_config(cfg: Any, overrides: list[str]) -> Any:
    """The same env and PPO settings with tuned Adam (the baseline every learned optimizer faces).

    Single-task runs keep their ``env.<field>`` overrides (e.g. ``env.level=labyrinth``), so Adam faces
    the same env; multi-task configs (``meta.envs``) never carry them (see :func:`task_configs`).
    """
    base = ov.without(overrides, "optimizer", "env", "mode")
    env_fields = [] if cfg.meta.envs else [o for o in overrides if ov.key(o).startswith("env.")]
    return compose([*base, f"env={cfg.env.name}", *env_fields, "optimizer=adam", "mode=ppo"])


@dataclass(frozen=True)
class MetaJob:
    """Every config a meta-training run needs, composed and validated once.

    ``tasks[i]`` is task i's full config (its env with the run's PPO and optimizer settings); ``adam[i]``
    the same env and PPO settings with tuned Adam: the validation reference, the update-ratio probe and
    the final evaluation's baseline. ``label`` names the learned optimizer in reports (its
    ``conf/optimizer`` preset, e.g. ``open_large``).
    """

    cfg: Any
    tasks: tuple[Any, ...]
    adam: tuple[Any, ...]
    label: str


def meta_job(cfg: Any, overrides: list[str], label: str | None = None) -> MetaJob:
    """Composes the per-task and per-task Adam configs of a meta-training run (``cfg`` already validated);
    ``label``: the optimizer preset chosen (default: the optimizer's name)."""
    tasks = tuple(task_configs(cfg, overrides))
    adam = tuple(adam_config(t, overrides) for t in tasks)
    return MetaJob(cfg, tasks, adam, label or cfg.optimizer.name)
