"""The statistics of a report: :func:`summarise` turns records into the ``summary.json`` payload
(schema ``openrl-eval/1``: per-env IQM, mean and median with bootstrap CIs, Adam-normalised values,
probability of improvement, and the Adam-normalised aggregate over envs), and :func:`check_schema`
refuses a payload that breaks that schema.

One code path serves ``openrl-eval`` (records of the pairs it just ran) and ``openrl-report`` (records read
back from a sweep), so a table computed from a sweep is exactly the one ``openrl-eval`` would have written
had it run every point in one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from openrl.eval import stats
from openrl.eval.records import SCHEMA, Record


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


__all__ = ["ENTRY_FIELDS", "OPTIONAL_ENTRY_FIELDS", "check_schema", "summarise"]
