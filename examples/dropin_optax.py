"""Use a learned optimizer (OPEN) in your own JAX/optax training loop.

    python examples/dropin_optax.py [WEIGHTS]

WEIGHTS is a released flat ``.npy`` (the authors' ``breakout_OPEN.npy``, ``multi_OPEN.npy``, ...) or an
optimizer directory written by meta-training / ``openrl-import-weights``, e.g. the released Breakout
optimizer: ``python examples/dropin_optax.py $(openrl-weights path breakout_OPEN)``. Without WEIGHTS the
script uses that released file too (``DEFAULT``), from openrl's weights cache, downloading it on first
use (``openrl-weights download breakout_OPEN`` fetches it ahead, e.g. for an offline machine).

Fits a small MLP to a noisy linear target with OPEN and, for comparison, with Adam -- the same loop, only
the ``tx`` differs. OPEN was meta-trained for PPO, not for regression: that it fits this toy problem well
(on our CPU: loss 13.8 -> 0.005 in 1000 steps, Adam(1e-3) 0.015) demonstrates the API, not a claim about
supervised learning. Runs in ~10 s on CPU.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

import openrl
from openrl import pretrained

DEFAULT = "breakout_OPEN"  # a released optimizer (openrl-weights list)
STEPS = 1000


def data(key):
    kx, kn = jax.random.split(key)
    x = jax.random.normal(kx, (512, 4))
    y = x @ jnp.asarray([1.0, -2.0, 0.5, 3.0]) + 0.3 + 0.1 * jax.random.normal(kn, (512,))
    return x, y


def init_mlp(key, sizes=(4, 32, 32, 1)):
    keys = jax.random.split(key, len(sizes) - 1)
    return {
        f"Dense_{i}": {
            "kernel": jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a),
            "bias": jnp.zeros(b),
        }
        for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:]))
    }


def mlp(params, x):
    n = len(params)
    for i in range(n):
        x = x @ params[f"Dense_{i}"]["kernel"] + params[f"Dense_{i}"]["bias"]
        if i < n - 1:
            x = jax.nn.relu(x)
    return x[:, 0]


def fit(tx, params, x, y):
    def loss_fn(p):
        return jnp.mean(jnp.square(mlp(p, x) - y))

    def step(carry, _):
        p, opt_state = carry
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, opt_state = tx.update(grads, opt_state, p)  # learned optimizers need the params
        return (optax.apply_updates(p, updates), opt_state), loss

    @jax.jit
    def run(p):
        return jax.lax.scan(step, (p, tx.init(p)), None, STEPS)

    (params, _), losses = run(params)
    return params, losses


def main(argv: list[str]) -> int:
    try:
        weights = Path(argv[0]) if argv else pretrained.fetch(DEFAULT)
    except pretrained.PretrainedError as e:
        print(f"the released {DEFAULT} is not available: {e}")
        return 1
    if not weights.exists():
        print(f"weights not found: {weights}\nusage: python examples/dropin_optax.py WEIGHTS(.npy or dir)")
        return 1
    x, y = data(jax.random.PRNGKey(0))
    params = init_mlp(jax.random.PRNGKey(1))

    # total_steps sets OPEN's training-proportion input (step / (total_steps - 1)); without it: 0.5.
    # noise=None (default): no learned parameter noise -- that is for RL policies, not regression.
    candidates = {
        f"OPEN ({weights.name})": openrl.learned_optimizer(str(weights), total_steps=STEPS),
        "Adam (lr 1e-3)": optax.adam(1e-3),
    }
    for name, tx in candidates.items():
        t0 = time.perf_counter()
        _, losses = fit(tx, params, x, y)
        shown = ", ".join(f"{int(i)}: {float(losses[i]):.3f}" for i in (0, 100, 250, 500, STEPS - 1))
        print(f"{name:28s} loss by step  {shown}   ({time.perf_counter() - t0:.1f}s incl. compile)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
