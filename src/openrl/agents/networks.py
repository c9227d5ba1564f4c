"""Actor and critic MLPs that also return per-layer activation statistics.

The learned optimizer's dormancy feature and the tau=0 dormancy metric need, for every Dense layer, the
mean absolute activation of each output neuron over the minibatch (post-activation for hidden layers,
raw output for the last layer), exactly as the authors' networks return them. Layers are named
``Dense_0 .. Dense_{H}`` so that parameter trees and activation trees line up by name.

Distribution maths (categorical and diagonal Gaussian log-prob/entropy) is written out here: it is a
few lines and avoids depending on distrax (which pulls TensorFlow Probability).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.initializers import constant, orthogonal

ACTIVATIONS = {"relu": nn.relu, "tanh": nn.tanh}
DORMANT_SCORE = 1e-7  # the authors' threshold on the normalised activation score ("tau = 0" dormancy)


def dormancy_score(acts: jax.Array, eps: float = 1e-11) -> jax.Array:
    """ReDo normalised activation score ``(a + eps) / sum|a + eps| * N`` over a layer's N neurons.

    Defined here, beside the activation statistics it reads, because two consumers must agree on it:
    OPEN's dormancy input (:mod:`openrl.optimizers.open`, the optax drop-in) and the PPO dormancy metric
    (:func:`dormancy_fraction`).
    """
    a = acts + eps
    return a / jnp.sum(jnp.abs(a), axis=-1, keepdims=True) * a.shape[-1]


def dormancy_fraction(acts: jax.Array, eps: float = 1e-11) -> jax.Array:
    """Fraction of a layer's neurons whose :func:`dormancy_score` is ~0 (the authors' tau=0 dormancy)."""
    return jnp.mean(dormancy_score(acts, eps) < DORMANT_SCORE)


def _mlp(x: jax.Array, widths: Sequence[int], out_dim: int, out_scale: float, activation: str):
    act = ACTIVATIONS[activation]
    acts: dict[str, jax.Array] = {}
    h = x
    for i, w in enumerate(widths):
        h = act(
            nn.Dense(w, kernel_init=orthogonal(math.sqrt(2)), bias_init=constant(0.0), name=f"Dense_{i}")(h)
        )
        acts[f"Dense_{i}"] = jnp.abs(h).reshape(-1, w).mean(0)
    out = nn.Dense(
        out_dim, kernel_init=orthogonal(out_scale), bias_init=constant(0.0), name=f"Dense_{len(widths)}"
    )(h)
    acts[f"Dense_{len(widths)}"] = jnp.abs(out).reshape(-1, out_dim).mean(0)
    return out, acts


class Actor(nn.Module):
    """Policy network. Discrete: logits. Continuous: Gaussian mean plus a state-independent log-std."""

    action_dim: int
    widths: Sequence[int] = (64, 64)
    activation: str = "relu"
    discrete: bool = True

    @nn.compact
    def __call__(self, x: jax.Array):
        out, acts = _mlp(x, self.widths, self.action_dim, 0.01, self.activation)
        if self.discrete:
            return out, acts
        log_std = self.param("log_std", constant(0.0), (self.action_dim,))
        # The authors feed mean(exp(log_std)) as the "activation" of log_std (dormancy ~ 1).
        acts["log_std"] = jnp.expand_dims(jnp.mean(jnp.exp(log_std)), 0)
        return (out, log_std), acts


class Critic(nn.Module):
    widths: Sequence[int] = (64, 64)
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array):
        out, acts = _mlp(x, self.widths, 1, 1.0, self.activation)
        return jnp.squeeze(out, -1), acts


# -- distributions ----------------------------------------------------------------------------------
def categorical_log_prob(logits: jax.Array, action: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(logits)
    return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def categorical_entropy(logits: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


_LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, axis=-1)


def gaussian_entropy(mean: jax.Array, log_std: jax.Array) -> jax.Array:
    ent = jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI))
    return jnp.broadcast_to(ent, mean.shape[:-1])
