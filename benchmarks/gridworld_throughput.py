"""Gridworld throughput: raw env steps/s and PPO env-steps/s at paper Table 3 gridworld settings.

Measured in one process, so the ratios are meaningful on a noisy machine:

* ``raw_env/<level>``: 1024 parallel envs of one sampled level, uniformly random actions, a
  ``lax.scan`` of ``updates x 20`` steps -- the ceiling any PPO loop on that level type can reach;
* ``ppo_adam/<level>``: the full PPO update (1024 envs x 20 steps, 2 epochs x 16 minibatches, width 16,
  tanh) with tuned Adam, one seed;
* ``ppo_open/rand_all``: the same with OPEN (the learned optimizer costs more per minibatch step).

Writes ``results/gridworld_throughput.json``.

    python -m benchmarks.gridworld_throughput [--updates 20] [--repeats 2] [--levels rand_all labyrinth]
"""

from __future__ import annotations

import argparse
import os

import jax

from benchmarks.common import add_publish_flag, build, machine, ppo_updates, random_action_rollout, write
from benchmarks.ppo_throughput import measure


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--levels", nargs="*", default=["rand_all", "labyrinth"])
    ap.add_argument("--ppo-levels", nargs="*", default=["rand_all"])
    ap.add_argument("--optimizers", nargs="*", default=["open"])
    ap.add_argument("--out", default="gridworld_throughput")
    add_publish_flag(ap)
    args = ap.parse_args()
    U = args.updates
    key = jax.random.PRNGKey(0)
    results: dict = {"machine": machine(), "updates_timed": U, "settings": "paper Table 3 (gridworld)"}

    for level in args.levels:
        trainer, _, _, cfg = build(["env=gridworld", f"env.level={level}", "optimizer=adam"])
        s, env = trainer.static, trainer.env
        results.setdefault("num_envs", s.num_envs)
        results.setdefault("num_steps", s.num_steps)

        raw = random_action_rollout(env, U * s.num_steps)

        r = measure(raw, (key,), U * s.batch_size, args.repeats)
        r["obs_dim"] = env.obs_dim
        results[f"raw_env/{level}"] = r

    for level in args.ppo_levels:
        for opt in ["adam", *args.optimizers]:
            trainer, rp, hp, _ = build(["env=gridworld", f"env.level={level}", f"optimizer={opt}"])
            r = measure(ppo_updates(trainer, U), (key, rp, hp), U * trainer.static.batch_size, args.repeats)
            raw_rate = results.get(f"raw_env/{level}", {}).get("env_steps_per_s")
            if raw_rate:
                r["fraction_of_raw_env"] = r["env_steps_per_s"] / raw_rate
            results[f"ppo_{opt}/{level}"] = r
    results["loadavg_end"] = os.getloadavg()
    path = write(args.out, results, publish=args.publish)
    for k, r in results.items():
        if isinstance(r, dict) and "env_steps_per_s" in r:
            print(
                f"{k:>22}: {r['env_steps_per_s']:>10,.0f} env-steps/s  {r['cpu_s_per_1e6_steps']:6.1f} CPU-s/1e6  "
                f"compile {r['compile_s']:.1f}s"
            )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
