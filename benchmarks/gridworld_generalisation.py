"""Released gridworld OPEN vs tuned Adam on every gridworld level type (paper Fig. 4, width-16 column).

For each level type, ``--seeds`` agents are trained with each optimizer on the *same* keys, so seed ``i``
of OPEN and seed ``i`` of Adam train on the same sampled level (paired runs). PPO settings are paper
Table 3 (gridworld) except ``--timesteps`` (the paper's T is 3e7; on a CPU pick what fits). Adam is the
gridworld-tuned one (Table 6: lr 1e-4, b1 = b2 = 0.99, annealed).

Reported per level: per-seed final returns (the authors' fitness) of both optimizers, their means, the
Adam-normalised mean ``mean(OPEN) / mean(Adam)`` with a paired bootstrap CI (seeds resampled jointly),
the paired difference, P(OPEN > Adam) over all run pairs and the paired win rate (same seed, same
level). Aggregate: the mean over level types of the Adam-normalised
mean, with a stratified bootstrap CI (seeds resampled within each level), over the levels where Adam's
mean return is positive (normalising by a return near zero or below is meaningless; those levels are
listed). Wall and CPU seconds are recorded. JSON to ``results/gridworld_generalisation.json``.

    python -m benchmarks.gridworld_generalisation --timesteps 30000000 --seeds 64      # the paper, on a GPU
    python -m benchmarks.gridworld_generalisation --timesteps 204800 --seeds 16         # CPU-sized
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from benchmarks.common import Timer, add_publish_flag, build, machine, write
from openrl.envs.gridworld import LEVELS

DEFAULT_WEIGHTS = "pretrained:gridworld_OPEN"  # the authors' released gridworld optimizer (weights cache)


def train_seeds(overrides: list[str], keys: jax.Array, seed_chunk: int | None) -> tuple[np.ndarray, float]:
    """Per-seed final-return curves (seeds, updates) of one config, and its compile seconds."""
    trainer, rp, hp, _ = build(overrides)

    def one(k):
        return trainer.train(k, rp, hp)[1]["final_return"]

    fn = jax.jit(lambda ks: jax.lax.map(one, ks, batch_size=seed_chunk or ks.shape[0]))
    t0 = time.perf_counter()
    compiled = fn.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    return np.asarray(jax.block_until_ready(compiled(keys))), compile_s


def paired_bootstrap(a: np.ndarray, b: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap distribution of mean(a) / mean(b), resampling seed indices jointly (paired runs)."""
    idx = rng.integers(0, len(a), size=(reps, len(a)))
    return a[idx].mean(1) / b[idx].mean(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", nargs="*", default=list(LEVELS))
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--timesteps", type=int, default=204800)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS, help="a weights file or pretrained:NAME")
    ap.add_argument("--seed", type=int, default=42, help="the authors evaluate with PRNGKey(42)")
    ap.add_argument("--seed-chunk", type=int, default=None, help="seeds per vmapped batch (memory)")
    ap.add_argument("--bootstrap", type=int, default=10000)
    ap.add_argument("--out", default="gridworld_generalisation")
    add_publish_flag(ap)
    args = ap.parse_args()

    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.seeds)
    common = ["env=gridworld", f"ppo.total_timesteps={args.timesteps}", f"ppo.width={args.width}"]
    opts = {
        "open": ["optimizer=open", f"optimizer.weights={args.weights}"],
        "adam": ["optimizer=adam"],
    }
    rng = np.random.default_rng(0)
    results: dict = {
        "machine": machine(),
        "timesteps": args.timesteps,
        "paper_timesteps": 30_000_000,
        "width": args.width,
        "seeds": args.seeds,
        "prng_seed": args.seed,
        "weights": args.weights,
        "levels": {},
    }
    with Timer() as total:
        for level in args.levels:
            row: dict = {}
            for name, ov in opts.items():
                with Timer() as t:
                    curves, compile_s = train_seeds(
                        [*common, f"env.level={level}", *ov], keys, args.seed_chunk
                    )
                final = curves[:, -1]
                row[name] = {
                    "final_return": final.tolist(),
                    "mean": float(final.mean()),
                    "wall_s": t.wall,
                    "cpu_s": t.cpu,
                    "compile_s": compile_s,
                }
                print(
                    f"{level:>14} {name:>5}: mean {final.mean():8.3f}  ({t.wall:.0f} s wall, {t.cpu:.0f} s CPU)"
                )
            a, b = np.asarray(row["open"]["final_return"]), np.asarray(row["adam"]["final_return"])
            diff = a - b
            row["difference_mean"] = float(diff.mean())
            boot_d = rng.choice(diff, size=(args.bootstrap, len(diff))).mean(1)
            row["difference_ci95"] = np.percentile(boot_d, [2.5, 97.5]).tolist()
            # unpaired: a random OPEN run beats a random Adam run (levels differ between seeds) ...
            row["p_open_beats_adam"] = float(
                np.mean((a[:, None] > b[None, :]) + 0.5 * (a[:, None] == b[None, :]))
            )
            # ... and paired: OPEN beats Adam on the same seed (same sampled level)
            row["paired_win_rate"] = float(np.mean((a > b) + 0.5 * (a == b)))
            row["adam_normalised"] = float(a.mean() / b.mean()) if b.mean() > 0 else None
            if b.mean() > 0:
                row["adam_normalised_ci95"] = np.percentile(
                    paired_bootstrap(a, b, args.bootstrap, rng), [2.5, 97.5]
                ).tolist()
            results["levels"][level] = row
            write(args.out, results, publish=args.publish)  # partial results survive an interrupted run
    norm = {k: r for k, r in results["levels"].items() if r["adam_normalised"] is not None}
    if norm:
        boots = np.stack(
            [
                paired_bootstrap(
                    np.asarray(r["open"]["final_return"]),
                    np.asarray(r["adam"]["final_return"]),
                    args.bootstrap,
                    rng,
                )
                for r in norm.values()
            ]
        )
        results["aggregate"] = {
            "adam_normalised_mean_over_levels": float(np.mean([r["adam_normalised"] for r in norm.values()])),
            "ci95": np.percentile(boots.mean(0), [2.5, 97.5]).tolist(),
            "levels_used": list(norm),
            "levels_excluded_adam_mean_not_positive": [k for k in results["levels"] if k not in norm],
        }
    results["wall_s"] = total.wall
    results["cpu_s"] = total.cpu
    results["loadavg_end"] = os.getloadavg()
    path = write(args.out, results, publish=args.publish)
    if "aggregate" in results:
        ag = results["aggregate"]
        print(
            f"Adam-normalised mean over {len(ag['levels_used'])} levels: {ag['adam_normalised_mean_over_levels']:.3f} "
            f"[{ag['ci95'][0]:.3f}, {ag['ci95'][1]:.3f}]"
        )
    print(f"wall {total.wall:.0f} s, CPU {total.cpu:.0f} s -> {path}")


if __name__ == "__main__":
    main()
