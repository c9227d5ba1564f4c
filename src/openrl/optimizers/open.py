"""OPEN (Goldie et al. 2024): a learned optimizer for RL, as an :class:`~openrl.optimizers.base.UpdateRule`.

Faithful to ``GRU_Opt`` in the authors' ``rl_optimizer/network.py`` (paper Sec. 5):

* **Meta-network**: ``flax.linen.GRUCell(F)`` applied to every agent parameter independently (a
  per-parameter carry, zero-initialised), then ``nn.Sequential([Dense(Hd), LayerNorm(1e-6), relu,
  Dense(Hd), LayerNorm(1e-6), relu, Dense(n_out)])``. The meta-parameter pytree is
  ``{"gru_params": {"params": {hn, hr, hz, in, ir, iz}}, "params": {"params": {layers_0, layers_1,
  layers_3, layers_4, layers_6}}}``, whose ``ravel_pytree`` order is exactly the released ``.npy`` layout
  (1211 values for F=8, Hd=16; 3571 for F=16, Hd=32).
* **Inputs** (19, in this order): p; sign(m_d) for the 6 decays; log(|m_d| + 1e-13); sign(g);
  log(|g| + 1e-13) -- each of these 15 channels scaled per tensor by ``x * rsqrt(1e-5 + mean(x^2))`` --
  then, raw: training proportion, layer proportion, batch (epoch) proportion and the dormancy score of
  the parameter's downstream neuron. Momenta are zero-initialised EMAs ``m <- d m + (1 - d) g`` without
  bias correction, updated with the current (clipped) gradient *before* the features are built.
* **Update**: ``o = MLP(GRU(carry, x))``; ``u = a1 o0 exp(a2 o1)``; actor only: ``u += a3 o2 eps``,
  ``eps ~ N(0, 1)`` (one key per actor leaf, split from ``ctx.key``); then ONE scalar mean over every
  actor *and* critic update element is subtracted; ``p <- p - u``.
* Actor and critic keep separate states (momenta, carries, iteration) and, by default, share one set of
  meta-parameters. ``separated=True`` gives each network its own (paper Sec. 7.2):
  ``rule_params = {"actor": meta, "critic": meta}``.

**Ablations** (paper Fig. 5; each optimizer there was meta-trained from scratch): switching an input off
*drops* that input column, so the GRU's input kernels shrink (19 -> 18 inputs).
``use_stochasticity=False`` drops the third output (Dense(2), deterministic update for both networks).
Consequently the released weights only load into the full architecture; an ablated optimizer starts from
zeros (or from its own ES checkpoint).

**No Features** (paper App. B.4): the same GRU + MLP sizes, 14 inputs -- OPEN's channels 1..14 in OPEN's
order, i.e. ``[sign(m_0.1) .. sign(m_0.9999), log|m_0.1| .. log|m_0.9999|, sign(g), log|g|]``, all
normalised per tensor -- 2 outputs, no noise, no parameter value, no proportions, no dormancy. It is this
class with ``use_param=False`` and every optional input off (:func:`no_features`).

**Analysis** (paper App. F; opt-in, ``analysis=True``): :meth:`OpenRule.update_with_analysis` returns
the same update plus, per network and for both together, the cosine similarity of the applied update
with the gradient and with each momentum, mean ``|u_hat / p|`` and (actor) mean ``|a3 delta / p|``
(:mod:`openrl.optimizers.analysis`). The PPO loop calls it only when the switch is on.

**Any pytree**: :meth:`OpenRule.features` builds the inputs of one arbitrary parameter tree from
explicit proportions and a dormancy row, and :meth:`OpenRule.step` turns inputs into the update. The
drop-in optax API (:mod:`openrl.optimizers.dropin`) calls both, so it applies exactly OpenRule's update.

**Vectorisation**: each network's parameter tree is raveled into one flat vector per update (in
``ravel_pytree`` order) and everything is channel-major: momenta ``(6, n)``, carries ``(F, n)``, inputs
``(C, n)``, so elementwise ops and LayerNorm reductions run contiguously along the long parameter axis
(3x faster on CPU than ``(n, C)``). Per-tensor normalisation uses static slices of the flat vector
(identical to normalising each tensor on its own). With shared meta-parameters, actor and critic columns
are concatenated and the GRU + MLP run once as a handful of batched matmuls over all ~60k parameters (the
three GRU input kernels and the three recurrent kernels are each fused into one matmul). Only the
per-tensor scales, the tiling of per-tensor/per-neuron inputs and the final reshapes loop over leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from openrl.agents.networks import dormancy_score
from openrl.optimizers import analysis as analysis_lib
from openrl.optimizers.base import Params, UpdateContext
from openrl.optimizers.weights import load_flat, unflatten

DECAYS = (0.1, 0.5, 0.9, 0.99, 0.999, 0.9999)
BATCHING = ("auto", "vectorised", "sequential")  # how the meta-network runs under vmap (see OpenRule)
NOISE_NETS = ("actor",)  # the authors' hard-coded noise mask: actor leaves 1, critic leaves 0
_HI = jax.lax.Precision.HIGHEST  # full f32 matmuls on every backend (no TF32), for reproducible updates


class OpenNetState(NamedTuple):
    """Per-network optimizer state, stored flat in ``ravel_pytree`` order of that network's params."""

    momenta: jax.Array  # (len(decays), n): channel-major
    carry: jax.Array  # (gru_features, n)
    iteration: jax.Array  # int32 scalar: optimizer steps taken


