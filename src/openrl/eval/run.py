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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from openrl.config import CONF_DIR, ConfigError
from openrl.eval.markdown import markdown
from openrl.eval.records import Record
from openrl.eval.summary import summarise
from openrl.optimizers.weights import OPTIMIZER_FILE

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
    if weights and preset in ("adam", "rmsprop", "lion"):
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


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def compose(overrides: list[str]) -> Any:
    """Composes ``conf/eval.yaml`` with overrides and validates it (inside or outside a Hydra app)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from openrl.config import load_config, to_object

    try:
        if GlobalHydra.instance().is_initialized():
            import hydra

            return to_object(hydra.compose(config_name="eval", overrides=list(overrides)), list(overrides))
        return load_config(list(overrides), config_name="eval")[1]
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(f"cannot compose {' '.join(overrides)}: {e}") from e


def plan(cfg: Any, overrides: list[str], optimizer_choice: str) -> list[Pair]:
    """Every (env, optimizer) pair, composed and validated; errors from all pairs are reported together.

    Args:
        cfg: the composed top-level config (DictConfig or object) with ``eval``, ``env``.
        overrides: the command line's task overrides.
        optimizer_choice: the ``optimizer`` group choice of the composed config (single-optimizer form).
    """
    envs = list(cfg.eval.envs) or [cfg.env.name]
    base = [o for o in overrides if _key(o) not in _EVAL_KEYS and _key(o) != "env"]
    if cfg.eval.optimizers:
        specs = [parse_entry(str(e)) for e in cfg.eval.optimizers]
        base = [o for o in base if _key(o) != "optimizer"]
        opt_overrides = [o for o in base if _key(o).startswith("optimizer.")]
        base = [o for o in base if not _key(o).startswith("optimizer.")]
        specs = [OptimizerSpec(s.label, s.preset, s.weights, tuple(opt_overrides)) for s in specs]
    else:
        opt_overrides = [o for o in base if _key(o).startswith("optimizer.")]
        base = [o for o in base if _key(o) != "optimizer" and not _key(o).startswith("optimizer.")]
        weights = next((o.split("=", 1)[1] for o in opt_overrides if _key(o) == "optimizer.weights"), None)
        others = tuple(o for o in opt_overrides if _key(o) != "optimizer.weights")
        specs = [OptimizerSpec(optimizer_choice, optimizer_choice, weights, others)]
    labels = [s.label for s in specs]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"eval.optimizers: duplicate labels {dup}; name them, e.g. 'OPEN=open@path.npy'")
    pairs, errors = [], []
    used: set[str] = set()
    for env in envs:
        for spec in specs:
            ov = [*base, f"env={env}", f"optimizer={spec.preset}"]
            weights = None
            try:
                if spec.weights is not None:
                    weights = resolve_weights(spec.weights, env, cfg.eval.weights_root)
                    ov.append(f"optimizer.weights={_quote(weights)}")
                applied = _applicable(spec, ov, multi=bool(cfg.eval.optimizers))
                used.update(_key(o) for o in applied)
                pair_cfg = compose(ov + applied)
            except ConfigError as e:
                errors.append(f"[{env} / {spec.label}] {e}")
                continue
            if weights is None:
                weights = getattr(pair_cfg.optimizer, "weights", None)
            pairs.append(Pair(env, spec, pair_cfg, ov, weights))
    unused = sorted({_key(o) for s in specs for o in s.overrides} - used)
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

    names = {f.name for f in dataclasses.fields(compose(overrides).optimizer)}
    keep = [o for o in spec.overrides if _key(o).split(".", 1)[1].split(".")[0] in names]
    skipped = [o for o in spec.overrides if o not in keep]
    if skipped:
        log.info("%s has no %s: not applied to it", spec.label, ", ".join(_key(o) for o in skipped))
    return keep


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


def run_pair(pair: Pair, run_dir: Path, progress: bool = True) -> PairResult:
    """Trains ``num_seeds`` PPO agents with the pair's optimizer (chunked ``lax.scan``, vmapped seeds)."""
    from openrl.builders import build_trainer
    from openrl.optimizers.weights import resolve_weights_path, sha256_file
    from openrl.runs.metadata import device_label
    from openrl.runs.ppo_job import CompiledBlocks, chunk_plan

    cfg = pair.cfg
    trainer, rule_params, hp = build_trainer(cfg)
    s = trainer.static
    n_seeds = cfg.num_seeds
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), n_seeds)
    t0 = time.perf_counter()
    init = jax.jit(jax.vmap(trainer.init)).lower(keys).compile()
    compile_s = time.perf_counter() - t0
    state = init(keys)
    blocks = CompiledBlocks(trainer, rule_params, hp)
    chunks: list[dict[str, Any]] = []
    bar = tqdm(
        total=s.num_updates * s.batch_size,
        unit="step",
        unit_scale=True,
        disable=not progress,
        desc=f"{pair.env}/{pair.spec.label}",
        dynamic_ncols=True,
    )
    sizes = chunk_plan(s.num_updates, cfg.num_chunks)
    done, t_run, compile0 = 0, time.perf_counter(), blocks.compile_s
    for i, n in enumerate(sizes):
        state, metrics = blocks(n, state)
        chunks.append(jax.device_get(metrics))
        bar.update(n * s.batch_size)
        done += n
        if not progress and (i + 1) % max(1, len(sizes) // 10) == 0 and done < s.num_updates:
            # no bar (progress=false: batch jobs, SLURM logs): a log line every ~10% instead
            run_s = time.perf_counter() - t_run - (blocks.compile_s - compile0)  # compile excluded
            rate = done * s.batch_size * n_seeds / max(run_s, 1e-9)
            eta = (s.num_updates - done) * s.batch_size * n_seeds / rate
            ret = float(np.nanmean(chunks[-1]["final_return"][:, -1]))
            log.info(
                "%s / %s: %d/%d updates, %.0f env-steps/s, return %.2f, ETA %.0f s",
                pair.env, pair.spec.label, done, s.num_updates, rate, ret, eta,
            )  # fmt: skip
    bar.close()
    wall = time.perf_counter() - t0
    compile_s += blocks.compile_s
    metrics = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *chunks)
    final = np.asarray(metrics["final_return"][:, -1], np.float64)
    env_steps = np.arange(1, s.num_updates + 1) * s.batch_size
    arrays = {
        "env_steps": env_steps,
        "episode_return": np.asarray(metrics["episode_return"]),
        "final_return_curve": np.asarray(metrics["final_return"]),
        "final_return": final,
        "seeds": np.arange(n_seeds),
    }
    for net, layers in metrics.get("dormancy", {}).items():
        for layer, v in layers.items():
            arrays[f"dormancy/{net}/{layer}"] = np.asarray(v)
    for net, st in metrics.get("analysis", {}).items():
        for k, v in st.items():
            arrays[f"analysis/{net}/{k}"] = np.asarray(v)
    rel = f"curves/{_safe(pair.env)}__{_safe(pair.spec.label)}.npz"
    (run_dir / "curves").mkdir(parents=True, exist_ok=True)
    np.savez_compressed(run_dir / rel, **arrays)
    total = s.num_updates * s.batch_size
    weights_file = None if pair.weights is None else str(resolve_weights_path(pair.weights).resolve())
    run_s = max(wall - compile_s, 1e-9)
    info = {
        "optimizer": pair.spec.preset,
        "optimizer_name": cfg.optimizer.name,
        "weights": weights_file,
        "weights_sha256": None if weights_file is None else sha256_file(weights_file),
        "total_timesteps": int(total),
        "num_seeds": int(n_seeds),
        "seed": int(cfg.seed),
        "adam_return_reference": cfg.env.adam_return,
        "config": _config_facts(cfg),
        "wall_s": wall,
        "compile_s": compile_s,
        "run_s": run_s,
        "env_steps_per_s": total * n_seeds / run_s,
        "device": device_label(),  # runtime tables pooling GPU and CPU jobs say which is which
        "overrides": pair.overrides,
    }
    log.info(
        "%s / %s: final returns %s | wall %.1fs (compile %.1fs)",
        pair.env,
        pair.spec.label,
        np.round(final, 2).tolist(),
        wall,
        compile_s,
    )
    return PairResult(pair.env, pair.spec.label, final, rel, info)


