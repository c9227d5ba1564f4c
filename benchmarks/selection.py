"""Which validated ES mean should become the finished optimizer? Measured on finished meta-training runs.

A run validates its ES mean every ``eval_every`` generations on ``validation_seeds`` (8) seeds and keeps
every validated mean (``validated/gen<g>/``). This script re-runs each candidate on fresh seeds, split
into *extra selection* seeds (what a rule with more validation seeds, or a top-k re-run, would have seen)
and *truth* seeds (never used by any rule), and reports what each selection rule picks, judged on the truth
seeds, next to tuned Adam on the same truth seeds:

* ``best_of_8``: the best score on the run's own 8 validation seeds (openrl's ``best_validated``, the
  authors' rule);
* ``best_of_16`` / ``best_of_32``: the same with 8 / 24 extra seeds per validation (costs that many more
  inner runs at *every* validation);
* ``top3_rerun_16``: the 3 best of 8 re-run on 16 extra seeds, best over all 24 (``meta.selection=top_k``,
  48 inner runs once at the end);
* ``last``: the last ES mean; ``oracle``: the best truth score (an upper bound no rule can see).

Candidates are the ``--candidates`` (5) best validated means by their 8-seed score (the rest, mostly the
early means of the zero-start plateau, would cost as much to re-run and cannot win ``best_of_8`` or
``top3_rerun_16``; ``oracle`` is the best truth score among the candidates). Per-run results are cached in
``<run>/selection_eval.json``, so the script resumes run by run::

    python -m benchmarks.selection outputs/es_race/quickstart/runs/*/seed1 --publish
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import yaml

from benchmarks.common import add_publish_flag, cpu_seconds, machine, write
from openrl.builders import build_trainer
from openrl.config import load_config, meta_job
from openrl.meta.selection import load_validated, top_k
from openrl.ppo.train import final_returns

EXTRA_KEY_BASE = 50_000  # extra selection seeds: PRNGKey(50000 + meta seed)
TRUTH_KEY_BASE = 60_000  # truth seeds: PRNGKey(60000 + meta seed); both disjoint from the run's own keys
CACHE = "selection_eval.json"


def overrides_of(run_dir: Path) -> list[str]:
    raw = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    return [o for o in raw if not o.startswith("hydra.")]


def evaluate_run(run_dir: Path, extra: int, truth: int, candidates: int) -> dict[str, Any] | None:
    """Every candidate's returns on ``extra`` selection and ``truth`` seeds, and tuned Adam's on the truth
    seeds (cached in the run directory)."""
    cache = run_dir / CACHE
    if cache.exists():
        doc = json.loads(cache.read_text())
        if (doc["extra_seeds"], doc["truth_seeds"], doc.get("candidates_kept")) == (extra, truth, candidates):
            return doc
    if not (run_dir / "summary.json").exists():
        print(f"{run_dir}: not finished; skipped")
        return None
    cands = load_validated(run_dir)
    if len(cands) < 2:
        print(f"{run_dir}: {len(cands)} validated means kept; skipped")
        return None
    overrides = overrides_of(run_dir)
    _, cfg = load_config(overrides)
    job = meta_job(cfg, overrides)
    from openrl.jobs.meta import build_meta

    meta = build_meta(job)
    if len(meta.tasks) != 1:
        raise SystemExit(f"{run_dir}: one task per run is supported (got {len(meta.tasks)})")
    task = meta.tasks[0]
    pool = sorted(top_k(cands, candidates), key=lambda c: c.generation)
    extra_keys = jax.random.split(jax.random.PRNGKey(EXTRA_KEY_BASE + cfg.seed), extra)
    truth_keys = jax.random.split(jax.random.PRNGKey(TRUTH_KEY_BASE + cfg.seed), truth)
    keys = jax.numpy.concatenate([extra_keys, truth_keys])
    learned = jax.jit(lambda rp, ks: final_returns(task.trainer, ks, rp, task.hp))
    t0, c0 = time.perf_counter(), cpu_seconds()
    rows = []
    for c in pool:
        rp = meta.strategy._unravel_solution(jax.numpy.asarray(c.flat))
        out = np.asarray(learned(rp, keys), np.float64)
        rows.append(
            {
                "generation": c.generation,
                "validation": c.returns[:, 0].tolist(),
                "extra": out[:extra].tolist(),
                "truth": out[extra:].tolist(),
            }
        )
        print(f"{run_dir}: gen {c.generation}: val {c.score:.1f}, truth {out[extra:].mean():.1f}", flush=True)
    adam_trainer, adam_rp, adam_hp = build_trainer(job.adam[0])
    adam = jax.jit(lambda ks: final_returns(adam_trainer, ks, adam_rp, adam_hp))
    doc = {
        "run": str(run_dir),
        "command": "openrl-train " + " ".join(overrides),
        "task": task.name,
        "seed": int(cfg.seed),
        "extra_seeds": extra,
        "truth_seeds": truth,
        "candidates_kept": candidates,
        "candidates": rows,
        "last_generation": cands[-1].generation,
        "adam_truth": np.asarray(adam(truth_keys), np.float64).tolist(),
        "wall_s": time.perf_counter() - t0,
        "cpu_s": cpu_seconds() - c0,
    }
    cache.write_text(json.dumps(doc, indent=2))
    return doc


def picks(doc: dict[str, Any]) -> dict[str, int]:
    """The generation each rule picks (ties: the later generation)."""
    rows = doc["candidates"]

    def best_by(score) -> int:
        return max(rows, key=lambda r: (score(r), r["generation"]))["generation"]

    def mean_of(n_extra: int):
        return lambda r: float(np.mean(r["validation"] + r["extra"][:n_extra]))

    val8 = mean_of(0)
    top3 = {r["generation"] for r in sorted(rows, key=lambda r: (val8(r), r["generation"]), reverse=True)[:3]}
    return {
        "best_of_8": best_by(val8),
        "best_of_16": best_by(mean_of(8)),
        "best_of_32": best_by(mean_of(24)),
        "top3_rerun_16": max(
            (r for r in rows if r["generation"] in top3), key=lambda r: (mean_of(16)(r), r["generation"])
        )["generation"],
        "last": max(r["generation"] for r in rows),
        "oracle": best_by(lambda r: float(np.mean(r["truth"]))),
    }


RULE_COST = {  # extra inner runs per task, v = number of validations
    "best_of_8": "0",
    "best_of_16": "8 per validation",
    "best_of_32": "24 per validation",
    "top3_rerun_16": "48 once",
    "last": "0",
    "oracle": "(not a rule)",
}


def summarise(docs: list[dict[str, Any]]) -> dict[str, Any]:
    per_run = []
    for doc in docs:
        truth = {r["generation"]: float(np.mean(r["truth"])) for r in doc["candidates"]}
        adam = float(np.mean(doc["adam_truth"]))
        chosen = picks(doc)
        per_run.append(
            {
                "run": doc["run"],
                "command": doc["command"],
                "candidates": len(doc["candidates"]),
                "adam_truth_mean": adam,
                "picks": chosen,
                "truth_mean": {rule: truth[g] for rule, g in chosen.items()},
                "regret": {rule: truth[chosen["oracle"]] - truth[g] for rule, g in chosen.items()},
                "cpu_s": doc["cpu_s"],
            }
        )
    rules = list(RULE_COST)
    table = {
        rule: {
            "cost": RULE_COST[rule],
            "mean_truth_over_adam": float(
                np.mean([r["truth_mean"][rule] / r["adam_truth_mean"] for r in per_run])
            ),
            "mean_regret": float(np.mean([r["regret"][rule] for r in per_run])),
            "picks_oracle": int(sum(r["picks"][rule] == r["picks"]["oracle"] for r in per_run)),
            "beats_adam": int(sum(r["truth_mean"][rule] > r["adam_truth_mean"] for r in per_run)),
        }
        for rule in rules
    }
    return {"runs": per_run, "rules": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="finished meta-training run directories")
    ap.add_argument("--extra-seeds", type=int, default=24)
    ap.add_argument("--truth-seeds", type=int, default=32)
    ap.add_argument("--candidates", type=int, default=5, help="the best validated means re-run per run")
    ap.add_argument("--name", default="selection_quickstart")
    add_publish_flag(ap)
    args = ap.parse_args()
    docs = [
        d
        for run in args.runs
        if (d := evaluate_run(run, args.extra_seeds, args.truth_seeds, args.candidates))
    ]
    if not docs:
        raise SystemExit("no run with validated ES means to measure")
    result = {
        "what": "truth-seed return of the validated ES mean each selection rule picks, vs tuned Adam",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "command": "python -m benchmarks.selection " + " ".join(str(r) for r in args.runs),
        "extra_seeds": args.extra_seeds,
        "truth_seeds": args.truth_seeds,
        "candidates_per_run": args.candidates,
        "cpu_s": sum(d["cpu_s"] for d in docs),  # the re-runs, summed over runs (cached runs included)
        **summarise(docs),
    }
    path = write(args.name, result, args.publish)
    for rule, row in result["rules"].items():
        print(
            f"{rule:>14}: truth/Adam {row['mean_truth_over_adam']:.3f}, regret {row['mean_regret']:.1f}, "
            f"picks the oracle {row['picks_oracle']}/{len(docs)}, beats Adam {row['beats_adam']}/{len(docs)} "
            f"(cost: {row['cost']})"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
