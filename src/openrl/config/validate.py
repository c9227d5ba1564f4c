"""Cross-field validation: every rule names the field, the value and what is allowed.

Runs right after composition (before any environment is built or anything is compiled). Errors are
collected and reported together, so one start-up shows every problem at once.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

# GRIDWORLD_LEVELS is re-exported: the gridworld family's rules (and its allowed levels) live with its
# registry entry.
from openrl.config.registry import ENV_FAMILIES, ES_STRATEGIES, OPTIMIZERS, OptimizerEntry
from openrl.config.registry import GRIDWORLD_LEVELS as GRIDWORLD_LEVELS

ACTIVATIONS = ("relu", "tanh")
TRUNCATION = ("done", "bootstrap")
SHUFFLES = ("packed_sort", "jax_permutation")  # openrl.ppo.train.SHUFFLES
BATCHING = ("auto", "vectorised", "sequential")  # openrl.optimizers.open.BATCHING
WANDB_MODES = ("auto", "online", "offline", "disabled")
MODES = ("ppo", "meta")
SELECTIONS = ("best_validated", "top_k")  # meta.selection: see MetaConfig

META_INITS = ("zeros", "random", "weights")  # openrl.meta.init


def _validate_meta_init(errors: list[str], meta: Any) -> None:
    """``meta.init``/``init_weights``/``init_scale`` and the learning-diagnostics fields."""
    if meta.init is not None and meta.init not in META_INITS:
        errors.append(f"meta.init={meta.init!r}: allowed values are {', '.join(META_INITS)} (or null)")
    if meta.init == "weights" and not meta.init_weights:
        errors.append("meta.init=weights needs meta.init_weights=<.npy | optimizer dir | run dir>")
    if meta.init_weights and meta.init not in (None, "weights"):
        errors.append(
            f"meta.init_weights is set but meta.init={meta.init!r}: leave meta.init null (or set it to "
            "weights) to start from the file, or drop meta.init_weights"
        )
    if (
        meta.init_weights
        and not str(meta.init_weights).startswith("pretrained:")
        and not Path(os.path.expanduser(meta.init_weights)).exists()
    ):
        errors.append(f"meta.init_weights={meta.init_weights!r}: no such file or directory")
    if not (math.isfinite(meta.init_scale) and meta.init_scale > 0):
        errors.append(f"meta.init_scale={meta.init_scale}: must be a finite number > 0")
    if meta.probe_updates < 0 or meta.probe_seeds < 1:
        errors.append(
            f"meta.probe_updates={meta.probe_updates}, meta.probe_seeds={meta.probe_seeds}: need "
            "probe_updates >= 0 (0 = no update-ratio probe) and probe_seeds >= 1"
        )
    if not (math.isfinite(meta.plateau_ratio) and meta.plateau_ratio >= 0):
        errors.append(f"meta.plateau_ratio={meta.plateau_ratio}: must be a finite number >= 0")


def _validate_meta_distributed(errors: list[str], meta: Any) -> None:
    """The multi-process launch settings (``openrl.runs.distributed``); unset ones are left to the env."""
    launch = ("coordinator_address", "num_processes", "process_id")
    if not meta.distributed:
        set_ = [f"meta.{n}" for n in launch if getattr(meta, n) is not None]
        if set_:
            errors.append(f"{', '.join(set_)} set but meta.distributed=false: set meta.distributed=true")
        return
    address = meta.coordinator_address
    if address is not None:
        host, _, port = str(address).rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            errors.append(f"meta.coordinator_address={address!r}: must be HOST:PORT (e.g. 10.0.0.1:12345)")
    if meta.num_processes is not None and meta.num_processes < 1:
        errors.append(f"meta.num_processes={meta.num_processes}: must be >= 1")
    if meta.process_id is not None and (
        meta.process_id < 0 or (meta.num_processes is not None and meta.process_id >= meta.num_processes)
    ):
        errors.append(
            f"meta.process_id={meta.process_id}: must be in [0, meta.num_processes={meta.num_processes})"
        )
    for n in ("init_timeout_s", "heartbeat_timeout_s"):
        if getattr(meta, n) < 1:
            errors.append(f"meta.{n}={getattr(meta, n)}: must be >= 1 (seconds)")


class ConfigError(ValueError):
    """An invalid configuration. The message lists every offending field."""


@dataclass(frozen=True)
class ResolvedOptimizer:
    """An optimizer config with the env's tuned values filled in (the config itself is not mutated)."""

    name: str
    anneal_lr: bool
    values: tuple[tuple[str, Any], ...]
    tuned_for: str | None = None  # the ``tuned:`` key the values came from (``breakout@200000``), if any

    def __getattr__(self, key: str) -> Any:
        for k, v in self.values:
            if k == key:
                return v
        raise AttributeError(key)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "anneal_lr": self.anneal_lr, **dict(self.values)}


