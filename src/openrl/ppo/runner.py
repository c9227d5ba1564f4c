"""The one seed runner: train ``num_seeds`` PPO agents as one vmapped program, in chunks of updates.

Every job that trains agents (``openrl-train experiment=ppo``, ``openrl-eval``, meta-training's final
evaluation) goes through :func:`run_seeds`. A chunk is a jitted ``lax.scan`` over a block of updates,
vmapped over seeds; between chunks the host shows progress (a bar, or a log line every ~10% when the bar
is off, for batch jobs) and hands the chunk's metrics to the caller's callback (logging, checkpoints).
Chunking does not change the result: the same update function runs in the same order (tested bitwise
against the one-shot :meth:`PPOTrainer.train`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from openrl.ppo.train import PPOHParams, PPOTrainer, RunnerState

log = logging.getLogger(__name__)

ChunkCallback = Callable[[int, int, dict[str, Any]], None]  # (updates done before, chunk size, metrics)


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
    """The compiled programs of one trainer: ``init(keys)`` and ``blocks(n, state, rule_params, hp)`` (``n``
    PPO updates of every vmapped seed), each compiled once per distinct shape.

    With :func:`chunk_plan` there are at most two block sizes, so at most two compilations per run. The
    rule's parameters and PPO's loss coefficients are traced arguments, so runs of several optimizers of
    one architecture (meta-training's final evaluation: the best validated and the last ES mean) share the
    programs. Compile time is summed in ``compile_s`` (reported apart from the run time).
    """

    def __init__(self, trainer: PPOTrainer):
        self.trainer = trainer
        self.compile_s = 0.0
        self._init: dict[int, Any] = {}
        self._compiled: dict[int, Any] = {}

    def _compile(self, fn: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        out = fn.lower(*args).compile()
        self.compile_s += time.perf_counter() - t0
        return out

    def init(self, keys: jax.Array) -> RunnerState:
        n_seeds = int(keys.shape[0])
        if n_seeds not in self._init:
            self._init[n_seeds] = self._compile(jax.jit(jax.vmap(self.trainer.init)), keys)
        return self._init[n_seeds](keys)

    def __call__(
        self, n: int, state: RunnerState, rule_params: Any, hp: PPOHParams
    ) -> tuple[RunnerState, dict]:
        if n not in self._compiled:
            run = lambda st, rp, h: self.trainer.run(st, rp, h, n)  # noqa: E731
            fn = jax.jit(jax.vmap(run, in_axes=(0, None, None)))
            self._compiled[n] = self._compile(fn, state, rule_params, hp)
        return self._compiled[n](state, rule_params, hp)


@dataclass
class SeedRun:
    """What :func:`run_seeds` measured. Arrays are on the host, seeds first: ``(seeds, updates, ...)``."""

    state: RunnerState  # the final vmapped runner state (agents, optimizer state, env state)
    metrics: dict[str, Any]  # every chunk's metrics joined along the update axis
    final_return: np.ndarray  # (seeds,) mean return of the last update's finished episodes
    env_steps_per_update: int
    wall_s: float  # init + every chunk, compilation included
    compile_s: float

    @property
    def run_s(self) -> float:
        return max(self.wall_s - self.compile_s, 1e-9)

    @property
    def env_steps(self) -> int:
        """Env steps per seed."""
        return int(self.metrics["final_return"].shape[1]) * self.env_steps_per_update

    @property
    def env_steps_per_s(self) -> float:
        return self.env_steps * len(self.final_return) / self.run_s


def run_seeds(
    trainer: PPOTrainer,
    rule_params: Any,
    hp: PPOHParams,
    keys: jax.Array,
    num_chunks: int,
    *,
    desc: str = "",
    progress: bool = True,
    on_chunk: ChunkCallback | None = None,
    blocks: CompiledBlocks | None = None,
) -> SeedRun:
    """Trains one agent per key (``keys``: ``(seeds, 2)``) with ``trainer.static.num_updates`` updates.

    ``blocks``: the trainer's compiled programs from an earlier run (reused; ``compile_s`` then counts only
    what this run compiled)."""
    s = trainer.static
    n_seeds = int(keys.shape[0])
    blocks = CompiledBlocks(trainer) if blocks is None else blocks
    compiled0 = blocks.compile_s
    t0 = time.perf_counter()
    state = blocks.init(keys)
    chunks: list[dict[str, Any]] = []
    total = s.num_updates * s.batch_size
    bar = tqdm(total=total, unit="step", unit_scale=True, disable=not progress, desc=desc, dynamic_ncols=True)
    sizes = chunk_plan(s.num_updates, num_chunks)
    done, t_run, compiled_run0 = 0, time.perf_counter(), blocks.compile_s
    try:
        for i, n in enumerate(sizes):
            state, metrics = blocks(n, state, rule_params, hp)
            metrics = jax.device_get(metrics)
            chunks.append(metrics)
            if on_chunk is not None:
                on_chunk(done, n, metrics)
            done += n
            bar.update(n * s.batch_size)
            last = np.asarray(metrics["final_return"][:, -1])
            bar.set_postfix(ret=f"{np.nanmean(last):.2f}")
            if not progress and (i + 1) % max(1, len(sizes) // 10) == 0 and done < s.num_updates:
                # no bar (progress=false: batch jobs, SLURM logs): a log line every ~10% instead
                compiling_s = blocks.compile_s - compiled_run0  # compilation is excluded from the rate
                run_s = time.perf_counter() - t_run - compiling_s
                rate = done * s.batch_size * n_seeds / max(run_s, 1e-9)
                eta = (s.num_updates - done) * s.batch_size * n_seeds / rate
                log.info(
                    "%s: %d/%d updates, %.0f env-steps/s, return %.2f, ETA %.0f s",
                    desc, done, s.num_updates, rate, float(np.nanmean(last)), eta,
                )  # fmt: skip
    finally:
        bar.close()
    metrics = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *chunks)
    return SeedRun(
        state=state,
        metrics=metrics,
        final_return=np.asarray(metrics["final_return"][:, -1], np.float64),
        env_steps_per_update=s.batch_size,
        wall_s=time.perf_counter() - t0,
        compile_s=blocks.compile_s - compiled0,
    )


def curve_arrays(metrics: dict[str, Any]) -> dict[str, np.ndarray]:
    """The per-update curves every result file stores: returns, dormancy and optimizer statistics."""
    arrays = {
        "episode_return": np.asarray(metrics["episode_return"]),
        "final_return_curve": np.asarray(metrics["final_return"]),
    }
    for net, layers in metrics.get("dormancy", {}).items():
        for layer, v in layers.items():
            arrays[f"dormancy/{net}/{layer}"] = np.asarray(v)
    for net, st in metrics.get("analysis", {}).items():
        for k, v in st.items():
            arrays[f"analysis/{net}/{k}"] = np.asarray(v)
    return arrays
