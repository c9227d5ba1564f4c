"""Fitness conventions, in one place.

openrl *maximises* returns; evosax *minimises*. :func:`to_minimise` is the only place the sign flips,
and it is where non-finite fitness is made the worst value (so a diverged member is ranked last, counted
and logged, and the run continues).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def normalise(raw: jax.Array, normalisers: jax.Array) -> jax.Array:
    """Per-task normalisation by Adam's return (authors' PPO_TEMP). ``raw``: (..., tasks)."""
    return raw / normalisers


def aggregate(normalised: jax.Array) -> jax.Array:
    """Multi-task fitness: the mean normalised return over tasks (the authors' choice)."""
    return jnp.mean(normalised, axis=-1)


def to_minimise(fitness: jax.Array, finite: bool = False) -> tuple[jax.Array, jax.Array]:
    """Returns ``(-fitness with non-finite values made the worst, number of non-finite members)``.

    Non-finite members (NaN, +inf and -inf alike) become ``+inf``, which a rank-based shaping puts last.
    With ``finite=True`` (for shapings that use the values themselves, e.g. identity, where one ``inf``
    would turn the ES mean into NaN) they get the worst finite value of the population instead, or 0 if
    no member is finite (the ES mean then does not move).
    """
    bad = ~jnp.isfinite(fitness)
    minimised = jnp.where(bad, jnp.inf, -fitness)
    if finite:
        worst = jnp.max(jnp.where(bad, -jnp.inf, minimised))
        minimised = jnp.where(bad, jnp.where(jnp.all(bad), 0.0, worst), minimised)
    return minimised, jnp.sum(bad)


def antithetic_pair_fitness(fitness: jax.Array) -> jax.Array:
    """Sign-of-difference fitness for antithetic pairs ``(i, i + N/2)`` (gridworld task sampling).

    Within each pair the better member gets +1 and the worse 0 (ties: both 0.5), in *maximisation*
    convention -- feed the result through :func:`to_minimise` like any other fitness. The authors' current
    code flips this sign (open-reference.md §7); here the ES moves toward the better member. A non-finite
    member loses to a finite one (two non-finite members tie).
    """
    half = fitness.shape[0] // 2
    fitness = jnp.where(jnp.isfinite(fitness), fitness, -jnp.inf)
    a, b = fitness[:half], fitness[half:]
    win_a = jnp.where(a > b, 1.0, jnp.where(a < b, 0.0, 0.5))
    return jnp.concatenate([win_a, 1.0 - win_a])
