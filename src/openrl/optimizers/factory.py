"""``make_rule(optimizer_cfg)``: builds an :class:`UpdateRule` from its (resolved) config."""

from __future__ import annotations

from openrl.optimizers.base import UpdateRule
from openrl.optimizers.handcrafted import OptaxRule, hyper_names
from openrl.optimizers.open import OpenRule, no_features
from openrl.optimizers.optim4rl import Optim4RLRule

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
        "analysis": bool(getattr(cfg, "analysis", False)),
        "batching": str(getattr(cfg, "batching", "auto")),
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
    if cfg.name == "optim4rl":
        if cfg.lr is None:
            raise ValueError("optimizer.lr: optim4rl needs a learning rate (tuned value or explicit)")
        return Optim4RLRule(
            lr=float(cfg.lr),
            gru_features=int(cfg.gru_features),
            hidden=int(cfg.hidden),
            weights=None if cfg.weights is None else str(cfg.weights),
            batching=str(cfg.batching),
        )
    raise ValueError(f"optimizer.name={cfg.name!r} has no update rule")


def learned_architectures() -> dict[str, OpenRule | Optim4RLRule]:
    """Learned-optimizer architectures whose flat weights openrl loads, keyed by their ``conf/optimizer``
    preset (``optimizer=<name>``). Optim4RL's learning rate is not part of its weights (placeholder 1.0)."""
    return {
        "open": OpenRule(),
        "open_large": OpenRule(gru_features=16, hidden=32),
        "no_features": no_features(),
        "optim4rl": Optim4RLRule(lr=1.0),
        "optim4rl_large": Optim4RLRule(lr=1.0, gru_features=16, hidden=32),
    }
