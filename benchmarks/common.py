"""Shared helpers for benchmark scripts: build a trainer from the real config, time things, write JSON."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import jax

from openrl.config import load_config, resolve_optimizer
from openrl.envs import make_env
from openrl.optimizers import make_rule
from openrl.ppo.train import PPOHParams, PPOStatic, PPOTrainer

RESULTS = Path(__file__).resolve().parent / "results"


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


def write(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    tmp.replace(path)
    return path


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
    "RESULTS",
    "Timer",
    "build",
    "cpu_seconds",
    "machine",
    "random_action_rollout",
    "make_env",
    "make_rule",
    "resolve_optimizer",
    "write",
]