class _Leaf(NamedTuple):
    path: tuple[str, ...]
    shape: tuple[int, ...]
    start: int
    size: int


def _layout(tree: Any) -> list[_Leaf]:
    """Leaves of ``tree`` in ``ravel_pytree`` order with their offsets in the flat vector."""
    out, start = [], 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        names = tuple(str(getattr(k, "key", getattr(k, "name", k))) for k in path)
        shape = tuple(np.shape(leaf))
        size = int(np.prod(shape, dtype=np.int64))
        out.append(_Leaf(names, shape, start, size))
        start += size
    return out


def ravel_leaves(leaves: list[jax.Array]) -> jax.Array:
    """``leaves`` as one float32 vector in their order: the flat layout in which every learned rule keeps
    its per-element state, so any parameter pytree maps onto it the same way."""
    flat = [jnp.ravel(x).astype(jnp.float32) for x in leaves]
    return jnp.concatenate(flat) if len(flat) > 1 else flat[0]


def split_like(flat: jax.Array, leaves: list[Any]) -> list[jax.Array]:
    """``flat`` (in :func:`ravel_leaves` order) cut back into arrays shaped like ``leaves``; the caller
    casts and applies them (``p - u`` in a rule, ``-u`` as optax updates)."""
    out, start = [], 0
    for leaf in leaves:
        size = int(np.size(leaf))
        out.append(flat[start : start + size].reshape(jnp.shape(leaf)))
        start += size
    return out


def draw_noise(key: jax.Array, leaves: list[Any], mask: list[bool] | None = None) -> jax.Array:
    """OPEN's ``eps ~ N(0, 1)``, flat in :func:`ravel_leaves` order: one key per noised leaf, split from
    ``key`` in leaf order; leaves off in ``mask`` (default: none off) get zeros. In PPO every actor leaf
    is noised; the drop-in lets the caller choose the leaves."""
    mask = [True] * len(leaves) if mask is None else mask
    keys = jax.random.split(key, sum(mask))
    parts, i = [], 0
    for on, leaf in zip(mask, leaves):
        if on:
            parts.append(jax.random.normal(keys[i], jnp.shape(leaf), jnp.float32).reshape(-1))
            i += 1
        else:
            parts.append(jnp.zeros((int(np.size(leaf)),), jnp.float32))
    return jnp.concatenate(parts)


class OpenStep(NamedTuple):
    """One OPEN step (:meth:`OpenRule.step`), per network, flat in ``ravel_pytree`` order."""

    updates: dict[str, jax.Array]  # the applied update u (p_new = p - u): after noise and zero-mean
    state: dict[str, OpenNetState]
    # (u_hat: the update before noise and zero-mean, a3 * delta or None, momenta): for the App. F analysis
    parts: dict[str, tuple[jax.Array, jax.Array | None, jax.Array]]


