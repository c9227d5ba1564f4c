"""Per-update statistics of a learned optimizer (paper App. F, Figs. 10-14).

Opt-in (``OpenRule(analysis=True)`` / ``optimizer.analysis=true``): the PPO loop then calls
``rule.update_with_analysis`` instead of ``rule.update`` and records, per PPO update, the mean over that
update's minibatch steps of

* ``cos_g``: cosine similarity between the applied update ``u`` (``p_new = p - u``, after noise and
  zero-mean) and the (clipped) gradient ``g`` (Fig. 11, first row);
* ``cos_m<beta>``: the same with each momentum ``m_beta``, beta in [0.1, 0.5, 0.9, 0.99, 0.999, 0.9999],
  the momenta already updated with the current gradient, i.e. the ones the optimizer conditioned on
  (Fig. 11, the other rows);
* ``update_over_param``: ``E_i |u_hat_i / p_i|`` with ``u_hat = a1 o0 exp(a2 o1)`` the non-stochastic
  update before zero-meaning (Fig. 12);
* ``noise_over_param`` (actor only, stochastic rules only): ``E_i |a3 delta_i / p_i|`` with ``delta = o2``
  the learned noise scale, not the sampled noise (Figs. 13, 14).

Each is reported per network (``actor``, ``critic``) and, except the actor-only noise, for ``all``
(actor and critic concatenated). The tau=0 dormancy of every layer (Fig. 10) is a PPO metric anyway.

Decisions (the paper gives formulas, not the edge cases):

* the cosine is over the whole flattened network (not per tensor and then averaged); a zero vector
  gives cosine 0 (e.g. the all-zero meta-parameters), and the value is clipped to [-1, 1] against
  rounding;
* ``|x / p|`` averages over the elements with ``p != 0`` only (biases start exactly at 0, which would
  make the mean infinite); with no non-zero element it is NaN. The ratio is heavy-tailed by
  construction (small |p|); plot it on a log axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cosine(a: jax.Array, b: jax.Array) -> jax.Array:
    """Cosine similarity of two flat vectors; 0 when either is all zeros; clipped to [-1, 1]."""
    a = jnp.ravel(a).astype(jnp.float32)
    b = jnp.ravel(b).astype(jnp.float32)
    dot = jnp.sum(a * b)
    norm = jnp.sqrt(jnp.sum(a * a)) * jnp.sqrt(jnp.sum(b * b))
    return jnp.where(norm > 0, jnp.clip(dot / jnp.where(norm > 0, norm, 1.0), -1.0, 1.0), 0.0)


def mean_abs_ratio(x: jax.Array, p: jax.Array) -> jax.Array:
    """``mean |x_i / p_i|`` over the elements with ``p_i != 0`` (NaN if there are none)."""
    x = jnp.ravel(x).astype(jnp.float32)
    p = jnp.ravel(p).astype(jnp.float32)
    nz = p != 0
    ratio = jnp.where(nz, jnp.abs(x) / jnp.where(nz, jnp.abs(p), 1.0), 0.0)
    count = jnp.sum(nz)
    return jnp.where(count > 0, jnp.sum(ratio) / jnp.maximum(count, 1), jnp.nan)


def update_stats(
    u: jax.Array,
    g: jax.Array,
    momenta: jax.Array | None = None,
    decays: tuple[float, ...] = (),
    p: jax.Array | None = None,
    u_hat: jax.Array | None = None,
    noise_scale: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """The statistics of one flat update ``u`` (see the module docstring for the names).

    Args:
        u: the applied update (``p_new = p - u``), flat.
        g: the gradient the rule saw, flat.
        momenta: ``(len(decays), n)`` momenta (optional).
        p: parameter values before the update (needed for the ratios).
        u_hat: the non-stochastic update before zero-meaning (optional).
        noise_scale: ``a3 * delta`` per element (optional; actor only).
    """
    out = {"cos_g": cosine(u, g)}
    if momenta is not None:
        for i, d in enumerate(decays):
            out[f"cos_m{d:g}"] = cosine(u, momenta[i])
    if p is not None and u_hat is not None:
        out["update_over_param"] = mean_abs_ratio(u_hat, p)
    if p is not None and noise_scale is not None:
        out["noise_over_param"] = mean_abs_ratio(noise_scale, p)
    return out


__all__ = ["cosine", "mean_abs_ratio", "update_stats"]
