"""Shared helpers for benchmark scripts: build a trainer from the real config, time things, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import jax

from openrl.config import load_config, meta_job, resolve_optimizer
from openrl.envs import make_env
from openrl.optimizers import make_rule
from openrl.ppo.train import PPOHParams, PPOStatic, PPOTrainer

# Published results: the files README.md and docs/ cite. A benchmark writes here only with --publish;
# by default it writes under outputs/ (git-ignored), so running one never changes what the docs cite.
RESULTS = Path(__file__).resolve().parent / "results"
OUTPUTS = Path(__file__).resolve().parents[1] / "outputs" / "benchmarks"


def build(overrides: list[str]):
    """(trainer, rule_params, hparams, cfg) for a config composed exactly as `openrl-train` does."""
    from openrl.builders import build_trainer

    _, cfg = load_config(["experiment=ppo", *overrides])
    trainer, rule_params, hp = build_trainer(cfg)
    return trainer, rule_params, hp, cfg


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "loadavg_start": os.getloadavg(),
    }


def add_publish_flag(ap: argparse.ArgumentParser) -> None:
    """``--publish``: write to ``benchmarks/results/`` (what the docs cite) instead of ``outputs/benchmarks/``."""
    ap.add_argument(
        "--publish",
        action="store_true",
        help="write the JSON to benchmarks/results/ (cited by the docs) instead of outputs/benchmarks/",
    )


def out_dir(publish: bool) -> Path:
    """Where a benchmark's JSON goes: ``benchmarks/results/`` when publishing, else ``outputs/benchmarks/``."""
    return RESULTS if publish else OUTPUTS


def write(name: str, payload: dict[str, Any], publish: bool = False) -> Path:
    """Writes ``<name>.json`` atomically to :func:`out_dir` (``publish``: the tracked results)."""
    folder = out_dir(publish)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    tmp.replace(path)
    return path


def time_generations(overrides: list[str], gens: int) -> dict[str, Any]:
    """Compiles the real ES generation program of a composed config and times ``gens`` generations after
    the first (which compiles). Returns first-generation wall time, per-generation wall and CPU seconds,
    the MetaTrainer, the config and the last generation's metrics."""
    from openrl.jobs.meta import build_meta

    _, cfg = load_config(overrides)
    meta = build_meta(meta_job(cfg, overrides))
    gen = jax.jit(meta.generation)
    state = meta.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    with Timer() as first:
        state, m = gen(state, jax.random.fold_in(key, 0))
        jax.block_until_ready(m["fitness"])
    times, cpus = [], []
    for g in range(1, gens + 1):
        with Timer() as t:
            state, m = gen(state, jax.random.fold_in(key, g))
            jax.block_until_ready(m["fitness"])
        times.append(t.wall)
        cpus.append(t.cpu)
    return {"first_s": first.wall, "times": times, "cpus": cpus, "meta": meta, "cfg": cfg, "metrics": m}


def ppo_updates(trainer: PPOTrainer, num_updates: int):
    """``fn(key, rule_params, hparams)``: ``num_updates`` whole PPO updates from a fresh init, for timing.

    Returns the final return *and the final parameters*: with the return alone, the last update's
    epochs of minibatch steps feed nothing and XLA removes them, so a timed program would do
    ``num_updates`` rollouts but one optimisation phase fewer (benchmarks before 2026-11-26 did; their
    ratios to Adam were understated by about ``1 / num_updates``).
    """

    def fn(key, rule_params, hparams):
        state, metrics = trainer.run(trainer.init(key), rule_params, hparams, num_updates)
        return metrics["final_return"], state.params

    return fn


def print_programs(results: dict[str, Any], names, ratio_key: str = "slowdown_vs_adam") -> None:
    """One line per timed program: env-steps/s, CPU-seconds per 1e6 steps, compile time, ratio to Adam."""
    width = max(len(n) for n in names)
    for name in names:
        r = results[name]
        print(
            f"{name:>{width}}: {r['env_steps_per_s']:>10,.0f} env-steps/s  {r['cpu_s_per_1e6_steps']:6.1f} CPU-s/1e6  "
            f"compile {r['compile_s']:.1f}s"
            + (f"  {r[ratio_key]:.2f}x Adam's time" if ratio_key in r else "")
        )


def random_action_rollout(env, num_steps: int):
    """``fn(key) -> scalar``: ``num_steps`` batched env steps with uniform random discrete actions.

    The raw env-step rate of this function is the ceiling any PPO loop on the same env can reach.
    """

    def fn(key):
        _, st = env.reset(key)

        def body(carry, _):
            st, key = carry
            key, ka, ks = jax.random.split(key, 3)
            a = jax.random.randint(ka, (env.num_envs,), 0, env.action_dim)
            _, st, out = env.step(ks, st, a)
            return (st, key), out.reward.sum()

        return jax.lax.scan(body, (st, key), None, num_steps)[1].sum()

    return fn


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = cpu_seconds() - self.cpu


__all__ = [
    "PPOHParams",
    "PPOStatic",
    "PPOTrainer",
    "OUTPUTS",
    "RESULTS",
    "add_publish_flag",
    "out_dir",
    "Timer",
    "time_generations",
    "build",
    "cpu_seconds",
    "machine",
    "random_action_rollout",
    "make_env",
    "make_rule",
    "resolve_optimizer",
    "write",
]
