"""Seconds per ES generation against population size, and peak memory (a cost model for sizing runs).

Each population size runs in its own subprocess so that its peak resident memory (``ru_maxrss``) is
its own. A generation is the real jitted ``MetaTrainer.generation`` (ask, every member's PPO run,
fitness, tell) of the chosen experiment, so the cost here is what ``openrl-train`` pays per generation.

    python -m benchmarks.meta_scaling                                   # ablation_breakout, T = 49152
    python -m benchmarks.meta_scaling --pops 8 16 32 64 --timesteps 49152 --gens 2

Results go to ``results/meta_scaling.json``: per population the compile time (first generation),
seconds per generation after compilation (best of ``--gens``), member env-steps/s, CPU-seconds and the
child's peak RSS. On a GPU the device's peak bytes in use are recorded as well.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchmarks.common import add_publish_flag, machine, time_generations, write


def child(experiment: str, pop: int, timesteps: int, gens: int, optimizer: str) -> dict:
    import resource

    import jax

    overrides = [
        f"experiment={experiment}",
        f"optimizer={optimizer}",
        f"es.population_size={pop}",
        f"ppo.total_timesteps={timesteps}",
        "logger=disabled",
    ]
    r = time_generations(overrides, gens)
    meta, cfg, m, times, cpus = r["meta"], r["cfg"], r["metrics"], r["times"], r["cpus"]
    first_s = r["first_s"]
    steps = pop * meta.tasks[0].trainer.static.num_updates * meta.tasks[0].trainer.static.batch_size
    steps *= len(meta.tasks) * cfg.meta.num_rollouts
    out = {
        "population": pop,
        "env_steps_per_generation": int(steps),
        "first_generation_s": first_s,
        "compile_s": first_s - min(times),
        "sec_per_generation": min(times),
        "sec_per_generation_all": times,
        "cpu_s_per_generation": cpus[times.index(min(times))],
        "env_steps_per_s": steps / min(times),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "fitness_mean": float(m["fitness"].mean()),
    }
    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)()
    if stats and "peak_bytes_in_use" in stats:
        out["device_peak_mib"] = stats["peak_bytes_in_use"] / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiment", default="ablation_breakout")
    ap.add_argument("--optimizer", default="open")
    ap.add_argument("--pops", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--timesteps", type=int, default=49152, help="inner-run T (6 updates on MinAtar)")
    ap.add_argument("--gens", type=int, default=2, help="timed generations after the first")
    ap.add_argument("--out", default="meta_scaling")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    add_publish_flag(ap)
    args = ap.parse_args()

    if args.child is not None:
        r = child(args.experiment, args.child, args.timesteps, args.gens, args.optimizer)
        print("RESULT " + json.dumps(r))
        return

    results = {
        "machine": machine(),
        "experiment": args.experiment,
        "optimizer": args.optimizer,
        "timesteps": args.timesteps,
        "rows": [],
    }
    for pop in args.pops:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "benchmarks.meta_scaling", "--child", str(pop)]
        cmd += ["--experiment", args.experiment, "--optimizer", args.optimizer]
        cmd += ["--timesteps", str(args.timesteps), "--gens", str(args.gens)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            raise RuntimeError(f"population {pop} failed:\n{proc.stderr[-3000:]}")
        row = json.loads(line[0][len("RESULT ") :])
        row["process_wall_s"] = time.perf_counter() - t0
        results["rows"].append(row)
        print(
            f"pop {pop:3d}: {row['sec_per_generation']:7.2f} s/gen  "
            f"{row['env_steps_per_s']:9.0f} env-steps/s  compile {row['compile_s']:.1f} s  "
            f"peak RSS {row['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
        results["loadavg_end"] = list(__import__("os").getloadavg())
        write(args.out, results, publish=args.publish)
    base = results["rows"][0]
    for row in results["rows"]:
        row["cost_ratio_vs_smallest"] = row["sec_per_generation"] / base["sec_per_generation"]
        row["pop_ratio_vs_smallest"] = row["population"] / base["population"]
    write(args.out, results, publish=args.publish)


if __name__ == "__main__":
    main()
