"""From per-seed final returns to summary.json, report.md and figures; and ``openrl-report`` for sweeps.

One code path serves both ``openrl-eval`` (records from the pairs it just ran) and ``openrl-report``
(records read back from every job directory of a finished Hydra multirun), so a table computed from a
sweep is exactly the table ``openrl-eval`` would have written had it run every point in one process.

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
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openrl.eval import stats
from openrl.runs.metadata import device_label

log = logging.getLogger(__name__)

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
DISPLAY = {
    "adam": "Adam",
    "rmsprop": "RMSprop",
    "lion": "Lion",
    "open": "OPEN",
    "open_pretrained": "OPEN (released)",
    "open_multi_pretrained": "OPEN multi-task (released)",
    "open_large": "OPEN (large)",
    "no_features": "No Features",
    "optim4rl": "Optim4RL",
    "open_no_stochasticity": "No Stochasticity",
    "open_no_training_prop": "No Training Prop.",
    "open_no_batch_prop": "No Batch Prop.",
    "open_no_dormancy": "No Dormancy",
    "open_no_layer_prop": "No Layer Prop.",
    "open_separated": "OPEN (separated)",
}


def display(label: str) -> str:
    """A reader's name for an optimizer label (``open_pretrained`` -> ``OPEN (released)``)."""
    base, sep, rest = label.partition(" [")
    return DISPLAY.get(base, base) + (f" [{rest}" if sep else "")


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


def _pool(records: list[Record]) -> dict[str, dict[str, list[Record]]]:
    by: dict[str, dict[str, list[Record]]] = {}
    for r in records:
        by.setdefault(r.env, {}).setdefault(r.key, []).append(r)
    return by


def _finals(rs: list[Record]) -> np.ndarray:
    return np.concatenate([np.asarray(r.final_return, np.float64) for r in rs])


def summarise(
    records: list[Record],
    baseline: str = "adam",
    reps: int = stats.DEFAULT_REPS,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
    root: Path | None = None,
) -> dict[str, Any]:
    """The summary.json payload (schema ``openrl-eval/1``; documented in docs/usage.md and tested).

    ``root``: curve paths are written relative to it (the run directory), so a run directory can move.
    """
    by = _pool(records)
    envs = list(by)
    keys = list(dict.fromkeys(r.key for r in records))
    results: dict[str, dict[str, Any]] = {}
    normalisers: dict[str, tuple[float, str]] = {}
    for env, groups in by.items():
        finals = {k: _finals(rs) for k, rs in groups.items()}
        est = stats.interval_estimates(
            finals, ("iqm", "mean", "run_median"), reps=reps, confidence=confidence, seed=seed
        )
        norm = _normaliser(env, groups, baseline)
        if norm is not None:
            normalisers[env] = norm
        res_env: dict[str, Any] = {}
        for k, rs in groups.items():
            info = {kk: v for kk, v in rs[0].info.items() if kk not in ("overrides",)}
            if len(rs) > 1:
                for t in ("wall_s", "compile_s", "run_s"):
                    if t in info:
                        info[t] = float(sum(r.info.get(t, 0.0) for r in rs))
            entry: dict[str, Any] = {
                "label": rs[0].label,
                "variant": rs[0].variant or None,
                **info,
                "num_seeds": int(finals[k].size),
                "final_return": finals[k].tolist(),
                "iqm": est[k]["iqm"].as_dict(),
                "mean": est[k]["mean"].as_dict(),
                "median": est[k]["run_median"].as_dict(),  # over seeds (rliable's is over tasks)
                "normalised": None,
                "probability_of_improvement": None,
                "curves": _rel(rs[0].curves, root),
            }
            if norm is not None:
                nest = stats.interval_estimates(
                    {k: finals[k] / norm[0]}, ("iqm", "mean"), reps=reps, confidence=confidence, seed=seed
                )[k]
                entry["normalised"] = {
                    "by": norm[1],
                    "baseline_return": norm[0],
                    "iqm": nest["iqm"].as_dict(),
                    "mean": nest["mean"].as_dict(),
                }
            if baseline in finals and k != baseline:
                entry["probability_of_improvement"] = {
                    "vs": baseline,
                    **stats.probability_of_improvement(
                        finals[k], finals[baseline], reps=reps, confidence=confidence, seed=seed
                    ).as_dict(),
                }
            res_env[k] = entry
        results[env] = res_env
    return {
        "schema": SCHEMA,
        "stats": {
            "method": "rliable stratified bootstrap (percentile), runs resampled within each env",
            "bootstrap_reps": int(reps),
            "confidence": float(confidence),
            "seed": int(seed),
        },
        "baseline": baseline,
        "envs": envs,
        "optimizers": keys,
        "results": results,
        "aggregate": _aggregate(by, normalisers, baseline, reps, confidence, seed) if len(envs) > 1 else None,
    }


