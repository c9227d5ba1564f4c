"""``openrl-report``: report.md, report_summary.json and figures for finished sweeps.

The steps have their own modules: records read back from the job directories
(:mod:`openrl.eval.records`), their statistics (:mod:`openrl.eval.summary`), the tables
(:mod:`openrl.eval.markdown`) and the figures (:mod:`openrl.eval.figures`). ``openrl-eval`` writes its
own run's report from the same modules, so both give the same tables for the same runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openrl.eval import stats
from openrl.eval.figures import paper_figures
from openrl.eval.markdown import markdown
from openrl.eval.records import job_dirs, load_jobs, sweep_dirs
from openrl.eval.summary import summarise
from openrl.runs.checkpoint import write_json


def report_sweep(
    sweep_dir: Path | Sequence[Path],
    out_dir: Path | None = None,
    baseline: str = "adam",
    reps: int = stats.DEFAULT_REPS,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
    only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``openrl-report``: report.md, summary.json and figures for a finished multirun directory, or for
    several pooled into one report (``out_dir`` then required). A results JSON file (the same schema)
    counts as one job, so published seeds pool with new ones; ``only`` keeps those optimizer labels."""
    dirs = sweep_dirs(sweep_dir)
    if (len(dirs) > 1 or dirs[0].is_file()) and out_dir is None:
        raise ValueError("several sweep directories or a results file: name the report's directory (--out)")
    out_dir = out_dir or dirs[0]
    hint = "(is this a finished openrl-eval/openrl-train multirun?)"
    jobs = [job_dirs(d) for d in dirs]  # each directory searched once, for the check and the load
    for d, found in zip(dirs, jobs):  # name the directory that holds nothing
        if not found:
            raise FileNotFoundError(f"{d}: no job directory with a summary.json below it {hint}")
    records = load_jobs(jobs)
    if only:
        records = [r for r in records if r.label in only]
    if not records:
        raise FileNotFoundError(f"{', '.join(map(str, dirs))}: no job with a recognised result {hint}")
    summary = summarise(records, baseline=baseline, reps=reps, confidence=confidence, seed=seed)
    summary["source"] = {
        "sweep_dir": str(dirs[0]) if len(dirs) == 1 else [str(d) for d in dirs],
        "jobs": len({str(r.curves) for r in records}),
    }
    pngs = paper_figures(records, summary, out_dir / "figures")
    summary["files"] = {"report": "report.md", "figures": [str(p.relative_to(out_dir)) for p in pngs]}
    write_json(out_dir / "report_summary.json", summary)
    parts = dirs[0].resolve().parts
    # outputs/<task_name>/multiruns/<date>: name the report after the task
    name = parts[parts.index("multiruns") - 1] if "multiruns" in parts[1:] else dirs[0].name
    title = f"{name}: {' + '.join(d.name for d in dirs)}"
    (out_dir / "report.md").write_text(markdown(summary, title=title))
    return summary


__all__ = ["report_sweep"]
