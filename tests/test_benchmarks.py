"""The speed-floor benchmark (benchmarks/open_floor.py) measures what it says it measures.

Its programs are PPO + Adam with part of OPEN's meta-network work added to each optimizer step. Two
ways it could silently lie: the added work is dead code that XLA removes (then the floor is just Adam),
or the added work changes training (then it is no longer Adam's run). Both are checked here on a tiny
Breakout run.
"""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest
from benchmarks.open_floor import LEVELS, FloorRule

from openrl.builders import build_trainer
from openrl.config import load_config
from openrl.ppo.train import PPOTrainer
from tiny import TINY_PPO


@pytest.fixture(scope="module")
def adam():
    _, cfg = load_config(["experiment=ppo", "env=breakout", *TINY_PPO])
    return build_trainer(cfg)


def _dots(trainer, rule_params, hp) -> int:
    hlo = jax.jit(trainer.train).lower(jax.random.PRNGKey(0), rule_params, hp).compile().as_text()
    return len(re.findall(r"\bdot\(", hlo))


@pytest.mark.parametrize("level", LEVELS)
def test_floor_adds_the_five_matmuls_and_trains_exactly_like_adam(adam, level):
    trainer, rule_params, hp = adam
    rule = FloorRule(trainer.rule, level)
    floor = PPOTrainer(trainer.static, trainer.env, rule)
    key = jax.random.PRNGKey(3)
    want, _ = jax.jit(trainer.train)(key, rule_params, hp)
    got, _ = jax.jit(floor.train)(key, rule.default_params(), hp)
    # equal up to float32 rounding (XLA fuses Adam's step differently in a different program)
    for a, b in zip(jax.tree.leaves(want.params), jax.tree.leaves(got.params)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-7)
    assert got.opt_state["carry"].shape == (8, sum(np.size(x) for x in jax.tree.leaves(want.params)))
    assert np.isfinite(np.asarray(got.opt_state["carry"])).all()
    # the GRU carry is a real, nonzero state (not optimised away)
    assert np.abs(np.asarray(got.opt_state["carry"])).max() > 0
    # OPEN's five meta-network matmuls survive compilation (not dead code): one minibatch-step body
    assert _dots(floor, rule.default_params(), hp) >= _dots(trainer, rule_params, hp) + 5