def _rel(path: Path | None, root: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve())) if root else str(path)
    except ValueError:
        return str(path)


def steps(t: float | None) -> str:
    """``10000000`` -> ``"10M"``, ``200000`` -> ``"200k"`` (titles and headings)."""
    if t is None:
        return "?"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if t >= div:
            return f"{t / div:.4g}{unit}"
    return f"{t:g}"


def _normaliser(env: str, groups: dict[str, list[Record]], baseline: str) -> tuple[float, str] | None:
    """Adam's mean final return on this env in this evaluation, else the authors' (``env.adam_return``)."""
    if baseline in groups:
        v = float(np.mean(_finals(groups[baseline])))
        if np.isfinite(v) and v != 0:
            return v, f"{baseline} (mean final return in this evaluation)"
    for rs in groups.values():
        ref = rs[0].info.get("adam_return_reference")
        if ref:
            return float(ref), "env.adam_return (the authors' Adam return)"
    return None


def _aggregate(
    by: dict[str, dict[str, list[Record]]],
    normalisers: dict[str, tuple[float, str]],
    baseline: str,
    reps: int,
    confidence: float,
    seed: int,
) -> dict[str, Any] | None:
    """Adam-normalised aggregates over envs (paper Fig. 3) for every key present on every normalised env."""
    envs = [e for e in by if e in normalisers]
    if len(envs) < 2:
        return None
    keys = [k for k in dict.fromkeys(k for e in envs for k in by[e]) if all(k in by[e] for e in envs)]
    mats: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    dropped: dict[str, int] = {}
    for k in keys:
        cols = [_finals(by[e][k]) for e in envs]
        n = min(c.size for c in cols)  # rliable needs equal runs per task; extra seeds are dropped
        raw[k] = np.stack([c[:n] for c in cols], axis=1)
        if any(c.size > n for c in cols):
            dropped[k] = n
        mats[k] = stats.normalise(raw[k], [normalisers[e][0] for e in envs])
    est = stats.interval_estimates(mats, stats.METRICS, reps=reps, confidence=confidence, seed=seed)
    out = {
        "envs": envs,
        "normalised_by": {e: {"baseline_return": normalisers[e][0], "by": normalisers[e][1]} for e in envs},
        "results": {k: {m: est[k][m].as_dict() for m in stats.METRICS} for k in keys},
        "probability_of_improvement": {},
    }
    if dropped:  # said in the report: an aggregate over the first n seeds of each env
        out["truncated_to_seeds"] = dropped
    if baseline in raw:
        for k in keys:
            if k != baseline:
                out["probability_of_improvement"][k] = {
                    "vs": baseline,
                    **stats.probability_of_improvement(
                        raw[k], raw[baseline], reps=reps, confidence=confidence, seed=seed
                    ).as_dict(),
                }
    return out


# -- schema ---------------------------------------------------------------------------------------------------
_INTERVAL = {"value": float, "ci": list}
ENTRY_FIELDS: dict[str, Any] = {
    "label": str,
    "num_seeds": int,
    "final_return": list,
    "iqm": _INTERVAL,
    "mean": _INTERVAL,
    "median": _INTERVAL,
}
OPTIONAL_ENTRY_FIELDS = (
    "variant",
    "optimizer",
    "weights",
    "weights_sha256",
    "total_timesteps",
    "seed",
    "config",
    "wall_s",
    "compile_s",
    "run_s",
    "env_steps_per_s",
    "device",
    "normalised",
    "probability_of_improvement",
    "curves",
)


