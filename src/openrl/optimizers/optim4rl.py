"""Optim4RL (Lan et al., "Learning to Optimize for Reinforcement Learning", RLC 2024) as an
:class:`~openrl.optimizers.base.UpdateRule`: the learned-optimizer baseline of the OPEN paper.

What the OPEN paper fixes (Sec. 6, App. B.4-B.5, C.2, Tables 4-5, 7):

* two networks, "each comprising a size 8 GRU, and two size 16 fully connected layers" (multi-task:
  GRU 16, dense 32), producing an Adam-like first moment ``m`` and second moment ``v``; the update is
  proportional to ``m / sqrt(v)``;
* gradients preprocessed as ``g -> {sign(g), log(|g| + eps)}`` (the transformation OPEN borrows);
* meta-trained with the same ES as OPEN, from zero meta-parameters ("initialised close to sgn(Adam)");
* learning rate ``0.1 x`` the env's tuned Adam LR (Lion's heuristic): asterix 3e-4, freeway 1e-4,
  breakout 1e-3, spaceinvaders 7e-4, ant 3e-5 (``conf/optimizer/optim4rl.yaml``).

The update, per agent parameter (every parameter independently; one GRU carry per parameter and net):

* m-network: ``h_m <- GRU_m(h_m, [sign(g), log(|g| + eps)])``, ``(a, b) = MLP_m(h_m)``,
  ``m = sign(g) * 1[a + 1 >= 0] * exp(b)``;
* v-network: ``h_v <- GRU_v(h_v, [2 log(|g| + eps)])`` (i.e. ``log g^2``), ``c = MLP_v(h_v)``, ``v = exp(c)``;
* ``p <- p - lr * m / sqrt(v + eps_root)``, computed as ``sign(g) 1[a+1>=0] exp(b - log(exp(c) + eps_root)/2)``.

MLPs are ``Dense(H) - relu - Dense(H) - relu - Dense(k)`` (k = 2 for m, 1 for v), no LayerNorm. The
meta-parameter pytree is ``{"m": {"gru_params": {"params": GRUCell}, "params": {"params": {layers_0,
layers_2, layers_4}}}, "v": {...}}``: 722 + 681 = 1403 values for GRU 8 / dense 16, 2594 + 2513 =
5107 for GRU 16 / dense 32. Flat vectors (``ravel_pytree`` order) load and save like OPEN's.

**Zero meta-parameters** (the ES start) give a well-defined, finite update: the GRUs keep a zero carry
(z = 1/2, n = 0), every MLP output is 0, so ``m = sign(g)`` and ``v = 1``: the update is
``p <- p - lr * sign(g)``, sign descent at 0.1 x Adam's LR (a zero gradient gives a zero step). This is
"close to sgn(Adam)" as the paper says.

Decisions (not stated in the OPEN paper; taken from the design Lan et al. describe, written anew here):

1. *Inputs.* The m-network sees ``[sign(g), log(|g| + eps)]``; the v-network sees only ``2 log(|g| + eps)``
   (the log of g^2, as a second moment would). Neither sees momenta, the parameter value, or any OPEN
   feature (proportions, dormancy): the GRU state is the learned memory. No per-tensor normalisation.
2. *Keeping v positive:* ``v = exp(c)``, and ``sqrt(v + eps_root)`` with ``eps_root = 1e-18`` (Lan et al.'s
   value), evaluated in log space (``logaddexp``) so large ``c`` cannot overflow before the division.
3. *Sign of m.* ``m`` carries the gradient's sign times a learned gate ``1[a + 1 >= 0]`` (the forward value
   of Lan et al.'s straight-through "m sign", whose +1 bias makes it open at initialisation). ES needs
   no gradient through it, so only the forward value matters. The gate can switch a coordinate off but
   never flips it against the gradient.
4. *eps of the log:* ``1e-18`` (Lan et al.'s), not OPEN's 1e-13. A zero gradient gives ``sign = 0``: no step.
5. *No zero-mean, no noise, no extra gradient clipping* (PPO already clips the global norm to 0.5).
6. *One rule for actor and critic*, shared meta-parameters, all parameters in one flat vector (the
   update is elementwise, so the grouping does not matter); the LR is static config, not a meta-parameter.
7. *The gate's +1 offset* is a constant of the rule (``gate_bias``), not a meta-parameter, so zero
   meta-parameters mean an open gate.

Large exponents are not clipped: ``exp(b - c/2)`` can overflow for extreme ES perturbations (as OPEN's
``exp(a2 o1)`` could); the ES reports such members through its NaN count.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from openrl.optimizers.base import Params, UpdateContext
from openrl.optimizers.open import (
    _HI,
    MetaTemplateMixin,
    batched_as,
    check_batching,
    gru_step_t,
    ravel_leaves,
    sequential_batching,
    split_like,
)
from openrl.optimizers.weights import load_flat, unflatten

NETS = ("m", "v")
NUM_INPUTS = {"m": 2, "v": 1}  # m: [sign(g), log|g|]; v: [log g^2]
NUM_OUTPUTS = {"m": 2, "v": 1}  # m: (gate logit, log-magnitude); v: log v


class Optim4RLState(NamedTuple):
    """Optimizer state for the whole agent, flat in ``ravel_pytree`` order of the parameter tree."""

    carry_m: jax.Array  # (gru_features, n)
    carry_v: jax.Array  # (gru_features, n)
    iteration: jax.Array  # int32 scalar


def _mlp_t(p: dict[str, Any], h: jax.Array) -> jax.Array:
    """``Dense - relu - Dense - relu - Dense`` in channel-major layout: ``(F, n) -> (k, n)``."""
    y = jnp.dot(p["layers_0"]["kernel"].T, h, precision=_HI) + p["layers_0"]["bias"][:, None]
    y = jax.nn.relu(y)
    y = jnp.dot(p["layers_2"]["kernel"].T, y, precision=_HI) + p["layers_2"]["bias"][:, None]
    y = jax.nn.relu(y)
    return jnp.dot(p["layers_4"]["kernel"].T, y, precision=_HI) + p["layers_4"]["bias"][:, None]


def _nets_t(meta: Any, carry_m: jax.Array, carry_v: jax.Array, sign: jax.Array, log_g: jax.Array):
    """Both networks on a flat gradient: ``(h_m, h_v, o_m, o_v)``, channel-major ``(F or k, n)``."""
    h_m = gru_step_t(meta["m"]["gru_params"]["params"], carry_m, jnp.stack([sign, log_g]))
    h_v = gru_step_t(meta["v"]["gru_params"]["params"], carry_v, (2.0 * log_g)[None])
    return h_m, h_v, _mlp_t(meta["m"]["params"]["params"], h_m), _mlp_t(meta["v"]["params"]["params"], h_v)


@dataclass(frozen=True)
class Optim4RLRule(MetaTemplateMixin):  # zero meta-parameters give p <- p - lr * sign(g)
    """Optim4RL with traced meta-parameters and a static learning rate.

    Attributes:
        lr: learning rate (paper: 0.1 x the env's tuned Adam LR).
        gru_features: GRU width of each network (8 single-task, 16 multi-task).
        hidden: width of the two hidden dense layers (16 single-task, 32 multi-task).
        weights: flat float32 ``.npy`` or optimizer directory (None: zeros, the ES start).
        batching: how the two networks run when the PPO loop is vmapped (seeds, ES population):
            ``vectorised`` (jax's batched program), ``sequential`` (member by member,
            ``sequential_vmap``) or ``auto`` (default) = vectorised everywhere: unlike OPEN's, these
            small networks (GRU inputs 2 and 1) ran slower member by member on a 2-core CPU (PPO +
            Optim4RL, 16 vmapped seeds: 15.2k env-steps/s sequential, 22.4k vectorised). Same maths.
    """

    lr: float = 1e-3
    gru_features: int = 8
    hidden: int = 16
    weights: str | None = None
    batching: str = "auto"
    log_eps: float = 1e-18
    eps_root: float = 1e-18
    gate_bias: float = 1.0
    name: str = "optim4rl"

    def __post_init__(self) -> None:
        check_batching(self.batching)

    # -- architecture -------------------------------------------------------------------------------
    def modules(self, net: str) -> tuple[nn.GRUCell, nn.Sequential]:
        gru = nn.GRUCell(features=self.gru_features)
        mlp = nn.Sequential(
            [nn.Dense(self.hidden), nn.relu, nn.Dense(self.hidden), nn.relu, nn.Dense(NUM_OUTPUTS[net])]
        )
        return gru, mlp

    @cached_property
    def _template(self) -> Any:
        key = jax.random.PRNGKey(0)
        out = {}
        for net in NETS:
            gru, mlp = self.modules(net)
            gru_vars = jax.eval_shape(
                gru.init, key, jnp.zeros((1, self.gru_features)), jnp.zeros((1, NUM_INPUTS[net]))
            )
            mlp_vars = jax.eval_shape(mlp.init, key, jnp.zeros((1, self.gru_features)))
            out[net] = {"gru_params": gru_vars, "params": mlp_vars}
        return jax.tree.map(lambda s: np.zeros(s.shape, np.float32), out)

    def describe(self) -> str:
        return f"{self.name} (gru_features={self.gru_features}, hidden={self.hidden})"

    # -- UpdateRule ---------------------------------------------------------------------------------
    def default_params(self) -> Any:
        if self.weights is None:
            return self.zero_meta_params()
        flat = load_flat(self.weights, (self.num_meta_params,), self.describe())
        return unflatten(flat, self._template)

    def init(self, params: Params) -> Optim4RLState:
        n = sum(int(np.size(x)) for x in jax.tree.leaves(params))
        zeros = jnp.zeros((self.gru_features, n), jnp.float32)
        return Optim4RLState(carry_m=zeros, carry_v=zeros, iteration=jnp.zeros((), jnp.int32))

    def direction(self, meta: Any, state: Optim4RLState, g: jax.Array) -> tuple[jax.Array, Optim4RLState]:
        """``m / sqrt(v)`` for a flat gradient ``g (n,)`` and the new state (before the learning rate)."""
        sign = jnp.sign(g)
        log_g = jnp.log(jnp.abs(g) + self.log_eps)
        nets = batched_as(_nets_t, sequential_batching(self.batching, sequential_on_cpu=False))
        h_m, h_v, o_m, o_v = nets(meta, state.carry_m, state.carry_v, sign, log_g)
        gate = (o_m[0] + self.gate_bias >= 0.0).astype(jnp.float32)
        log_sqrt_v = 0.5 * jnp.logaddexp(o_v[0], jnp.log(jnp.float32(self.eps_root)))
        d = sign * gate * jnp.exp(o_m[1] - log_sqrt_v)
        return d, Optim4RLState(carry_m=h_m, carry_v=h_v, iteration=state.iteration + 1)

    def update(
        self, rule_params: Any, state: Optim4RLState, grads: Params, params: Params, ctx: UpdateContext
    ) -> tuple[Params, Optim4RLState]:
        leaves, treedef = jax.tree.flatten(params)
        g = ravel_leaves(treedef.flatten_up_to(grads))
        d, new_state = self.direction(rule_params, state, g)
        steps = split_like(self.lr * d, leaves)
        return jax.tree.unflatten(treedef, [p - s.astype(p.dtype) for p, s in zip(leaves, steps)]), new_state

    def reference_direction(self, meta: Any, carries: tuple[jax.Array, jax.Array], g: jax.Array):
        """The same step through the flax modules (row-major, slow; for tests): ``g (n,)``,
        carries ``(n, F)`` each -> ``(direction (n,), (h_m, h_v))``."""
        sign, log_g = jnp.sign(g), jnp.log(jnp.abs(g) + self.log_eps)
        gru_m, mlp_m = self.modules("m")
        gru_v, mlp_v = self.modules("v")
        h_m, _ = gru_m.apply(meta["m"]["gru_params"], carries[0], jnp.stack([sign, log_g], axis=1))
        h_v, _ = gru_v.apply(meta["v"]["gru_params"], carries[1], (2.0 * log_g)[:, None])
        o_m = mlp_m.apply(meta["m"]["params"], h_m)
        o_v = mlp_v.apply(meta["v"]["params"], h_v)
        gate = (o_m[:, 0] + self.gate_bias >= 0.0).astype(jnp.float32)
        m = sign * gate * jnp.exp(o_m[:, 1])
        v = jnp.exp(o_v[:, 0])
        return m / jnp.sqrt(v + self.eps_root), (h_m, h_v)


def optim4rl_param_count(gru_features: int, hidden: int) -> int:
    """Closed form of :attr:`Optim4RLRule.num_meta_params`."""

    def one(c: int, k: int) -> int:
        f, h = gru_features, hidden
        return 3 * c * f + 3 * f * f + 4 * f + (f * h + h) + (h * h + h) + (h * k + k)

    return one(2, 2) + one(1, 1)


__all__ = ["Optim4RLRule", "Optim4RLState", "optim4rl_param_count"]
