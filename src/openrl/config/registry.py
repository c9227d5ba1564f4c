"""Registries of optimizers and env families: the one table of what openrl can build.

Why: an optimizer or env family used to be spelled out in many places (a schema and its ConfigStore
line, copied name lists in validation, if-chains in both factories, the eval CLI's handcrafted tuple).
Now each is one entry here; the schemas stored in Hydra's ConfigStore, the allowed names and kinds that
validation checks, ``make_rule``, ``make_env`` and the architectures of flat weights files are all read
from these tables.

This module imports no jax, flax or brax: config validation and the console scripts' ``--help`` import
it. Builders are therefore given as ``"module:attribute"`` strings (or callables) and imported on first
use, so selecting Breakout never loads Brax.

Register your own with :func:`register_optimizer` / :func:`register_env_family` (or ``.register`` on
:data:`OPTIMIZERS` / :data:`ENV_FAMILIES`); :meth:`Registry.registered` is a context manager that
removes the entry again (tests), and :func:`register_configs` stores every registered schema in
Hydra's ConfigStore as ``schema/optimizer/<name>`` and ``schema/env/<family>``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from openrl.config.schema import (
    AdamConfig,
    BraxEnvConfig,
    BsuiteEnvConfig,
    Config,
    DeepSeaEnvConfig,
    EnvConfig,
    ESConfig,
    GridworldEnvConfig,
    GymnaxEnvConfig,
    LionConfig,
    LoggerConfig,
    MinAtarEnvConfig,
    NoFeaturesConfig,
    OpenConfig,
    OpenESConfig,
    Optim4RLConfig,
    OptimizerConfig,
    PGPEConfig,
    PPOConfig,
    ProbeEnvConfig,
    RMSpropConfig,
    SepCMAESConfig,
    SNESConfig,
)

Kind = Literal["handcrafted", "learned"]
KINDS: tuple[Kind, ...] = ("handcrafted", "learned")
# A callable, or "package.module:attribute" imported on first use (keeps jax off light import paths).
Target = Callable[..., Any] | str
# Fields every optimizer schema has that are not hyperparameters of the rule.
_OPTIMIZER_BOOKKEEPING = ("name", "anneal_lr", "tuned")


def load_target(target: Target) -> Any:
    """The object a :data:`Target` names (``"openrl.optimizers.factory:build_open"`` -> the function)."""
    if not isinstance(target, str):
        return target
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"builder {target!r}: expected 'package.module:attribute' or a callable")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _schema_default(schema: type, name: str) -> Any:
    for f in dataclasses.fields(schema):
        if f.name == name:
            return f.default
    return MISSING


@dataclass(frozen=True)
class OptimizerEntry:
    """Everything openrl needs to know about one optimizer (``optimizer.name``).

    Attributes:
        name: the ``optimizer.name`` value; the schema's ``name`` must default to it.
        kind: ``handcrafted`` (hyperparameters are traced ``rule_params``, may anneal, cannot be
            meta-trained) or ``learned`` (``rule_params`` are meta-parameters, no annealing).
        schema: the structured-config dataclass (an :class:`OptimizerConfig` subclass), stored as
            ``schema/optimizer/<name>``; ``conf/optimizer/*.yaml`` presets extend it.
        display: the optimizer's name for readers (reports, figure legends).
        build: handcrafted: ``direction(hp, eps, **options) -> optax.GradientTransformation``, the update
            direction *without* the learning rate (applied, and annealed, by ``OptaxRule``); ``options``
            are the schema's other fields (:attr:`options`), so every accepted setting reaches it; learned:
            ``build(resolved_config) -> UpdateRule``. A callable or a ``"module:attribute"`` string.
        tuned: fields that default to ``null`` and are filled from the preset's per-env ``tuned:`` table
            (paper Tables 4-6). Handcrafted: must resolve to a value; ``lr`` must be positive, the
            others lie in [0, 1).
        traced: handcrafted only: the fields passed to ``direction`` as traced hyperparameters
            (``rule_params``, so a tuning grid is one compiled program); default: ``tuned``. Must
            include ``lr``.
        architectures: learned only: ``{conf/optimizer preset: schema field overrides}`` of every size
            whose flat weights files openrl loads (``openrl-import-weights --arch``, the optax drop-in,
            inferring an architecture from a vector's length).
    """

    name: str
    kind: Kind
    schema: type
    display: str
    build: Target
    tuned: tuple[str, ...] = ()
    traced: tuple[str, ...] | None = None
    architectures: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Mistakes here would otherwise surface as an AttributeError deep inside a compiled run.
        if self.kind not in KINDS:
            raise ValueError(f"optimizer {self.name!r}: kind={self.kind!r}, expected one of {KINDS}")
        if not (isinstance(self.schema, type) and issubclass(self.schema, OptimizerConfig)):
            raise TypeError(f"optimizer {self.name!r}: schema must be an OptimizerConfig dataclass")
        if _schema_default(self.schema, "name") != self.name:
            raise ValueError(
                f"optimizer {self.name!r}: {self.schema.__name__}.name must default to {self.name!r}"
            )
        known = {f.name for f in dataclasses.fields(self.schema)}
        unknown = [k for k in (*self.tuned, *(self.traced or ())) if k not in known]
        if unknown:
            raise ValueError(f"optimizer {self.name!r}: {unknown} are not fields of {self.schema.__name__}")
        if self.kind == "handcrafted" and "lr" not in self.rule_params:
            raise ValueError(f"optimizer {self.name!r}: a handcrafted optimizer's traced fields need 'lr'")
        if self.kind == "handcrafted" and self.architectures:
            raise ValueError(f"optimizer {self.name!r}: architectures are for learned optimizers")
        object.__setattr__(self, "tuned", tuple(self.tuned))
        frozen = {k: MappingProxyType(dict(v)) for k, v in self.architectures.items()}
        object.__setattr__(self, "architectures", MappingProxyType(frozen))

    @property
    def rule_params(self) -> tuple[str, ...]:
        """Handcrafted: the traced hyperparameters, in the order ``OptaxRule`` stores them."""
        return tuple(self.traced) if self.traced is not None else self.tuned

    @property
    def options(self) -> tuple[str, ...]:
        """Handcrafted: the static settings handed to ``direction`` as keyword arguments -- every schema
        field that is neither traced nor ``eps`` (``eps_root``, a boolean ``nesterov``, ...)."""
        if self.kind != "handcrafted":
            return ()
        return tuple(k for k in self.passthrough if k not in (*self.rule_params, "eps"))

    @property
    def passthrough(self) -> tuple[str, ...]:
        """Schema fields handed to the builder unchanged (not tuned per env), in schema order."""
        skip = {*_OPTIMIZER_BOOKKEEPING, *self.tuned}
        return tuple(f.name for f in dataclasses.fields(self.schema) if f.name not in skip)

    def builder(self) -> Callable[..., Any]:
        """The build callable, imported now (this may import jax)."""
        return load_target(self.build)


@dataclass(frozen=True)
class EnvFamily:
    """One env family (``env.family``): how its configs look, are checked and become a ``VecEnv``.

    Attributes:
        name: the ``env.family`` value.
        schema: the structured-config dataclass (:class:`EnvConfig` or a subclass with the family's own
            fields), stored as ``schema/env/<name>``; ``conf/env/*.yaml`` of this family extend it, so a
            key of another family is rejected at composition.
        build: ``build(env_config, num_envs) -> VecEnv``; a callable or ``"module:attribute"``.
        check: optional cross-field rules: ``check(env_config)`` returns error messages, each starting
            ``env.<field>=<value>:`` and saying what is allowed.
    """

    name: str
    schema: type
    build: Target
    check: Callable[[Any], Iterable[str]] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.schema, type) and issubclass(self.schema, EnvConfig)):
            raise TypeError(f"env family {self.name!r}: schema must be an EnvConfig dataclass")

    def builder(self) -> Callable[..., Any]:
        """The build callable, imported now (this may import jax and the simulator)."""
        return load_target(self.build)


@dataclass(frozen=True)
class ESEntry:
    """One evolution strategy (``es=<name>``, ``es.strategy``).

    Attributes:
        name: the ``es.strategy`` value and the ``conf/es/<name>.yaml`` preset; the schema's ``strategy``
            must default to it.
        schema: the structured-config dataclass (an :class:`ESConfig` subclass), stored as
            ``schema/es/<name>``.
        build: ``build(es_config, solution) -> ESAlgorithm`` (:mod:`openrl.meta.strategies`).
        antithetic: whether members ``i`` and ``i + N/2`` are mirrored pairs (needed by
            ``meta.antithetic_task_sampling``); a callable of the config when it is a setting.
        check: ``check(es_config) -> messages`` for the strategy's own value rules.
    """

    name: str
    schema: type
    build: Target
    antithetic: bool | Callable[[Any], bool] = False
    check: Callable[[Any], Iterable[str]] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.schema, type) and issubclass(self.schema, ESConfig)):
            raise TypeError(f"ES strategy {self.name!r}: schema must be an ESConfig dataclass")
        if _schema_default(self.schema, "strategy") != self.name:
            raise ValueError(f"ES strategy {self.name!r}: {self.schema.__name__}.strategy must default to it")

    def builder(self) -> Callable[..., Any]:
        """The build callable, imported now (this imports jax and evosax)."""
        return load_target(self.build)

    def is_antithetic(self, cfg: Any) -> bool:
        return bool(self.antithetic(cfg) if callable(self.antithetic) else self.antithetic)


E = TypeVar("E", OptimizerEntry, EnvFamily, ESEntry)


class Registry(Generic[E]):
    """Name -> entry, in registration order (the order names are listed in messages)."""

    def __init__(self, what: str, key: str) -> None:
        self._what = what  # "optimizer", in messages
        self._key = key  # the config key the names are values of ("optimizer.name"), in messages
        self._entries: dict[str, E] = {}

    def register(self, entry: E, *, replace: bool = False) -> E:
        """Adds ``entry``; an existing name is an error unless ``replace``."""
        if entry.name in self._entries and not replace:
            raise ValueError(f"{self._what} {entry.name!r} is already registered (pass replace=True)")
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> E:
        """Removes and returns the entry ``name``."""
        return self._entries.pop(name)

    @contextmanager
    def registered(self, entry: E) -> Iterator[E]:
        """Registers ``entry`` for the ``with`` block, then restores the table as it was."""
        previous = self._entries.get(entry.name)
        self.register(entry, replace=True)
        try:
            yield entry
        finally:
            if previous is None:
                self._entries.pop(entry.name, None)
            else:
                self._entries[entry.name] = previous

    def get(self, name: str) -> E | None:
        return self._entries.get(name)

    def __getitem__(self, name: str) -> E:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(
                f"{self._key}={name!r}: no such {self._what}; registered: {', '.join(self.names())}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[E]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)


OPTIMIZERS: Registry[OptimizerEntry] = Registry("optimizer", "optimizer.name")
ENV_FAMILIES: Registry[EnvFamily] = Registry("env family", "env.family")
ES_STRATEGIES: Registry[ESEntry] = Registry("ES strategy", "es.strategy")


def register_optimizer(entry: OptimizerEntry, *, replace: bool = False) -> OptimizerEntry:
    """Makes ``entry`` selectable (once its schema is stored: :func:`register_configs`)."""
    for other in OPTIMIZERS:
        clash = set(other.architectures) & set(entry.architectures)
        if clash and other.name != entry.name:
            raise ValueError(f"optimizer {entry.name!r}: architectures {sorted(clash)} already named by {other.name!r}")  # fmt: skip
    return OPTIMIZERS.register(entry, replace=replace)


def register_env_family(entry: EnvFamily, *, replace: bool = False) -> EnvFamily:
    """Makes ``env.family=<entry.name>`` valid and buildable."""
    return ENV_FAMILIES.register(entry, replace=replace)


def env_field_families(name: str) -> tuple[str, ...]:
    """The registered env families whose schema has a field ``name`` (for messages)."""
    return tuple(f.name for f in ENV_FAMILIES if any(x.name == name for x in dataclasses.fields(f.schema)))


def optimizer_kind(name: str) -> Kind | None:
    """``handcrafted``/``learned`` for a registered ``optimizer.name``, else None."""
    entry = OPTIMIZERS.get(name)
    return None if entry is None else entry.kind


def _prune(cs: ConfigStore, group: str, keep: Iterable[str]) -> None:
    """Drops stored schemas of ``group`` whose entry was unregistered (ConfigStore has no remove)."""
    node: Any = cs.repo
    for part in group.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    for stale in [k for k in node if k.removesuffix(".yaml") not in set(keep)]:
        del node[stale]


def register_configs() -> None:
    """Stores the root schema and every registered optimizer and env-family schema in Hydra's ConfigStore.

    Call it before composing (``load_config`` and the console scripts do); it is idempotent and reflects
    the registries as they are now.
    """
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    # Not in the env/ppo/logger/optimizer groups: a schema stored there would be listed as a selectable
    # option (optimizer=adam_schema) in --help and in the error for an unknown option.
    cs.store(group="schema", name="ppo", node=PPOConfig)
    cs.store(group="schema", name="logger", node=LoggerConfig)
    _prune(cs, "schema/env", ENV_FAMILIES.names())
    for family in ENV_FAMILIES:
        cs.store(group="schema/env", name=family.name, node=family.schema)
    _prune(cs, "schema/optimizer", OPTIMIZERS.names())
    for opt in OPTIMIZERS:
        cs.store(group="schema/optimizer", name=opt.name, node=opt.schema)
    _prune(cs, "schema/es", ES_STRATEGIES.names())
    for strategy in ES_STRATEGIES:
        cs.store(group="schema/es", name=strategy.name, node=strategy.schema)


# -- built-in env families --------------------------------------------------------------------------------
# Gridworld level types (openrl.envs.gridworld.LEVELS; listed here so validation does not import jax).
GRIDWORLD_LEVELS = (
    "rand_all",
    "rand_dense",
    "rand_sparse",
    "rand_long",
    "standard_maze",
    "sixteen_rooms",
    "labyrinth",
)


def gymnax_env_ids() -> tuple[str, ...]:
    """The ids ``gymnax.make`` accepts, without importing gymnax (which imports jax) unless it already is:
    its registration module's list of built-in ids, read from the source; once gymnax is imported, its
    live registry (which includes ids registered at run time)."""
    import sys

    live = sys.modules.get("gymnax.registration")
    if live is not None:
        return tuple(live.registered_envs)
    return _gymnax_builtin_ids()


@functools.cache
def _gymnax_builtin_ids() -> tuple[str, ...]:
    import ast
    import importlib.util

    spec = importlib.util.find_spec("gymnax")
    if spec is None or not spec.submodule_search_locations:
        return ()
    source = Path(spec.submodule_search_locations[0], "registration.py").read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in ("_BUILTIN_ENV_IDS", "registered_envs") for t in node.targets
        ):
            try:
                return tuple(ast.literal_eval(node.value))
            except ValueError:
                continue
    return ()


# Probe kinds (openrl.envs.probe.PROBES), Deep Sea ids: listed here so validation does not import jax.
PROBE_KINDS = ("constant", "obs_reward", "two_step", "action_reward")
BSUITE_IDS = ("DeepSea-bsuite",)  # the bsuite family passes Deep Sea's size and action-map settings


def _not_one_of(field: str, value: Any, allowed: Iterable[str], what: str, known: Iterable[str] = ()) -> list[str]:  # fmt: skip
    """``[]`` when ``value`` is allowed (or nothing is known to be), else the one-line error: the field, the
    value, the closest allowed value and the allowed ones (``known``, when only some are worth listing)."""
    allowed = tuple(allowed)
    if not allowed or value in allowed:  # an unreadable list of ids is not the user's error
        return []
    close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return [f"{field}={value!r}: not {what}; {hint}known: {', '.join(tuple(known) or allowed)}"]


def _check_gymnax(env: Any) -> list[str]:
    """``env.id`` is an id gymnax knows (a misspelt id otherwise fails only when the env is built)."""
    ids = gymnax_env_ids()
    suffix = "-MinAtar" if env.family == "minatar" else ""
    return _not_one_of("env.id", env.id, ids, "a gymnax environment", (i for i in ids if i.endswith(suffix)))


def _check_bsuite(env: Any) -> list[str]:
    errors = _not_one_of("env.id", env.id, BSUITE_IDS, "a bsuite environment openrl builds")
    if env.size is None or env.size < 1:
        errors.append(f"env.size={env.size!r}: Deep Sea needs a positive integer size")
    return errors


def _check_deepsea(env: Any) -> list[str]:
    """openrl's Deep Sea: sizes fit the padded observation (``max_size``) and the range is not empty."""
    if wrong := _not_one_of("env.id", env.id, ("deepsea",), "the deepsea family's one environment"):
        return wrong
    if env.max_size < 1:
        return [f"env.max_size={env.max_size}: must be a positive integer"]
    if env.size is not None:
        if not 1 <= env.size <= env.max_size:
            return [f"env.size={env.size}: must lie in [1, env.max_size={env.max_size}]"]
        return []
    errors = [
        f"env.{n}={getattr(env, n)}: must lie in [1, env.max_size={env.max_size}]"
        for n in ("size_low", "size_high")
        if not 1 <= getattr(env, n) <= env.max_size
    ]
    if env.size_low > env.size_high:
        errors.append(f"env.size_low={env.size_low}: must be <= env.size_high={env.size_high}")
    return errors


def brax_env_names() -> tuple[str, ...]:
    """The names ``brax.envs.get_environment`` accepts, without importing brax (jax, mujoco) unless it
    already is: the keys of its ``_envs`` table, read from the source; once imported, the live table (which
    includes environments registered at run time)."""
    import sys

    live = sys.modules.get("brax.envs")
    if live is not None and isinstance(getattr(live, "_envs", None), dict):
        return tuple(live._envs)
    return _brax_source_keys("envs/__init__.py", "_envs")


def brax_backends() -> tuple[str, ...]:
    """The physics backends brax's ``PipelineEnv`` accepts (its ``pipeline`` table), read from the source."""
    return _brax_source_keys("envs/base.py", "pipeline")


@functools.cache
def _brax_source_keys(module: str, name: str) -> tuple[str, ...]:
    """The string keys of the dict literal assigned to ``name`` in brax's ``module`` (``()`` if unreadable)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("brax")
    if spec is None or not spec.submodule_search_locations:
        return ()
    try:
        tree = ast.parse(Path(spec.submodule_search_locations[0], module).read_text())
    except (OSError, SyntaxError):
        return ()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            return tuple(k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))  # fmt: skip
    return ()


def _check_brax(env: Any) -> list[str]:
    """``env.id`` is a brax environment name and ``env.backend`` a brax physics backend."""
    errors = _not_one_of("env.id", env.id, brax_env_names(), "a brax environment")
    errors += _not_one_of("env.backend", env.backend, brax_backends(), "a brax physics backend")
    if env.episode_length <= 0:
        errors.append(f"env.episode_length={env.episode_length}: must be positive")
    return errors


def _check_probe(env: Any) -> list[str]:
    return _not_one_of("env.id", env.id, PROBE_KINDS, "a probe environment")


def _check_gridworld(env: Any) -> list[str]:
    """``env.level`` selects the level type; ``env.id`` names the family's one environment."""
    errors = _not_one_of("env.id", env.id, ("gridworld",), "the gridworld family's one environment (env.level selects the level)")  # fmt: skip
    return errors + _not_one_of("env.level", env.level, GRIDWORLD_LEVELS, "a gridworld level type")


for _family in (
    EnvFamily("minatar", MinAtarEnvConfig, "openrl.envs.factory:build_gymnax", _check_gymnax),
    EnvFamily("gymnax", GymnaxEnvConfig, "openrl.envs.factory:build_gymnax", _check_gymnax),
    EnvFamily("brax", BraxEnvConfig, "openrl.envs.factory:build_brax", _check_brax),
    EnvFamily("bsuite", BsuiteEnvConfig, "openrl.envs.factory:build_bsuite", _check_bsuite),
    EnvFamily("deepsea", DeepSeaEnvConfig, "openrl.envs.factory:build_deepsea", _check_deepsea),
    EnvFamily("probe", ProbeEnvConfig, "openrl.envs.factory:build_probe", _check_probe),
    EnvFamily("gridworld", GridworldEnvConfig, "openrl.envs.factory:build_gridworld", _check_gridworld),
):
    register_env_family(_family)

# -- built-in optimizers ----------------------------------------------------------------------------------
_HANDCRAFTED = "openrl.optimizers.handcrafted"
_FACTORY = "openrl.optimizers.factory"
for _opt in (
    OptimizerEntry("adam", "handcrafted", AdamConfig, "Adam", f"{_HANDCRAFTED}:adam_direction", ("lr", "b1", "b2")),
    OptimizerEntry("rmsprop", "handcrafted", RMSpropConfig, "RMSprop", f"{_HANDCRAFTED}:rmsprop_direction", ("lr", "decay")),
    # optax.lion's decoupled weight decay is traced too (it is part of the rule the paper ran), not tuned.
    OptimizerEntry(
        "lion", "handcrafted", LionConfig, "Lion", f"{_HANDCRAFTED}:lion_direction", ("lr", "b1", "b2"),
        traced=("lr", "b1", "b2", "weight_decay"),
    ),
    OptimizerEntry(
        "open", "learned", OpenConfig, "OPEN", f"{_FACTORY}:build_open",
        architectures={"open": {}, "open_large": {"gru_features": 16, "hidden": 32}},
    ),
    OptimizerEntry(
        "no_features", "learned", NoFeaturesConfig, "No Features", f"{_FACTORY}:build_no_features",
        architectures={"no_features": {}},
    ),
    # Optim4RL's learning rate is tuned per env (0.1 x Adam's, paper Tables 4-5) and is not part of its
    # weights: the architectures carry a placeholder.
    OptimizerEntry(
        "optim4rl", "learned", Optim4RLConfig, "Optim4RL", f"{_FACTORY}:build_optim4rl", ("lr",),
        architectures={"optim4rl": {"lr": 1.0}, "optim4rl_large": {"lr": 1.0, "gru_features": 16, "hidden": 32}},
    ),
):  # fmt: skip
    register_optimizer(_opt)

__all__ = [
    "BSUITE_IDS",
    "ENV_FAMILIES",
    "GRIDWORLD_LEVELS",
    "PROBE_KINDS",
    "brax_backends",
    "brax_env_names",
    "env_field_families",
    "gymnax_env_ids",
    "KINDS",
    "OPTIMIZERS",
    "EnvFamily",
    "OptimizerEntry",
    "Registry",
    "load_target",
    "optimizer_kind",
    "register_configs",
    "register_env_family",
    "register_optimizer",
]


# -- built-in evolution strategies -------------------------------------------------------------------------
_STRATEGIES = "openrl.meta.strategies"
_SHAPINGS = ("centered_rank", "identity")


def _check_rates(cfg: Any, *names: str) -> list[str]:
    """``lr``-like fields must be positive, ``*_decay`` fields in (0, 1]."""
    out = []
    for n in names:
        v = getattr(cfg, n)
        if n.endswith("_decay") and not 0.0 < v <= 1.0:
            out.append(f"es.{n}={v}: must lie in (0, 1] (1 = no decay)")
        elif not n.endswith("_decay") and not v > 0:
            out.append(f"es.{n}={v}: must be positive")
    return out


def _check_shaping(cfg: Any) -> list[str]:
    if cfg.fitness_shaping not in _SHAPINGS:
        return [f"es.fitness_shaping={cfg.fitness_shaping!r}: allowed values are {', '.join(_SHAPINGS)}"]
    return []


def _check_open_es(cfg: Any) -> list[str]:
    out = _check_rates(cfg, "lr", "lr_decay", "sigma_decay") + _check_shaping(cfg)
    if cfg.antithetic and cfg.population_size % 2:
        out.append(f"es.population_size={cfg.population_size}: antithetic sampling needs an even population")
    if not 0.0 <= cfg.adam_b1 < 1.0:
        out.append(f"es.adam_b1={cfg.adam_b1}: must lie in [0, 1)")
    return out


def _check_pgpe(cfg: Any) -> list[str]:
    out = _check_rates(cfg, "lr", "lr_decay", "std_lr") + _check_shaping(cfg)
    if not 0.0 <= cfg.adam_b1 < 1.0:
        out.append(f"es.adam_b1={cfg.adam_b1}: must lie in [0, 1)")
    if not 0.0 < cfg.std_max_change < 1.0:
        out.append(f"es.std_max_change={cfg.std_max_change}: must lie in (0, 1)")
    if cfg.population_size % 2:
        out.append(f"es.population_size={cfg.population_size}: PGPE samples antithetic pairs; must be even")
    return out


def _check_snes(cfg: Any) -> list[str]:
    out = _check_rates(cfg, "lr", "lr_decay")
    if cfg.lr_std is not None and not cfg.lr_std > 0:
        out.append(f"es.lr_std={cfg.lr_std}: must be positive (or null for evosax's default)")
    return out


def _check_sep_cma_es(cfg: Any) -> list[str]:
    out = _check_rates(cfg, "c_mean")
    if not 0.0 < cfg.elite_ratio <= 1.0:
        out.append(f"es.elite_ratio={cfg.elite_ratio}: must lie in (0, 1]")
    elif int(cfg.elite_ratio * cfg.population_size) < 1:
        out.append(
            f"es.elite_ratio={cfg.elite_ratio}: selects no member of a population of {cfg.population_size}"
        )
    return out


ES_STRATEGIES.register(
    ESEntry("open_es", OpenESConfig, f"{_STRATEGIES}:build_open_es", lambda c: c.antithetic, _check_open_es)
)
ES_STRATEGIES.register(ESEntry("pgpe", PGPEConfig, f"{_STRATEGIES}:build_pgpe", True, _check_pgpe))
ES_STRATEGIES.register(ESEntry("snes", SNESConfig, f"{_STRATEGIES}:build_snes", False, _check_snes))
ES_STRATEGIES.register(
    ESEntry("sep_cma_es", SepCMAESConfig, f"{_STRATEGIES}:build_sep_cma_es", False, _check_sep_cma_es)
)