def check_schema(summary: dict[str, Any]) -> None:
    """Raises ``ValueError`` naming the first field of ``summary`` that breaks schema ``openrl-eval/1``.

    Required: ``schema``, ``stats`` {method, bootstrap_reps, confidence, seed}, ``baseline``, ``envs``,
    ``optimizers``, ``results[env][optimizer]`` with :data:`ENTRY_FIELDS` (an interval is
    ``{"value": float, "ci": [lo, hi]}``), ``aggregate`` (null, or {envs, normalised_by, results[opt]
    with iqm/mean/median/optimality_gap intervals, probability_of_improvement}).
    """

    def need(obj: Any, key: str, typ: Any, where: str) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise ValueError(f"{where}.{key}: missing")
        v = obj[key]
        if isinstance(typ, dict):
            for k, t in typ.items():
                need(v, k, t, f"{where}.{key}")
        elif typ is float:
            if not isinstance(v, (int, float)):
                raise ValueError(f"{where}.{key}: expected a number, got {type(v).__name__}")
        elif not isinstance(v, typ):
            raise ValueError(f"{where}.{key}: expected {typ.__name__}, got {type(v).__name__}")
        if isinstance(typ, dict) and "ci" in typ and len(v["ci"]) != 2:
            raise ValueError(f"{where}.{key}.ci: expected [lo, hi]")
        return v

    if summary.get("schema") != SCHEMA:
        raise ValueError(f"schema: expected {SCHEMA!r}, got {summary.get('schema')!r}")
    need(summary, "stats", {"method": str, "bootstrap_reps": int, "confidence": float, "seed": int}, "")
    need(summary, "baseline", str, "")
    envs = need(summary, "envs", list, "")
    opts = need(summary, "optimizers", list, "")
    results = need(summary, "results", dict, "")
    if sorted(results) != sorted(envs):
        raise ValueError(f"results: envs {sorted(results)} differ from envs {sorted(envs)}")
    for env, res in results.items():
        for k, entry in res.items():
            if k not in opts:
                raise ValueError(f"results.{env}.{k}: not listed in optimizers")
            for f, t in ENTRY_FIELDS.items():
                need(entry, f, t, f"results.{env}.{k}")
            if len(entry["final_return"]) != entry["num_seeds"]:
                raise ValueError(f"results.{env}.{k}.final_return: {entry['num_seeds']} values expected")
    agg = summary.get("aggregate", "missing")
    if agg == "missing":
        raise ValueError(".aggregate: missing (null when there is a single env)")
    if agg is not None:
        need(agg, "envs", list, "aggregate")
        for k, r in need(agg, "results", dict, "aggregate").items():
            for m in stats.METRICS:
                need(r, m, _INTERVAL, f"aggregate.results.{k}")
        need(agg, "probability_of_improvement", dict, "aggregate")


# -- Markdown -------------------------------------------------------------------------------------------------
def _fmt(d: dict[str, Any] | None, digits: int = 2) -> str:
    if not d:
        return "–"
    v, (lo, hi) = d["value"], d["ci"]
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _digits(values: list[float]) -> int:
    m = max((abs(v) for v in values if v is not None and np.isfinite(v)), default=1.0)
    return 1 if m >= 100 else 2 if m >= 1 else 3


