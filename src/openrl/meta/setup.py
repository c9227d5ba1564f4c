"""Wires a validated config into a :class:`MetaTrainer` and runs the meta-training job.

Also the end-of-run report: the finished optimizer (ES mean at the best validation generation) against
tuned Adam on every task, over the same held-out seeds, with a plot and a Markdown table.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np

from openrl.builders import adam_config, build_trainer, task_configs
from openrl.meta import job
from openrl.meta.checkpoints import write_json
from openrl.meta.trainer import MetaTrainer, Task

log = logging.getLogger(__name__)


def make_mesh(cfg: Any):
    """A 1-D device mesh over all (global) devices for the population axis, or None on one device."""
    if cfg.meta.distributed:
        jax.distributed.initialize()  # arguments auto-detected under SLURM / Open MPI / TPU pods
    devices = jax.devices()
    if not cfg.meta.shard or len(devices) == 1:
        return None
    if cfg.es.population_size % len(devices):
        raise ValueError(
            f"es.population_size={cfg.es.population_size} must be divisible by the number of devices "
            f"({len(devices)}) to shard the population; set meta.shard=false to disable sharding"
        )
    from jax.sharding import Mesh

    return Mesh(np.asarray(devices), ("pop",))


def build_meta(cfg: Any, overrides: list[str], mesh=None) -> MetaTrainer:
    tasks = []
    rule = None
    for tcfg in task_configs(cfg, overrides):
        trainer, rule_params, hp = build_trainer(tcfg)
        norm = tcfg.env.adam_return if (len(cfg.meta.envs) > 1 and tcfg.env.adam_return) else 1.0
        tasks.append(Task(tcfg.env.name, trainer, hp, float(norm)))
        rule = rule if rule is not None else trainer.rule
    solution = jax.tree.map(np.zeros_like, rule.default_params())
    return MetaTrainer(
        tasks,
        solution,
        cfg.es,
        num_rollouts=cfg.meta.num_rollouts,
        population_chunk=cfg.meta.population_chunk,
        mesh=mesh,
        antithetic_task_sampling=cfg.meta.antithetic_task_sampling,
    )


def final_evaluation(cfg: Any, overrides: list[str]):
    """Returns the callback that evaluates the best optimizer against tuned Adam after training."""

    def evaluate(meta: MetaTrainer, es_state: Any, run_dir: Path, logger) -> dict[str, Any]:
        from openrl.runs import plots

        best = (
            np.load(run_dir / "best" / "optimizer.npy")
            if (run_dir / "best" / "optimizer.npy").exists()
            else np.asarray(es_state.mean)
        )
        learned = meta.strategy._unravel_solution(jax.numpy.asarray(best))
        n = cfg.meta.final_eval_seeds
        key = jax.random.PRNGKey(10_000 + cfg.seed)  # disjoint from training and validation seeds
        results: dict[str, Any] = {}
        for i, task in enumerate(meta.tasks):
            keys = jax.random.split(jax.random.fold_in(key, i), n)
            lo = jax.jit(jax.vmap(lambda k, t=task: t.trainer.train(k, learned, t.hp)[1], in_axes=0))(keys)
            acfg = adam_config(task_cfg_for(cfg, overrides, task.name), overrides)
            a_tr, a_rp, a_hp = build_trainer(acfg)
            ad = jax.jit(jax.vmap(lambda k: a_tr.train(k, a_rp, a_hp)[1]))(keys)
            lo_final = np.asarray(lo["final_return"][:, -1])
            ad_final = np.asarray(ad["final_return"][:, -1])
            steps = np.arange(1, lo["episode_return"].shape[1] + 1) * task.trainer.static.batch_size
            png = plots.compare_curves(
                steps,
                {
                    "learned (ES mean)": np.asarray(lo["episode_return"]),
                    "Adam (tuned)": np.asarray(ad["episode_return"]),
                },
                run_dir / f"eval_{task.name}.png",
                title=f"{task.name}: learned optimizer vs Adam ({n} seeds)",
            )
            logger.log_image(f"eval/{task.name}", png, step=int(es_state.generation_counter))
            results[task.name] = {
                "learned_final_return": lo_final.tolist(),
                "adam_final_return": ad_final.tolist(),
                "learned_mean": float(lo_final.mean()),
                "adam_mean": float(ad_final.mean()),
                "learned_over_adam": float(lo_final.mean() / ad_final.mean()) if ad_final.mean() else None,
            }
        lines = ["| task | learned (mean) | Adam (mean) | learned / Adam |", "|---|---|---|---|"]
        for name, r in results.items():
            ratio = f"{r['learned_over_adam']:.2f}" if r["learned_over_adam"] is not None else "n/a"
            lines.append(f"| {name} | {r['learned_mean']:.2f} | {r['adam_mean']:.2f} | {ratio} |")
        table = "\n".join(lines)
        (run_dir / "summary.md").write_text(
            f"# {cfg.task_name}: final evaluation over {n} seeds\n\n{table}\n"
        )
        log.info("final evaluation (%d seeds):\n%s", n, table)
        write_json(run_dir / "final_evaluation.json", results)
        return results

    return evaluate


def task_cfg_for(cfg: Any, overrides: list[str], name: str) -> Any:
    for t in task_configs(cfg, overrides):
        if t.env.name == name:
            return t
    raise KeyError(name)


def run(cfg: Any, run_dir: Path, resolved: dict[str, Any], overrides: list[str]) -> float:
    mesh = make_mesh(cfg)
    meta = build_meta(cfg, overrides, mesh)
    if jax.default_backend() == "cpu" and cfg.budget == "paper" and cfg.budgets:
        log.warning(
            "budget=paper is sized for GPUs (paper Table 7) and is about to run on a CPU: expect days. "
            "Smaller presets for this experiment: %s (e.g. budget=small).",
            ", ".join(sorted(cfg.budgets)),
        )
    arch = {
        "optimizer": cfg.optimizer.name,
        "config": resolved.get("optimizer"),
        "envs": [t.name for t in meta.tasks],
        "num_meta_params": int(meta.strategy.num_dims),
    }
    summary = job.run(
        cfg,
        run_dir,
        resolved,
        meta,
        cfg.es.num_generations,
        cfg.meta.eval_every,
        cfg.meta.validation_seeds,
        arch,
        final_eval=final_evaluation(cfg, overrides),
    )
    plot_validation(summary, run_dir)
    return float(summary["best_validation_score"] or float("nan"))


def plot_validation(summary: dict[str, Any], run_dir: Path) -> None:
    from openrl.runs import plots

    hist = summary["validation"]
    if hist:
        plots.validation_curve(
            [h["generation"] for h in hist], [h["score"] for h in hist], run_dir / "validation.png"
        )
