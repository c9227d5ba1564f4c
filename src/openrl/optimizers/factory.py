"""``make_rule(optimizer_cfg)``: builds an :class:`UpdateRule` from its (resolved) config.

Dispatch goes through the optimizer registry (:mod:`openrl.config.registry`): a handcrafted entry
becomes an :class:`OptaxRule` over its traced hyperparameters, a learned entry's ``build`` makes its rule.
The builders of openrl's learned optimizers are below.
"""

from __future__ import annotations

from typing import Any

from openrl.config.registry import OPTIMIZERS
from openrl.optimizers.base import UpdateRule
from openrl.optimizers.handcrafted import OptaxRule
from openrl.optimizers.open import OpenRule, no_features
from openrl.optimizers.optim4rl import Optim4RLRule

_OPEN_SWITCHES = (
    "use_training_prop",
    "use_batch_prop",
    "use_dormancy",
    "use_layer_prop",
    "use_stochasticity",
)


def _learned_common(cfg: Any) -> dict[str, Any]:
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


def build_open(cfg: Any) -> OpenRule:
    """OPEN from a resolved ``optimizer=open`` config (registry entry ``open``)."""
    switches = {k: bool(getattr(cfg, k)) for k in _OPEN_SWITCHES}
    return OpenRule(**_learned_common(cfg), alpha3=float(cfg.alpha3), **switches, name="open")


def build_no_features(cfg: Any) -> OpenRule:
    """The No Features baseline from a resolved config (registry entry ``no_features``)."""
    return no_features(**_learned_common(cfg))


def build_optim4rl(cfg: Any) -> Optim4RLRule:
    """Optim4RL from a resolved config (registry entry ``optim4rl``); its tuned ``lr`` must be resolved."""
    if cfg.lr is None:
        raise ValueError("optimizer.lr: optim4rl needs a learning rate (tuned value or explicit)")
    return Optim4RLRule(
        lr=float(cfg.lr),
        gru_features=int(cfg.gru_features),
        hidden=int(cfg.hidden),
        weights=None if cfg.weights is None else str(cfg.weights),
        batching=str(cfg.batching),
    )


def make_rule(cfg: Any) -> UpdateRule:
    """``cfg`` is a resolved optimizer config (see :func:`openrl.config.resolve_optimizer`)."""
    entry = OPTIMIZERS.get(cfg.name)
    if entry is None:
        raise ValueError(f"optimizer.name={cfg.name!r} has no update rule")
    if entry.kind == "handcrafted":
        hypers = tuple((k, float(getattr(cfg, k))) for k in entry.rule_params)
        options = tuple((k, getattr(cfg, k)) for k in entry.options)
        return OptaxRule(
            cfg.name,
            hypers,
            anneal_lr=bool(cfg.anneal_lr),
            eps=float(getattr(cfg, "eps", 1e-8)),
            options=options,
        )
    return entry.builder()(cfg)


def learned_architectures() -> dict[str, UpdateRule]:
    """Learned-optimizer architectures whose flat weights openrl loads, keyed by their ``conf/optimizer``
    preset (``optimizer=<name>``): every registered learned optimizer's ``architectures``, each built from
    its schema's defaults with the entry's size overrides (Optim4RL: placeholder learning rate 1.0, which
    is not part of its weights)."""
    out: dict[str, UpdateRule] = {}
    for entry in OPTIMIZERS:
        for preset, overrides in entry.architectures.items():
            # the schema with the size overrides is complete (nothing tuned per env feeds a learned rule)
            out[preset] = make_rule(entry.schema(**overrides))
    return out
