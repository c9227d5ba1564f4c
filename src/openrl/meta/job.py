"""The meta-training job (``mode: meta``): ES generations with validation, checkpoints, resume, W&B.

Host loop, one iteration per generation; each generation is one compiled program
(:meth:`MetaTrainer.generation`), and the generation key is ``fold_in(run_key, generation)``, so a
resumed run replays exactly the same keys as an uninterrupted one.

With several processes (``meta.distributed=true``) every process runs this loop on the same numbers: the
ES state is a global array replicated over the mesh, each generation program runs over every device of
every process and returns replicated results, and checkpoints are saved and restored collectively. The
validations and the final evaluation need no communication: every process computes them on its own first
device from the same replicated ES mean. Only process 0 writes files (metrics, W&B, ``best/``,
``latest/``, summaries, figures).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from openrl.meta.checkpoints import MetaCheckpointer
from openrl.meta.diagnostics import Diagnostics
from openrl.meta.selection import VALIDATED_DIR
from openrl.meta.trainer import MetaTrainer
from openrl.optimizers.weights import export_optimizer
from openrl.runs import distributed
from openrl.runs.checkpoint import CheckpointError, write_json
from openrl.runs.logger import RunLogger

log = logging.getLogger(__name__)


def _stats(prefix: str, x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, np.float64)
    f = x[np.isfinite(x)]
    if f.size == 0:
        return {f"{prefix}/mean": float("nan")}
    return {
        f"{prefix}/mean": float(f.mean()),
        f"{prefix}/best": float(f.max()),
        f"{prefix}/worst": float(f.min()),
        f"{prefix}/spread": float(f.std()),
    }


def run(
    cfg: Any,
    run_dir: Path,
    resolved: dict[str, Any],
    meta: MetaTrainer,
    num_generations: int,
    eval_every: int,
    validation_seeds: int,
    arch: dict[str, Any],
    final_eval=None,
    diagnostics: Diagnostics | None = None,
    init_mean: Any = None,
) -> dict[str, Any]:
    """Runs (or resumes) meta-training; returns the summary dict.

    ``final_eval(meta, es_state, run_dir, logger)`` runs after the last generation and returns keys to
    add to the summary (the final evaluation's results in the summary schema every job shares).

    ``diagnostics`` adds tuned Adam's validation level, the update-ratio probe and the plateau warning
    (:mod:`openrl.meta.diagnostics`); ``init_mean`` is where the ES mean starts (None: zeros).
    """
    run_key = jax.random.PRNGKey(cfg.seed)
    k_init, k_gen, k_val = jax.random.split(run_key, 3)
    k_probe = jax.random.fold_in(run_key, 0x9B0E)  # fixed for the run: ratios compare across generations
    es_state = meta.init(k_init, init_mean)
    primary = distributed.is_primary()

    def placed(state: Any) -> Any:
        # Sharded runs hold the ES state replicated over the mesh, fresh or restored alike: the same
        # compiled program either way, and a global array in every process of a multi-process run.
        return state if meta.mesh is None else distributed.replicate(state, meta.mesh)

    def local(state: Any) -> Any:
        # Host-side work (validation, exports) reads the state from this process's memory.
        return state if meta.mesh is None else jax.device_get(state)

    es_state = placed(es_state)
    ckpt = MetaCheckpointer(run_dir / "checkpoints", keep=cfg.meta.keep_checkpoints)
    host: dict[str, Any] = {
        "generation": 0,
        "history": [],
        "best_score": None,
        "best_generation": None,
        "nan_total": 0,
    }
    try:
        if cfg.meta.resume:
            restored = ckpt.restore_latest(es_state, resolved)
            if restored is not None:
                es_state, host, step = restored
                es_state = placed(es_state)
                log.info("resumed from %s at generation %d", run_dir / "checkpoints", host["generation"])
        elif ckpt.mngr.all_steps():
            # Orbax would silently skip every step that already exists: refuse rather than mix two runs.
            raise CheckpointError(
                f"meta.resume=false, but {ckpt.directory} already holds checkpoints (generations "
                f"{sorted(ckpt.mngr.all_steps())}); use a new run directory (hydra.run.dir=...) or "
                "meta.resume=true"
            )
    except CheckpointError:
        ckpt.close()
        raise

    if meta.mesh is None:
        gen_fn = jax.jit(meta.generation)
    else:  # results replicated: every process can read every member's fitness
        from jax.sharding import NamedSharding, PartitionSpec

        gen_fn = jax.jit(meta.generation, out_shardings=NamedSharding(meta.mesh, PartitionSpec()))
    statics = [getattr(t.trainer, "static", None) for t in meta.tasks]
    # member env-steps per generation (None for stand-in trainers without a PPO configuration)
    gen_steps = (
        meta.strategy.population_size * meta.num_rollouts * sum(s.num_updates * s.batch_size for s in statics)
        if all(s is not None for s in statics)
        else None
    )
    val_fn = jax.jit(lambda rp, k: meta.validate(rp, k, validation_seeds))
    task_names = [t.name for t in meta.tasks]
    start = int(host["generation"])
    name = f"{cfg.task_name}/seed={cfg.seed}"
    # Wall and CPU seconds of the whole run, summed over resumed processes (saved with each checkpoint).
    wall0, cpu0 = time.perf_counter(), time.process_time()
    base_wall, base_cpu = float(host.get("wall_s", 0.0)), float(host.get("cpu_s", 0.0))

    def clock() -> None:
        host["wall_s"] = base_wall + time.perf_counter() - wall0
        host["cpu_s"] = base_cpu + time.process_time() - cpu0

    with RunLogger(run_dir, cfg.logger, resolved, name=name, job_type="meta_train") as logger:
        t0 = time.perf_counter()
        compiled = gen_fn.lower(es_state, jax.random.fold_in(k_gen, start)).compile()
        compile_s = time.perf_counter() - t0
        log.info(
            "generation program compiled in %.1fs (population %d, %d task(s): %s)",
            compile_s,
            meta.strategy.population_size,
            len(task_names),
            ", ".join(task_names),
        )
        bar = tqdm(
            total=num_generations,
            initial=start,
            unit="gen",
            disable=not (cfg.progress and primary),
            dynamic_ncols=True,
            desc=cfg.task_name,
        )
        gen_times: list[float] = []

        def validate(g: int) -> float:
            rp = meta.mean_params(local(es_state))
            returns = np.asarray(val_fn(rp, k_val))  # (seeds, tasks)
            norm = returns / np.asarray(meta.normalisers)
            score = float(np.mean(norm))
            entry = {
                "generation": g,
                "score": score,
                "returns": {n: float(np.mean(returns[:, i])) for i, n in enumerate(task_names)},
                "theta_abs_mean": float(np.mean(np.abs(np.asarray(es_state.mean)))),
            }
            row = {"val/score": score, **{f"val/{n}/return": v for n, v in entry["returns"].items()}}
            ratio = None if diagnostics is None else diagnostics.update_ratio(rp, k_probe)
            if ratio is not None:
                entry["update_ratio"] = float(np.mean(ratio))
                row["diag/update_ratio"] = entry["update_ratio"]
                if len(task_names) > 1:
                    row.update({f"diag/{n}/update_ratio": float(r) for n, r in zip(task_names, ratio)})
            host["history"].append(entry)
            if (
                diagnostics is not None
                and not host.get("plateau_warned")
                and diagnostics.on_plateau(host["history"])
            ):
                log.warning(diagnostics.plateau_message(host["history"]))
                host["plateau_warned"] = True
            if primary:
                # Every validated ES mean is kept (a few KB each): meta.selection=top_k and
                # benchmarks/selection.py choose among them on fresh seeds.
                export_optimizer(
                    run_dir / VALIDATED_DIR / f"gen{g:05d}",
                    np.asarray(es_state.mean),
                    {
                        **arch,
                        "generation": g,
                        "validation_score": score,
                        "validation_returns": returns.tolist(),
                        "source": str(run_dir),
                    },
                )
            if host["best_score"] is None or score > host["best_score"]:
                host["best_score"], host["best_generation"] = score, g
                if primary:
                    export_optimizer(
                        run_dir / "best",
                        np.asarray(es_state.mean),
                        {**arch, "generation": g, "validation_score": score, "source": str(run_dir)},
                    )
            logger.log(row, step=g)
            return score

        try:
            if diagnostics is not None and "adam_validation" not in host:
                adam = diagnostics.baseline_validation(k_val, validation_seeds)  # the same seeds
                host["adam_validation"] = {
                    "score": float(np.mean(adam / np.asarray(meta.normalisers))),
                    "returns": {n: float(np.mean(adam[:, i])) for i, n in enumerate(task_names)},
                }
                log.info(
                    "tuned Adam on the %d validation seeds: score %.3f (%s)",
                    validation_seeds,
                    host["adam_validation"]["score"],
                    ", ".join(f"{n} {v:.2f}" for n, v in host["adam_validation"]["returns"].items()),
                )
                logger.log({"val/adam_score": host["adam_validation"]["score"]}, step=start)
            if start == 0 and not host["history"]:
                validate(0)
            for g in range(start, num_generations):
                t = time.perf_counter()
                try:
                    es_state, m = compiled(es_state, jax.random.fold_in(k_gen, g))
                    m = jax.device_get(m)
                except jax.errors.JaxRuntimeError as e:
                    if not distributed.multi_process():
                        raise
                    raise distributed.peer_lost(e, g, ckpt.mngr.latest_step()) from None
                dt = time.perf_counter() - t
                gen_times.append(dt)
                if len(gen_times) == 1:
                    remaining = (num_generations - g - 1) * dt
                    log.info(
                        "first generation took %.1fs; predicted remaining time %.1f min (+ validation)",
                        dt,
                        remaining / 60,
                    )
                host["nan_total"] += int(m["nan_count"])
                row = {
                    "es/sigma": float(m["sigma"]),
                    **({"es/lr": float(m["lr"])} if "lr" in m else {}),
                    "es/nan_count": int(m["nan_count"]),
                    "es/mean_abs": float(m["mean_abs"]),
                    "diag/theta_abs_mean": float(m["mean_abs"]),
                    "time/generation_s": dt,
                    **({"time/env_steps_per_s": gen_steps / dt} if gen_steps else {}),
                    **_stats("fitness", m["fitness"]),
                }
                row["diag/fitness_spread"] = row.get("fitness/spread", float("nan"))
                host.setdefault("fitness", []).append(
                    [g + 1, row["fitness/mean"], row.get("fitness/best", float("nan"))]
                )
                for i, n in enumerate(task_names):
                    row.update(_stats(f"train/{n}/raw", m["raw"][:, i]))
                    row.update(_stats(f"train/{n}/normalised", m["normalised"][:, i]))
                logger.log(row, step=g + 1)
                host["generation"] = g + 1
                if (g + 1) % eval_every == 0 or g + 1 == num_generations:
                    validate(g + 1)
                if (g + 1) % cfg.meta.checkpoint_every == 0 or g + 1 == num_generations:
                    # Metrics up to a checkpoint must be on disk before it: a resumed run never logs
                    # those generations again (a SIGKILL loses whatever is still in the file buffer).
                    if getattr(logger, "jsonl", None) is not None:
                        logger.jsonl.flush()
                    clock()
                    ckpt.save(g + 1, es_state, host, resolved)
                bar.update(1)
                bar.set_postfix(
                    fit_mean=f"{row['fitness/mean']:.3f}",
                    fit_best=f"{row.get('fitness/best', np.nan):.3f}",
                    val=f"{host['history'][-1]['score']:.3f}",
                )
        finally:
            bar.close()
            ckpt.close()
        if primary:
            export_optimizer(
                run_dir / "latest",
                np.asarray(es_state.mean),
                {**arch, "generation": host["generation"], "source": str(run_dir)},
            )
        clock()
        summary = {
            "generations": host["generation"],
            "wall_s": host["wall_s"],
            "cpu_s": host["cpu_s"],
            "compile_s": compile_s,
            "seconds_per_generation": float(np.median(gen_times)) if gen_times else None,
            "validation": host["history"],
            "best_generation": host["best_generation"],
            "best_validation_score": host["best_score"],
            "nan_total": host["nan_total"],
            "adam_validation": host.get("adam_validation"),
            "fitness_history": host.get("fitness", []),
            "plateau_warned": bool(host.get("plateau_warned", False)),
        }
        if final_eval is not None:
            summary.update(final_eval(meta, local(es_state), run_dir, logger))
            clock()
            summary["wall_s_with_final_evaluation"] = host["wall_s"]
            summary["cpu_s_with_final_evaluation"] = host["cpu_s"]
        if primary:
            write_json(run_dir / "summary.json", summary)
        logger.summary({k: v for k, v in summary.items() if isinstance(v, int | float)})
    return summary