def _dense_ln_relu_t(
    dense: dict[str, jax.Array], ln: dict[str, jax.Array], h: jax.Array, eps: float
) -> jax.Array:
    """``relu(LayerNorm(Dense(h)))`` in channel-major layout ``h (features_in, n) -> (features_out, n)``.

    The LayerNorm's mean subtraction is folded into the Dense layer: with ``C = I - 11^T / H`` the
    centred pre-activation is ``C (W^T h + b) = (C W^T) h + C b``, so centring costs a ``(H, F)`` matrix
    op instead of a reduction and a pass over ``(H, n)``, and the variance is one reduction of the
    already-centred values (13% faster meta-network on CPU). Mathematically identical to
    ``flax.linen.LayerNorm`` (mean, fast variance ``E[y^2] - E[y]^2`` clipped at 0, scale, bias); in
    float32 the two differ by rounding only (the two-pass variance is, if anything, the more accurate).
    """
    w = dense["kernel"].T
    wc = w - jnp.mean(w, axis=0, keepdims=True)
    bc = dense["bias"] - jnp.mean(dense["bias"])
    y = jnp.dot(wc, h, precision=_HI) + bc[:, None]
    var = jnp.mean(jnp.square(y), axis=0, keepdims=True)
    return jax.nn.relu(y * (jax.lax.rsqrt(var + eps) * ln["scale"][:, None]) + ln["bias"][:, None])


def gru_step_t(g: dict[str, Any], carry_t: jax.Array, x_t: jax.Array) -> jax.Array:
    """``flax.linen.GRUCell`` (params ``g`` = its ``{"params": ...}`` inner dict) in channel-major layout:
    ``carry_t (F, n)``, ``x_t (C, n)`` -> new carry ``(F, n)``; the three input matmuls and the three
    recurrent matmuls are each fused into one."""
    f = carry_t.shape[0]
    wi = jnp.concatenate([g["ir"]["kernel"], g["iz"]["kernel"], g["in"]["kernel"]], axis=1).T  # (3F, C)
    bi = jnp.concatenate([g["ir"]["bias"], g["iz"]["bias"], g["in"]["bias"]])[:, None]
    wh = jnp.concatenate([g["hr"]["kernel"], g["hz"]["kernel"], g["hn"]["kernel"]], axis=1).T  # (3F, F)
    gi = jnp.dot(wi, x_t, precision=_HI) + bi
    gh = jnp.dot(wh, carry_t, precision=_HI)
    r = jax.nn.sigmoid(gi[:f] + gh[:f])
    z = jax.nn.sigmoid(gi[f : 2 * f] + gh[f : 2 * f])
    n = jnp.tanh(gi[2 * f :] + r * (gh[2 * f :] + g["hn"]["bias"][:, None]))
    return (1.0 - z) * n + z * carry_t


def meta_forward_t(
    meta: Any, carry_t: jax.Array, x_t: jax.Array, ln_eps: float = 1e-6
) -> tuple[jax.Array, jax.Array]:
    """One GRU step and the MLP in channel-major layout: ``carry_t (F, n)``, ``x_t (C, n)`` ->
    ``(new carry (F, n), outputs (n_out, n))``.

    Equal to ``GRUCell.apply`` + ``Sequential.apply`` (:meth:`OpenRule.reference_forward`) on the
    transposed arrays (to float32 rounding). Channel-major keeps every elementwise op and LayerNorm
    reduction contiguous along the long parameter axis (3x faster on CPU than ``(n, C)``), fuses the three
    GRU input matmuls and the three recurrent matmuls into one each, and folds each LayerNorm's mean
    subtraction into the Dense before it (:func:`_dense_ln_relu_t`).
    """
    h = gru_step_t(meta["gru_params"]["params"], carry_t, x_t)
    m = meta["params"]["params"]
    y = _dense_ln_relu_t(m["layers_0"], m["layers_1"], h, ln_eps)
    y = _dense_ln_relu_t(m["layers_3"], m["layers_4"], y, ln_eps)
    o = jnp.dot(m["layers_6"]["kernel"].T, y, precision=_HI) + m["layers_6"]["bias"][:, None]
    return h, o


def meta_forward(
    meta: Any, carry: jax.Array, x: jax.Array, ln_eps: float = 1e-6
) -> tuple[jax.Array, jax.Array]:
    """Row-major convenience wrapper: ``carry (n, F)``, ``x (n, C)`` -> ``(new carry (n, F), outputs (n, n_out))``."""
    h, o = meta_forward_t(meta, carry.T, x.T, ln_eps)
    return h.T, o.T


def check_batching(batching: str) -> None:
    """Refuses a ``batching`` value at a rule's construction (shared by OPEN and Optim4RL)."""
    if batching not in BATCHING:
        raise ValueError(f"batching={batching!r}: allowed values are {', '.join(BATCHING)}")


