"""Update rules: the :class:`UpdateRule` interface, optax adapters, the OPEN learned optimizer, the
Optim4RL baseline, and the drop-in optax API (:func:`learned_optimizer`)."""

from openrl.optimizers.base import UpdateContext, UpdateRule
from openrl.optimizers.dropin import dormancy_from_activations, infer_layer_props, learned_optimizer
from openrl.optimizers.factory import learned_architectures, make_rule
from openrl.optimizers.open import OpenRule, no_features
from openrl.optimizers.optim4rl import Optim4RLRule

__all__ = [
    "OpenRule",
    "Optim4RLRule",
    "UpdateContext",
    "UpdateRule",
    "dormancy_from_activations",
    "infer_layer_props",
    "learned_architectures",
    "learned_optimizer",
    "make_rule",
    "no_features",
]
