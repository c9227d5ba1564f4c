"""Correctness benchmark: Adam-PPO at the paper's settings vs the authors' Adam normalisers (PPO_TEMP).

Trains ``--seeds`` seeds per game (vmapped, one compiled program per game and setting) at the paper's
settings (Table 3, tuned Table 4 Adam, 1e7 steps) and records per-seed final returns, their mean and
IQM. ``--anneal`` runs each game with learning-rate annealing off and/or on (the paper's on/off marks
were lost from its text). Results accumulate in results/adam_returns.json after every game.

    python benchmarks/adam_returns.py --games breakout --anneal off on --seeds 8
    # 4 more seeds, disjoint from an earlier 4-seed run (keys from PRNGKey(1)); pooled in RESULTS.md
    python benchmarks/adam_returns.py --games asterix --seeds 4 --key-seed 1
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np
from scipy import stats

from benchmarks.common import Timer, add_publish_flag, build, machine, out_dir, write


def iqm(x: np.ndarray) -> float:
    return float(stats.trim_mean(np.asarray(x), 0.25))


def run_one(overrides: list[str], seeds: int, key_seed: int = 0) -> dict:
    """Trains ``seeds`` vmapped seeds (keys ``split(PRNGKey(key_seed), seeds)``); per-seed final returns."""
    trainer, rule_params, hp, cfg = build(overrides)
    keys = jax.random.split(jax.random.PRNGKey(key_seed), seeds)
    fn = jax.jit(jax.vmap(trainer.train, in_axes=(0, None, None)))
    with Timer() as tc:
        compiled = fn.lower(keys, rule_params, hp).compile()
    with Timer() as tr:
        _, metrics = jax.block_until_ready(compiled(keys, rule_params, hp))
    final = np.asarray(metrics["final_return"][:, -1])
    curve = np.nanmean(np.asarray(metrics["episode_return"]), axis=0)
    steps = trainer.static.num_updates * trainer.static.batch_size
    return {
        "overrides": overrides,
        "total_timesteps_per_seed": steps,
        "seed_keys": f"jax.random.split(PRNGKey({key_seed}), {seeds})",
        "final_return": final.tolist(),
        "final_return_mean": float(final.mean()),
        "final_return_iqm": iqm(final),
        "last_update_completed_episode_return": np.asarray(metrics["episode_return"][:, -1]).tolist(),
        "authors_adam_return": cfg.env.adam_return,
        "curve_every_10pct": [float(curve[int(i)]) for i in np.linspace(0, len(curve) - 1, 11)],
        "compile_s": tc.wall,
        "run_wall_s": tr.wall,
        "run_cpu_s": tr.cpu,
        "env_steps_per_s": steps * seeds / tr.wall,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--games", nargs="+", default=["breakout", "asterix", "freeway", "spaceinvaders"])
    ap.add_argument("--anneal", nargs="+", default=["tuned"], choices=["tuned", "off", "on"])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--timesteps", type=int, default=None)
    ap.add_argument(
        "--key-seed",
        type=int,
        default=0,
        help="seed keys split(PRNGKey(k), seeds); k > 0 adds seeds disjoint from an earlier k=0 run",
    )
    ap.add_argument("--out", default="adam_returns")
    add_publish_flag(ap)
    args = ap.parse_args()

    path = out_dir(args.publish) / f"{args.out}.json"
    results = json.loads(path.read_text()) if path.exists() else {"machine": machine(), "runs": {}}
    for game in args.games:
        for anneal in args.anneal:
            ov = [f"env={game}", "optimizer=adam"]
            if anneal != "tuned":
                ov.append(f"optimizer.anneal_lr={'true' if anneal == 'on' else 'false'}")
            if args.timesteps:
                ov.append(f"ppo.total_timesteps={args.timesteps}")
            key = f"{game}/anneal={anneal}" + (f"/keys={args.key_seed}" if args.key_seed else "")
            r = results["runs"][key] = run_one(ov, args.seeds, args.key_seed)
            final = np.asarray(r["final_return"])
            write(args.out, results, publish=args.publish)
            print(
                f"{key}: final {np.round(final, 2).tolist()} mean {final.mean():.2f} iqm {iqm(final):.2f} "
                f"(authors' Adam {r['authors_adam_return']}) wall {r['run_wall_s']:.0f}s cpu {r['run_cpu_s']:.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