def _config_facts(cfg: Any) -> dict[str, Any]:
    """The config values figures group by (gridworld level/width/length, Deep Sea size, ...)."""
    env, ppo = cfg.env, cfg.ppo
    facts = {
        "env.id": env.id,
        "env.family": env.family,
        "ppo.width": ppo.width,
        "ppo.total_timesteps": ppo.total_timesteps,
        "ppo.num_envs": ppo.num_envs,
    }
    for k in ("level", "size"):
        v = getattr(env, k, None)
        if v is not None:
            facts[f"env.{k}"] = v
    for k in ("separated", "use_stochasticity", "anneal_lr", "lr", "b1", "b2", "decay"):
        v = getattr(cfg.optimizer, k, None)
        if v is not None:
            facts[f"optimizer.{k}"] = v
    return facts


def write_csv(results: list[PairResult], path: Path) -> Path:
    """Long format, one row per seed: ``env,optimizer,seed,final_return``."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["env", "optimizer", "seed", "final_return"])
        for r in results:
            for i, v in enumerate(r.final_return):
                w.writerow([r.env, r.label, i, repr(float(v))])
    return path


def run(cfg: Any, overrides: list[str], run_dir: Path, optimizer_choice: str) -> dict[str, Any]:
    """The whole ``openrl-eval`` job; returns the summary written to ``run_dir/summary.json``."""
    from openrl.runs.checkpoint import write_json
    from openrl.runs.logger import RunLogger

    pairs = plan(cfg, overrides, optimizer_choice)
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