def sequential_batching(batching: str, sequential_on_cpu: bool = True) -> bool:
    """Whether a learned rule's meta-network runs member by member under vmap (``batching`` already
    checked by :func:`check_batching`). ``auto`` resolves to sequential on CPU only for rules where that
    measured faster (``sequential_on_cpu``: OPEN's meta-network yes, Optim4RL's smaller networks no),
    and to vectorised on GPU/TPU."""
    auto_seq = sequential_on_cpu and jax.default_backend() == "cpu"
    return batching == "sequential" or (batching == "auto" and auto_seq)


@cache
def batched_as(fn: Any, sequential: bool) -> Any:
    """``fn``, or ``fn`` under ``jax.custom_batching.sequential_vmap`` (one seed/member at a time when
    vmapped). Cached per function object, so that repeated traces of a rule give identical programs
    and the rules themselves stay plain, picklable dataclasses (shared by OPEN and Optim4RL)."""
    return jax.custom_batching.sequential_vmap(fn) if sequential else fn


@cache
def _forward_fn(ln_eps: float):
    """:func:`meta_forward_t` with a fixed LayerNorm epsilon: one function object per value."""

    def forward(meta, carry_t, x_t):
        return meta_forward_t(meta, carry_t, x_t, ln_eps)

    return forward


class MetaTemplateMixin:
    """Shared by learned rules that keep a zero meta-parameter template in ``self._template``."""

    _template: Any

    def zero_meta_params(self) -> Any:
        """The rule's meta-parameters, all zeros (the ES starting point)."""
        return jax.tree.map(jnp.asarray, self._template)

    @property
    def num_meta_params(self) -> int:
        """Length of one flat meta-parameter vector (OPEN: 1211 for F=8/Hd=16, 3571 for F=16/Hd=32)."""
        return int(sum(np.size(x) for x in jax.tree.leaves(self._template)))


