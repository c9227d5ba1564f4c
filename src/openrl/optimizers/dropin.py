"""Drop-in API: a learned optimizer as an optax ``GradientTransformationExtraArgs``.

Use OPEN (or No Features, or Optim4RL) in your own JAX training loop::

    import optax, openrl

    tx = openrl.learned_optimizer("breakout_OPEN.npy", total_steps=10_000)
    opt_state = tx.init(params)
    ...
    updates, opt_state = tx.update(grads, opt_state, params)          # params are required
    params = optax.apply_updates(params, updates)

``weights`` is a released flat ``.npy`` (1211 values: OPEN; 3571: OPEN multi-task) or an optimizer
directory (``optimizer.npy`` + ``meta.json``, as written by meta-training or ``openrl-import-weights``);
or pass ``rule=`` (an :class:`~openrl.optimizers.open.OpenRule` or
:class:`~openrl.optimizers.optim4rl.Optim4RLRule`) with ``meta_params=``. Params may be any pytree of
float arrays (not only ``{"actor", "critic"}``); the update returned satisfies
``apply_updates(p, updates) == p - u`` with exactly OPEN's ``u``.

**Inputs OPEN conditions on**, as optional keyword arguments of ``update`` (extra args; unknown ones are
ignored, as optax does), with these defaults:

* ``training_prop``: how far through training. Default: ``step / (total_steps - 1)`` clipped to [0, 1]
  when ``total_steps`` (number of ``update`` calls planned) was given, else 0.5 (mid-training, the
  least extreme value of the range the optimizer was trained on). ``step`` counts ``update`` calls.
  (In PPO the authors keep it constant over the epochs/minibatches of one rollout: pass it explicitly to
  reproduce that.)
* ``batch_prop``: epoch index / (epochs - 1) when a batch is reused; default 0 (one pass per batch).
* ``layer_props``: a pytree like ``params`` of scalars h/H. Default (:func:`infer_layer_props`): a
  leaf's layer is its parent container (e.g. ``Dense_3`` for ``Dense_3/kernel`` and ``Dense_3/bias``;
  a leaf directly in the root is its own layer), layers are ordered by a natural sort of their paths
  (``Dense_2`` before ``Dense_10``, list indices numerically), and ``h/H = index / (layers - 1)``.
  A constructor argument ``layer_props=`` fixes it for every call.
* ``dormancy``: a pytree like ``params`` whose leaves broadcast to the leaf shape (e.g. a ``(out,)``
  score per neuron for an ``(in, out)`` kernel) holding the normalised activation score of the
  downstream neuron (ReDo: mean |activation| / layer average; 0 = dead, 1 = average). Default 1.0 for
  every element ("not dormant"). :func:`dormancy_from_activations` builds it from per-layer mean
  |activation| vectors.
* ``key``: PRNG key for the actor noise; default ``fold_in(PRNGKey(seed), step)``.

**Noise** (OPEN's learned stochasticity ``a3 * delta * eps``) is applied to the leaves selected by the
static ``noise`` argument: ``None`` (default: no leaf, a deterministic optimizer -- the noise is an
exploration device for RL *policies*, wrong for value functions, regressors or anything else), ``"all"``,
a pytree of bools like ``params``, or a callable ``(path: tuple[str, ...], leaf) -> bool``; e.g.
``noise=lambda path, _: path[0] == "actor"`` reproduces the PPO setting. Each noised leaf gets its own
key, split from ``key`` in leaf order (as OpenRule does for the actor).

**Zero-mean**: as in OPEN, one scalar mean over every element of the tree passed to ``update`` is
subtracted from the update.

The state is a pytree (:class:`~openrl.optimizers.open.OpenNetState`: momenta ``(6, n)``, GRU carry
``(F, n)``, step counter); ``init``/``update`` are jit-able and the meta-parameters are constants of the
transform.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from openrl.agents.networks import dormancy_score
from openrl.optimizers.factory import learned_architectures
from openrl.optimizers.open import OpenRule, draw_noise, ravel_leaves, split_like
from openrl.optimizers.optim4rl import Optim4RLRule, Optim4RLState
from openrl.optimizers.weights import WeightsError, load_flat, resolve_weights_path

NoiseSpec = Any  # None | "all" | pytree of bools | Callable[[tuple[str, ...], leaf], bool]


def _key_name(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _paths(tree: Any) -> list[tuple[str, ...]]:
    return [tuple(_key_name(k) for k in path) for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _natural(path: tuple[str, ...]) -> tuple:
    """Sort key: digit runs compare as numbers (``Dense_2`` < ``Dense_10``)."""
    return tuple(
        tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", part) if t) for part in path
    )


def infer_layer_props(tree: Any) -> Any:
    """Default layer proportions h/H for any pytree (see the module docstring): a pytree like ``tree``."""
    paths = _paths(tree)
    layer_of = [p[:-1] if len(p) > 1 else p for p in paths]
    layers = sorted(set(layer_of), key=_natural)
    index = {layer: i for i, layer in enumerate(layers)}
    denom = max(len(layers) - 1, 1)
    props = [index[layer] / denom if len(layers) > 1 else 0.0 for layer in layer_of]
    return jax.tree.unflatten(jax.tree.structure(tree), props)


def dormancy_from_activations(params: Any, activations: Any, eps: float = 1e-11) -> Any:
    """Dormancy scores per leaf from per-layer mean |activation| vectors.

    ``activations`` is a nested dict addressed like ``params`` down to the layer: for a leaf at
    ``("Dense_0", "kernel")`` the vector at ``activations["Dense_0"]`` is used (the deepest array found
    along the leaf's path, so ``activations["log_std"]`` serves a top-level ``log_std`` leaf). Its
    ReDo score ``(a + eps) / sum|a + eps| * N`` is what OPEN sees. Leaves without activations get 1.0.
    """

    def lookup(path: tuple[str, ...]):
        node, found = activations, None
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
                if not isinstance(node, dict):
                    found = node
                    break
            else:
                break
        return found

    out = []
    for path in _paths(params):
        a = lookup(path)
        out.append(
            jnp.ones((), jnp.float32) if a is None else dormancy_score(jnp.asarray(a, jnp.float32), eps)
        )
    return jax.tree.unflatten(jax.tree.structure(params), out)


def _noise_mask(noise: NoiseSpec, params: Any) -> list[bool]:
    paths, leaves = _paths(params), jax.tree.leaves(params)
    if noise is None:
        return [False] * len(leaves)
    if isinstance(noise, str):
        if noise != "all":
            raise ValueError(f"noise={noise!r}: use None, 'all', a pytree of bools or a callable")
        return [True] * len(leaves)
    if callable(noise):
        return [bool(noise(p, x)) for p, x in zip(paths, leaves)]
    mask = jax.tree.structure(params).flatten_up_to(noise)
    return [bool(m) for m in mask]


def _infer_arch(path: Any) -> OpenRule:
    """The OPEN-family architecture matching the length of a weights file (or its meta.json)."""
    archs = learned_architectures()
    p = resolve_weights_path(path)
    arr = np.load(p, mmap_mode="r", allow_pickle=False) if p.is_file() else None
    size = None if arr is None else int(arr.size)
    matches = [n for n, r in archs.items() if r.num_meta_params == size]
    if matches and isinstance(archs[matches[0]], OpenRule):
        return archs[matches[0]]
    if matches:
        raise WeightsError(
            f"weights {str(p)!r} ({size} values) match {matches[0]}: pass "
            f"rule=Optim4RLRule(lr=..., weights=...) (its learning rate is not part of the weights)"
        )
    sizes = ", ".join(f"{n}: {r.num_meta_params}" for n, r in archs.items())
    # load_flat gives the precise message (missing/unreadable/wrong size)
    load_flat(path, tuple(r.num_meta_params for r in archs.values()), f"any known architecture ({sizes})")
    raise WeightsError(f"weights {str(p)!r}: no architecture matches ({sizes})")  # pragma: no cover


def learned_optimizer(
    weights: Any = None,
    *,
    rule: OpenRule | Optim4RLRule | None = None,
    meta_params: Any = None,
    total_steps: int | None = None,
    noise: NoiseSpec = None,
    layer_props: Any = None,
    seed: int = 0,
) -> optax.GradientTransformationExtraArgs:
    """A learned optimizer as an optax transformation (module docstring: inputs and their defaults).

    Args:
        weights: flat ``.npy`` or optimizer directory. The architecture is ``rule``'s if given, else
            inferred from the vector length (1211: OPEN, 3571: OPEN multi-task, 1074: No Features).
        rule: the update rule (architecture and static options). Its ``separated`` must be False.
        meta_params: the rule's meta-parameter pytree (instead of ``weights``).
        total_steps: planned number of ``update`` calls; sets the default ``training_prop``.
        noise: which leaves get OPEN's learned noise (default none: deterministic).
        layer_props: fixed layer proportions (pytree like params); default inferred per call structure.
        seed: base PRNG seed of the default per-step noise key.
    """
    if rule is None:
        if weights is None and meta_params is None:
            raise ValueError("learned_optimizer needs weights (a .npy file or optimizer directory) or rule=")
        rule = _infer_arch(weights) if weights is not None else OpenRule()
    if weights is not None:
        if meta_params is not None:
            raise ValueError("give weights or meta_params, not both")
        rule = dataclasses.replace(rule, weights=str(weights))
    if meta_params is None:
        meta_params = rule.default_params()
    meta = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), meta_params)
    if isinstance(rule, Optim4RLRule):
        return _optim4rl_transform(rule, meta)
    if not isinstance(rule, OpenRule):
        raise TypeError(f"learned_optimizer supports OpenRule and Optim4RLRule, got {type(rule).__name__}")
    if rule.separated:
        raise ValueError(
            "learned_optimizer uses one set of meta-parameters: pass a rule with separated=False"
        )
    return _open_transform(rule, meta, total_steps, noise, layer_props, seed)


def _training_prop(step: jax.Array, total_steps: int | None) -> jax.Array:
    if total_steps is None:
        return jnp.float32(0.5)
    return jnp.clip(step.astype(jnp.float32) / max(int(total_steps) - 1, 1), 0.0, 1.0)


def _open_transform(
    rule: OpenRule,
    meta: Any,
    total_steps: int | None,
    noise: NoiseSpec,
    fixed_layer_props: Any,
    seed: int,
) -> optax.GradientTransformationExtraArgs:
    """OPEN as optax: the inputs from ``update``'s arguments (or their defaults), then
    :meth:`OpenRule.step` -- the very step :class:`OpenRule` takes in PPO -- on the whole tree."""
    # The meta-network runs as jax's batched program when a caller vmaps the transform (whatever the
    # rule's ``batching``): the drop-in has no seed axis of its own to run member by member.
    rule = dataclasses.replace(rule, batching="vectorised")

    def init_fn(params):
        return rule.init({"params": params})["params"]

    def update_fn(
        updates,
        state,
        params=None,
        *,
        training_prop=None,
        batch_prop=None,
        layer_props=None,
        dormancy=None,
        key=None,
        **extra,
    ):
        del extra  # other transforms' extra args
        if params is None:
            raise ValueError(
                "a learned optimizer conditions on the parameters: call update(grads, state, params)"
            )
        leaves, treedef = jax.tree.flatten(params)
        step = state.iteration
        tp = _training_prop(step, total_steps) if training_prop is None else training_prop
        bp = 0.0 if batch_prop is None else batch_prop
        lps = None
        if rule.use_layer_prop:
            lp_tree = layer_props if layer_props is not None else fixed_layer_props
            lp_tree = infer_layer_props(params) if lp_tree is None else lp_tree
            lps = treedef.flatten_up_to(lp_tree)
        dorm = None
        if rule.use_dormancy:
            if dormancy is None:
                dorm = jnp.ones((state.carry.shape[1],), jnp.float32)
            else:
                dorm = jnp.concatenate(
                    [
                        jnp.broadcast_to(jnp.asarray(d, jnp.float32), jnp.shape(x)).reshape(-1)
                        for d, x in zip(treedef.flatten_up_to(dormancy), leaves)
                    ]
                )
        ins = rule.features(params, updates, state.momenta, tp, bp, lps, dorm)
        mask = _noise_mask(noise, params)
        eps = None
        if rule.use_stochasticity and any(mask):
            k = jax.random.fold_in(jax.random.PRNGKey(seed), step) if key is None else key
            eps = draw_noise(k, leaves, mask)
        out = rule.step(meta, {"params": state}, {"params": ins}, {"params": eps})
        steps = split_like(out.updates["params"], leaves)
        new_updates = [(-s).astype(jnp.result_type(leaf)) for s, leaf in zip(steps, leaves)]
        return jax.tree.unflatten(treedef, new_updates), out.state["params"]

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _optim4rl_transform(rule: Optim4RLRule, meta):
    def init_fn(params):
        return rule.init(params)

    def update_fn(updates, state: Optim4RLState, params=None, **extra):
        del params, extra  # Optim4RL conditions on the gradient only
        leaves, treedef = jax.tree.flatten(updates)
        d, new_state = rule.direction(meta, state, ravel_leaves(leaves))
        steps = split_like(rule.lr * d, leaves)
        out = [(-s).astype(jnp.result_type(leaf)) for s, leaf in zip(steps, leaves)]
        return jax.tree.unflatten(treedef, out), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["dormancy_from_activations", "infer_layer_props", "learned_optimizer"]
