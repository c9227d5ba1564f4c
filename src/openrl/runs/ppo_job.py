"""A PPO training job with a handcrafted (or loaded) optimizer: the ``experiment=ppo`` mode.

The run is chunked: a jitted ``lax.scan`` over a block of updates (vmapped over seeds), and a host loop
over blocks that shows progress, logs, and checkpoints. Chunking does not change the result: the same
update function runs in the same order (tested bitwise against the one-shot ``train``).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from openrl.builders import build_trainer
from openrl.runs import checkpoint, plots
from openrl.runs.logger import RunLogger

log = logging.getLogger(__name__)


def chunk_plan(num_updates: int, num_chunks: int) -> list[int]:
    """Block sizes summing to ``num_updates``: equal blocks when a divisor is close, else one remainder.

    At most two distinct sizes, hence at most two compilations.
    """
    target = max(1, math.ceil(num_updates / num_chunks))
    for size in range(target, min(2 * target, num_updates) + 1):
        if num_updates % size == 0:
            return [size] * (num_updates // size)
    sizes = [target] * (num_updates // target)
    if num_updates % target:
        sizes.append(num_updates % target)
    return sizes


class CompiledBlocks:
    """``blocks(n, state)``: ``n`` PPO updates of every vmapped seed, compiled once per distinct ``n``.

    With :func:`chunk_plan` there are at most two sizes, so at most two compilations per run; the
    compile time is summed in ``compile_s`` (reported apart from the run time).
    """

    def __init__(self, trainer: Any, rule_params: Any, hp: Any):
        self.trainer, self.rule_params, self.hp = trainer, rule_params, hp
        self.compile_s = 0.0
        self._compiled: dict[int, Any] = {}

    def __call__(self, n: int, state: Any) -> tuple[Any, Any]:
        if n not in self._compiled:
            run = lambda st, rp, h: self.trainer.run(st, rp, h, n)  # noqa: E731
            fn = jax.jit(jax.vmap(run, in_axes=(0, None, None)))
            t0 = time.perf_counter()
            self._compiled[n] = fn.lower(state, self.rule_params, self.hp).compile()
            self.compile_s += time.perf_counter() - t0
        return self._compiled[n](state, self.rule_params, self.hp)


def _iqm(x: np.ndarray) -> float:
    from scipy import stats

    return float(stats.trim_mean(x, 0.25))


def run(cfg: Any, run_dir: Path, resolved: dict[str, Any]) -> float:
    trainer, rule_params, hp = build_trainer(cfg)
    s = trainer.static
    seeds = cfg.num_seeds
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), seeds)
    init = jax.jit(jax.vmap(trainer.init))
    sizes = chunk_plan(s.num_updates, cfg.num_chunks)
    blocks = CompiledBlocks(trainer, rule_params, hp)

    name = f"{cfg.task_name}/{cfg.env.name}/{cfg.optimizer.name}/seed={cfg.seed}"
    steps_per_update = s.batch_size
    curves: list[np.ndarray] = []
    final_returns = np.full(seeds, np.nan)
    ckpt_dir = run_dir / "checkpoints"
    t_start = time.perf_counter()
    with RunLogger(run_dir, cfg.logger, resolved, name=name) as logger:
        log.info("run dir: %s | W&B mode: %s", run_dir, logger.mode)
        state = init(keys)
        done_updates = 0
        bar = tqdm(
            total=s.num_updates * steps_per_update,
            unit="step",
            unit_scale=True,
            disable=not cfg.progress,
            desc=f"{cfg.env.name}/{cfg.optimizer.name}",
            dynamic_ncols=True,
        )
        mngr = checkpoint.manager(ckpt_dir) if cfg.save_agent else None
        try:
            for n in sizes:
                state, metrics = blocks(n, state)
                metrics = jax.device_get(metrics)
                ret = np.asarray(metrics["episode_return"])  # (seeds, n)
                curves.append(ret)
                for j in range(n):
                    u = done_updates + j
                    row = {
                        "episode_return": float(np.nanmean(ret[:, j]))
                        if np.isfinite(ret[:, j]).any()
                        else float("nan"),
                        "final_return": float(np.mean(metrics["final_return"][:, j])),
                        "episode_length": float(np.nanmean(metrics["episode_length"][:, j]))
                        if np.isfinite(metrics["episode_length"][:, j]).any()
                        else float("nan"),
                        "value_loss": float(np.mean(metrics["value_loss"][:, j])),
                        "actor_loss": float(np.mean(metrics["actor_loss"][:, j])),
                        "entropy": float(np.mean(metrics["entropy"][:, j])),
                    }
                    for net, layers in metrics["dormancy"].items():
                        for layer, v in layers.items():
                            row[f"dormancy/{net}/{layer}"] = float(np.mean(v[:, j]))
                    for net, stats in metrics.get("analysis", {}).items():  # optimizer.analysis=true
                        for k, v in stats.items():
                            col = np.asarray(v[:, j], np.float64)
                            row[f"analysis/{net}/{k}"] = (
                                float(np.nanmean(col)) if np.isfinite(col).any() else float("nan")
                            )
                    logger.log(row, step=(u + 1) * steps_per_update * 1)
                done_updates += n
                final_returns = np.asarray(metrics["final_return"][:, -1])
                bar.update(n * steps_per_update)
                bar.set_postfix(ret=f"{np.nanmean(ret[:, -1]):.2f}")
            bar.close()
            if mngr is not None:
                checkpoint.save(
                    mngr,
                    done_updates,
                    state,
                    {
                        "updates": done_updates,
                        "env": cfg.env.name,
                        "optimizer": cfg.optimizer.name,
                        "seeds": seeds,
                    },
                )
        finally:
            bar.close()
            if mngr is not None:
                mngr.close()
        wall = time.perf_counter() - t_start
        curve = np.concatenate(curves, axis=1)
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
        logger.log_image("return_curve", png, step=done_updates * steps_per_update)
        total_steps = s.num_updates * steps_per_update * seeds
        summary = {
            "env": cfg.env.name,
            "optimizer": cfg.optimizer.name,
            "seed": cfg.seed,
            "num_seeds": seeds,
            "final_return": final_returns.tolist(),
            "final_return_mean": float(np.mean(final_returns)),
            "final_return_iqm": _iqm(final_returns),
            "adam_return_reference": cfg.env.adam_return,
            "total_env_steps": int(total_steps),
            "wall_s": wall,
            "compile_s": blocks.compile_s,
            "env_steps_per_s": total_steps / max(wall - blocks.compile_s, 1e-9),
        }
        checkpoint.write_json(run_dir / "summary.json", summary)
        logger.summary(summary)
    log.info(
        "final return %s (mean %.2f) | %.0f env-steps/s | wall %.1fs (compile %.1fs) | %s",
        np.round(final_returns, 2).tolist(),
        summary["final_return_mean"],
        summary["env_steps_per_s"],
        wall,
        blocks.compile_s,
        run_dir,
    )
    return summary["final_return_mean"]