@dataclass(frozen=True)
class OpenRule(MetaTemplateMixin):
    """OPEN and its variants (all options are static Python config; meta-parameters are traced).

    Attributes:
        gru_features: GRU width F (8 single-task, 16 multi-task).
        hidden: MLP width Hd (16 single-task, 32 multi-task).
        alpha1, alpha2, alpha3: step, exponent and noise multipliers (paper: 0.001 each).
        decays: momentum decays (their order is the feature order).
        use_param, use_training_prop, use_layer_prop, use_batch_prop, use_dormancy: include that input
            column (False drops it: the GRU input size shrinks).
        use_stochasticity: third output and actor noise (False: 2 outputs, deterministic).
        separated: actor and critic get their own meta-parameters.
        weights: a flat float32 ``.npy`` (or an optimizer directory holding ``optimizer.npy``) loaded by
            :meth:`default_params` (None: zeros, the ES start).
        analysis: the PPO loop records the App. F statistics per update (:meth:`update_with_analysis`);
            static, so the default (off) adds nothing to the compiled program.
        batching: how the meta-network runs when the PPO loop is vmapped over seeds or an ES population.
            ``vectorised``: jax's batched program. ``sequential``: one seed/member at a time inside the
            step (``jax.custom_batching.sequential_vmap``): on CPU the batched skinny matmuls and
            elementwise passes over ``(seeds, C, n)`` run ~3x slower than the same work seed by seed
            (working set out of cache; PPO + OPEN with 16 vmapped seeds 6-22% faster end to end,
            two measurements).
            ``auto`` (default): sequential on CPU, vectorised on GPU/TPU (where batching feeds the
            device and a sharded population must stay batched). Same maths; float32 rounding differs.
            Without vmap both are the same program.
        name: "open" or "no_features" (used in messages only).
    """

    gru_features: int = 8
    hidden: int = 16
    alpha1: float = 1e-3
    alpha2: float = 1e-3
    alpha3: float = 1e-3
    decays: tuple[float, ...] = DECAYS
    use_param: bool = True
    use_training_prop: bool = True
    use_layer_prop: bool = True
    use_batch_prop: bool = True
    use_dormancy: bool = True
    use_stochasticity: bool = True
    separated: bool = False
    weights: str | None = None
    analysis: bool = False
    batching: str = "auto"
    log_eps: float = 1e-13
    norm_eps: float = 1e-5
    dormancy_eps: float = 1e-11
    ln_eps: float = 1e-6
    name: str = "open"

    def __post_init__(self) -> None:
        check_batching(self.batching)

    @property
    def _meta_forward(self):
        """:func:`meta_forward_t` with this rule's LayerNorm epsilon, batched as ``batching`` says."""
        return batched_as(_forward_fn(self.ln_eps), sequential_batching(self.batching))

    # -- architecture -------------------------------------------------------------------------------
    @property
    def normalised_names(self) -> tuple[str, ...]:
        """The per-tensor-normalised input channels, in order."""
        names = ["param"] if self.use_param else []
        names += [f"sign_m{d:g}" for d in self.decays] + [f"log_m{d:g}" for d in self.decays]
        return (*names, "sign_g", "log_g")

    @property
    def raw_names(self) -> tuple[str, ...]:
        """The raw (unnormalised) input channels appended after the normalised ones, in order."""
        flags = (
            ("training_prop", self.use_training_prop),
            ("layer_prop", self.use_layer_prop),
            ("batch_prop", self.use_batch_prop),
            ("dormancy", self.use_dormancy),
        )
        return tuple(n for n, on in flags if on)

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.normalised_names + self.raw_names

    @property
    def num_inputs(self) -> int:
        return len(self.input_names)

    @property
    def num_outputs(self) -> int:
        return 3 if self.use_stochasticity else 2

    def modules(self) -> tuple[nn.GRUCell, nn.Sequential]:
        """The flax modules whose parameter trees define the meta-parameter layout."""
        gru = nn.GRUCell(features=self.gru_features)
        mlp = nn.Sequential(
            [
                nn.Dense(self.hidden),
                nn.LayerNorm(epsilon=self.ln_eps),
                nn.relu,
                nn.Dense(self.hidden),
                nn.LayerNorm(epsilon=self.ln_eps),
                nn.relu,
                nn.Dense(self.num_outputs),
            ]
        )
        return gru, mlp

    @cached_property
    def _template(self) -> Any:
        gru, mlp = self.modules()
        key = jax.random.PRNGKey(0)
        gru_vars = jax.eval_shape(
            gru.init, key, jnp.zeros((1, self.gru_features)), jnp.zeros((1, self.num_inputs))
        )
        mlp_vars = jax.eval_shape(mlp.init, key, jnp.zeros((1, self.gru_features)))
        shapes = {"gru_params": gru_vars, "params": mlp_vars}
        return jax.tree.map(lambda s: np.zeros(s.shape, np.float32), shapes)

    def describe(self) -> str:
        return (
            f"{self.name} (gru_features={self.gru_features}, hidden={self.hidden}, "
            f"{self.num_inputs} inputs, {self.num_outputs} outputs, separated={self.separated})"
        )

    def reference_forward(self, meta: Any, carry: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The same step through the flax modules themselves (slow path; used to test :func:`meta_forward`)."""
        gru, mlp = self.modules()
        h, _ = gru.apply(meta["gru_params"], carry, x)
        return h, mlp.apply(meta["params"], h)

    # -- UpdateRule ---------------------------------------------------------------------------------
    def default_params(self) -> Any:
        """Zeros, or the flat vector in ``weights`` unflattened into the meta-parameter pytree.

        Separated rules accept a file of one vector (used for both networks) or of two concatenated
        vectors, actor first (``ravel_pytree({"actor": ..., "critic": ...})``).
        """
        one = self.num_meta_params
        if self.weights is None:
            meta = self.zero_meta_params()
            return {"actor": meta, "critic": meta} if self.separated else meta
        sizes = (one, 2 * one) if self.separated else (one,)
        flat = load_flat(self.weights, sizes, self.describe())
        if not self.separated:
            return unflatten(flat, self._template)
        if flat.size == one:
            meta = unflatten(flat, self._template)
            return {"actor": meta, "critic": meta}
        return unflatten(flat, {"actor": self._template, "critic": self._template})

    def init(self, params: Params) -> dict[str, OpenNetState]:
        def one(net_params):
            n = sum(int(np.size(x)) for x in jax.tree.leaves(net_params))
            return OpenNetState(
                momenta=jnp.zeros((len(self.decays), n), jnp.float32),
                carry=jnp.zeros((self.gru_features, n), jnp.float32),
                iteration=jnp.zeros((), jnp.int32),
            )

        return {net: one(p) for net, p in params.items()}

    def inputs(
        self, params: Params, grads: Params, state: dict[str, OpenNetState], ctx: UpdateContext
    ) -> dict[str, tuple[jax.Array, jax.Array]]:
        """Per network: ``(x (num_inputs, n), new momenta (D, n))``, columns in ``ravel_pytree`` order."""
        return {net: self._net_inputs(net, params[net], grads[net], state[net], ctx) for net in params}

    def _net_inputs(self, net: str, p_tree: Any, g_tree: Any, st: OpenNetState, ctx: UpdateContext):
        treedef = jax.tree.structure(p_tree)
        lps = treedef.flatten_up_to(ctx.layer_props[net]) if self.use_layer_prop else None
        dorm = None
        if self.use_dormancy:
            acts, scores = ctx.activations[net], {}
            dorm = jnp.concatenate([self._dormancy_row(net, l, acts, scores) for l in _layout(p_tree)])
        return self.features(p_tree, g_tree, st.momenta, ctx.training_prop, ctx.batch_prop, lps, dorm)

    def features(
        self,
        p_tree: Any,
        g_tree: Any,
        momenta: jax.Array,
        training_prop: jax.Array | float,
        batch_prop: jax.Array | float,
        layer_props: list[Any] | None = None,
        dormancy: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """The input matrix of one parameter tree: ``(x (num_inputs, n), new momenta (D, n))``.

        Works on any pytree (columns in ``ravel_pytree`` order). ``layer_props`` is one scalar per leaf
        of ``p_tree`` in leaf order (needed iff ``use_layer_prop``); ``dormancy`` is the flat ``(n,)``
        row of downstream-neuron scores (needed iff ``use_dormancy``). Momenta are updated with ``g``
        before the features are built.
        """
        layout = _layout(p_tree)
        treedef = jax.tree.structure(p_tree)
        p = ravel_leaves(jax.tree.leaves(p_tree))
        g = ravel_leaves(treedef.flatten_up_to(g_tree))
        n = p.shape[0]

        d = jnp.asarray(self.decays, jnp.float32)[:, None]
        m = momenta * d + g[None, :] * (1.0 - d)  # (1 - d) in float32, as the authors compute it

        rows = [p[None]] if self.use_param else []
        rows += [jnp.sign(m), jnp.log(jnp.abs(m) + self.log_eps)]
        rows += [jnp.sign(g)[None], jnp.log(jnp.abs(g) + self.log_eps)[None]]
        raw = jnp.concatenate(rows, axis=0)  # (K, n)

        # Second-moment normalisation per tensor and per channel. The per-tensor scales come from
        # static slices of the flat vector; they are broadcast back into one (K, n) array so that the
        # multiply and the final concatenation fuse into a single pass (identical to normalising each
        # tensor separately).
        k = raw.shape[0]
        scales = [
            jax.lax.rsqrt(
                self.norm_eps
                + jnp.mean(jnp.square(raw[:, l.start : l.start + l.size]), axis=1, keepdims=True)
            )
            for l in layout
        ]
        full = jnp.concatenate([jnp.broadcast_to(sc, (k, l.size)) for sc, l in zip(scales, layout)], axis=1)
        feats = [raw * full]

        def tiled(per_leaf):
            return jnp.concatenate(
                [jnp.broadcast_to(v, l.shape).reshape(-1) for v, l in zip(per_leaf, layout)]
            )

        if self.use_training_prop:
            feats.append(jnp.broadcast_to(jnp.asarray(training_prop, jnp.float32), (1, n)))
        if self.use_layer_prop:
            if layer_props is None:
                raise ValueError(f"{self.describe()} conditions on layer proportions but none were given")
            feats.append(tiled([jnp.asarray(v, jnp.float32) for v in layer_props])[None])
        if self.use_batch_prop:
            feats.append(jnp.broadcast_to(jnp.asarray(batch_prop, jnp.float32), (1, n)))
        if self.use_dormancy:
            if dormancy is None:
                raise ValueError(f"{self.describe()} conditions on dormancy but none was given")
            feats.append(jnp.asarray(dormancy, jnp.float32).reshape(1, n))
        x = jnp.concatenate(feats, axis=0) if len(feats) > 1 else feats[0]
        return x, m

    def _dormancy_row(self, net: str, leaf: _Leaf, acts: dict, scores: dict) -> jax.Array:
        """Dormancy score of each element's downstream neuron, flat in C order (kernel (in, out): unit j
        tiled over the input axis; bias: its unit; ``log_std``: the layer's single score tiled)."""
        layer = leaf.path[0]
        if layer not in acts:
            raise KeyError(
                f"no activations for layer {net}/{layer} (dormancy input of {'/'.join(leaf.path)})"
            )
        if layer not in scores:
            scores[layer] = dormancy_score(jnp.asarray(acts[layer], jnp.float32), self.dormancy_eps)
        s = scores[layer]
        if not leaf.shape:
            return s.reshape(-1)[:1]
        if s.shape[-1] not in (1, leaf.shape[-1]):
            raise ValueError(
                f"{net}/{'/'.join(leaf.path)} has shape {leaf.shape} but layer {layer} reports {s.shape[-1]} neurons"
            )
        return jnp.broadcast_to(s, leaf.shape).reshape(-1)

    def outputs(
        self,
        rule_params: Any,
        state: dict[str, OpenNetState],
        grads: Params,
        params: Params,
        ctx: UpdateContext,
    ) -> dict[str, tuple[jax.Array, jax.Array, jax.Array]]:
        """Per network: ``(meta-net outputs (n_out, n), new carry (F, n), new momenta (D, n))``."""
        return self._forward(rule_params, state, self.inputs(params, grads, state, ctx))

    def _forward(
        self,
        rule_params: Any,
        state: dict[str, OpenNetState],
        ins: dict[str, tuple[jax.Array, jax.Array]],
    ) -> dict[str, tuple[jax.Array, jax.Array, jax.Array]]:
        """:meth:`outputs` from the networks' inputs. With shared meta-parameters the networks are
        concatenated along the parameter axis and go through the meta-network in one pass."""
        nets = list(ins)
        if self.separated or len(nets) == 1:
            out = {}
            for net in nets:
                meta = rule_params[net] if self.separated else rule_params
                h, o = self._meta_forward(meta, state[net].carry, ins[net][0])
                out[net] = (o, h, ins[net][1])
            return out
        x = jnp.concatenate([ins[net][0] for net in nets], axis=1)
        c = jnp.concatenate([state[net].carry for net in nets], axis=1)
        h, o = self._meta_forward(rule_params, c, x)
        out, start = {}, 0
        for net in nets:
            size = ins[net][0].shape[1]
            out[net] = (o[:, start : start + size], h[:, start : start + size], ins[net][1])
            start += size
        return out

    def step(
        self,
        rule_params: Any,
        state: dict[str, OpenNetState],
        ins: dict[str, tuple[jax.Array, jax.Array]],
        noise: dict[str, jax.Array | None],
    ) -> OpenStep:
        """OPEN's update from the networks' inputs: the one implementation behind :meth:`update` and the
        optax drop-in (:mod:`openrl.optimizers.dropin`), so that both apply exactly the same ``u``.

        ``ins``: per network, :meth:`features` (``(x, new momenta)``); ``noise``: per network, the flat
        ``eps`` (:func:`draw_noise`) or None for a deterministic network. ``u = a1 o0 exp(a2 o1)``, plus
        ``a3 o2 eps`` where there is noise; then ONE scalar mean over every element of every network is
        subtracted.
        """
        a1, a2, a3 = self.alpha1, self.alpha2, self.alpha3
        outs = self._forward(rule_params, state, ins)
        updates, new_state, parts = {}, {}, {}
        total, count = jnp.zeros((), jnp.float32), 0
        for net, (o, h, m) in outs.items():
            u = o[0] * a1 * jnp.exp(a2 * o[1])
            u_hat, noise_scale = u, None
            eps = noise.get(net)
            if self.use_stochasticity and eps is not None:
                noise_scale = o[2] * a3
                u = u + noise_scale * eps
            updates[net] = u
            total = total + jnp.sum(u)
            count += u.shape[0]
            new_state[net] = OpenNetState(momenta=m, carry=h, iteration=state[net].iteration + 1)
            parts[net] = (u_hat, noise_scale, m)
        mean = total / count  # ONE scalar over every update element of every network
        return OpenStep({net: u - mean for net, u in updates.items()}, new_state, parts)

    def update(
        self,
        rule_params: Any,
        state: dict[str, OpenNetState],
        grads: Params,
        params: Params,
        ctx: UpdateContext,
    ) -> tuple[Params, dict[str, OpenNetState]]:
        new_params, new_state, _ = self._update(rule_params, state, grads, params, ctx, analysis=False)
        return new_params, new_state

    def update_with_analysis(
        self,
        rule_params: Any,
        state: dict[str, OpenNetState],
        grads: Params,
        params: Params,
        ctx: UpdateContext,
    ) -> tuple[Params, dict[str, OpenNetState], dict[str, dict[str, jax.Array]]]:
        """:meth:`update` plus the App. F statistics (:mod:`openrl.optimizers.analysis`) of this step:
        ``{net or "all": {"cos_g", "cos_m<beta>" x6, "update_over_param", ["noise_over_param"]}}``.
        The PPO loop calls it instead of :meth:`update` only when ``analysis=True``."""
        return self._update(rule_params, state, grads, params, ctx, analysis=True)

    def _update(self, rule_params, state, grads, params, ctx, analysis: bool):
        """:meth:`step` on the PPO networks: features from ``ctx``, noise on the actor (:data:`NOISE_NETS`)."""
        ins = self.inputs(params, grads, state, ctx)
        noise = {
            net: draw_noise(ctx.key, jax.tree.leaves(params[net]))
            if self.use_stochasticity and net in NOISE_NETS
            else None
            for net in params
        }
        out = self.step(rule_params, state, ins, noise)
        new_params = {}
        for net, p_tree in params.items():
            leaves, treedef = jax.tree.flatten(p_tree)
            steps = split_like(out.updates[net], leaves)
            new_params[net] = jax.tree.unflatten(
                treedef, [leaf - s.astype(leaf.dtype) for leaf, s in zip(leaves, steps)]
            )
        stats = self._analysis(params, grads, out.updates, out.parts) if analysis else {}
        return new_params, out.state, stats

    def _analysis(self, params, grads, updates, parts) -> dict[str, dict[str, jax.Array]]:
        flat = {}
        for net, p_tree in params.items():
            treedef = jax.tree.structure(p_tree)
            p = ravel_leaves(jax.tree.leaves(p_tree))
            g = ravel_leaves(treedef.flatten_up_to(grads[net]))
            u_hat, noise_scale, m = parts[net]
            flat[net] = (updates[net], g, m, p, u_hat, noise_scale)
        stats = {
            net: analysis_lib.update_stats(u, g, m, self.decays, p, u_hat, ns)
            for net, (u, g, m, p, u_hat, ns) in flat.items()
        }
        if len(flat) > 1:
            cat = [jnp.concatenate(xs, axis=-1) for xs in zip(*(v[:5] for v in flat.values()))]
            stats["all"] = analysis_lib.update_stats(cat[0], cat[1], cat[2], self.decays, cat[3], cat[4])
        return stats


def no_features(
    gru_features: int = 8, hidden: int = 16, alpha1: float = 1e-3, alpha2: float = 1e-3, **kw: Any
) -> OpenRule:
    """The 'No Features' baseline: 14 inputs (sign/log of the 6 momenta and of g), 2 outputs, no noise."""
    return OpenRule(
        gru_features=gru_features,
        hidden=hidden,
        alpha1=alpha1,
        alpha2=alpha2,
        use_param=False,
        use_training_prop=False,
        use_layer_prop=False,
        use_batch_prop=False,
        use_dormancy=False,
        use_stochasticity=False,
        name="no_features",
        **kw,
    )


def meta_param_count(num_inputs: int, gru_features: int, hidden: int, num_outputs: int) -> int:
    """Closed form of :attr:`OpenRule.num_meta_params` (GRU: 3CF + 3F^2 + 4F; MLP: two Dense+LN, one Dense)."""
    c, f, h, o = num_inputs, gru_features, hidden, num_outputs
    return 3 * c * f + 3 * f * f + 4 * f + (f * h + h) + 2 * h + (h * h + h) + 2 * h + (h * o + o)


__all__ = [
    "BATCHING",
    "DECAYS",
    "OpenNetState",
    "OpenRule",
    "OpenStep",
    "draw_noise",
    "gru_step_t",
    "meta_forward",
    "meta_forward_t",
    "meta_param_count",
    "no_features",
    "ravel_leaves",
    "split_like",
]