def tuned_entry(opt: Any, env_name: str, total_timesteps: int | None = None) -> tuple[str | None, dict]:
    """``(key, values)`` of the ``tuned:`` entry that applies to ``env_name`` at ``total_timesteps``.

    A value tuned for the budget it runs at wins: ``<env>@<T>`` (e.g. ``breakout@200000``, Adam tuned at
    T = 2e5) is used when the run's T matches, else the env's own entry (the paper's values, tuned at the
    paper's T), else none. Keys are exact: a budget-tuned value says nothing about another T.
    """
    table = opt.tuned or {}
    if total_timesteps is not None and f"{env_name}@{int(total_timesteps)}" in table:
        key = f"{env_name}@{int(total_timesteps)}"
        return key, dict(table[key] or {})
    if env_name in table:
        return env_name, dict(table[env_name] or {})
    return None, {}


def resolve_optimizer(opt: Any, env_name: str, total_timesteps: int | None = None) -> ResolvedOptimizer:
    """Fills ``null`` hyperparameters from the optimizer's ``tuned:`` table; explicit values win.

    The entry is the one tuned for ``env_name`` at ``total_timesteps`` when the table has one, else the
    env's (:func:`tuned_entry`). Which fields are tuned and which pass through unchanged comes from the
    optimizer's registry entry (:mod:`openrl.config.registry`). Learned optimizers never anneal.

    Raises:
        ConfigError: ``opt.name`` is not a registered optimizer.
    """
    entry = OPTIMIZERS.get(opt.name)
    if entry is None:
        raise ConfigError(_unknown_optimizer(opt.name))
    tuned_key, tuned = tuned_entry(opt, env_name, total_timesteps)
    resolved = [(k, tuned.get(k) if getattr(opt, k) is None else getattr(opt, k)) for k in entry.tuned]
    passed = [(k, getattr(opt, k)) for k in entry.passthrough]
    if entry.kind == "learned":
        return ResolvedOptimizer(opt.name, False, tuple(passed + resolved), tuned_key)
    anneal = opt.anneal_lr if opt.anneal_lr is not None else bool(tuned.get("anneal_lr", False))
    return ResolvedOptimizer(opt.name, bool(anneal), tuple(resolved + passed), tuned_key)


def _unknown_optimizer(name: str) -> str:
    return f"optimizer.name={name!r}: allowed values are {', '.join(OPTIMIZERS.names())}"


