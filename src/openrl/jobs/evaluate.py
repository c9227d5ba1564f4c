"""``openrl-eval``: evaluate optimizers on envs over vmapped seeds and write curves, CSV and summary.json.

Every (env, optimizer) pair is composed from the same Hydra config tree as ``openrl-train`` (so tuned
hyperparameters, PPO settings and budgets follow the env exactly as in training), validated *before*
anything runs (a bad weights file fails in seconds, not after an hour of the other optimizers), then run
as one jitted program vmapped over ``num_seeds`` seeds. The seeds are ``split(PRNGKey(seed), num_seeds)``,
the same as ``openrl-train``'s, and the same for every optimizer on an env: comparisons are paired.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from omegaconf import OmegaConf

from openrl import pretrained
from openrl.builders import build_trainer
from openrl.config.eval_plan import (  # re-exported: the plan is part of this job's interface
    OptimizerSpec,
    Pair,
    available_presets,
    parse_entry,
    plan,
    preset_optimizer,
    resolve_weights,
)
from openrl.eval.markdown import markdown
from openrl.eval.records import Record, config_facts
from openrl.eval.summary import summarise
from openrl.optimizers.weights import resolve_weights_path, sha256_file
from openrl.ppo.runner import curve_arrays, run_seeds
from openrl.runs.checkpoint import write_json
from openrl.runs.logger import RunLogger
from openrl.runs.metadata import device_label

log = logging.getLogger(__name__)


@dataclass
class PairResult:
    env: str
    label: str
    final_return: np.ndarray  # (seeds,)
    curves_file: str  # relative to the run dir
    info: dict[str, Any] = field(default_factory=dict)


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


__all__ = [
    "OptimizerSpec",
    "Pair",
    "PairResult",
    "available_presets",
    "parse_entry",
    "plan",
    "preset_optimizer",
    "resolve_weights",
    "run",
]
