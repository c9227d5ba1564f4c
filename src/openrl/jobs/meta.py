"""Wires a validated config into a :class:`MetaTrainer` and runs the meta-training job.

Also the end-of-run report: the finished optimizer (ES mean at the best validation generation) against
tuned Adam on every task, over the same held-out seeds, with a plot and a Markdown table.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np

from openrl.builders import build_trainer
from openrl.config import MetaJob, resolve_optimizer
from openrl.eval import stats
from openrl.eval.records import Record, config_facts
from openrl.eval.summary import summarise
from openrl.meta import job as es_job
from openrl.meta import selection
from openrl.meta.diagnostics import Baseline, Diagnostics
from openrl.meta.init import initial_mean
from openrl.meta.trainer import MetaTrainer, Task
from openrl.optimizers.weights import export_optimizer
from openrl.ppo.runner import CompiledBlocks, run_seeds
from openrl.runs import distributed, plots
from openrl.runs.checkpoint import write_json

log = logging.getLogger(__name__)


def make_mesh(cfg: Any):
    """A 1-D device mesh over all (global) devices for the population axis, or None on one device.

    With ``meta.distributed=true`` the processes are connected first (``openrl-train`` has already done
    so before it touched a device; see :mod:`openrl.runs.distributed`).
    """
    if cfg.meta.distributed:
        distributed.initialize(cfg.meta)
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


def build_meta(job: MetaJob, mesh=None) -> MetaTrainer:
    """The ES around one PPO trainer per task (configs composed by :func:`openrl.config.meta_job`)."""
    cfg = job.cfg
    tasks = []
    rule = None
    for tcfg in job.tasks:
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


def adam_settings(adam_cfg: Any) -> dict[str, Any]:
    """The comparison baseline's effective values and the ``tuned:`` entry they came from: ``<env>@<T>``
    when Adam was tuned for this budget, ``<env>`` for the paper's values (tuned at the paper's T)."""
    r = resolve_optimizer(adam_cfg.optimizer, adam_cfg.env.name, adam_cfg.ppo.total_timesteps)
    return {**r.as_dict(), "tuned_for": r.tuned_for, "total_timesteps": adam_cfg.ppo.total_timesteps}


def build_diagnostics(job: MetaJob, meta: MetaTrainer) -> Diagnostics:
    """Tuned Adam on every task (same env and PPO settings) and the update-ratio probe around it."""
    cfg = job.cfg
    baselines = [Baseline(*build_trainer(adam)) for adam in job.adam]
    return Diagnostics(
        meta.tasks,
        baselines,
        probe_updates=cfg.meta.probe_updates,
        probe_seeds=cfg.meta.probe_seeds,
        plateau_ratio=cfg.meta.plateau_ratio,
    )


def final_evaluation(job: MetaJob, diagnostics: Diagnostics):
    """Returns the callback that evaluates the finished optimizer against tuned Adam after training.

    The finished optimizer is the ES mean of the best validation (``best/``); the last ES mean is
    evaluated too. Both face tuned Adam on the same ``meta.final_eval_seeds`` held-out seeds (disjoint
    from training and validation seeds), with rliable IQM/mean/median and 95% CIs and P(learned > Adam):
    ``final_evaluation.json`` and, for ``summary.json``, the finished optimizer (labelled ``job.label``)
    and Adam (``adam``) as records in the summary schema every job writes, which ``openrl-report`` reads.

    In a multi-process run every process evaluates (on its own device, the same numbers: ``best/`` is read
    from the shared run directory) and only process 0 writes the files and figures.
    """
    cfg = job.cfg

    def evaluate(meta: MetaTrainer, es_state: Any, run_dir: Path, logger) -> dict[str, Any]:
        primary = distributed.is_primary()
        best_file = run_dir / "best" / "optimizer.npy"
        chosen, picked = choose(meta, run_dir)
        if chosen is not None:
            candidates = {"learned (selected)": chosen}
        else:
            candidates = {"learned (best validated)": np.load(best_file) if best_file.exists() else None}
        candidates["learned (last ES mean)"] = np.asarray(es_state.mean)
        first_label = next(iter(candidates))
        if candidates[first_label] is None or np.array_equal(*candidates.values()):
            candidates.pop(first_label)  # the last mean is the chosen one: evaluate it once
        n = cfg.meta.final_eval_seeds
        key = jax.random.PRNGKey(10_000 + cfg.seed)  # disjoint from training and validation seeds
        results: dict[str, Any] = {}
        records: list[Record] = []
        for i, task in enumerate(meta.tasks):
            keys = jax.random.split(jax.random.fold_in(key, i), n)
            b = diagnostics.baselines[i]
            runs = {
                label: (task.trainer, meta.strategy._unravel_solution(jax.numpy.asarray(flat)), task.hp)
                for label, flat in candidates.items()
            }
            runs["Adam (tuned)"] = (b.trainer, b.rule_params, b.hp)
            # one set of compiled programs per trainer: the learned candidates share theirs
            programs = {id(tr): CompiledBlocks(tr) for tr, _, _ in runs.values()}
            curves = {
                label: run_seeds(
                    *run,
                    keys,
                    cfg.num_chunks,
                    desc=f"final evaluation {task.name} / {label}",
                    progress=cfg.progress,
                    blocks=programs[id(run[0])],
                ).metrics
                for label, run in runs.items()
            }
            finals = {label: np.asarray(c["final_return"][:, -1], np.float64) for label, c in curves.items()}
            first = next(iter(candidates))  # best validated when it differs from the last mean
            steps = (
                np.arange(1, curves[first]["episode_return"].shape[1] + 1) * task.trainer.static.batch_size
            )
            if primary:
                png = plots.compare_curves(
                    steps,
                    {label: np.asarray(c["episode_return"]) for label, c in curves.items()},
                    run_dir / f"eval_{task.name}.png",
                    title=f"{task.name}: learned optimizer vs Adam ({n} seeds)",
                )
                logger.log_image(f"eval/{task.name}", png, step=int(es_state.generation_counter))
            ad = finals["Adam (tuned)"]
            lo = finals[first]
            intervals = stats.interval_estimates(finals, ("iqm", "mean", "median"))
            results[task.name] = {
                "seeds": n,
                "learned": first,
                "learned_final_return": lo.tolist(),
                "adam_final_return": ad.tolist(),
                "learned_mean": float(lo.mean()),
                "adam_mean": float(ad.mean()),
                "learned_over_adam": float(lo.mean() / ad.mean()) if ad.mean() else None,
                "intervals": {
                    label: {m: iv.as_dict() for m, iv in per.items()} for label, per in intervals.items()
                },
                "p_learned_beats_adam": stats.probability_of_improvement(lo, ad).as_dict(),
                "adam_settings": adam_settings(job.adam[i]),
            }
            info = {"source": "meta-training final evaluation", "total_timesteps": int(steps[-1])}
            records.append(
                Record(task.name, job.label, lo, None, {**info, "config": config_facts(job.tasks[i])})
            )
            records.append(Record(task.name, "adam", ad, None, {**info, "config": config_facts(job.adam[i])}))
            if "learned (last ES mean)" in finals and first != "learned (last ES mean)":
                last = finals["learned (last ES mean)"]
                results[task.name]["last_mean_final_return"] = last.tolist()
                results[task.name]["last_mean_mean"] = float(last.mean())
        lines = [
            "| task | optimizer | IQM [95% CI] | mean | P(learned > Adam) |",
            "|---|---|---|---|---|",
        ]
        for name, r in results.items():
            for label, per in r["intervals"].items():
                iqm = per["iqm"]
                p = r["p_learned_beats_adam"] if label == r["learned"] else None
                p_txt = f"{p['value']:.2f} [{p['ci'][0]:.2f}, {p['ci'][1]:.2f}]" if p else ""
                lines.append(
                    f"| {name} | {label} | {iqm['value']:.2f} [{iqm['ci'][0]:.2f}, {iqm['ci'][1]:.2f}] | "
                    f"{per['mean']['value']:.2f} | {p_txt} |"
                )
        table = "\n".join(lines)
        log.info("final evaluation (%d seeds):\n%s", n, table)
        if primary:
            (run_dir / "summary.md").write_text(
                f"# {cfg.task_name}: final evaluation over {n} held-out seeds\n\n{table}\n"
            )
            write_json(run_dir / "final_evaluation.json", results)
        out = {"final_evaluation": results, **summarise(records, baseline="adam")}
        return {**out, "selection": picked} if picked is not None else out

    def choose(meta: MetaTrainer, run_dir: Path) -> tuple[np.ndarray | None, dict[str, Any] | None]:
        """``meta.selection=top_k``: the re-evaluated winner (exported to ``best/``, which then holds the
        finished optimizer) and the selection table; ``(None, None)`` for ``best_validated``."""
        if cfg.meta.selection == "best_validated":
            return None, None
        cands = selection.load_validated(run_dir)
        key = jax.random.PRNGKey(selection.SELECTION_KEY_BASE + cfg.seed)
        fresh = jax.jit(lambda rp: meta.validate(rp, key, cfg.meta.selection_seeds))

        def fresh_returns(flat: np.ndarray) -> np.ndarray:
            return np.asarray(fresh(meta.strategy._unravel_solution(jax.numpy.asarray(flat))))

        chosen, table = selection.select_top_k(
            cands, cfg.meta.selection_top_k, fresh_returns, np.asarray(meta.normalisers)
        )
        log.info(
            "selection: top %d validated means re-run on %d fresh seeds: %s -> generation %d",
            cfg.meta.selection_top_k,
            cfg.meta.selection_seeds,
            ", ".join(
                f"gen {r['generation']} {r['validation_score']:.3f}/{r['fresh_score']:.3f}"
                for r in table["candidates"]
            ),
            chosen.generation,
        )
        if distributed.is_primary():
            best_json = run_dir / "best" / "meta.json"
            best_meta = json.loads(best_json.read_text()) if best_json.exists() else {}
            export_optimizer(
                run_dir / "best",
                chosen.flat,
                {
                    **best_meta,
                    "generation": chosen.generation,
                    "validation_score": chosen.score,
                    "selection": table,
                },
            )
            write_json(run_dir / "selection.json", table)
        return chosen.flat, table

    return evaluate


def run(job: MetaJob, run_dir: Path, resolved: dict[str, Any]) -> float:
    """The ``mode=meta`` job: meta-train, validate, evaluate the result against tuned Adam."""
    cfg = job.cfg
    mesh = make_mesh(cfg)
    meta = build_meta(job, mesh)
    if jax.default_backend() == "cpu" and cfg.budget == "paper" and cfg.budgets:
        log.warning(
            "budget=paper is sized for GPUs (paper Table 7) and is about to run on a CPU: expect days. "
            "Smaller presets for this experiment: %s (e.g. budget=small).",
            ", ".join(sorted(cfg.budgets)),
        )
    # Everything that can be refused (a warm-start file of the wrong size, NaN) is checked before compiling.
    mean, described = initial_mean(cfg.meta, meta.tasks[0].trainer.rule, meta.solution, cfg.seed)
    log.info("ES mean starts from %s", described)
    diagnostics = build_diagnostics(job, meta)
    for adam in job.adam:
        settings = adam_settings(adam)
        log.info(
            "comparison baseline on %s at T=%d: Adam lr %g, b1 %g, b2 %g, anneal %s (tuned: %s)",
            adam.env.name,
            adam.ppo.total_timesteps,
            settings["lr"],
            settings["b1"],
            settings["b2"],
            settings["anneal_lr"],
            f"for this T ({settings['tuned_for']})"
            if "@" in str(settings["tuned_for"])
            else f"the {settings['tuned_for']!r} entry, not for T={adam.ppo.total_timesteps}",
        )
    arch = {
        "optimizer": cfg.optimizer.name,
        "config": resolved.get("optimizer"),
        "envs": [t.name for t in meta.tasks],
        "num_meta_params": int(meta.strategy.num_dims),
        "init": described,
    }
    summary = es_job.run(
        cfg,
        run_dir,
        resolved,
        meta,
        cfg.es.num_generations,
        cfg.meta.eval_every,
        cfg.meta.validation_seeds,
        arch,
        final_eval=final_evaluation(job, diagnostics),
        diagnostics=diagnostics,
        init_mean=mean,
    )
    if distributed.is_primary():
        plot_validation(summary, run_dir)
    return float(summary["best_validation_score"] or float("nan"))


def plot_validation(summary: dict[str, Any], run_dir: Path) -> None:
    hist = summary["validation"]
    if hist:
        adam = summary.get("adam_validation") or {}
        fitness = summary.get("fitness_history") or []
        plots.validation_curve(
            [h["generation"] for h in hist],
            [h["score"] for h in hist],
            run_dir / "validation.png",
            reference=adam.get("score"),
            fitness=fitness,
        )
