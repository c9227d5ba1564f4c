"""Throughput of PPO + Adam on Breakout-MinAtar at paper settings, against the raw env-step ceiling.

Measured in one process, so the ratios are meaningful on a noisy machine:

* ``raw_env``: Breakout-MinAtar alone, 64 envs, uniformly random actions, ``lax.scan`` of the same
  rollout length -- the ceiling any PPO loop on this env can reach;
* ``ppo_1_seed``: the full PPO update (rollout + GAE + 4 epochs x 8 minibatches) for one seed;
* ``ppo_1_seed_jax_permutation``: the same with ``ppo.shuffle=jax_permutation`` (PureJaxRL's shuffle);
* ``ppo_16_seeds``: the same, vmapped over 16 seeds in one program;
* ``ppo_<optimizer>_1_seed``: PPO with a learned optimizer (OPEN, No Features, ...) instead of Adam,
  with its slowdown relative to PPO+Adam measured in the same process.

For each: env-steps/s (wall), CPU-seconds per 1e6 env-steps, compile time. Writes
``results/ppo_throughput.json``.

    python -m benchmarks.ppo_throughput [--updates 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os

import jax

from benchmarks.common import Timer, build, machine, random_action_rollout, write


def measure(fn, args, steps: int, repeats: int) -> dict:
    with Timer() as tc:
        compiled = jax.jit(fn).lower(*args).compile()
    jax.block_until_ready(compiled(*args))  # warm-up
    best = None
    for _ in range(repeats):
        with Timer() as t:
            jax.block_until_ready(compiled(*args))
        if best is None or t.wall < best.wall:
            best = t
    return {
        "compile_s": tc.wall,
        "wall_s": best.wall,
        "cpu_s": best.cpu,
        "env_steps": steps,
        "env_steps_per_s": steps / best.wall,
        "cpu_s_per_1e6_steps": best.cpu / steps * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--env", default="breakout")
    ap.add_argument("--out", default="ppo_throughput")
    ap.add_argument(
        "--optimizers",
        nargs="*",
        default=["open", "no_features"],
        help="learned optimizers timed against Adam in the same process (1 seed each)",
    )
    args = ap.parse_args()

    trainer, rule_params, hp, cfg = build([f"env={args.env}", "optimizer=adam"])
    s, env = trainer.static, trainer.env
    U = args.updates
    steps = U * s.batch_size
    results = {
        "machine": machine(),
        "env": cfg.env.id,
        "num_envs": s.num_envs,
        "num_steps": s.num_steps,
        "updates_timed": U,
    }

    raw = random_action_rollout(env, U * s.num_steps)

    key = jax.random.PRNGKey(0)
    results["raw_env"] = measure(raw, (key,), steps, args.repeats)

    def ppo(key, rp, h):
        return trainer.run(trainer.init(key), rp, h, U)[1]["final_return"]

    results["ppo_1_seed"] = measure(ppo, (key, rule_params, hp), steps, args.repeats)
    # the same PPO with jax.random.permutation as the minibatch shuffle (PureJaxRL's and the authors'
    # call): the ratio shows what openrl's packed-sort shuffle (ppo.shuffle, default) buys
    tr_jp, _, _, _ = build([f"env={args.env}", "optimizer=adam", "ppo.shuffle=jax_permutation"])

    def ppo_jp(key, rp, h):
        return tr_jp.run(tr_jp.init(key), rp, h, U)[1]["final_return"]

    results["ppo_1_seed_jax_permutation"] = measure(ppo_jp, (key, rule_params, hp), steps, args.repeats)
    results["packed_sort_speedup"] = (
        results["ppo_1_seed"]["env_steps_per_s"] / results["ppo_1_seed_jax_permutation"]["env_steps_per_s"]
    )
    keys = jax.random.split(key, args.seeds)
    results[f"ppo_{args.seeds}_seeds"] = measure(
        jax.vmap(ppo, in_axes=(0, None, None)), (keys, rule_params, hp), steps * args.seeds, args.repeats
    )
    adam_rate = results["ppo_1_seed"]["env_steps_per_s"]
    for name in args.optimizers:
        tr, rp, h, _ = build([f"env={args.env}", f"optimizer={name}"])

        def ppo_opt(key, rp, h, tr=tr):
            return tr.run(tr.init(key), rp, h, U)[1]["final_return"]

        r = measure(ppo_opt, (key, rp, h), steps, args.repeats)
        r["slowdown_vs_adam"] = adam_rate / r["env_steps_per_s"]
        results[f"ppo_{name}_1_seed"] = r
    raw_rate = results["raw_env"]["env_steps_per_s"]
    results["ppo_1_seed_fraction_of_raw_env"] = results["ppo_1_seed"]["env_steps_per_s"] / raw_rate
    results["loadavg_end"] = os.getloadavg()
    path = write(args.out, results)
    for k in (
        "raw_env",
        "ppo_1_seed",
        "ppo_1_seed_jax_permutation",
        f"ppo_{args.seeds}_seeds",
        *(f"ppo_{n}_1_seed" for n in args.optimizers),
    ):
        r = results[k]
        print(
            f"{k:>26}: {r['env_steps_per_s']:>10,.0f} env-steps/s  {r['cpu_s_per_1e6_steps']:6.1f} CPU-s/1e6  "
            f"compile {r['compile_s']:.1f}s"
        )
    print(
        f"PPO (1 seed) runs at {results['ppo_1_seed_fraction_of_raw_env']:.1%} of the raw env-step rate -> {path}"
    )


if __name__ == "__main__":
    main()
