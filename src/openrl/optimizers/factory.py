"""``make_rule(optimizer_cfg)``: builds an :class:`UpdateRule` from its (resolved) config."""

from __future__ import annotations

from openrl.optimizers.base import UpdateRule
from openrl.optimizers.handcrafted import OptaxRule, hyper_names
from openrl.optimizers.open import OpenRule, no_features

_OPEN_SWITCHES = (
    "use_training_prop",
    "use_batch_prop",
    "use_dormancy",
    "use_layer_prop",
    "use_stochasticity",
)


def _learned_common(cfg) -> dict:
    return {
        "gru_features": int(cfg.gru_features),
        "hidden": int(cfg.hidden),
        "alpha1": float(cfg.alpha1),
        "alpha2": float(cfg.alpha2),
        "weights": None if cfg.weights is None else str(cfg.weights),
        "separated": bool(cfg.separated),
    }


def make_rule(cfg) -> UpdateRule:
    """``cfg`` is a resolved optimizer config (see :func:`openrl.config.resolve_optimizer`)."""
    if cfg.name in ("adam", "rmsprop", "lion"):
        hypers = tuple((k, float(getattr(cfg, k))) for k in hyper_names(cfg.name))
        return OptaxRule(
            cfg.name, hypers, anneal_lr=bool(cfg.anneal_lr), eps=float(getattr(cfg, "eps", 1e-8))
        )
    if cfg.name == "open":
        switches = {k: bool(getattr(cfg, k)) for k in _OPEN_SWITCHES}
        return OpenRule(**_learned_common(cfg), alpha3=float(cfg.alpha3), **switches, name="open")
    if cfg.name == "no_features":
        return no_features(**_learned_common(cfg))
    raise ValueError(f"optimizer.name={cfg.name!r} has no update rule")
