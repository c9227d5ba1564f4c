"""Re-judge a published meta-training result against another Adam baseline, on the run's own held-out seeds.

A meta-training run's final evaluation trains the learned optimizer and tuned Adam on the same
``meta.final_eval_seeds`` keys (``split(fold_in(PRNGKey(10000 + seed), task), n)``, see
``openrl.jobs.meta.final_evaluation``), and its results JSON keeps every seed's final return. This script
re-creates those keys, first re-runs the Adam the run was judged against and checks that it reproduces
the recorded returns exactly (so the keys are right), then runs the new baseline (e.g. Adam tuned for
the run's T) on the same keys and compares it with the recorded learned returns: IQM with 95% CIs and
P(learned > Adam), paired by seed.

    python -m benchmarks.rebaseline benchmarks/results/meta_breakout_cpu.json \\
        --recorded "experiment=ablation_breakout budget=cpu optimizer.lr=0.01 optimizer.b1=0.9 optimizer.b2=0.99 optimizer.anneal_lr=true" \\
        --new "experiment=ablation_breakout budget=cpu" --name meta_breakout_cpu_vs_budget_adam
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from benchmarks.common import RESULTS, machine
from openrl.builders import build_trainer
from openrl.config import load_config, resolve_optimizer
from openrl.eval import stats


def adam_returns(overrides: list[str], seed: int, task: int, n: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Final returns of Adam (the composed optimizer, as a PPO run) on the final-evaluation keys."""
    _, cfg = load_config([*overrides, "optimizer=adam", "mode=ppo"])
    trainer, rule_params, hp = build_trainer(cfg)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(10_000 + seed), task), n)
    # one program per run, vmapped over the seeds: how the final evaluation trained them when the
    # published results were measured (and how validation trains them)
    metrics = jax.jit(jax.vmap(lambda k: trainer.train(k, rule_params, hp)[1]))(keys)
    resolved = resolve_optimizer(cfg.optimizer, cfg.env.name, cfg.ppo.total_timesteps)
    return np.asarray(metrics["final_return"][:, -1], np.float64), {
        **resolved.as_dict(),
        "tuned_for": resolved.tuned_for,
        "total_timesteps": cfg.ppo.total_timesteps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result", type=Path, help="a meta-training results JSON (benchmarks.meta_result)")
    ap.add_argument("--recorded", required=True, help="overrides of the Adam the run was judged against")
    ap.add_argument("--new", required=True, help="overrides of the new baseline")
    ap.add_argument("--seed", type=int, default=0, help="the run's seed (its command's seed=, default 0)")
    ap.add_argument("--name", required=True, help="output name (outputs/<name>.json)")
    ap.add_argument("--publish", action="store_true", help="write benchmarks/results/<name>.json instead")
    ap.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare even when the recorded Adam's re-run differs from the published returns",
    )
    args = ap.parse_args()
    published = json.loads(args.result.read_text())
    out: dict[str, Any] = {
        "source": str(args.result.name),
        "command_judged": published["command"],
        "tasks": {},
    }
    t0, c0 = time.perf_counter(), time.process_time()
    for i, (task, final) in enumerate(published["final_evaluation"].items()):
        learned = np.asarray(final["learned_final_return"], np.float64)
        recorded = np.asarray(final["adam_final_return"], np.float64)
        n = len(learned)
        again, old_cfg = adam_returns(shlex.split(args.recorded), args.seed, i, n)
        reproduced = bool(np.array_equal(again, recorded))
        if not reproduced and not args.allow_mismatch:
            raise SystemExit(
                f"{task}: re-running the recorded Adam does not reproduce the published returns "
                f"({again.tolist()} vs {recorded.tolist()}): the keys, the Adam settings or the code differ "
                "(--allow-mismatch compares anyway and records the re-run)"
            )
        new, new_cfg = adam_returns(shlex.split(args.new), args.seed, i, n)
        iv = stats.interval_estimates(
            {"learned": learned, "adam_recorded": recorded, "adam_recorded_rerun": again, "adam_new": new},
            ("iqm", "mean"),
        )
        out["tasks"][task] = {
            "seeds": n,
            "recorded_adam_reproduced": reproduced,
            "recorded_adam_rerun_final_return": again.tolist(),
            "recorded_adam": old_cfg,
            "new_adam": new_cfg,
            "learned_final_return": learned.tolist(),
            "recorded_adam_final_return": recorded.tolist(),
            "new_adam_final_return": new.tolist(),
            "intervals": {k: {m: iv_.as_dict() for m, iv_ in per.items()} for k, per in iv.items()},
            "p_learned_beats_recorded_adam": stats.probability_of_improvement(learned, recorded).as_dict(),
            "p_learned_beats_new_adam": stats.probability_of_improvement(learned, new).as_dict(),
        }
        r = out["tasks"][task]
        print(
            f"{task} ({n} seeds): learned IQM {r['intervals']['learned']['iqm']['value']:.2f}; recorded Adam "
            f"{r['intervals']['adam_recorded']['iqm']['value']:.2f} (re-run {'identical' if reproduced else 'differs'}: "
            f"{r['intervals']['adam_recorded_rerun']['iqm']['value']:.2f}); new Adam "
            f"{r['intervals']['adam_new']['iqm']['value']:.2f} {r['intervals']['adam_new']['iqm']['ci']}; "
            f"P(learned > new Adam) {r['p_learned_beats_new_adam']['value']:.2f} {r['p_learned_beats_new_adam']['ci']}"
        )
    out.update(
        wall_s=time.perf_counter() - t0,
        cpu_s=time.process_time() - c0,
        machine=machine(),
        command=f"python -m benchmarks.rebaseline {args.result} --recorded {shlex.quote(args.recorded)} "
        f"--new {shlex.quote(args.new)} --name {args.name}"
        + (" --allow-mismatch" if args.allow_mismatch else ""),
        finished=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    root = RESULTS if args.publish else Path(__file__).resolve().parents[1] / "outputs"
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{args.name}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
