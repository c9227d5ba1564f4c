"""Record a finished meta-training run as a results JSON: the command, the validation curve against tuned
Adam, the final held-out comparison with rliable statistics, wall and CPU time.

Everything is read from the run directory that ``openrl-train`` wrote (``.hydra/overrides.yaml``,
``summary.json``, ``metadata.json``); nothing is recomputed, so the JSON says exactly what the run measured.

    python -m benchmarks.meta_result outputs/ablation_breakout/runs/<date> --name meta_breakout_cpu
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

from benchmarks.common import add_publish_flag, write

DOC_FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"


def record(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    metadata = json.loads((run_dir / "metadata.json").read_text())
    final = summary.get("final_evaluation") or {}
    adam_val = summary.get("adam_validation") or {}
    tasks = {}
    for name, r in final.items():
        iv = r["intervals"]
        tasks[name] = {
            "seeds": r["seeds"],
            "learned": r["learned"],
            "learned_final_return": r["learned_final_return"],
            "adam_final_return": r["adam_final_return"],
            "learned_mean": r["learned_mean"],
            "adam_mean": r["adam_mean"],
            "learned_iqm": iv[r["learned"]]["iqm"],
            "adam_iqm": iv["Adam (tuned)"]["iqm"],
            "intervals": iv,
            "p_learned_beats_adam": r["p_learned_beats_adam"],
            "last_mean_mean": r.get("last_mean_mean"),
            "adam_settings": r.get("adam_settings"),  # which Adam judged it (None: runs before it was kept)
        }
    return {
        "command": "openrl-train " + " ".join(o for o in overrides if not o.startswith("hydra.")),
        "machine": {k: metadata.get(k) for k in ("device", "platform", "jax_backend", "git_sha")},
        "validation": [
            {
                "generation": h["generation"],
                "return": h["score"],
                "update_ratio": h.get("update_ratio"),
                "theta_abs_mean": h.get("theta_abs_mean"),
            }
            for h in summary["validation"]
        ],
        "validation_seeds_adam_mean": adam_val.get("score"),
        "best_generation": summary["best_generation"],
        "best_validation_return": summary["best_validation_score"],
        "adam_mean": {n: t["adam_mean"] for n, t in tasks.items()},
        "final_evaluation": tasks,
        "fitness_history": summary.get("fitness_history"),
        "generations": summary["generations"],
        "seconds_per_generation": summary["seconds_per_generation"],
        "wall_s": summary.get("wall_s_with_final_evaluation", summary.get("wall_s")),
        "cpu_s": summary.get("cpu_s_with_final_evaluation", summary.get("cpu_s")),
        "wall_s_meta_training": summary.get("wall_s"),
        "cpu_s_meta_training": summary.get("cpu_s"),
        "plateau_warned": summary.get("plateau_warned"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument(
        "--name",
        required=True,
        help="<name>.json and <name>_validation.png (--publish: benchmarks/results/ and docs/figures/)",
    )
    add_publish_flag(ap)
    args = ap.parse_args()
    payload = record(args.run_dir)
    path = write(args.name, payload, publish=args.publish)
    png = args.run_dir / "validation.png"
    if png.exists():  # the figure goes where the JSON goes: docs/figures only when publishing
        figures = DOC_FIGURES if args.publish else path.parent
        figures.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, figures / f"{args.name}_validation.png")
    for name, t in payload["final_evaluation"].items():
        print(
            f"{name}: learned IQM {t['learned_iqm']['value']:.2f} {t['learned_iqm']['ci']} vs Adam IQM "
            f"{t['adam_iqm']['value']:.2f} {t['adam_iqm']['ci']}; P(learned > Adam) "
            f"{t['p_learned_beats_adam']['value']:.2f} ({t['seeds']} seeds)"
        )
    print(
        f"best validation {payload['best_validation_return']:.3f} at generation {payload['best_generation']} -> {path}"
    )


if __name__ == "__main__":
    main()
