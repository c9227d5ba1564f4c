"""``openrl-eval``: evaluate optimizers on envs over vmapped seeds and write curves, CSV and summary.json.

Every (env, optimizer) pair is composed from the same Hydra config tree as ``openrl-train`` (so tuned
hyperparameters, PPO settings and budgets follow the env exactly as in training), validated *before*
anything runs (a bad weights file fails in seconds, not after an hour of the other optimizers), then run
as one jitted program vmapped over ``num_seeds`` seeds. The seeds are ``split(PRNGKey(seed), num_seeds)``,
the same as ``openrl-train``'s, and the same for every optimizer on an env: comparisons are paired.
"""

from __future__ import annotations

import csv
import glob
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
import yaml
from omegaconf import OmegaConf

from openrl import pretrained
from openrl.builders import build_trainer
from openrl.config import CONF_DIR, ConfigError, compose
from openrl.config import overrides as ov
from openrl.config.registry import optimizer_kind
from openrl.eval.markdown import markdown
from openrl.eval.records import Record, config_facts
from openrl.eval.summary import summarise
from openrl.optimizers.weights import OPTIMIZER_FILE, resolve_weights_path, sha256_file
from openrl.ppo.runner import curve_arrays, run_seeds
from openrl.runs.checkpoint import write_json
from openrl.runs.logger import RunLogger
from openrl.runs.metadata import device_label

log = logging.getLogger(__name__)

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


@dataclass
class PairResult:
    env: str
    label: str
    final_return: np.ndarray  # (seeds,)
    curves_file: str  # relative to the run dir
    info: dict[str, Any] = field(default_factory=dict)


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


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


def recorded_weights(weights: str | None) -> tuple[str | None, str | None]:
    """What a summary records of an optimizer's weights: ``(reference, sha256)``.

    A released optimizer is recorded by its ``pretrained:NAME``, not the cache path it resolved to on
    this machine: summaries are published, and the name plus the hash say exactly which file ran on any
    machine. A user's own file is recorded by its absolute path, the only way back to it.
    """
    if weights is None:
        return None, None
    file = resolve_weights_path(weights).resolve()
    ref = weights if pretrained.is_pretrained(weights) else str(file)
    return ref, sha256_file(file)


def run_pair(pair: Pair, run_dir: Path, progress: bool = True) -> PairResult:
    """Trains ``num_seeds`` PPO agents with the pair's optimizer (the seed runner: chunked, vmapped)."""
    cfg = pair.cfg
    trainer, rule_params, hp = build_trainer(cfg)
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), cfg.num_seeds)
    desc = f"{pair.env}/{pair.spec.label}" if progress else f"{pair.env} / {pair.spec.label}"
    r = run_seeds(trainer, rule_params, hp, keys, cfg.num_chunks, desc=desc, progress=progress)
    final = r.final_return
    arrays = {
        "env_steps": np.arange(1, trainer.static.num_updates + 1) * trainer.static.batch_size,
        **curve_arrays(r.metrics),
        "final_return": final,
        "seeds": np.arange(cfg.num_seeds),
    }
    rel = f"curves/{_safe(pair.env)}__{_safe(pair.spec.label)}.npz"
    (run_dir / "curves").mkdir(parents=True, exist_ok=True)
    np.savez_compressed(run_dir / rel, **arrays)
    weights_ref, weights_sha = recorded_weights(pair.weights)
    info = {
        "optimizer": pair.spec.preset,
        "optimizer_name": cfg.optimizer.name,
        "weights": weights_ref,
        "weights_sha256": weights_sha,
        "total_timesteps": r.env_steps,
        "num_seeds": int(cfg.num_seeds),
        "seed": int(cfg.seed),
        "adam_return_reference": cfg.env.adam_return,
        "config": config_facts(cfg),
        "wall_s": r.wall_s,
        "compile_s": r.compile_s,
        "run_s": r.run_s,
        "env_steps_per_s": r.env_steps_per_s,
        "device": device_label(),  # runtime tables pooling GPU and CPU jobs say which is which
        "overrides": pair.overrides,
    }
    log.info(
        "%s / %s: final returns %s | wall %.1fs (compile %.1fs)",
        pair.env,
        pair.spec.label,
        np.round(final, 2).tolist(),
        r.wall_s,
        r.compile_s,
    )
    return PairResult(pair.env, pair.spec.label, final, rel, info)


def write_csv(results: list[PairResult], path: Path) -> Path:
    """Long format, one row per seed: ``env,optimizer,seed,final_return``."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["env", "optimizer", "seed", "final_return"])
        for r in results:
            for i, v in enumerate(r.final_return):
                w.writerow([r.env, r.label, i, repr(float(v))])
    return path


def run(cfg: Any, pairs: list[Pair], run_dir: Path) -> dict[str, Any]:
    """The whole ``openrl-eval`` job over the pairs :func:`plan` composed; returns the summary written
    to ``run_dir/summary.json``."""
    first = pairs[0].cfg
    resolved = (
        OmegaConf.to_container(OmegaConf.create(cfg), resolve=True) if not isinstance(cfg, dict) else cfg
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    results: list[PairResult] = []
    with RunLogger(
        run_dir, first.logger, resolved, name=f"{first.task_name}/eval", job_type="eval"
    ) as logger:
        for i, pair in enumerate(pairs):
            r = run_pair(pair, run_dir, progress=first.progress)
            results.append(r)
            # after every pair, so a killed evaluation keeps every finished pair's per-seed returns
            write_csv(results, run_dir / "final_returns.csv")
            logger.log(
                {
                    f"eval/{r.env}/{r.label}/final_return_mean": float(np.mean(r.final_return)),
                    f"eval/{r.env}/{r.label}/wall_s": r.info["wall_s"],
                },
                step=i,
            )
        records = [Record.from_result(r, run_dir) for r in results]
        summary = summarise(
            records,
            baseline=cfg.eval.baseline,
            reps=cfg.eval.bootstrap_reps,
            confidence=cfg.eval.confidence,
            seed=cfg.eval.stats_seed,
            root=run_dir,
        )
        summary["task_name"] = first.task_name
        summary["seed"] = int(first.seed)
        summary["files"] = {"final_returns_csv": "final_returns.csv", "report": "report.md", "figures": []}
        if cfg.eval.figures:
            from openrl.eval.figures import paper_figures  # matplotlib: only when figures are drawn

            pngs = paper_figures(records, summary, run_dir / "figures")
            summary["files"]["figures"] = [str(p.relative_to(run_dir)) for p in pngs]
            for p in pngs:
                logger.log_image(f"figures/{p.stem}", p, step=len(pairs))
        write_json(run_dir / "summary.json", summary)
        (run_dir / "report.md").write_text(markdown(summary, title=f"{first.task_name}: evaluation"))
        logger.summary({"summary_file": str(run_dir / "summary.json")})
    log.info("summary: %s", run_dir / "summary.json")
    return summary


__all__ = ["OptimizerSpec", "Pair", "PairResult", "compose", "parse_entry", "plan", "resolve_weights", "run"]
