"""How fast can PPO + OPEN be on this machine? A floor measured inside the real PPO program.

openrl's CPU target was PPO + OPEN at most 1.5x the time of PPO + Adam on a 2-core CPU. This benchmark asks
what part of OPEN's arithmetic alone already costs, by timing PPO + Adam with *only* some of OPEN's
per-parameter work added to each optimizer step (same PPO, same env, same parameter count, float32),
and the full PPO + OPEN, all compiled first and timed in interleaved rounds in one process:

* ``adam``: PPO + Adam (the baseline of the ratio).
* ``adam+matmuls``: + OPEN's five meta-network matmuls on every agent parameter (GRU input
  ``(3F, 19) @ (19, n)``, recurrent ``(3F, F) @ (F, n)``, MLP ``(Hd, F)``, ``(Hd, Hd)``, head
  ``(3, Hd)``) and the two passes they cannot avoid: writing the ``(19, n)`` input matrix and carrying
  the ``(F, n)`` GRU state. Nothing else (no features, no gates, no LayerNorm, no noise).
* ``adam+network``: + the GRU gates (sigmoid, tanh) and relu MLP with the head's ``exp``, i.e. OPEN's
  meta-network without its LayerNorms, on inputs that are a scaled copy of the gradient.
* ``adam+layernorm``: + OPEN's two LayerNorms, computed by OPEN's own code (``_dense_ln_relu_t``).
* ``open``: the real PPO + OPEN (``optimizer=open``, features, dormancy, LayerNorms, noise, zero-mean).

The added outputs feed the parameter update with a 1e-30 weight, so nothing is dead code and training is
Adam's. If ``adam+network`` alone is near 1.5x Adam's time, the target cannot be met by any arrangement
of OPEN's float32 maths under XLA on this machine; the remaining gap to ``open`` is what features,
normalisation, LayerNorm and noise cost.

    python -m benchmarks.open_floor [--updates 20] [--repeats 3] [--optimizer open] [--out open_floor]
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import add_publish_flag, build, machine, ppo_updates, print_programs, write
from benchmarks.ppo_throughput import measure_interleaved
from openrl.optimizers.open import OpenRule, _dense_ln_relu_t
from openrl.ppo.train import PPOTrainer

_HI = jax.lax.Precision.HIGHEST
LEVELS = ("matmuls", "network", "layernorm")


@dataclass(frozen=True)
class FloorRule:
    """PPO's Adam step plus part of OPEN's per-parameter meta-network work (see the module docstring)."""

    base: Any  # the OptaxRule of the Adam config
    level: str  # one of LEVELS
    gru_features: int = 8
    hidden: int = 16
    num_inputs: int = 19
    num_outputs: int = 3

    def default_params(self) -> dict[str, Any]:
        f, h, c, o = self.gru_features, self.hidden, self.num_inputs, self.num_outputs
        rng = np.random.default_rng(0)

        def w(*shape):  # small random weights keep every activation finite and away from saturation
            return jnp.asarray(rng.normal(0.0, 0.3 / np.sqrt(shape[1]), shape), jnp.float32)

        meta = {"wi": w(3 * f, c), "wh": w(3 * f, f), "w1": w(h, f), "w2": w(h, h), "w3": w(o, h)}
        meta["ln"] = {"scale": jnp.ones((h,), jnp.float32), "bias": jnp.zeros((h,), jnp.float32)}
        meta["rows"] = jnp.linspace(0.5, 1.5, c, dtype=jnp.float32)[:, None]
        return {"base": self.base.default_params(), "meta": meta}

    def init(self, params) -> dict[str, Any]:
        n = sum(int(np.size(x)) for x in jax.tree.leaves(params))
        return {"base": self.base.init(params), "carry": jnp.zeros((self.gru_features, n), jnp.float32)}

    def update(self, rule_params, state, grads, params, ctx):
        new_params, base_state = self.base.update(rule_params["base"], state["base"], grads, params, ctx)
        m, f = rule_params["meta"], self.gru_features
        leaves, treedef = jax.tree.flatten(grads)
        g = jnp.concatenate([jnp.ravel(x) for x in leaves])
        x = m["rows"] * g[None, :]  # the (19, n) input matrix the first matmul reads
        gi = jnp.dot(m["wi"], x, precision=_HI)
        gh = jnp.dot(m["wh"], state["carry"], precision=_HI)
        if self.level == "matmuls":
            h = gi[:f] + gh[:f]
            act = lambda y: y  # noqa: E731
        else:  # the GRU cell's gates and the MLP's relus, as OPEN computes them (no LayerNorm)
            r = jax.nn.sigmoid(gi[:f] + gh[:f])
            z = jax.nn.sigmoid(gi[f : 2 * f] + gh[f : 2 * f])
            cand = jnp.tanh(gi[2 * f :] + r * gh[2 * f :])
            h = (1.0 - z) * cand + z * state["carry"]
            act = jax.nn.relu
        if self.level == "layernorm":
            zero = jnp.zeros((self.hidden,), jnp.float32)
            y = _dense_ln_relu_t({"kernel": m["w1"].T, "bias": zero}, m["ln"], h, 1e-6)
            y = _dense_ln_relu_t({"kernel": m["w2"].T, "bias": zero}, m["ln"], y, 1e-6)
        else:
            y = act(jnp.dot(m["w1"], h, precision=_HI))
            y = act(jnp.dot(m["w2"], y, precision=_HI))
        o = jnp.dot(m["w3"], y, precision=_HI)
        u = o[0] + o[1] if self.level == "matmuls" else o[0] * jnp.exp(1e-3 * o[1])
        extra, start, out = 1e-30 * u, 0, []
        for p in jax.tree.leaves(new_params):
            size = int(np.size(p))
            out.append(p - extra[start : start + size].reshape(p.shape))
            start += size
        return jax.tree.unflatten(treedef, out), {"base": base_state, "carry": h}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--env", default="breakout")
    ap.add_argument(
        "--optimizer", default="open", help="an OPEN variant (e.g. open_large): the sizes to floor"
    )
    ap.add_argument("--out", default="open_floor")
    add_publish_flag(ap)
    args = ap.parse_args()

    adam, adam_rp, hp, cfg = build([f"env={args.env}", "optimizer=adam"])
    open_tr, open_rp, _, _ = build([f"env={args.env}", f"optimizer={args.optimizer}"])
    o = open_tr.rule
    if not isinstance(o, OpenRule) or o.separated:
        raise SystemExit(f"--optimizer {args.optimizer}: expected an OPEN config with shared meta-parameters")
    sizes = {"gru_features": o.gru_features, "hidden": o.hidden, "num_inputs": o.num_inputs}
    s, U = adam.static, args.updates
    steps = U * s.batch_size
    key = jax.random.PRNGKey(0)

    program = partial(ppo_updates, num_updates=U)
    programs = {"adam": (program(adam), (key, adam_rp, hp), steps)}
    for level in LEVELS:
        rule = FloorRule(adam.rule, level, num_outputs=o.num_outputs, **sizes)
        tr = PPOTrainer(s, adam.env, rule)
        programs[f"adam+{level}"] = (program(tr), (key, rule.default_params(), hp), steps)
    programs[args.optimizer] = (program(open_tr), (key, open_rp, hp), steps)

    results = {
        "machine": machine(),
        "env": cfg.env.id,
        "optimizer": o.describe(),
        "agent_parameters": int(sum(np.size(x) for x in jax.tree.leaves(adam.init_params(key)))),
        "updates_timed": U,
        "repeats": args.repeats,
        "timing": "interleaved rounds, fastest round per program",
    }
    results.update(measure_interleaved(programs, args.repeats))
    base = results["adam"]["env_steps_per_s"]
    for name in programs:
        results[name]["time_vs_adam"] = base / results[name]["env_steps_per_s"]
    results["loadavg_end"] = os.getloadavg()
    path = write(args.out, results, publish=args.publish)
    print_programs(results, programs, "time_vs_adam")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
