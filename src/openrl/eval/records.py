"""The results a report is made of: :class:`Record` (one optimizer's per-seed final returns on one env)
and reading them back from finished job directories (``openrl-report``).

A job directory is recognised by what it holds:

* ``summary.json`` with ``"schema": "openrl-eval/1"`` -- an ``openrl-eval`` run (one or many pairs);
* ``summary.json`` with ``final_return`` -- an ``openrl-train experiment=ppo`` run (``returns.npz``);
* ``final_evaluation.json`` -- a meta-training run (the learned optimizer and Adam on held-out seeds).

Records are grouped by env and *key*: the optimizer label plus, in a sweep, the swept values that are
not the env, the optimizer or the seed (e.g. ``adam [optimizer.lr=0.001]`` in a tuning sweep). Runs of
the same key that differ only in ``seed`` are pooled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
    "num_seeds",  # seeds are the rows: a 4-seed job pools with a 16-seed one (use seed= for new seeds)
)


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
def _load_yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text()) if path.exists() else None


def _job_overrides(job: Path) -> dict[str, str]:
    ov = _load_yaml(job / ".hydra" / "overrides.yaml") or []
    out = {}
    for o in ov:
        if "=" in o:
            k, v = o.lstrip("+~").split("=", 1)
            out[k] = v
    return out


def _facts_from_config(cfg: dict[str, Any]) -> dict[str, Any]:
    env, ppo, opt = cfg.get("env", {}), cfg.get("ppo", {}), cfg.get("optimizer", {})
    facts = {
        "env.id": env.get("id"),
        "env.family": env.get("family"),
        "ppo.width": ppo.get("width"),
        "ppo.total_timesteps": ppo.get("total_timesteps"),
    }
    for k in ("level", "size"):
        if env.get(k) is not None:
            facts[f"env.{k}"] = env[k]
    for k in ("separated", "use_stochasticity", "anneal_lr", "lr", "b1", "b2", "decay"):
        if opt.get(k) is not None:
            facts[f"optimizer.{k}"] = opt[k]
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


def load_job(job: Path) -> list[Record]:
    """The records of one job directory (empty if it holds no recognised result)."""
    summ = job / "summary.json"
    cfg = _load_yaml(job / "config_resolved.yaml") or _load_yaml(job / ".hydra" / "config.yaml") or {}
    choices = (
        (_load_yaml(job / ".hydra" / "hydra.yaml") or {}).get("hydra", {}).get("runtime", {}) or {}
    ).get("choices", {})
    data = json.loads(summ.read_text()) if summ.exists() else {}
    if data.get("schema") == SCHEMA:
        out = []
        for env, res in data["results"].items():
            for _, r in res.items():
                curves = r.get("curves")
                cp = (
                    None if curves is None else (Path(curves) if Path(curves).is_absolute() else job / curves)
                )
                if cp is not None and not cp.exists():
                    cp = job / "curves" / Path(curves).name
                info = {k: v for k, v in r.items() if k not in ("final_return", "label", "variant", "curves")}
                if "device" not in info and (dev := _job_device(job)):
                    info["device"] = dev
                out.append(Record(env, r["label"], np.asarray(r["final_return"]), cp, info))
        return out
    if "final_return" in data and "env" in data:
        label = choices.get("optimizer") or data.get("optimizer")
        info = {
            "total_timesteps": int(data.get("total_env_steps", 0) // max(1, data.get("num_seeds", 1))),
            "adam_return_reference": data.get("adam_return_reference"),
            "wall_s": data.get("wall_s"),
            "compile_s": data.get("compile_s"),
            "env_steps_per_s": data.get("env_steps_per_s"),
            "config": _facts_from_config(cfg),
        }
        curves = job / "returns.npz"
        return [
            Record(
                data["env"],
                label,
                np.asarray(data["final_return"]),
                curves if curves.exists() else None,
                info,
            )
        ]
    fe = job / "final_evaluation.json"
    if fe.exists():
        res = json.loads(fe.read_text())
        label = choices.get("optimizer") or cfg.get("optimizer", {}).get("name", "learned")
        out = []
        for env, r in res.items():
            info = {"config": _facts_from_config(cfg), "source": "meta-training final evaluation"}
            out.append(Record(env, label, np.asarray(r["learned_final_return"]), None, info))
            out.append(Record(env, "adam", np.asarray(r["adam_final_return"]), None, dict(info)))
        return out
    return []


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job directories under a sweep directory (those holding a result file), in path order."""
    found = {p.parent for pat in ("summary.json", "final_evaluation.json") for p in sweep_dir.rglob(pat)}
    return sorted(found, key=str)


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
    per_job = [(j, rs, ov) for j, rs, ov in per_job if rs]
    all_keys = {k for _, _, ov in per_job for k in ov}
    swept = sorted(
        k for k in all_keys if k not in _NOT_VARIANT and len({ov.get(k) for _, _, ov in per_job}) > 1
    )
    records: list[Record] = []
    seen_adam: set[tuple[str, str]] = set()
    for _, rs, ov in per_job:
        variant = ",".join(f"{k}={ov[k]}" for k in swept if k in ov)
        for r in rs:
            if r.info.get("source") == "meta-training final evaluation" and r.label == "adam":
                # every meta job evaluates the same Adam on the same seeds: keep it once per env/variant
                if (r.env, variant) in seen_adam:
                    continue
                seen_adam.add((r.env, variant))
            r.variant = variant
            records.append(r)
    return records


__all__ = ["SCHEMA", "Record", "job_dirs", "load_job", "load_jobs", "load_sweep", "sweep_dirs"]
