"""Update rules: the :class:`UpdateRule` interface, optax adapters, and the OPEN learned optimizer."""

from openrl.optimizers.base import UpdateContext, UpdateRule
from openrl.optimizers.factory import make_rule
from openrl.optimizers.open import OpenRule, no_features

__all__ = ["OpenRule", "UpdateContext", "UpdateRule", "make_rule", "no_features"]
