"""Where the ES mean starts: ``meta.init`` = ``zeros`` | ``random`` | ``weights``.

* ``zeros`` (the default, the authors' start): every meta-parameter is 0, so OPEN's update is exactly 0
  and the first generations only learn from members' perturbations. At the paper's sigma = 0.03 a member
  moves agent weights by ~1e-5 per step against Adam's ~1e-2: the ES random-walks until |theta| is large
  enough for updates to matter (the "zero-start plateau", see ``diag/update_ratio``).
* ``random``: the meta-network's own flax initialisation (GRU: Lecun-normal inputs, orthogonal recurrent
  weights; MLP: Lecun-normal kernels, zero biases, unit LayerNorm scales), drawn from the run's seed and
  multiplied by ``meta.init_scale``. Updates are Adam-sized from generation 0, in a random direction.
* ``weights``: a released or earlier optimizer of the same architecture (``meta.init_weights``: a flat
  ``.npy``, an optimizer directory, a meta-training run directory, whose ``best/`` is used, or
  ``pretrained:NAME``, e.g. ``pretrained:breakout_OPEN``). A vector
  of another length is refused, naming both sizes; NaN/inf is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from openrl.optimizers.open import OpenRule
from openrl.optimizers.weights import OPTIMIZER_FILE, load_flat, resolve_weights_path, unflatten

INITS = ("zeros", "random", "weights")


def init_kind(meta_cfg: Any) -> str:
    """``meta.init`` with its null resolved: ``weights`` when ``init_weights`` is set, else ``zeros``."""
    if meta_cfg.init is not None:
        return meta_cfg.init
    return "weights" if meta_cfg.init_weights else "zeros"


def resolve_init_weights(path: str) -> Path:
    """A weights file, an optimizer directory, a run directory (its ``best/optimizer.npy``), or
    ``pretrained:NAME`` (a released optimizer from openrl's verified cache, downloaded on first use)."""
    if str(path).startswith("pretrained:"):
        return resolve_weights_path(path)
    p = Path(path).expanduser()
    if p.is_dir() and not (p / OPTIMIZER_FILE).is_file() and (p / "best" / OPTIMIZER_FILE).is_file():
        return p / "best" / OPTIMIZER_FILE
    return p


def random_meta_params(rule: Any, key: jax.Array, scale: float = 1.0) -> Any:
    """The meta-network's flax initialisation (times ``scale``) in the rule's meta-parameter layout."""
    if not isinstance(rule, OpenRule):
        raise ValueError(
            f"meta.init=random is implemented for OPEN and its variants, not {type(rule).__name__}; "
            "use meta.init=zeros or meta.init_weights=..."
        )

    def one(k: jax.Array) -> Any:
        gru, mlp = rule.modules()
        k_gru, k_mlp = jax.random.split(k)
        tree = {
            "gru_params": gru.init(k_gru, jnp.zeros((1, rule.gru_features)), jnp.zeros((1, rule.num_inputs))),
            "params": mlp.init(k_mlp, jnp.zeros((1, rule.gru_features))),
        }
        if jax.tree.structure(tree) != jax.tree.structure(rule._template):
            raise AssertionError("flax initialisation does not match OPEN's meta-parameter layout")
        return jax.tree.map(lambda x: np.asarray(x, np.float32) * np.float32(scale), tree)

    if rule.separated:
        k_actor, k_critic = jax.random.split(key)
        return {"actor": one(k_actor), "critic": one(k_critic)}
    return one(key)


def initial_mean(meta_cfg: Any, rule: Any, solution: Any, seed: int) -> tuple[Any, str]:
    """``(ES mean pytree shaped like solution, description)`` for ``meta.init``."""
    kind = init_kind(meta_cfg)
    if kind == "zeros":
        return jax.tree.map(np.zeros_like, solution), "zeros (the authors' start)"
    if kind == "random":
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x1A17)
        mean = random_meta_params(rule, key, meta_cfg.init_scale)
        return mean, f"random (flax initialisation x {meta_cfg.init_scale:g}, seed {seed})"
    path = resolve_init_weights(meta_cfg.init_weights)
    n = int(sum(np.size(x) for x in jax.tree.leaves(solution)))
    describe = rule.describe() if hasattr(rule, "describe") else type(rule).__name__
    flat = load_flat(path, (n,), describe)
    return unflatten(flat, solution), f"weights {path}"