def _check_tuned_values(
    errors: list[str], opt: Any, entry: OptimizerEntry, env_name: str, total_timesteps: int | None = None
) -> None:
    """Every tuned field resolves to a value, and the ``tuned:`` table holds no unknown keys."""
    resolved = resolve_optimizer(opt, env_name, total_timesteps)
    for k in entry.tuned:
        v = getattr(resolved, k)
        if v is None:
            tuned_for = ", ".join(sorted(opt.tuned)) or "none"
            errors.append(
                f"optimizer.{k}: no value given and no tuned {opt.name} value for env {env_name!r} "
                f"(tuned for: {tuned_for}); set it, e.g. optimizer.{k}=..."
            )
        elif entry.kind == "learned":
            if not (v > 0 and math.isfinite(v)):
                errors.append(f"optimizer.{k}={v}: must be a positive number")
        elif k == "lr" and v <= 0:
            errors.append(f"optimizer.lr={v}: must be positive")
        elif k != "lr" and not 0.0 <= v < 1.0:
            errors.append(f"optimizer.{k}={v}: must lie in [0, 1)")
    allowed = (*entry.tuned, "anneal_lr") if entry.kind == "handcrafted" else entry.tuned
    for e, vals in opt.tuned.items():
        env_part, at, t_part = str(e).partition("@")
        if at and not (env_part and t_part.isdigit() and int(t_part) > 0):
            errors.append(
                f"optimizer.tuned.{e}: a budget-tuned entry is named <env>@<total_timesteps>, "
                "e.g. breakout@200000"
            )
        for k in vals or {}:
            if k not in allowed:
                errors.append(f"optimizer.tuned.{e}.{k}: unknown; allowed keys are {', '.join(allowed)}")


def _check_options(errors: list[str], opt: Any, entry: OptimizerEntry) -> None:
    """Every static option of a handcrafted optimizer (``OptimizerEntry.options``) is a keyword its
    direction takes: a schema field the update never sees is refused at start-up, not silently ignored.
    Imports the direction's module only when there are options (the built-in optimizers have none)."""
    if not entry.options:
        return
    import inspect

    try:
        params = inspect.signature(entry.builder()).parameters
    except (ImportError, AttributeError, ValueError, TypeError) as e:
        errors.append(f"optimizer.name={opt.name!r}: its direction {entry.build!r} cannot be loaded ({e})")
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    for k in entry.options:
        if k not in params:
            errors.append(
                f"optimizer.{k}={getattr(opt, k)!r}: {opt.name}'s direction takes no argument {k!r}, so the "
                f"setting would never reach the update; add it to the direction or remove it from "
                f"{entry.schema.__name__}"
            )


def _positive(errors: list[str], prefix: str, obj: Any, names: tuple[str, ...]) -> None:
    for n in names:
        v = getattr(obj, n)
        if v is None or v <= 0:
            errors.append(f"{prefix}.{n}={v!r}: must be a positive number")


def _validate_learned(
    errors: list[str], opt: Any, entry: OptimizerEntry, env_name: str, total_timesteps: int | None = None
) -> None:
    """Architecture sizes, multipliers, no annealing, and a weights file that exists and fits."""
    for n in ("gru_features", "hidden"):
        if not hasattr(opt, n):  # a registered learned optimizer need not have a GRU
            continue
        v = getattr(opt, n)
        if not isinstance(v, int) or v < 1:
            errors.append(f"optimizer.{n}={v!r}: must be a positive integer")
    for n in ("alpha1", "alpha2", "alpha3"):
        if hasattr(opt, n) and not (getattr(opt, n) >= 0 and math.isfinite(getattr(opt, n))):
            errors.append(f"optimizer.{n}={getattr(opt, n)!r}: must be a finite number >= 0")
    if hasattr(opt, "batching") and opt.batching not in BATCHING:
        errors.append(f"optimizer.batching={opt.batching!r}: allowed values are {', '.join(BATCHING)}")
    if opt.anneal_lr:
        what = "has no learning-rate schedule" if entry.tuned else "has no learning rate"
        errors.append(f"optimizer.anneal_lr=true: {opt.name} is a learned optimizer and {what}")
    if entry.tuned:
        _check_tuned_values(errors, opt, entry, env_name, total_timesteps)
    if getattr(opt, "weights", None) is None or any(e.startswith("optimizer.") for e in errors):
        return
    path = Path(os.path.expanduser(str(opt.weights)))
    # pretrained:NAME is resolved (verified, downloaded if allowed) by the loader below
    if not str(opt.weights).startswith("pretrained:") and not (path.is_file() or path.is_dir()):
        errors.append(
            f"optimizer.weights={opt.weights!r}: file does not exist (resolved to {str(path.absolute())!r}); "
            "give a flat float32 .npy of meta-parameters (or an optimizer directory with optimizer.npy), "
            "or null for zeros"
        )
        return
    from openrl.optimizers import make_rule  # lazy: pulls in jax/flax

    try:
        make_rule(resolve_optimizer(opt, env_name, total_timesteps)).default_params()
    except (OSError, ValueError) as e:
        errors.append(f"optimizer.weights={opt.weights!r}: {e}")


