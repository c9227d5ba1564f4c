"""Handcrafted optimizers (Adam, RMSprop, Lion) from optax behind the :class:`UpdateRule` interface.

Each is a registry entry (:mod:`openrl.config.registry`) whose ``build`` is a *direction* function here:
``direction(hp, eps)`` returns the optax transform without the learning rate. :class:`OptaxRule` looks it
up by name, so a new handcrafted optimizer needs no change in this module.

Hyperparameters (learning rate, betas/decay) are traced ``rule_params`` rather than Python constants,
so a tuning grid (paper Tables 4-6) can be ``vmap``-ped in one compiled program. The optax transform is
rebuilt inside the traced function each call; its state layout depends only on the parameter shapes.

Learning-rate annealing follows PureJaxRL: ``lr * (1 - update / num_updates)``, constant within an
update's epochs and minibatches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

from openrl.config.registry import OPTIMIZERS
from openrl.optimizers.base import Params, UpdateContext


def adam_direction(hp: Mapping[str, jax.Array], eps: float) -> optax.GradientTransformation:
    """Adam's direction (``lr`` is applied afterwards, so it can be annealed)."""
    return optax.scale_by_adam(b1=hp["b1"], b2=hp["b2"], eps=eps)


def rmsprop_direction(hp: Mapping[str, jax.Array], eps: float) -> optax.GradientTransformation:
    """RMSprop's direction (``lr`` is applied afterwards)."""
    return optax.scale_by_rms(decay=hp["decay"], eps=eps)


def lion_direction(hp: Mapping[str, jax.Array], eps: float) -> optax.GradientTransformation:
    """Lion's direction plus decoupled weight decay (``lr`` is applied afterwards).

    optax.lion adds decoupled weight decay (default 1e-3) after the sign update; the paper uses optax's
    implementation, so the decay is part of the faithful rule (config: weight_decay).
    """
    return optax.chain(
        optax.scale_by_lion(b1=hp["b1"], b2=hp["b2"]), optax.add_decayed_weights(hp["weight_decay"])
    )


def _build(
    name: str, hp: Mapping[str, jax.Array], eps: float, options: Mapping[str, Any]
) -> optax.GradientTransformation:
    """The registered direction of optimizer ``name`` (the entry's ``build``), without the learning rate;
    ``options`` are its static schema fields (``OptimizerEntry.options``) as keyword arguments."""
    entry = OPTIMIZERS.get(name)
    if entry is None or entry.kind != "handcrafted":
        known = ", ".join(e.name for e in OPTIMIZERS if e.kind == "handcrafted")
        raise ValueError(f"unknown handcrafted optimizer {name!r} (registered: {known})")
    return entry.builder()(hp, eps, **options)


@dataclass(frozen=True)
class OptaxRule:
    """A registered handcrafted optimizer (Adam, RMSprop, Lion, ...) with traced hyperparameters and
    optional linear LR annealing."""

    name: str
    hypers: tuple[tuple[str, float], ...]  # e.g. (("lr", 0.01), ("b1", 0.9), ("b2", 0.99))
    anneal_lr: bool = False
    eps: float = 1e-8
    # static settings (schema fields neither traced nor eps), e.g. (("eps_root", 0.0), ("nesterov", True))
    options: tuple[tuple[str, Any], ...] = ()

    def default_params(self) -> dict[str, jax.Array]:
        return {k: jnp.asarray(v, jnp.float32) for k, v in self.hypers}

    def _tx(self, hp: dict[str, Any]) -> optax.GradientTransformation:
        return _build(self.name, hp, self.eps, dict(self.options))

    def init(self, params: Params) -> Any:
        # State shapes do not depend on hyperparameter values; use the defaults to build it.
        return self._tx(self.default_params()).init(params)

    def update(
        self, rule_params: dict[str, jax.Array], state: Any, grads: Params, params: Params, ctx: UpdateContext
    ) -> tuple[Params, Any]:
        direction, state = self._tx(rule_params).update(grads, state, params)
        lr = rule_params["lr"] * (ctx.anneal_frac if self.anneal_lr else 1.0)
        new_params = jax.tree.map(lambda p, d: p - lr * d, params, direction)
        return new_params, state


def hyper_names(name: str) -> tuple[str, ...]:
    """The traced hyperparameters of handcrafted optimizer ``name`` (its registry entry's ``rule_params``)."""
    return OPTIMIZERS[name].rule_params
