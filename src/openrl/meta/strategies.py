"""Builders of the evolution strategies (evosax 0.3.2) that meta-training can use (``es=<name>``).

Each builder takes the validated strategy config and the meta-parameter template and returns an
:class:`ESAlgorithm`: the evosax algorithm and its params. The registry entries that point here live in
:mod:`openrl.config.registry` (:data:`ES_STRATEGIES`); adding a strategy is a builder here, a schema in
:mod:`openrl.config.schema`, one registry entry and one ``conf/es/<name>.yaml``.

What every builder respects:

* ask/tell minimise (openrl negates fitness before ``tell``).
* Every fitness-shaping function is wrapped by :func:`tied_is_zero`: a fully tied population (every
  member failed, or a fitness that cannot tell members apart) must not move the search distribution.
  evosax's centred ranks come out as ~1e-8 instead of 0, and its rank-weight shaping (SNES, xNES, CMA)
  casts the tied ranks' average to an integer index, giving every member the same non-zero weight, a
  step of ``sum(z)`` in a random direction.
* The learning rates and sigma schedules are optax schedules of the generation counter inside the state,
  so a restored state continues exactly and generations never recompile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from evosax.algorithms import PGPE, SNES, Open_ES, Sep_CMA_ES
from evosax.core.fitness_shaping import (
    centered_rank_fitness_shaping_fn,
    identity_fitness_shaping_fn,
    weights_fitness_shaping_fn,
)

SHAPING = {"centered_rank": centered_rank_fitness_shaping_fn, "identity": identity_fitness_shaping_fn}


@dataclass(frozen=True, eq=False)
class ESAlgorithm:
    """An evosax algorithm with its params, plus what openrl's logs read from its state."""

    algorithm: Any
    params: Any

    @staticmethod
    def sigma(state: Any) -> jax.Array:
        """The search scale: sigma, or the mean of a per-parameter sigma (PGPE, SNES)."""
        return jnp.mean(state.std)

    @staticmethod
    def lr(state: Any) -> jax.Array | None:
        """The mean's current learning rate where an optax optimizer moves it (None for CMA-ES)."""
        opt_state = getattr(state, "opt_state", None)
        hyper = getattr(opt_state, "hyperparams", None)
        return None if hyper is None else hyper["learning_rate"]


def tied_is_zero(shaping: Any) -> Any:
    """``shaping``, but exact zeros when every member has the same fitness (e.g. all of them failed).

    There is no signal then, and the mean must not move. Untied populations are shaped exactly as the
    wrapped function does.
    """

    def fn(population: Any, fitness: jax.Array, state: Any, params: Any) -> jax.Array:
        shaped = shaping(population, fitness, state, params)
        tied = jnp.all(fitness == fitness[..., :1], axis=-1, keepdims=True)
        return jnp.where(tied, jnp.zeros_like(shaped), shaped)

    return fn


def _decay(init: float, rate: float) -> optax.Schedule:
    """``init * rate**generation``. (optax reads ``end_value`` as an upper bound when ``rate >= 1``, so
    the authors' floor of 0 is only passed for a decaying rate: rate 1 would otherwise be lr 0.)"""
    if rate >= 1.0:
        return optax.constant_schedule(init)
    return optax.exponential_decay(init, transition_steps=1, decay_rate=rate, end_value=0.0)


def _adam(lr: float, lr_decay: float, b1: float) -> optax.GradientTransformation:
    return optax.inject_hyperparams(optax.adam)(learning_rate=_decay(lr, lr_decay), b1=b1)


def build_open_es(cfg: Any, solution: Any) -> ESAlgorithm:
    """OpenAI-ES with the authors' settings: Adam(b1) meta-optimizer, exponentially decaying lr and sigma."""
    algo = Open_ES(
        population_size=cfg.population_size,
        solution=solution,
        use_antithetic_sampling=cfg.antithetic,
        optimizer=_adam(cfg.lr, cfg.lr_decay, cfg.adam_b1),
        std_schedule=_decay(cfg.sigma_init, cfg.sigma_decay),
        fitness_shaping_fn=tied_is_zero(SHAPING[cfg.fitness_shaping]),
    )
    return ESAlgorithm(algo, algo.default_params)


def build_pgpe(cfg: Any, solution: Any) -> ESAlgorithm:
    """PGPE with Adam on the mean (not evosax's ClipUp default, whose steps are capped at ~0.02)."""
    algo = PGPE(
        population_size=cfg.population_size,
        solution=solution,
        optimizer=_adam(cfg.lr, cfg.lr_decay, cfg.adam_b1),
        fitness_shaping_fn=tied_is_zero(SHAPING[cfg.fitness_shaping]),
    )
    params = algo.default_params.replace(
        std_init=cfg.sigma_init, std_lr=cfg.std_lr, std_max_change=cfg.std_max_change
    )
    return ESAlgorithm(algo, params)


def build_snes(cfg: Any, solution: Any) -> ESAlgorithm:
    """SNES: rank weights (guarded against ties), SGD(lr) on the natural gradient of the mean."""
    algo = SNES(
        population_size=cfg.population_size,
        solution=solution,
        optimizer=optax.inject_hyperparams(optax.sgd)(learning_rate=_decay(cfg.lr, cfg.lr_decay)),
        fitness_shaping_fn=tied_is_zero(weights_fitness_shaping_fn),
    )
    params = algo.default_params.replace(std_init=jnp.asarray(cfg.sigma_init, jnp.float32))
    if cfg.lr_std is not None:
        params = params.replace(lr_std_init=jnp.asarray(cfg.lr_std, jnp.float32))
    return ESAlgorithm(algo, params)


def build_sep_cma_es(cfg: Any, solution: Any) -> ESAlgorithm:
    """Sep-CMA-ES with evosax's adaptation rates (set by the dimension and population)."""
    algo = Sep_CMA_ES(
        population_size=cfg.population_size,
        solution=solution,
        fitness_shaping_fn=tied_is_zero(weights_fitness_shaping_fn),
    )
    algo.elite_ratio = cfg.elite_ratio  # read by default_params (the recombination weights)
    params = algo.default_params.replace(
        std_init=jnp.asarray(cfg.sigma_init, jnp.float32), c_mean=jnp.asarray(cfg.c_mean, jnp.float32)
    )
    return ESAlgorithm(algo, params)
