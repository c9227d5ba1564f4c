"""``report.md``: the Markdown tables of a summary (:mod:`openrl.eval.summary`) -- one per env, the
aggregate over envs, the runtime table (paper Table 11) and the figure links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from openrl.eval.labels import display, steps


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


__all__ = ["markdown"]
