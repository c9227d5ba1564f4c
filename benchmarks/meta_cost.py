"""What meta-training one optimizer costs: time a few ES generations of each paper meta experiment, project.

For every experiment the real generation program (:meth:`MetaTrainer.generation`: ask, every member's
PPO run on every task, fitness, tell) is compiled and timed at a *reduced* population and inner length
(``--pop`` members, inner runs of ``--updates`` U and 2U PPO updates), on whatever device jax sees. The marginal cost
per member env-step (the difference between the 2U and U runs) then projects the paper budget of the same experiment (Table 7 populations,
generations, T, tasks, rollouts, plus validation every ``meta.eval_every`` generations and the final
evaluation against Adam):

    projected seconds = seconds per member env-step x (generations x (population x T x tasks x rollouts
                        + validation_seeds x T x tasks / eval_every) + 2 x final_eval_seeds x T x tasks)

The scaling is linear in member env-steps. That is what a CPU does (no idle parallel width to fill); a
GPU runs a larger population in less than proportional time until the device is full, so on a GPU the
projection is an upper bound unless ``--pop`` is the paper population (``--paper-pop``).

    python -m benchmarks.meta_cost                               # CPU: population 2, 2 updates per run
    python -m benchmarks.meta_cost --paper-pop --updates 8       # GPU: the paper population
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax

from benchmarks.common import add_publish_flag, machine, time_generations, write

EXPERIMENTS = ("ablation_breakout", "single_breakout", "multitask_minatar", "gridworld", "deepsea")
# The paper's reported meta-training cost per optimizer (Sec. 6-7 and App. C), in GPU-hours.
PAPER_GPU_HOURS = {
    "ablation_breakout": (1.0, 1.0),  # ~60 GPU-minutes per ablation optimizer
    "single_breakout": (16 * 24.0, 32 * 24.0),  # 16-32 GPU-days per single-task optimizer
    "multitask_minatar": (60 * 24.0, 60 * 24.0),  # ~60 GPU-days
    "gridworld": (7 * 24.0, 7 * 24.0),  # 7 GPU-days
    "deepsea": (None, None),  # not reported
}


def _time_generations(overrides: list[str], gens: int) -> tuple[float, float, Any, Any]:
    """(best wall s, its CPU s, meta, cfg) of ``gens`` generations after a first, compiling one."""
    r = time_generations(overrides, gens)
    i = r["times"].index(min(r["times"]))
    return r["times"][i], r["cpus"][i], r["meta"], r["cfg"]


def measure(experiment: str, pop: int | None, updates: int, gens: int) -> dict:
    from openrl.builders import build_trainer
    from openrl.config import load_config

    _, paper = load_config([f"experiment={experiment}"])
    static_paper = build_trainer(paper)[0].static
    base = [f"experiment={experiment}", "logger=disabled"]
    if pop is not None:
        base.append(f"es.population_size={pop}")
    # Two inner lengths, U and 2U updates: the marginal cost of U updates is what scales with T. (XLA drops
    # the last update's optimisation phase, which feeds nothing but the unused final parameters; a single
    # measured length would miss that and the fixed ES cost.)
    short = _time_generations([*base, f"ppo.total_timesteps={updates * static_paper.batch_size}"], gens)
    long = _time_generations([*base, f"ppo.total_timesteps={2 * updates * static_paper.batch_size}"], gens)
    meta, cfg = long[2], long[3]
    t_measure = updates * static_paper.batch_size
    tasks = len(meta.tasks)
    member_steps = cfg.es.population_size * t_measure * tasks * cfg.meta.num_rollouts
    sec_per_step = max(long[0] - short[0], 1e-9) / member_steps
    cpu_per_step = max(long[1] - short[1], 1e-9) / member_steps
    T = static_paper.num_updates * static_paper.batch_size
    e, mcfg = paper.es, paper.meta
    per_generation = e.population_size * T * tasks * mcfg.num_rollouts
    validation = mcfg.validation_seeds * T * tasks / mcfg.eval_every
    final = 2 * mcfg.final_eval_seeds * T * tasks
    total_steps = e.num_generations * (per_generation + validation) + final
    hours = sec_per_step * total_steps / 3600
    lo, hi = PAPER_GPU_HOURS[experiment]
    return {
        "experiment": experiment,
        "optimizer": paper.optimizer.name,
        "tasks": [t.name for t in meta.tasks],
        "measured": {
            "population": cfg.es.population_size,
            "timesteps": [t_measure, 2 * t_measure],
            "sec_per_generation": [short[0], long[0]],
            "cpu_s_per_generation": [short[1], long[1]],
            "marginal_member_env_steps_per_s": member_steps / max(long[0] - short[0], 1e-9),
        },
        "paper": {
            "population": e.population_size,
            "generations": e.num_generations,
            "timesteps": T,
            "num_rollouts": mcfg.num_rollouts,
            "member_env_steps_per_generation": per_generation,
            "total_env_steps": total_steps,
        },
        "projected_sec_per_generation": sec_per_step * (per_generation + validation),
        "projected_hours": hours,
        "projected_days": hours / 24,
        "projected_cpu_hours": cpu_per_step * total_steps / 3600,
        "paper_gpu_hours": [lo, hi],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiments", nargs="+", default=EXPERIMENTS)
    ap.add_argument("--pop", type=int, default=2, help="measured population (even)")
    ap.add_argument("--paper-pop", action="store_true", help="measure at the paper population")
    ap.add_argument("--updates", type=int, default=4, help="U: inner runs of U and 2U updates are timed")
    ap.add_argument("--gens", type=int, default=2, help="timed generations after the first")
    ap.add_argument("--out", default=None, help="<out>.json (default meta_cost_<backend>; see --publish)")
    add_publish_flag(ap)
    args = ap.parse_args()
    results = {
        "command": "python -m benchmarks.meta_cost "
        + ("--paper-pop" if args.paper_pop else f"--pop {args.pop}")
        + f" --updates {args.updates} --gens {args.gens}",
        "machine": machine(),
        "scaling": "linear in member env-steps from the measured (population, T) to the paper's",
        "rows": [],
    }
    out = args.out or f"meta_cost_{jax.default_backend()}"
    for name in args.experiments:
        row = measure(name, None if args.paper_pop else args.pop, args.updates, args.gens)
        results["rows"].append(row)
        paper = row["paper_gpu_hours"]
        paper_txt = "not reported" if paper[0] is None else f"paper {paper[0]:g}-{paper[1]:g} GPU-h"
        print(
            f"{name:>18}: {row['measured']['sec_per_generation'][1]:6.2f} s/gen at pop {row['measured']['population']}, "
            f"T={row['measured']['timesteps'][1]}  ->  {row['projected_sec_per_generation']:8.0f} s/gen, "
            f"{row['projected_hours']:8.1f} h ({row['projected_days']:.1f} days, "
            f"{row['projected_cpu_hours']:.0f} CPU-h) per optimizer; {paper_txt}",
            flush=True,
        )
        results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        write(out, results, publish=args.publish)


if __name__ == "__main__":
    main()
