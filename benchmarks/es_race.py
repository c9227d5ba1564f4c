"""Which evolution strategy learns fastest on the hardware users have: a race of ``es=<strategy>`` runs.

A track is one experiment and one budget (population x generations x T, the same for every run of the
track); each entry is a strategy with its settings, run for several meta seeds. Every run is the real
``openrl-train`` command in its own directory, so the race resumes job by job: a finished run (its
``summary.json`` exists) is skipped, an interrupted one continues from its last checkpoint. Entries run
seed-major (every entry's seed 0, then every seed 1, ...) so a race cut short still compares them all.

Per run it records (from the run's own files, :func:`benchmarks.meta_result.record`): the validation
curve against tuned Adam on the same validation seeds, the first generation whose validation reaches
Adam's, the best validation, the final held-out IQM with its 95% CI and P(learned > Adam), and CPU-s.

    python -m benchmarks.es_race --track quickstart                  # run (or resume) the whole track
    python -m benchmarks.es_race --track quickstart --seeds 0 1 2 --only open_es snes
    python -m benchmarks.es_race --track quickstart --report-only --publish
    python -m benchmarks.es_race --track fig5_gpu --seeds 0 --deadline 480  # one device call's share

Results go to ``outputs/es_race/<track>/`` (runs, ``es_race_<track>.json``, ``es_race_<track>.png``);
``--publish`` also writes the JSON to ``benchmarks/results/`` and the PNG to ``docs/figures/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, machine
from benchmarks.meta_result import DOC_FIGURES, record

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Entry:
    label: str
    overrides: tuple[str, ...]


# Every entry of a track runs the track's budget (population x generations x rollouts x T): the overrides below
# change the strategy and its own settings, or trade population or rollouts per member against generations at
# the same product. Larger ES steps than the paper's suit these short runs (see conf/experiment/quickstart.yaml).
TRACKS: dict[str, dict[str, Any]] = {
    "quickstart": {
        "base": ("experiment=quickstart",),
        "entries": (
            # the quickstart's ES settings (sigma 0.1, lr 0.1, decays 0.99) from the authors' zero start
            Entry("open_es", ("es=open_es", "meta.init=zeros")),
            # the other strategies from the same zero start (they ran before the quickstart's random start)
            Entry(
                "pgpe", ("es=pgpe", "es.sigma_init=0.1", "es.lr=0.1", "es.lr_decay=0.99", "meta.init=zeros")
            ),
            Entry("snes", ("es=snes", "es.sigma_init=0.1", "meta.init=zeros")),
            Entry("sep_cma_es", ("es=sep_cma_es", "es.sigma_init=0.1", "meta.init=zeros")),
            Entry("open_es_random_init", ("es=open_es", "meta.init=random")),
            # PGPE from the random start (PGPE won the meta seed open_es lost on Fig. 5's task): the quickstart
            Entry(
                "pgpe_random_init",
                ("es=pgpe", "es.sigma_init=0.1", "es.lr=0.1", "es.lr_decay=0.99", "meta.init=random"),
            ),
            # a random start is already near Adam's level on CartPole; smaller steps to climb from there
            Entry(
                "open_es_random_init_sigma0.03",
                ("es=open_es", "meta.init=random", "es.sigma_init=0.03", "es.lr=0.03"),
            ),
            Entry("snes_sigma0.2", ("es=snes", "es.sigma_init=0.2", "meta.init=zeros")),
            Entry(
                "pgpe_sigma0.2",
                ("es=pgpe", "es.sigma_init=0.2", "es.lr=0.1", "es.lr_decay=0.99", "meta.init=zeros"),
            ),
            # the same budget as twice the population for half the generations: less noisy ES steps, fewer
            # of them (a random start's validation plateaus after ~15 generations at population 8)
            Entry(
                "open_es_random_init_pop16",
                ("es=open_es", "meta.init=random", "es.population_size=16", "es.num_generations=20"),
            ),
            # the same budget as each member's fitness averaged over two inner runs for half the generations:
            # CartPole's return at this T varies widely between seeds, so one inner run ranks members noisily
            Entry(
                "open_es_random_init_rollouts2",
                ("es=open_es", "meta.init=random", "meta.num_rollouts=2", "es.num_generations=20"),
            ),
        ),
    },
    "fig5_cpu": {
        "base": ("experiment=ablation_breakout", "budget=cpu"),
        "entries": (
            Entry("open_es", ("es=open_es", "meta.init=zeros")),
            Entry("pgpe", ("es=pgpe", "es.sigma_init=0.1", "es.lr=0.1", "es.lr_decay=0.99")),
            Entry("snes", ("es=snes", "es.sigma_init=0.1")),
            Entry("sep_cma_es", ("es=sep_cma_es", "es.sigma_init=0.1")),
            Entry("open_es_random_init", ("es=open_es", "meta.init=random")),  # budget=cpu's preset
        ),
    },
}
# The Fig. 5 task at the paper's population (64) on one GPU, for as long as the device time allows (run it
# with --deadline, call after call; benchmarks/gpu_paper_items.sh ITEMS=race): the CPU race's winner and the
# strategy that came closest to it on the quickstart, with the fig5_cpu track's settings otherwise.
TRACKS["fig5_gpu"] = {
    "base": (*TRACKS["fig5_cpu"]["base"], "es.population_size=64", "es.num_generations=250"),
    "entries": tuple(
        next(e for e in TRACKS["fig5_cpu"]["entries"] if e.label == label)
        for label in ("open_es_random_init", "pgpe")  # in this order: the winner first
    ),
}


# The entry whose runs are the quickstart itself (`openrl-train` with no arguments): README quotes them.
QUICKSTART_ENTRY = "pgpe_random_init"


def run_dir(out: Path, entry: Entry, seed: int) -> Path:
    return out / "runs" / entry.label / f"seed{seed}"


def command(track: str, entry: Entry, seed: int, directory: Path, extra: tuple[str, ...] = ()) -> list[str]:
    script = Path(sys.executable).parent / "openrl-train"
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "openrl.cli.train"]
    return [
        *exe,
        *TRACKS[track]["base"],
        *entry.overrides,
        *extra,
        f"seed={seed}",
        "logger=disabled",
        "progress=false",
        f"hydra.run.dir={directory}",
    ]


def run(
    track: str,
    entries: list[Entry],
    seeds: list[int],
    out: Path,
    deadline_s: float | None = None,
    extra: tuple[str, ...] = (),
) -> None:
    """Runs every unfinished (entry, seed) in turn. With ``deadline_s`` each gets an equal share of the
    seconds left and is stopped (SIGKILL) when its share is spent: the next call resumes it exactly from its
    last checkpoint (written every generation), so a race longer than one call advances all its runs."""
    t0 = time.monotonic()
    pending = [
        (seed, entry)
        for seed in seeds
        for entry in entries
        if not (run_dir(out, entry, seed) / "summary.json").exists()
    ]
    for i, (seed, entry) in enumerate(pending):
        d = run_dir(out, entry, seed)
        share = None
        if deadline_s is not None:
            share = (deadline_s - (time.monotonic() - t0)) / (len(pending) - i)
            if share <= 0:
                print(f"deadline reached: {entry.label} seed {seed} not started", flush=True)
                continue
        cmd = command(track, entry, seed, d, extra)
        print(f"[{time.strftime('%H:%M:%S')}] {entry.label} seed {seed}: {' '.join(cmd[1:])}", flush=True)
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "race.log", "a") as log:
            try:
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, timeout=share)
                status = (
                    "done"
                    if proc.returncode == 0
                    else f"FAILED (exit {proc.returncode}, see {d / 'race.log'})"
                )
            except subprocess.TimeoutExpired:
                status = f"stopped after its {share:.0f} s share (resumes from its last checkpoint)"
        print(f"[{time.strftime('%H:%M:%S')}] {entry.label} seed {seed}: {status}", flush=True)


def progress(d: Path) -> dict[str, Any] | None:
    """What an unfinished run has done so far, from its ``metrics.jsonl``: generations, seconds per
    generation (median) and the validation curve against Adam's on the same seeds; None before any."""
    path = d / "metrics.jsonl"
    if not path.exists():
        return None
    by_step: dict[int, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
        by_step.setdefault(int(row["step"]), {}).update(row)  # a generation redone after a resume: the last
    gen_s = [r["time/generation_s"] for r in by_step.values() if "time/generation_s" in r]
    adam = [r["val/adam_score"] for r in by_step.values() if "val/adam_score" in r]
    if not gen_s:
        return None
    return {
        "generations": max(s for s, r in by_step.items() if "time/generation_s" in r),
        "seconds_per_generation": _median(gen_s),
        "validation": [[s, r["val/score"]] for s, r in sorted(by_step.items()) if "val/score" in r],
        "validation_adam": adam[-1] if adam else None,
    }


def population(d: Path) -> int | None:
    """The run's ES population (from its resolved config): entries of one track may trade population
    against generations, so the curves are drawn against inner runs spent, not generations."""
    cfg = _resolved(d)
    return None if cfg is None else int(cfg.es.population_size)


def rollouts(d: Path) -> int | None:
    """Inner runs per member per generation (``meta.num_rollouts``, from the resolved config)."""
    cfg = _resolved(d)
    return None if cfg is None else int((cfg.get("meta") or {}).get("num_rollouts", 1))


def _resolved(d: Path) -> Any:
    path = d / "config_resolved.yaml"
    if not path.exists():
        return None
    from omegaconf import OmegaConf

    return OmegaConf.load(path)


def generations_to_adam(rec: dict[str, Any]) -> int | None:
    """The first validated generation whose ES-mean validation return reaches tuned Adam's on the same
    validation seeds (None: never within the run)."""
    adam = rec["validation_seeds_adam_mean"]
    for h in rec["validation"]:
        if adam is not None and h["return"] >= adam:
            return int(h["generation"])
    return None


def run_row(rec: dict[str, Any]) -> dict[str, Any]:
    ((task, final),) = rec["final_evaluation"].items()
    return {
        "task": task,
        "validation": [[h["generation"], h["return"]] for h in rec["validation"]],
        "validation_adam": rec["validation_seeds_adam_mean"],
        "generations_to_adam": generations_to_adam(rec),
        "best_validation": rec["best_validation_return"],
        "best_generation": rec["best_generation"],
        "final_learned_iqm": final["learned_iqm"],
        "final_adam_iqm": final["adam_iqm"],
        "final_learned_mean": final["learned_mean"],
        "final_adam_mean": final["adam_mean"],
        "p_learned_beats_adam": final["p_learned_beats_adam"],
        "adam_settings": final.get("adam_settings"),
        "cpu_s": rec["cpu_s"],
        "wall_s": rec["wall_s"],
        "command": rec["command"],
    }


def collect(track: str, entries: list[Entry], seeds: list[int], out: Path) -> dict[str, Any]:
    table: dict[str, Any] = {}
    unfinished: dict[str, Any] = {}
    for entry in entries:
        runs = {}
        for seed in seeds:
            d = run_dir(out, entry, seed)
            if (d / "summary.json").exists():
                runs[str(seed)] = {**run_row(record(d)), "population": population(d), "rollouts": rollouts(d)}
            elif (p := progress(d)) is not None:
                p["population"], p["rollouts"] = population(d), rollouts(d)
                unfinished.setdefault(entry.label, {})[str(seed)] = p
        if not runs:
            continue
        rows = list(runs.values())
        reached = [r["generations_to_adam"] for r in rows]
        table[entry.label] = {
            "overrides": list(entry.overrides),
            "runs": runs,
            "seeds": len(rows),
            "reached_adam": sum(g is not None for g in reached),
            "median_generations_to_adam": _median([g for g in reached if g is not None]),
            "median_best_validation": _median([r["best_validation"] for r in rows]),
            "median_final_iqm": _median([r["final_learned_iqm"]["value"] for r in rows]),
            "median_adam_iqm": _median([r["final_adam_iqm"]["value"] for r in rows]),
            "mean_p_learned_beats_adam": float(np.mean([r["p_learned_beats_adam"]["value"] for r in rows])),
            "iqm_above_adam": sum(
                r["final_learned_iqm"]["value"] > r["final_adam_iqm"]["value"] for r in rows
            ),
            "median_cpu_s": _median([r["cpu_s"] for r in rows]),
        }
    return {
        "track": track,
        "base": list(TRACKS[track]["base"]),
        "budget_note": "every run of a track: the same population x generations x rollouts x T (the base's)",
        "entries": table,
        "unfinished": unfinished,  # runs not finished (going or stopped): generations so far, s/generation, validation so far
        "machine": machine(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def publish_optimizers(entries: list[Entry], seeds: list[int], out: Path, dest: Path) -> None:
    """Each finished run's finished optimizer (``best/``: ``optimizer.npy`` + ``meta.json``, a few KB) to
    ``dest/<label>/seed<S>/``, an optimizer directory ``openrl-eval`` and ``meta.init_weights`` take."""
    for entry in entries:
        for seed in seeds:
            best = run_dir(out, entry, seed) / "best"
            if (best.parent / "summary.json").exists() and (best / "optimizer.npy").exists():
                target = dest / entry.label / f"seed{seed}"
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(best / "optimizer.npy", target / "optimizer.npy")
                meta = json.loads((best / "meta.json").read_text())
                meta["source"] = record(best.parent)["command"]  # not this machine's run directory
                (target / "meta.json").write_text(json.dumps(meta, indent=2))


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def plot(result: dict[str, Any], path: Path) -> Path:
    """Validation curves relative to tuned Adam on the same seeds, against the inner runs the ES has spent
    (population x rollouts per member x generation, so entries that trade one for another line up): per strategy the median
    over meta seeds and the range (shaded), unfinished runs (running or stopped) dotted; the dashed line at
    1 is Adam."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    rows = [r for e in result["entries"].values() for r in e["runs"].values()]
    rows += [r for runs in result.get("unfinished", {}).values() for r in runs.values()]
    per_member = all(r.get("population") for r in rows)  # rows published before it was recorded lack it

    def spent(r: dict[str, Any], gens: np.ndarray) -> np.ndarray:
        return gens * r["population"] * (r.get("rollouts") or 1) if per_member else gens

    for label, e in result["entries"].items():
        curves = []
        for r in e["runs"].values():
            v = np.asarray(r["validation"], float)
            curves.append((spent(r, v[:, 0]), v[:, 1] / r["validation_adam"]))
        gens = curves[0][0]
        ys = np.stack([c[1] for c in curves if len(c[1]) == len(gens)])
        med = np.median(ys, axis=0)
        (line,) = ax.plot(gens, med, label=f"{label} ({len(ys)} seeds)")
        ax.fill_between(gens, ys.min(axis=0), ys.max(axis=0), color=line.get_color(), alpha=0.15)
    for label, runs in result.get("unfinished", {}).items():
        for seed, r in runs.items():
            if r["validation"] and r["validation_adam"]:
                v = np.asarray(r["validation"], float)
                ax.plot(
                    spent(r, v[:, 0]),
                    v[:, 1] / r["validation_adam"],
                    ls=":",
                    label=f"{label} seed {seed} (unfinished)",
                )
    ax.axhline(1.0, color="k", ls="--", lw=1, label="tuned Adam (same seeds)")
    ax.set_xlabel(
        "inner runs spent by the ES (population x rollouts x generation)" if per_member else "generation"
    )
    ax.set_ylabel("validation return / Adam's")
    ax.set_title(f"ES race, {result['track']}: {' '.join(result['base'])}")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--track", choices=sorted(TRACKS), default="quickstart")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--only", nargs="+", default=None, help="entry labels to run (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="default: outputs/es_race/<track>")
    ap.add_argument("--report-only", action="store_true", help="collect finished runs, run nothing")
    ap.add_argument("--publish", action="store_true", help="also write benchmarks/results/ and docs/figures/")
    ap.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds for this call, shared equally by the unfinished runs; a run stopped by its share "
        "resumes from its last checkpoint on the next call",
    )
    ap.add_argument(
        "--extra",
        nargs="+",
        default=[],
        help="Hydra overrides appended to every run's command (e.g. meta.final_eval_seeds=4); a run resumes "
        "only with the overrides it started with",
    )
    args = ap.parse_args()
    entries = [e for e in TRACKS[args.track]["entries"] if args.only is None or e.label in args.only]
    unknown = set(args.only or ()) - {e.label for e in TRACKS[args.track]["entries"]}
    if unknown:
        ap.error(f"--only: unknown entries {sorted(unknown)} for track {args.track}")
    out = args.out or ROOT / "outputs" / "es_race" / args.track
    os.environ.setdefault("WANDB_MODE", "disabled")
    if not args.report_only:
        run(args.track, entries, args.seeds, out, args.deadline, tuple(args.extra))
    result = collect(args.track, entries, args.seeds, out)
    name = f"es_race_{args.track}"
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    png = plot(result, out / f"{name}.png") if result["entries"] or result["unfinished"] else None
    for label, e in result["entries"].items():
        print(
            f"{label:22s} seeds {e['seeds']}  reached Adam {e['reached_adam']}/{e['seeds']} "
            f"(median gen {e['median_generations_to_adam']})  best val {e['median_best_validation']:.1f}  "
            f"final IQM {e['median_final_iqm']:.1f} vs Adam {e['median_adam_iqm']:.1f}  "
            f"P {e['mean_p_learned_beats_adam']:.2f}  CPU-s {e['median_cpu_s']:.0f}"
        )
    for label, runs in result["unfinished"].items():
        for seed, r in runs.items():
            last = r["validation"][-1] if r["validation"] else None
            print(
                f"{label:22s} seed {seed} unfinished: {r['generations']} generations, "
                f"{r['seconds_per_generation']:.1f} s/generation, last validation {last} "
                f"(Adam {r['validation_adam']})"
            )
    if args.publish:
        publish_optimizers(entries, args.seeds, out, RESULTS / "optimizers" / name)
        shutil.copy(path, RESULTS / f"{name}.json")
        if png is not None:
            shutil.copy(png, DOC_FIGURES / f"{name}.png")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
