"""Shared fixtures.

JAX compilation dominates the suite's runtime on small CPUs, so every trained probe agent is built once
per session (``probe_run``) and reused by the convergence tests and the metric-semantics tests.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import pytest

from openrl.envs.probe import ProbeVecEnv
from openrl.optimizers.handcrafted import OptaxRule
from openrl.ppo.train import PPOHParams, PPOStatic, PPOTrainer

# Probe training settings: small, but converge to |V - V*| < 1e-3 within PROBE_UPDATES updates.
PROBE_NUM_ENVS = 64
PROBE_NUM_STEPS = 8
PROBE_UPDATES = 30
PROBE_GAMMA = 0.5  # far from 1, so a missing (1 - done) or a GAE indexing error moves V by a lot
PROBE_LR = 3e-3


class ProbeRun(NamedTuple):
    trainer: PPOTrainer
    state: Any  # final RunnerState
    metrics: dict  # per-update metrics, leading axis PROBE_UPDATES
    gamma: float  # discount used for training


def _train_probe(kind: str) -> ProbeRun:
    static = PPOStatic(
        num_envs=PROBE_NUM_ENVS,
        num_steps=PROBE_NUM_STEPS,
        num_updates=PROBE_UPDATES,
        num_minibatches=4,
        update_epochs=4,
        widths=(32, 32),
        activation="tanh",
    )
    rule = OptaxRule("adam", (("lr", PROBE_LR), ("b1", 0.9), ("b2", 0.999)))
    trainer = PPOTrainer(static, ProbeVecEnv(kind, PROBE_NUM_ENVS), rule)
    state, metrics = jax.jit(trainer.train)(
        jax.random.PRNGKey(0), rule.default_params(), PPOHParams(gamma=PROBE_GAMMA)
    )
    state, metrics = jax.device_get((state, metrics))
    return ProbeRun(trainer, state, metrics, PROBE_GAMMA)


@pytest.fixture(scope="session")
def probe_run():
    """``probe_run(kind)`` -> :class:`ProbeRun`; each probe kind is compiled and trained once per session."""
    cache: dict[str, ProbeRun] = {}

    def get(kind: str) -> ProbeRun:
        if kind not in cache:
            cache[kind] = _train_probe(kind)
        return cache[kind]

    return get
