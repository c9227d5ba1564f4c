"""The one interface between the PPO loop and any optimizer: :class:`UpdateRule`.

The PPO loop calls ``rule.update`` once per minibatch with everything a learned optimizer may condition
on (:class:`UpdateContext`). Handcrafted optax optimizers ignore most of it; OPEN uses all of it. The
loop never asks which rule it has.

``rule_params`` is a pytree of *traced* values: for a learned optimizer the meta-parameters an evolution
strategy perturbs; for Adam its learning rate and betas. Because they are traced, sweeping a learning
rate or evaluating a new ES generation never recompiles, and both can be ``vmap``-ped.

Optional extension (paper App. F analysis): a rule with a truthy static attribute ``analysis`` must also
provide ``update_with_analysis(rule_params, state, grads, params, ctx) -> (new_params, new_state,
stats)``, ``stats`` a pytree of scalars; the PPO loop then calls it instead of ``update`` and reports
``stats`` as ``metrics["analysis"]``. Rules without the attribute (every optax rule) are unaffected.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax

Params = dict[str, Any]  # {"actor": actor_params, "critic": critic_params}


class UpdateContext(NamedTuple):
    """What the PPO loop knows at one minibatch step.

    Attributes:
        training_prop: update index / (num_updates - 1), in [0, 1] (the authors' definition).
        batch_prop: epoch index / (epochs - 1), in [0, 1] (the authors call it batch proportion).
        anneal_frac: 1 - update index / num_updates, PureJaxRL's linear learning-rate annealing factor.
        layer_props: per parameter leaf, the layer proportion h/H (same tree as the params).
        activations: per network, per layer name, the mean |activation| of each neuron over the minibatch.
        key: a fresh PRNG key for stochastic rules.
    """

    training_prop: jax.Array
    batch_prop: jax.Array
    anneal_frac: jax.Array
    layer_props: Params
    activations: Params
    key: jax.Array


class UpdateRule(Protocol):
    """A (possibly learned) optimizer the PPO loop can call."""

    def default_params(self) -> Any:
        """The rule's parameters from config (hyperparameters, or loaded meta-parameters)."""
        ...

    def init(self, params: Params) -> Any:
        """Per-run optimizer state (momenta, GRU carries, optax state). Depends only on shapes."""
        ...

    def update(
        self, rule_params: Any, state: Any, grads: Params, params: Params, ctx: UpdateContext
    ) -> tuple[Params, Any]:
        """Returns the new parameters and the new optimizer state."""
        ...
