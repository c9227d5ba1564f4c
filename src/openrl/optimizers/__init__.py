"""Update rules: the :class:`UpdateRule` interface, optax adapters, and (later) learned optimizers."""

from openrl.optimizers.base import UpdateContext, UpdateRule
from openrl.optimizers.factory import make_rule

__all__ = ["UpdateContext", "UpdateRule", "make_rule"]
