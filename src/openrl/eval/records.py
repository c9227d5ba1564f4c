"""The results a report is made of: :class:`Record` (one optimizer's per-seed final returns on one env)
and reading them back from finished job directories (``openrl-report``).

Every job writes its results in one format: a ``summary.json`` carrying the ``openrl-eval/1`` schema
(:func:`openrl.eval.summary.summarise`): ``openrl-eval`` (one or many pairs), ``openrl-train
experiment=ppo`` (the trained optimizer on its env) and meta-training (the finished optimizer and tuned
Adam on held-out seeds; the job's own keys sit beside the schema's). ``openrl-report`` reads that and
nothing else, so a new job type needs no reader; a results JSON in that schema (``report_summary.json``,
``benchmarks/results/*.json``) can be pooled with job directories as it is.

Records are grouped by env and *key*: the optimizer label plus, in a sweep, the swept values that define
a result -- settings of the env, PPO, the optimizer, the ES or meta-training, other than the env, the
optimizer or the seed (e.g. ``adam [optimizer.lr=0.001]`` in a tuning sweep). Runs of the same key that
differ only in the seed or in how they were run or summarised (``eval.bootstrap_reps``, logging,
progress, chunking) are pooled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from openrl.config import overrides as ov
from openrl.runs.metadata import device_label

# The version tag of openrl-eval's summary.json: written by :func:`openrl.eval.summary.summarise`, and
# how :func:`load_job` tells an evaluation's summary from a training run's.
SCHEMA = "openrl-eval/1"
# Keys of a sweep job's overrides that are not a "variant": they are the table's rows/columns or pooled.
_NOT_VARIANT = (
    "env",
    "optimizer",
    "optimizer.weights",  # the optimizer's identity, not a setting (its label already says which)
    "eval.envs",
    "eval.optimizers",
    "eval.weights_root",
    "seed",
    "experiment",
    "budget",
    "logger",
    "logger.wandb_mode",
    "progress",  # display only: a batch job (progress=false) pools with an interactive one
    "num_chunks",  # host round trips per run (logging granularity): same results
    "eval.figures",  # whether a job drew its own figures: same results
    "num_seeds",  # seeds are the rows: a 4-seed job pools with a 16-seed one (use seed= for new seeds)
)
# Only settings under these change what a run computes; anything else (eval.* statistics, logger.*,
# save_agent, hydra.*) changes how it is run, recorded or summarised, and never splits a row.
_DEFINES_RESULT = ("env.", "ppo.", "optimizer.", "es.", "meta.", "mode")


@dataclass
class Record:
    """The final returns of one optimizer on one env (one job, or one pair of an eval job)."""

    env: str
    label: str
    final_return: np.ndarray  # (seeds,)
    curves: Path | None = None  # npz: env_steps, episode_return (seeds, updates), dormancy/..., analysis/...
    info: dict[str, Any] = field(default_factory=dict)
    variant: str = ""

    @property
    def key(self) -> str:
        return f"{self.label} [{self.variant}]" if self.variant else self.label

    @classmethod
    def from_result(cls, r: Any, run_dir: Path) -> Record:
        return cls(r.env, r.label, np.asarray(r.final_return, np.float64), run_dir / r.curves_file, r.info)

    def facts(self) -> dict[str, Any]:
        return dict(self.info.get("config", {}))


# -- job directories --------------------------------------------------------------------------------------------
def _job_overrides(job: Path) -> dict[str, str]:
    path = job / ".hydra" / "overrides.yaml"
    return ov.as_dict(yaml.safe_load(path.read_text()) or []) if path.is_file() else {}


def config_facts(cfg: Any) -> dict[str, Any]:
    """The config values figures group by (gridworld level/width/length, Deep Sea size, ...), as every
    job stores them in its records' ``info["config"]``."""
    env, ppo = cfg.env, cfg.ppo
    facts = {
        "env.id": env.id,
        "env.family": env.family,
        "ppo.width": ppo.width,
        "ppo.total_timesteps": ppo.total_timesteps,
        "ppo.num_envs": ppo.num_envs,
    }
    for k in ("level", "size"):
        v = getattr(env, k, None)
        if v is not None:
            facts[f"env.{k}"] = v
    for k in ("separated", "use_stochasticity", "anneal_lr", "lr", "b1", "b2", "decay"):
        v = getattr(cfg.optimizer, k, None)
        if v is not None:
            facts[f"optimizer.{k}"] = v
    return facts