def markdown(summary: dict[str, Any], title: str, figures: list[str] | None = None) -> str:
    """``report.md``: one table per env (IQM [CI], mean [CI], median, P(>baseline)), then aggregates."""
    st = summary["stats"]
    base = summary["baseline"]
    ci = f"{round(100 * st['confidence'])}% CI"
    lines = [
        f"# {title}",
        "",
        f"Final return per seed (the authors' fitness). IQM, mean and median with {ci} from rliable's "
        f"stratified bootstrap ({st['bootstrap_reps']} resamples, seed {st['seed']}). "
        f"P(X > {display(base)}): probability that a run of X beats a run of {display(base)} (same seeds).",
        "",
    ]
    for env, res in summary["results"].items():
        any_res = next(iter(res.values()))
        t = any_res.get("total_timesteps")
        lines += [f"## {env}" + (f" (T = {steps(t)} env steps per seed)" if t else ""), ""]
        d = _digits([r["iqm"]["value"] for r in res.values()])
        lines += [
            f"| optimizer | seeds | IQM [{ci}] | mean [{ci}] | median [{ci}] | P(X > {display(base)}) "
            "| Adam-normalised IQM | wall s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for k, r in sorted(res.items(), key=lambda kv: -np.nan_to_num(kv[1]["iqm"]["value"], nan=-np.inf)):
            norm = r.get("normalised")
            wall = r.get("wall_s")
            lines.append(
                f"| {display(k)} | {r['num_seeds']} | {_fmt(r['iqm'], d)} | {_fmt(r['mean'], d)} "
                f"| {_fmt(r['median'], d)} | {_fmt(r.get('probability_of_improvement'))} "
                f"| {_fmt(norm['iqm']) if norm else '–'} | {f'{wall:.0f}' if wall is not None else '–'} |"
            )
        norm = next((r["normalised"] for r in res.values() if r.get("normalised")), None)
        if norm:
            lines += ["", f"Normalised by {norm['by']}: {norm['baseline_return']:.4g}."]
        lines.append("")
    agg = summary.get("aggregate")
    if agg:
        lines += [
            f"## Aggregate over {', '.join(agg['envs'])} (Adam-normalised: 1 = {display(base)})",
            "",
            f"| optimizer | IQM [{ci}] | mean [{ci}] | median [{ci}] | optimality gap [{ci}] "
            f"| P(X > {display(base)}) |",
            "|---|---|---|---|---|---|",
        ]
        for k, r in sorted(agg["results"].items(), key=lambda kv: -kv[1]["iqm"]["value"]):
            poi = agg["probability_of_improvement"].get(k)
            lines.append(
                f"| {display(k)} | {_fmt(r['iqm'])} | {_fmt(r['mean'])} | {_fmt(r['median'])} "
                f"| {_fmt(r['optimality_gap'])} | {_fmt(poi)} |"
            )
        if agg.get("truncated_to_seeds"):
            lines += [
                "",
                "Envs with more seeds than others enter the aggregate with their first n (rliable's stratified "
                "bootstrap needs equal runs per env): "
                + ", ".join(f"{display(k)} n = {n}" for k, n in agg["truncated_to_seeds"].items())
                + ".",
            ]
        # rliable's stratified bootstrap needs every task for every run: say who is missing, and why
        left_out = [k for k in summary["optimizers"] if k not in agg["results"]]
        if left_out:
            lines += [
                "",
                f"Not in the aggregate (not run on every env above): {', '.join(display(k) for k in left_out)}.",
            ]
        lines.append("")
    lines += _runtime_table(summary)
    figs = figures if figures is not None else summary.get("files", {}).get("figures", [])
    if figs:
        lines += ["## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figs] + [""]
    return "\n".join(lines)


def _runtime_table(summary: dict[str, Any]) -> list[str]:
    """Paper Table 11: wall seconds for all seeds of each optimizer on each env (compile time apart)."""
    res = summary["results"]
    if not any(r.get("wall_s") for e in res.values() for r in e.values()):
        return []
    envs = list(res)
    # a GPU second is not a CPU second: with several devices in the table, each cell names its own
    devices = sorted({r["device"] for e in res.values() for r in e.values() if r.get("device")})
    mixed = len(devices) > 1
    lines = [
        "## Runtime (paper Table 11)",
        "",
        "Wall seconds for all seeds of one optimizer on one env, vmapped in one program: total (compile)"
        + (", device." if mixed else "."),
        "",
        "| optimizer | " + " | ".join(envs) + " |",
        "|---|" + "---|" * len(envs),
    ]
    for k in summary["optimizers"]:
        cells = []
        for e in envs:
            r = res[e].get(k)
            if r is None or r.get("wall_s") is None:
                cells.append("–")
            else:
                dev = f", {r.get('device') or '?'}" if mixed else ""
                cells.append(f"{r['wall_s']:.0f} ({r.get('compile_s') or 0:.0f}){dev}")
        lines.append(f"| {display(k)} | " + " | ".join(cells) + " |")
    seeds = sorted({r["num_seeds"] for e in res.values() for r in e.values()})
    lines += ["", f"Seeds per cell: {'/'.join(map(str, seeds))}."]
    if len(devices) == 1:
        lines.append(f"Device: {devices[0]}.")
    lines.append("")
    return lines


# -- figures --------------------------------------------------------------------------------------------------
def figures(records: list[Record], summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Every paper-style figure the records support (see :mod:`openrl.eval.figures`)."""
    from openrl.eval import figures as F

    out_dir.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []

    def attempt(fn, *args) -> None:
        try:
            p = fn(*args)
        except Exception as e:  # noqa: BLE001 - one figure failing must not lose the report
            log.warning("figure %s failed: %s", getattr(fn, "__name__", fn), e)
            return
        if p is not None:
            made.extend(p if isinstance(p, list) else [p])

    attempt(F.per_env_intervals, summary, out_dir / "fig2_per_env_iqm.png")
    if summary.get("aggregate"):
        attempt(F.aggregate_metrics, summary, out_dir / "fig3_aggregate.png")
    curves = {(r.env, r.key): r.curves for r in records if r.curves is not None and Path(r.curves).exists()}
    if curves:
        attempt(F.return_curves, curves, out_dir / "fig9_return_curves.png")
        attempt(F.ablation_bars, summary, curves, out_dir / "fig5_return_and_dormancy.png")
        attempt(F.dormancy_curves, curves, out_dir / "fig10_dormancy_curves.png")
        attempt(F.analysis_curves, curves, out_dir)
    attempt(F.generalisation_grid, records, summary, out_dir)
    attempt(F.deepsea_sizes, records, out_dir / "fig6_deepsea_sizes.png")
    return made


# -- openrl-report --------------------------------------------------------------------------------------------
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


def _job_dirs(sweep_dir: Path) -> list[Path]:
    """Job directories under a sweep directory (those holding a result file), in path order."""
    found = {p.parent for pat in ("summary.json", "final_evaluation.json") for p in sweep_dir.rglob(pat)}
    return sorted(found, key=str)


def _dirs(sweep_dir: Path | Sequence[Path]) -> list[Path]:
    return [sweep_dir] if isinstance(sweep_dir, Path) else list(sweep_dir)


def load_sweep(sweep_dir: Path | Sequence[Path]) -> list[Record]:
    """Records of every job under a multirun directory (or several, pooled as one sweep: e.g. the rows
    of one table run on different machines), with their variant (swept non-axis keys)."""
    return _load_jobs([_job_dirs(d) for d in _dirs(sweep_dir)])


def _load_jobs(jobs_per_dir: list[list[Path]]) -> list[Record]:
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


def report_sweep(
    sweep_dir: Path | Sequence[Path],
    out_dir: Path | None = None,
    baseline: str = "adam",
    reps: int = stats.DEFAULT_REPS,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """``openrl-report``: report.md, summary.json and figures for a finished multirun directory, or for
    several pooled into one report (``out_dir`` then required)."""
    from openrl.runs.checkpoint import write_json

    dirs = _dirs(sweep_dir)
    if len(dirs) > 1 and out_dir is None:
        raise ValueError("several sweep directories: name the report's directory (--out)")
    out_dir = out_dir or dirs[0]
    hint = "(is this a finished openrl-eval/openrl-train multirun?)"
    jobs = [_job_dirs(d) for d in dirs]  # each directory searched once, for the check and the load
    for d, found in zip(dirs, jobs):  # name the directory that holds nothing
        if not found:
            raise FileNotFoundError(
                f"{d}: no job directory with a summary.json or final_evaluation.json below it {hint}"
            )
    records = _load_jobs(jobs)
    if not records:
        raise FileNotFoundError(f"{', '.join(map(str, dirs))}: no job with a recognised result {hint}")
    summary = summarise(records, baseline=baseline, reps=reps, confidence=confidence, seed=seed)
    summary["source"] = {
        "sweep_dir": str(dirs[0]) if len(dirs) == 1 else [str(d) for d in dirs],
        "jobs": len({str(r.curves) for r in records}),
    }
    pngs = figures(records, summary, out_dir / "figures")
    summary["files"] = {"report": "report.md", "figures": [str(p.relative_to(out_dir)) for p in pngs]}
    write_json(out_dir / "report_summary.json", summary)
    parts = dirs[0].resolve().parts
    # outputs/<task_name>/multiruns/<date>: name the report after the task
    name = parts[parts.index("multiruns") - 1] if "multiruns" in parts[1:] else dirs[0].name
    title = f"{name}: {' + '.join(d.name for d in dirs)}"
    (out_dir / "report.md").write_text(markdown(summary, title=title))
    return summary