def _non_finite(node: Any, prefix: str = "") -> list[tuple[str, float]]:
    """``(field, value)`` of every NaN or infinite float anywhere in the config (nested dataclasses, dicts
    such as ``optimizer.tuned`` and ``budgets``, lists).

    One walk over all fields rather than a list of names: range rules like ``v <= 0`` are silently false
    for NaN, so without this a NaN in any float field (``es.sigma_init=nan``) would reach the run.
    """
    if is_dataclass(node):
        items = [(f.name, getattr(node, f.name)) for f in fields(node)]
    elif isinstance(node, dict):
        items = [(str(k), v) for k, v in node.items()]
    elif isinstance(node, (list, tuple)):
        return [bad for i, v in enumerate(node) for bad in _non_finite(v, f"{prefix}[{i}]")]
    elif isinstance(node, float) and not math.isfinite(node):
        return [(prefix, node)]
    else:
        return []
    return [bad for k, v in items for bad in _non_finite(v, f"{prefix}.{k}" if prefix else k)]


def validate(cfg: Any) -> None:
    """Raises :class:`ConfigError` listing every problem of a composed config."""
    errors: list[str] = []
    env, ppo, opt = cfg.env, cfg.ppo, cfg.optimizer

    family = ENV_FAMILIES.get(env.family)
    if family is None:
        errors.append(f"env.family={env.family!r}: allowed values are {', '.join(ENV_FAMILIES.names())}")
    if env.truncation not in TRUNCATION:
        errors.append(f"env.truncation={env.truncation!r}: allowed values are {', '.join(TRUNCATION)}")
    if family is not None and type(env) is not family.schema:
        errors.append(
            f"env.family={env.family!r}: the env preset extends {type(env).__name__}, not the {env.family} "
            f"schema {family.schema.__name__} (defaults: [/schema/env/{env.family}@_here_, _self_])"
        )
    elif family is not None and family.check is not None:
        errors.extend(family.check(env))

    _positive(
        errors,
        "ppo",
        ppo,
        (
            "num_envs",
            "num_steps",
            "total_timesteps",
            "num_minibatches",
            "update_epochs",
            "width",
            "hidden_layers",
        ),
    )
    _positive(errors, "ppo", ppo, ("clip_eps", "max_grad_norm"))
    for n in ("gamma", "gae_lambda"):
        v = getattr(ppo, n)
        if not 0.0 <= v <= 1.0:
            errors.append(f"ppo.{n}={v}: must lie in [0, 1]")
    for n in ("vf_coef", "ent_coef"):
        if getattr(ppo, n) < 0:
            errors.append(f"ppo.{n}={getattr(ppo, n)}: must be >= 0")
    if ppo.shuffle not in SHUFFLES:
        errors.append(f"ppo.shuffle={ppo.shuffle!r}: allowed values are {', '.join(SHUFFLES)}")
    if ppo.activation not in ACTIVATIONS:
        errors.append(f"ppo.activation={ppo.activation!r}: allowed values are {', '.join(ACTIVATIONS)}")
    if ppo.num_envs > 0 and ppo.num_steps > 0 and ppo.num_minibatches > 0:
        batch = ppo.num_envs * ppo.num_steps
        if batch % ppo.num_minibatches:
            errors.append(
                f"ppo.num_minibatches={ppo.num_minibatches}: the rollout batch num_envs*num_steps="
                f"{ppo.num_envs}*{ppo.num_steps}={batch} must divide into equal minibatches"
            )
        if ppo.total_timesteps > 0 and ppo.total_timesteps < batch:
            errors.append(
                f"ppo.total_timesteps={ppo.total_timesteps}: less than one rollout batch ({batch}); "
                "no PPO update would run"
            )

    entry = OPTIMIZERS.get(opt.name)
    if entry is None:
        errors.append(_unknown_optimizer(opt.name))
    elif type(opt) is not entry.schema:
        errors.append(
            f"optimizer.name={opt.name!r}: the preset extends {type(opt).__name__}, not {opt.name}'s schema "
            f"{entry.schema.__name__} (defaults: [/schema/optimizer/{opt.name}@_here_, _self_])"
        )
        entry = None
    elif entry.kind == "handcrafted":
        _check_tuned_values(errors, opt, entry, env.name, cfg.ppo.total_timesteps)
        _check_options(errors, opt, entry)
    else:
        _validate_learned(errors, opt, entry, env.name, cfg.ppo.total_timesteps)

    if cfg.mode not in MODES:
        errors.append(f"mode={cfg.mode!r}: allowed values are {', '.join(MODES)}")
    es, meta = cfg.es, cfg.meta
    if cfg.mode == "meta" and not is_dataclass(es):
        errors.append(f"es: no evolution strategy selected; choose one: es={'|'.join(ES_STRATEGIES.names())}")
    elif cfg.mode == "meta":
        strategy = ES_STRATEGIES.get(es.strategy)
        if strategy is None:
            errors.append(
                f"es.strategy={es.strategy!r}: allowed values are {', '.join(ES_STRATEGIES.names())}"
            )
        elif type(es) is not strategy.schema:
            errors.append(
                f"es.strategy={es.strategy!r}: the preset extends {type(es).__name__}, not "
                f"{strategy.schema.__name__} (defaults: [/schema/es/{es.strategy}@_here_, _self_])"
            )
            strategy = None
        _positive(errors, "es", es, ("population_size", "num_generations", "sigma_init"))
        if strategy is not None and not any(e.startswith("es.") for e in errors):
            errors.extend(strategy.check(es) if strategy.check else ())
        _positive(
            errors,
            "meta",
            meta,
            (
                "num_rollouts",
                "eval_every",
                "validation_seeds",
                "final_eval_seeds",
                "selection_top_k",
                "selection_seeds",
                "checkpoint_every",
                "keep_checkpoints",
            ),
        )
        if meta.population_chunk is not None and (
            meta.population_chunk <= 0 or es.population_size % meta.population_chunk
        ):
            errors.append(
                f"meta.population_chunk={meta.population_chunk}: must be a positive divisor of "
                f"es.population_size={es.population_size}"
            )
        if meta.antithetic_task_sampling and strategy is not None and not strategy.is_antithetic(es):
            errors.append(
                f"meta.antithetic_task_sampling=true needs an ES with antithetic pairs (es={es.strategy} "
                "has none): es=open_es with es.antithetic=true, or es=pgpe"
            )
        if entry is not None and entry.kind == "handcrafted":
            errors.append(
                f"optimizer={opt.name}: meta-training needs a learned optimizer (e.g. optimizer=open)"
            )
        if meta.selection not in SELECTIONS:
            errors.append(f"meta.selection={meta.selection!r}: allowed values are {', '.join(SELECTIONS)}")
        _validate_meta_init(errors, meta)
        _validate_meta_distributed(errors, meta)
    if cfg.logger.wandb_mode not in WANDB_MODES:
        errors.append(
            f"logger.wandb_mode={cfg.logger.wandb_mode!r}: allowed values are {', '.join(WANDB_MODES)}"
        )
    if cfg.num_seeds < 1:
        errors.append(f"num_seeds={cfg.num_seeds}: must be >= 1")
    if cfg.num_chunks < 1:
        errors.append(f"num_chunks={cfg.num_chunks}: must be >= 1")

    non_finite = _non_finite(cfg)
    if non_finite:  # reported as such, instead of a range rule's message about the same field
        named = tuple(f"{k}=" for k, _ in non_finite)
        errors = [
            f"{k}={v}: must be a finite number (NaN and infinity are not allowed)" for k, v in non_finite
        ] + [e for e in errors if not e.startswith(named)]
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))
