"""Hand-made tiny agents and tiny meta-training overrides shared by several test modules.

The tiny actor-critic is small enough to check OPEN's features and analysis by hand: actor
3 -> 4 -> 2 (continuous, with ``log_std``) and critic 3 -> 4 -> 1, gradients ~1e-2, and per-layer mean
activations with one dead actor unit (``Dense_0`` unit 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# One tiny real meta-training program: Breakout PPO + OPEN, population 4, a few hundred env steps.
TINY_META = [
    "experiment=single_breakout",
    "es.population_size=4",
    "es.sigma_init=1.0",  # large perturbations + a large step multiplier: members' returns differ
    "optimizer.alpha1=1.0",
    "ppo.num_envs=8",
    "ppo.num_steps=16",
    "ppo.total_timesteps=384",
    "ppo.num_minibatches=2",
    "ppo.update_epochs=1",
    "ppo.width=8",
]

# The resume tests' complete meta-training run: TINY_META for 6 generations, validating every 2 on one seed,
# one held-out seed at the end (tests/test_meta_resume.py, benchmarks/kill_resume.py).
TINY_META_GENERATIONS = 6
TINY_META_RUN = [
    *TINY_META,
    f"es.num_generations={TINY_META_GENERATIONS}",
    "meta.eval_every=2",
    "meta.validation_seeds=1",
    "meta.final_eval_seeds=1",
    "logger=disabled",
    "progress=false",
]

# The smallest PPO that still runs every code path: 2 updates of 4 envs x 8 steps, one epoch, width 8.
TINY_PPO = [
    "ppo.num_envs=4",
    "ppo.num_steps=8",
    "ppo.total_timesteps=64",
    "ppo.num_minibatches=2",
    "ppo.update_epochs=1",
    "ppo.width=8",
]

ACTIVATIONS = {
    "actor": {"Dense_0": [0.5, 0.0, 1.5, 2.0], "Dense_1": [0.3, 0.7], "log_std": [1.1]},  # unit 1 dead
    "critic": {"Dense_0": [1.0, 2.0, 0.25, 0.75], "Dense_1": [3.0]},
}


def tiny_actor_critic(
    zero_actor_bias: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], np.random.Generator, Callable[..., jax.Array]]:
    """``(params, grads, activations, rng, arr)`` of the tiny actor-critic (seeded: always the same).

    ``zero_actor_bias`` gives the actor's first layer zero biases, as at initialisation (|u/p| checks
    must skip them). ``rng`` and ``arr`` let a test draw further arrays from the same stream.
    """
    rng = np.random.default_rng(0)

    def arr(*shape, scale=1.0):
        return jnp.asarray(rng.normal(size=shape) * scale, jnp.float32)

    actor_kernel0 = arr(3, 4)  # drawn before its bias, as in the dict's evaluation order
    actor_bias0 = jnp.zeros(4, jnp.float32) if zero_actor_bias else arr(4, scale=0.1)
    params = {
        "actor": {
            "Dense_0": {"kernel": actor_kernel0, "bias": actor_bias0},
            "Dense_1": {"kernel": arr(4, 2), "bias": arr(2, scale=0.1)},
            "log_std": arr(2, scale=0.1),
        },
        "critic": {
            "Dense_0": {"kernel": arr(3, 4), "bias": arr(4, scale=0.1)},
            "Dense_1": {"kernel": arr(4, 1), "bias": arr(1, scale=0.1)},
        },
    }
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape) * 1e-2, jnp.float32), params)
    acts = jax.tree.map(
        lambda v: jnp.asarray(v, jnp.float32), ACTIVATIONS, is_leaf=lambda x: isinstance(x, list)
    )
    return params, grads, acts, rng, arr
