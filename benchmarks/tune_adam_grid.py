"""Tune Adam for one env and budget over the paper's Adam grid, every point in one vmapped program.

The paper tuned Adam per environment (Table 4: LR in [0.001, 0.01], beta1 and beta2 in {0.9, 0.99, 0.999},
learning-rate annealing on/off). Here the learning rate and betas are traced ``rule_params``, so each
annealing setting is ONE compiled program vmapped over grid points x seeds, instead of 54 jobs that each
compile. The best point (highest mean final return) is the tuned value; ties keep the first.

Seeds are drawn from ``PRNGKey(--key-seed)`` (default 20000): disjoint from the keys meta-training uses for
training, validation (the run seed's split) and its final evaluation (``PRNGKey(10000 + seed)``), so a
learned optimizer is not compared with an Adam tuned on its own test seeds.

    python -m benchmarks.tune_adam_grid --experiment quickstart --seeds 8 --name tune_adam_cartpole_T20480  # CartPole
    python -m benchmarks.tune_adam_grid --experiment ablation_breakout --seeds 4 --lrs 0.003 0.01

A grid saves its progress chunk by chunk (``outputs/benchmarks/<name>.partial.json``): run the same command
again after a kill and it computes only the chunks still missing (the same program on the same keys, so the
results are those of an uninterrupted run). Breakout at T = 2e5 took ~75 CPU-minutes for 108 points
x 8 seeds on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from benchmarks.common import Timer, add_publish_flag, machine, write
from openrl.builders import build_trainer
from openrl.config import load_config

LRS = (0.001, 0.002, 0.003, 0.005, 0.007, 0.01)  # conf/experiment/tune_adam.yaml
BETAS = (0.9, 0.99, 0.999)


def grid_returns(
    overrides: list[str],
    points: list[tuple[float, float, float]],
    keys: jax.Array,
    chunk: int | None = None,
    done: dict[str, list[list[float]]] | None = None,
    on_chunk: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Final returns ``(points, seeds)`` of Adam at every ``(lr, b1, b2)`` point.

    ``chunk``: points per program call (memory grows with points x seeds; Breakout at T = 2e5 needs
    ~40 MiB per run). Every call has the same shapes, so the program compiles once; a last, smaller chunk
    is padded with repeats of its last point. ``done`` maps a chunk's start index to returns a killed run
    already computed (skipped, and bitwise what a rerun would give: same program, same keys);
    ``on_chunk(start, returns)`` is called after each chunk computed here, to save progress.
    """
    _, cfg = load_config(overrides)
    trainer, _, hp = build_trainer(cfg)

    def one(point_params, key):
        return trainer.train(key, point_params, hp)[1]["final_return"][-1]

    per_point = jax.jit(jax.vmap(lambda pp: jax.vmap(lambda k: one(pp, k))(keys)))
    chunk = chunk or len(points)
    out = []
    for start in range(0, len(points), chunk):
        if done and str(start) in done:
            out.append(np.asarray(done[str(start)], np.float32))
            continue
        part = list(points[start : start + chunk])
        n = len(part)
        part += [part[-1]] * (chunk - n)
        rp = {
            "lr": jnp.asarray([p[0] for p in part], jnp.float32),
            "b1": jnp.asarray([p[1] for p in part], jnp.float32),
            "b2": jnp.asarray([p[2] for p in part], jnp.float32),
        }
        out.append(np.asarray(per_point(rp))[:n])
        if on_chunk is not None:
            on_chunk(start, out[-1])
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default="quickstart")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--key-seed", type=int, default=20_000)
    ap.add_argument("--lrs", type=float, nargs="+", default=LRS)
    ap.add_argument("--betas", type=float, nargs="+", default=BETAS)
    ap.add_argument("--anneal", choices=("on", "off"), nargs="+", default=("on", "off"))
    ap.add_argument("--extra", nargs="*", default=[], help="further Hydra overrides (e.g. env=asterix)")
    ap.add_argument(
        "--name", default=None, help="<name>.json (default: tune_adam_<experiment>; see --publish)"
    )
    add_publish_flag(ap)
    ap.add_argument(
        "--chunk", type=int, default=None, help="grid points per program call (default: all; bounds memory)"
    )
    args = ap.parse_args(argv)

    points = list(itertools.product(args.lrs, args.betas, args.betas))
    keys = jax.random.split(jax.random.PRNGKey(args.key_seed), args.seeds)
    base = [f"experiment={args.experiment}", "mode=ppo", "optimizer=adam", *args.extra]
    _, cfg = load_config(base)
    name = args.name or f"tune_adam_{args.experiment}"
    # progress, chunk by chunk, so a killed grid resumes where it stopped (--chunk must not change)
    partial_path = common.OUTPUTS / f"{name}.partial.json"
    signature = {
        k: getattr(args, k) for k in ("experiment", "seeds", "key_seed", "lrs", "betas", "extra", "chunk")
    }
    signature = json.loads(json.dumps(signature))  # as it reads back from the file (tuples -> lists)
    partial = json.loads(partial_path.read_text()) if partial_path.exists() else {}
    if partial and partial.get("signature") != signature:
        print(f"{partial_path}: from a different grid ({partial.get('signature')}); starting afresh")
        partial = {}
    partial = partial or {"signature": signature, "chunks": {}, "timing": {}}
    if partial["chunks"]:
        done = sum(len(v) for v in partial["chunks"].values())
        print(f"resuming from {partial_path}: {done} chunk(s) already computed")

    def save(anneal: str, start: int, finals: np.ndarray, t0: list[float]) -> None:
        partial["chunks"].setdefault(anneal, {})[str(start)] = finals.tolist()
        spent = partial["timing"].setdefault(anneal, {"wall_s": 0.0, "cpu_s": 0.0})
        spent["wall_s"] += time.perf_counter() - t0[0]
        spent["cpu_s"] += time.process_time() - t0[1]
        t0[:] = [time.perf_counter(), time.process_time()]
        partial_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = partial_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(partial))
        tmp.replace(partial_path)

    rows = []
    timing = {}
    for anneal in args.anneal:
        clock = [time.perf_counter(), time.process_time()]
        with Timer() as t:
            finals = grid_returns(
                [*base, f"optimizer.anneal_lr={anneal == 'on'}"],
                points,
                keys,
                args.chunk,
                done=partial["chunks"].get(anneal),
                on_chunk=lambda start, f, a=anneal, c=clock: save(a, start, f, c),
            )
        # seconds spent computing this setting's chunks, over every call that computed some
        timing[anneal] = partial["timing"].get(anneal, {"wall_s": t.wall, "cpu_s": t.cpu})
        for (lr, b1, b2), f in zip(points, finals):
            rows.append(
                {
                    "lr": lr,
                    "b1": b1,
                    "b2": b2,
                    "anneal_lr": anneal == "on",
                    "mean": float(np.mean(f)),
                    "final_return": f.tolist(),
                }
            )
        print(
            f"anneal {anneal}: {len(points)} points x {args.seeds} seeds in {t.wall:.0f}s ({t.cpu:.0f} CPU-s)"
        )
    best = max(rows, key=lambda r: r["mean"])
    ranked = sorted(rows, key=lambda r: -r["mean"])
    for r in ranked[:5]:
        print(f"  lr {r['lr']:g} b1 {r['b1']:g} b2 {r['b2']:g} anneal {r['anneal_lr']}: mean {r['mean']:.2f}")
    payload = {
        "command": "python -m benchmarks.tune_adam_grid "
        + " ".join(
            [f"--experiment {args.experiment}", f"--seeds {args.seeds}", f"--key-seed {args.key_seed}"]
            + ([f"--chunk {args.chunk}"] if args.chunk else [])
            + ([f"--lrs {' '.join(map(str, args.lrs))}"] if tuple(args.lrs) != LRS else [])
            + ([f"--betas {' '.join(map(str, args.betas))}"] if tuple(args.betas) != BETAS else [])
            + ([f"--anneal {' '.join(args.anneal)}"] if tuple(args.anneal) != ("on", "off") else [])
            + ([f"--extra {' '.join(args.extra)}"] if args.extra else [])
        ),
        "env": cfg.env.name,
        "total_timesteps": cfg.ppo.total_timesteps,
        "seed_keys": f"jax.random.split(PRNGKey({args.key_seed}), {args.seeds})",
        "best": {k: best[k] for k in ("lr", "b1", "b2", "anneal_lr", "mean")},
        "top5": [{k: r[k] for k in ("lr", "b1", "b2", "anneal_lr", "mean")} for r in ranked[:5]],
        "points": rows,
        "timing": timing,
        "machine": machine(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = write(name, payload, publish=args.publish)
    partial_path.unlink(missing_ok=True)
    print(f"best: {payload['best']} -> {path}")


if __name__ == "__main__":
    main()