def _job_device(job: Path) -> str | None:
    """The device of a job written before summaries recorded one, from its metadata.json."""
    meta_path = job / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    except (OSError, json.JSONDecodeError):
        return None
    if meta.get("device"):
        return meta["device"]
    backend = meta.get("jax_backend")
    if backend is None:
        return None
    # old metadata has device names only (no kind, no core count): "CPU" or e.g. "1x GPU"
    return "CPU" if backend == "cpu" else device_label(backend.upper(), meta.get("devices") or [None])


def _summary_file(job: Path) -> Path:
    return job if job.is_file() else job / "summary.json"


def load_job(job: Path) -> list[Record]:
    """The records of one job directory, or of one results JSON file (empty if it holds none)."""
    summ = _summary_file(job)
    try:
        data = json.loads(summ.read_text()) if summ.is_file() else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"{summ}: not a JSON file ({e})") from e
    if data.get("schema") != SCHEMA:
        return []
    root = job.parent if job.is_file() else job
    out = []
    for env, res in data["results"].items():
        for r in res.values():
            curves = r.get("curves")
            cp = None if curves is None else (Path(curves) if Path(curves).is_absolute() else root / curves)
            if cp is not None and not cp.exists():
                cp = root / "curves" / Path(curves).name
            info = {k: v for k, v in r.items() if k not in ("final_return", "label", "variant", "curves")}
            if "device" not in info and not job.is_file() and (dev := _job_device(job)):
                info["device"] = dev
            out.append(Record(env, r["label"], np.asarray(r["final_return"]), cp, info))
    return out


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job directories under a sweep directory (those holding a summary.json), in path order; a results
    JSON file is its own one job."""
    if sweep_dir.is_file():
        return [sweep_dir]
    return sorted({p.parent for p in sweep_dir.rglob("summary.json")}, key=str)


def sweep_dirs(sweep_dir: Path | Sequence[Path]) -> list[Path]:
    """One sweep directory or several, as a list (``openrl-report`` pools several into one report)."""
    return [sweep_dir] if isinstance(sweep_dir, Path) else list(sweep_dir)


def load_sweep(sweep_dir: Path | Sequence[Path]) -> list[Record]:
    """Records of every job under a multirun directory (or several, pooled as one sweep: e.g. the rows
    of one table run on different machines), with their variant (swept non-axis keys)."""
    return load_jobs([job_dirs(d) for d in sweep_dirs(sweep_dir)])


def load_jobs(jobs_per_dir: list[list[Path]]) -> list[Record]:
    """:func:`load_sweep` on job directories already found: each directory's jobs in path order, the
    directories in the order given (the report's row order)."""
    jobs = list(dict.fromkeys(j for jobs in jobs_per_dir for j in jobs))
    per_job = [(j, load_job(j), _job_overrides(j)) for j in jobs]
    per_job = [(j, rs, o) for j, rs, o in per_job if rs]
    all_keys = {k for _, _, o in per_job for k in o}
    swept = sorted(
        k
        for k in all_keys
        if k not in _NOT_VARIANT
        and k.lstrip("+~").startswith(_DEFINES_RESULT)
        and len({o.get(k) for _, _, o in per_job}) > 1
    )
    records: list[Record] = []
    seen_adam: set[tuple[str, str]] = set()
    for _, rs, o in per_job:
        variant = ",".join(f"{k}={o[k]}" for k in swept if k in o)
        for r in rs:
            if r.info.get("source") == "meta-training final evaluation" and r.label == "adam":
                # every meta job evaluates the same Adam on the same seeds: keep it once per env/variant
                if (r.env, variant) in seen_adam:
                    continue
                seen_adam.add((r.env, variant))
            r.variant = variant
            records.append(r)
    return records


__all__ = [
    "SCHEMA",
    "Record",
    "config_facts",
    "job_dirs",
    "load_job",
    "load_jobs",
    "load_sweep",
    "sweep_dirs",
]
