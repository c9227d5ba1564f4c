"""``make_rule(optimizer_cfg, env_name)``: builds an :class:`UpdateRule` from its (resolved) config."""

from __future__ import annotations

from openrl.optimizers.base import UpdateRule
from openrl.optimizers.handcrafted import OptaxRule, hyper_names


def make_rule(cfg) -> UpdateRule:
    """``cfg`` is a resolved optimizer config (see :func:`openrl.config.resolve_optimizer`)."""
    if cfg.name in ("adam", "rmsprop", "lion"):
        hypers = tuple((k, float(getattr(cfg, k))) for k in hyper_names(cfg.name))
        return OptaxRule(cfg.name, hypers, anneal_lr=bool(cfg.anneal_lr), eps=float(getattr(cfg, "eps", 1e-8)))
    raise ValueError(f"optimizer.name={cfg.name!r} has no update rule")
