"""``openrl-eval``'s plan: every (env, optimizer) pair composed and validated, without jax.

Why a module of its own: the evaluation job (:mod:`openrl.jobs.evaluate`) imports jax and the trainers,
but deciding *what* an evaluation runs -- parsing ``eval.optimizers`` entries, resolving weights paths
and globs, composing one validated config per pair -- needs none of it. ``openrl-eval dry_run=true`` and
the documented-commands test plan an evaluation through this module alone.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from openrl.config import overrides as ov
from openrl.config.compose import CONF_DIR, compose
from openrl.config.registry import optimizer_kind
from openrl.config.validate import ConfigError

log = logging.getLogger(__name__)

# The file an optimizer directory holds (openrl.optimizers.weights.OPTIMIZER_FILE, which imports jax).
OPTIMIZER_FILE = "optimizer.npy"
# Keys openrl-eval itself interprets; they are not passed on when a pair is composed.
_EVAL_KEYS = ("eval.envs", "eval.optimizers")


@dataclass(frozen=True)
class OptimizerSpec:
    """One entry of ``eval.optimizers``: ``[label=]preset[@weights]``."""

    label: str
    preset: str
    weights: str | None = None  # may contain {env}; None = the preset's own weights (if any)
    overrides: tuple[str, ...] = ()  # command-line optimizer.* overrides (single-optimizer form)


@dataclass
class Pair:
    """A composed, validated (env, optimizer) evaluation."""

    env: str
    spec: OptimizerSpec
    cfg: Any  # validated Config object
    overrides: list[str]
    weights: str | None = None


def available_presets() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml"))


def preset_optimizer(preset: str, _seen: tuple[str, ...] = ()) -> str | None:
    """The ``optimizer.name`` a ``conf/optimizer`` preset selects, read from its YAML without composing.

    Follows the preset's ``defaults`` (``open_pretrained`` -> ``open`` -> ``/schema/optimizer/open``), so
    a preset's kind is known before the (slower) composition of every pair. None when it cannot tell.
    """
    path = CONF_DIR / "optimizer" / f"{preset}.yaml"
    if preset in _seen or not path.is_file():
        return None
    doc = yaml.safe_load(path.read_text()) or {}
    if isinstance(doc.get("name"), str):
        return doc["name"]
    for d in reversed(doc.get("defaults") or []):  # later defaults win, as in Hydra
        if not isinstance(d, str) or d == "_self_":
            continue
        if d.startswith("/schema/optimizer/"):
            return d.removeprefix("/schema/optimizer/").split("@", 1)[0]
        found = preset_optimizer(d.split("@", 1)[0], (*_seen, preset))
        if found is not None:
            return found
    return None


def parse_entry(entry: str) -> OptimizerSpec:
    """``"adam"``, ``"open@path.npy"``, ``"OPEN=open_pretrained"`` -> :class:`OptimizerSpec`."""
    # a label is "LABEL=" before the preset; "=" inside the weights path (glob of a sweep dir) is not one
    label, _, rest = entry.partition("=") if "=" in entry.split("@", 1)[0] else ("", "", entry)
    preset, _, weights = rest.partition("@")
    preset = preset.strip()
    presets = available_presets()
    if preset not in presets:
        raise ConfigError(
            f"eval.optimizers: {entry!r}: unknown optimizer preset {preset!r}; available: {', '.join(presets)}"
        )
    if weights and optimizer_kind(preset_optimizer(preset) or "") == "handcrafted":
        raise ConfigError(f"eval.optimizers: {entry!r}: {preset} is handcrafted and takes no weights file")
    return OptimizerSpec(label=label.strip() or preset, preset=preset, weights=weights or None)


def resolve_weights(path: str, env: str, root: str | None = None) -> str:
    """Substitutes ``{env}`` and ``{root}``, expands ``~`` and globs, accepts a meta-training run directory.

    Raises :class:`ConfigError` naming the path when ``{root}`` is unset or a glob matches nothing or
    several files.
    """
    if "{root}" in path:
        if not root:
            raise ConfigError(f"weights {path!r}: uses {{root}} but eval.weights_root is not set")
        path = path.replace("{root}", str(root).rstrip("/"))
    p = os.path.expanduser(path.replace("{env}", env))
    if any(c in p for c in "*?["):
        matches = sorted(glob.glob(p))
        if len(matches) != 1:
            raise ConfigError(
                f"weights {path!r} (env {env}): the pattern {p!r} matches {len(matches)} paths "
                f"{matches[:5]}; expected exactly one weights file or optimizer directory"
            )
        p = matches[0]
    q = Path(p)
    # A meta-training run directory: its best optimizer (ES mean at the best validation generation).
    if q.is_dir() and not (q / OPTIMIZER_FILE).exists() and (q / "best" / OPTIMIZER_FILE).exists():
        return str(q / "best")
    return p


def plan(cfg: Any, overrides: list[str], optimizer_choice: str) -> list[Pair]:
    """Every (env, optimizer) pair, composed and validated; errors from all pairs are reported together.

    Args:
        cfg: the composed top-level config (DictConfig or object) with ``eval``, ``env``.
        overrides: the command line's task overrides.
        optimizer_choice: the ``optimizer`` group choice of the composed config (single-optimizer form).
    """
    envs = list(cfg.eval.envs) or [cfg.env.name]
    base = [o for o in overrides if ov.key(o) not in _EVAL_KEYS and ov.key(o) != "env"]
    if cfg.eval.optimizers:
        specs = [parse_entry(str(e)) for e in cfg.eval.optimizers]
        base = [o for o in base if ov.key(o) != "optimizer"]
        opt_overrides = [o for o in base if ov.key(o).startswith("optimizer.")]
        base = [o for o in base if not ov.key(o).startswith("optimizer.")]
        specs = [OptimizerSpec(s.label, s.preset, s.weights, tuple(opt_overrides)) for s in specs]
    else:
        opt_overrides = [o for o in base if ov.key(o).startswith("optimizer.")]
        base = [o for o in base if ov.key(o) != "optimizer" and not ov.key(o).startswith("optimizer.")]
        weights = ov.as_dict(opt_overrides).get("optimizer.weights")
        others = tuple(o for o in opt_overrides if ov.key(o) != "optimizer.weights")
        specs = [OptimizerSpec(optimizer_choice, optimizer_choice, weights, others)]
    labels = [s.label for s in specs]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"eval.optimizers: duplicate labels {dup}; name them, e.g. 'OPEN=open@path.npy'")
    pairs, errors = [], []
    used: set[str] = set()
    for env in envs:
        for spec in specs:
            pair_ov = [*base, f"env={env}", f"optimizer={spec.preset}"]
            weights = None
            try:
                if spec.weights is not None:
                    weights = resolve_weights(spec.weights, env, cfg.eval.weights_root)
                    pair_ov.append(f"optimizer.weights={ov.quote(weights)}")
                applied = _applicable(spec, pair_ov, multi=bool(cfg.eval.optimizers))
                used.update(ov.key(o) for o in applied)
                pair_cfg = compose(pair_ov + applied, "eval")
            except ConfigError as e:
                errors.append(f"[{env} / {spec.label}] {e}")
                continue
            if weights is None:
                weights = getattr(pair_cfg.optimizer, "weights", None)
            pairs.append(Pair(env, spec, pair_cfg, pair_ov, weights))
    unused = sorted({ov.key(o) for s in specs for o in s.overrides} - used)
    if unused and not errors:
        errors.append(f"{', '.join(unused)}: none of eval.optimizers {labels} has this setting")
    if errors:
        raise ConfigError("\n".join(errors))
    return pairs


def _applicable(spec: OptimizerSpec, overrides: list[str], multi: bool) -> list[str]:
    """The command line's ``optimizer.*`` overrides this optimizer has a field for.

    With several optimizers, ``optimizer.analysis=true`` or ``optimizer.anneal_lr=false`` are meant for
    the optimizers that have the setting (a handcrafted one has no ``analysis``); a key no listed
    optimizer has is still an error (raised by :func:`plan`). One optimizer: everything applies as given.
    """
    if not multi or not spec.overrides:
        return list(spec.overrides)
    import dataclasses

    names = {f.name for f in dataclasses.fields(compose(overrides, "eval").optimizer)}
    keep = [o for o in spec.overrides if ov.key(o).split(".", 1)[1].split(".")[0] in names]
    skipped = [o for o in spec.overrides if o not in keep]
    if skipped:
        log.info("%s has no %s: not applied to it", spec.label, ", ".join(ov.key(o) for o in skipped))
    return keep
