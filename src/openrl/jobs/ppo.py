"""A PPO training job with a handcrafted (or loaded) optimizer: the ``experiment=ppo`` mode.

Training goes through the seed runner (:func:`openrl.ppo.run_seeds`: chunked, vmapped seeds); this
module adds what a training run records: one metrics row per update, the agents' checkpoint, the return
curve and ``summary.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np

from openrl.builders import build_trainer
from openrl.eval.records import Record, config_facts
from openrl.eval.summary import summarise
from openrl.ppo.runner import run_seeds
from openrl.runs import checkpoint, plots
from openrl.runs.logger import RunLogger
from openrl.runs.metadata import device_label

log = logging.getLogger(__name__)


def _iqm(x: np.ndarray) -> float:
    from scipy import stats

    return float(stats.trim_mean(x, 0.25))


def run(cfg: Any, run_dir: Path, resolved: dict[str, Any], label: str | None = None) -> float:
    """The ``mode=ppo`` job: train ``num_seeds`` agents, log every update, save the agents and curves.

    ``summary.json`` carries the results in the summary schema every job writes (the optimizer labelled
    ``label``, its ``conf/optimizer`` preset, default its name), beside this job's own keys.
    """
    trainer, rule_params, hp = build_trainer(cfg)
    s = trainer.static
    seeds = cfg.num_seeds
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), seeds)
    name = f"{cfg.task_name}/{cfg.env.name}/{cfg.optimizer.name}/seed={cfg.seed}"
    steps_per_update = s.batch_size
    ckpt_dir = run_dir / "checkpoints"
    with RunLogger(run_dir, cfg.logger, resolved, name=name) as logger:
        log.info("run dir: %s | W&B mode: %s", run_dir, logger.mode)

        def log_chunk(done: int, n: int, metrics: dict[str, Any]) -> None:
            for j in range(n):
                logger.log(_update_row(metrics, j), step=(done + j + 1) * steps_per_update)

        result = run_seeds(
            trainer,
            rule_params,
            hp,
            keys,
            cfg.num_chunks,
            desc=f"{cfg.env.name}/{cfg.optimizer.name}",
            progress=cfg.progress,
            on_chunk=log_chunk,
        )
        final_returns = result.final_return
        if cfg.save_agent:
            mngr = checkpoint.manager(ckpt_dir)
            try:
                meta = {"updates": s.num_updates, "env": cfg.env.name, "optimizer": cfg.optimizer.name}
                checkpoint.save(mngr, s.num_updates, result.state, {**meta, "seeds": seeds})
            finally:
                mngr.close()
        curve = np.asarray(result.metrics["episode_return"])
        env_steps = np.arange(1, curve.shape[1] + 1) * steps_per_update
        np.savez(
            run_dir / "returns.npz",
            episode_return=curve,
            env_steps=env_steps,
            final_return=final_returns,
            seeds=np.arange(cfg.seed, cfg.seed + seeds),
        )
        png = plots.return_curve(
            env_steps,
            curve,
            run_dir / "return_curve.png",
            title=f"{cfg.env.id}: PPO + {cfg.optimizer.name}",
            label=cfg.optimizer.name,
            reference=cfg.env.adam_return if cfg.optimizer.name == "adam" else None,
        )
        logger.log_image("return_curve", png, step=s.num_updates * steps_per_update)
        total_steps = s.num_updates * steps_per_update * seeds
        info = {
            "optimizer": label or cfg.optimizer.name,
            "optimizer_name": cfg.optimizer.name,
            "total_timesteps": result.env_steps,
            "num_seeds": int(seeds),
            "seed": int(cfg.seed),
            "adam_return_reference": cfg.env.adam_return,
            "config": config_facts(cfg),
            "wall_s": result.wall_s,
            "compile_s": result.compile_s,
            "run_s": result.run_s,
            "env_steps_per_s": result.env_steps_per_s,
            "device": device_label(),
        }
        record = Record(
            cfg.env.name, label or cfg.optimizer.name, final_returns, run_dir / "returns.npz", info
        )
        own = {
            "env": cfg.env.name,
            "optimizer": cfg.optimizer.name,
            "seed": cfg.seed,
            "num_seeds": seeds,
            "final_return": final_returns.tolist(),
            "final_return_mean": float(np.mean(final_returns)),
            "final_return_iqm": _iqm(final_returns),
            "adam_return_reference": cfg.env.adam_return,
            "total_env_steps": int(total_steps),
            "wall_s": result.wall_s,
            "compile_s": result.compile_s,
            "env_steps_per_s": result.env_steps_per_s,
        }
        summary = {**summarise([record], root=run_dir), **own}
        checkpoint.write_json(run_dir / "summary.json", summary)
        logger.summary(own)
    log.info(
        "final return %s (mean %.2f) | %.0f env-steps/s | wall %.1fs (compile %.1fs) | %s",
        np.round(final_returns, 2).tolist(),
        summary["final_return_mean"],
        summary["env_steps_per_s"],
        result.wall_s,
        result.compile_s,
        run_dir,
    )
    return summary["final_return_mean"]


def _nanmean(x: Any) -> float:
    x = np.asarray(x, np.float64)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _update_row(metrics: dict[str, Any], j: int) -> dict[str, float]:
    """The metrics.jsonl / W&B row of update ``j`` of a chunk: means over seeds."""
    row = {
        "episode_return": _nanmean(metrics["episode_return"][:, j]),
        "final_return": float(np.mean(metrics["final_return"][:, j])),
        "episode_length": _nanmean(metrics["episode_length"][:, j]),
        "value_loss": float(np.mean(metrics["value_loss"][:, j])),
        "actor_loss": float(np.mean(metrics["actor_loss"][:, j])),
        "entropy": float(np.mean(metrics["entropy"][:, j])),
    }
    for net, layers in metrics["dormancy"].items():
        for layer, v in layers.items():
            row[f"dormancy/{net}/{layer}"] = float(np.mean(v[:, j]))
    for net, stats in metrics.get("analysis", {}).items():  # optimizer.analysis=true
        for k, v in stats.items():
            row[f"analysis/{net}/{k}"] = _nanmean(v[:, j])
    return row
