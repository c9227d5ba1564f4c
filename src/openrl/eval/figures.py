"""Paper-style figures (matplotlib, Agg) from summaries and per-seed curves.

Each function returns the PNG path it wrote, or ``None`` when the data cannot support the figure (e.g.
no gridworld levels): :func:`paper_figures` calls all of them and keeps what exists. Figure numbers follow the OPEN
paper: Fig. 2 per-env IQM intervals, Fig. 3 aggregate metrics, Fig. 5 ablation return + dormancy,
Figs. 9/15 return curves, Fig. 10 dormancy curves, Figs. 11-14 optimizer analysis, Figs. 4/16 gridworld
generalisation, Figs. 6/17 Deep Sea size curves.

Colours are fixed per optimizer across all figures of a report (the order of first appearance).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from openrl.eval import stats  # noqa: E402
from openrl.eval.labels import display  # noqa: E402
from openrl.eval.labels import steps as fmt_steps  # noqa: E402

log = logging.getLogger(__name__)

_PALETTE = plt.get_cmap("tab10").colors
MAX_ROWS = 24  # interval panels with more optimizers/variants than this are left to the tables
MAX_LINES = 10  # curve panels with more lines than this are unreadable


# the paper's optimizers keep their colour in every figure, whichever subset a figure shows
_FIXED = {"adam": 0, "open_pretrained": 1, "lion": 2, "rmsprop": 3, "open_multi_pretrained": 4}


def _colours(keys: Iterable[str]) -> dict[str, Any]:
    """Colour per label: fixed for the paper's optimizers, the other palette colours in order for the rest.

    Why: figures of one report list optimizers in different orders (by IQM, by load order); colours by
    position made Lion green in one figure and red in the next."""
    keys = list(dict.fromkeys(keys))
    base = {k: k.split(" [")[0] for k in keys}  # "adam [optimizer.lr=0.01]" -> "adam"
    n_base = Counter(base.values())  # variants of one optimizer share no fixed colour
    free = [i for i in range(len(_PALETTE)) if i not in _FIXED.values()]
    fixed = {k for k in keys if base[k] in _FIXED and n_base[base[k]] == 1}
    if len(keys) - len(fixed) > len(free):  # too many others to keep the fixed ones apart: by position
        return {k: _PALETTE[i % len(_PALETTE)] for i, k in enumerate(keys)}
    out, j = {}, 0
    for k in keys:
        if k in fixed:
            out[k] = _PALETTE[_FIXED[base[k]]]
        else:
            out[k] = _PALETTE[free[j % len(free)]]
            j += 1
    return out


def _grid(n: int, width: float = 4.2, height: float = 3.2, max_cols: int = 3):
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), dpi=120, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _legend(fig, axes: list, fontsize: int = 7):
    """One legend naming every line of the figure, not just those of the first panel.

    Why: panels may show different optimizers (an env where only Adam and OPEN ran beside one with all
    four); a legend taken from ``axes[0]`` alone leaves the other colours unexplained. When the first
    panel holds every label the legend stays inside it; otherwise it goes to the figure's right edge.
    """
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if not handles:
        return None
    if set(axes[0].get_legend_handles_labels()[1]) >= set(handles):
        return axes[0].legend(fontsize=fontsize, loc="best")
    return fig.legend(
        list(handles.values()), list(handles), fontsize=fontsize, loc="center left", bbox_to_anchor=(1.0, 0.5)
    )


def _steps_label(ax) -> None:
    """Environment steps on x, ticks as 250k / 1.5M / 10M (no detached '1e6' offset to miss)."""
    from matplotlib.ticker import FuncFormatter

    ax.set_xlabel("environment steps (per seed)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt_steps(x) if x > 0 else "0"))


def _interval_panel(ax, rows: list[tuple[str, dict[str, Any]]], colours: dict[str, Any], xlabel: str) -> None:
    """rliable-style horizontal interval bars: CI as a bar, the point estimate as a black tick."""
    for i, (k, d) in enumerate(rows):
        v, (lo, hi) = d["value"], d["ci"]
        ax.barh(i, hi - lo, left=lo, height=0.6, color=colours[k], alpha=0.75)
        ax.vlines(v, i - 0.3, i + 0.3, color="black", lw=1.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([display(k) for k, _ in rows])
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    # pad the x range so that a zero-width interval at the edge (e.g. optimality gap 0) stays visible
    lo = min(min(d["ci"][0], d["value"]) for _, d in rows)
    hi = max(max(d["ci"][1], d["value"]) for _, d in rows)
    pad = 0.05 * (hi - lo) if hi > lo else 0.05 * (abs(hi) or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    if not ax.yaxis_inverted():  # shared y axes: invert once, not once per panel
        ax.invert_yaxis()


def per_env_intervals(summary: dict[str, Any], path: Path) -> Path | None:
    """Fig. 2: IQM final return with its CI, one panel per env, one bar per optimizer."""
    res = summary["results"]
    if not res or max(len(r) for r in res.values()) > MAX_ROWS:
        return None  # e.g. a size or tuning sweep: the table (and the size/grid figures) say it better
    colours = _colours(summary["optimizers"])
    fig, axes = _grid(len(res), width=4.6, height=0.55 * max(len(r) for r in res.values()) + 1.4)
    pct = round(100 * summary["stats"]["confidence"])
    for ax, (env, r) in zip(axes, res.items()):
        rows = [(k, r[k]["iqm"]) for k in summary["optimizers"] if k in r]
        _interval_panel(ax, rows, colours, "IQM final return")
        t = next(iter(r.values())).get("total_timesteps")
        seeds = sorted({v["num_seeds"] for v in r.values()})
        ax.set_title(
            f"{env}\n(T={fmt_steps(t)}, {'/'.join(map(str, seeds))} seeds)" if t else env, fontsize=10
        )
    fig.suptitle(f"Final return: IQM with {pct}% stratified-bootstrap CI", fontsize=11)
    return _save(fig, path)


def aggregate_metrics(summary: dict[str, Any], path: Path) -> Path | None:
    """Fig. 3: Adam-normalised mean, median, IQM and optimality gap over envs."""
    agg = summary.get("aggregate")
    if not agg:
        return None
    keys = list(agg["results"])
    colours = _colours(summary["optimizers"])
    names = {"mean": "Mean", "median": "Median", "iqm": "IQM", "optimality_gap": "Optimality gap"}
    fig, axes = plt.subplots(1, 4, figsize=(15, 0.5 * len(keys) + 1.6), dpi=120, sharey=True)
    for ax, m in zip(axes, names):
        _interval_panel(ax, [(k, agg["results"][k][m]) for k in keys], colours, names[m])
        if m != "optimality_gap":
            ax.axvline(1.0, color="grey", ls="--", lw=1)
    base = display(summary["baseline"])
    fig.suptitle(
        f"Aggregate over {', '.join(agg['envs'])}: return normalised by {base} (1 = {base}; "
        "optimality gap: lower is better)",
        fontsize=11,
    )
    return _save(fig, path)


def _load(npz: Path) -> dict[str, np.ndarray]:
    with np.load(npz) as z:
        return {k: z[k] for k in z.files}


def _mean_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.atleast_2d(np.asarray(x, np.float64))
    n = np.maximum(np.sum(np.isfinite(x), axis=0), 1)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(x, axis=0), np.nanstd(x, axis=0) / np.sqrt(n)


def _by_env(curves: dict[tuple[str, str], Path]) -> dict[str, dict[str, Path]]:
    out: dict[str, dict[str, Path]] = {}
    for (env, key), p in curves.items():
        out.setdefault(env, {})[key] = Path(p)
    return out


def _band(ax, steps: np.ndarray, values: np.ndarray, colour: Any, label: str, lw: float = 1.3) -> None:
    """One optimizer's curve: mean over seeds (rows of ``values``) with a ± standard-error band."""
    mean, se = _mean_se(values)
    # updates where no episode ended (long Freeway episodes) are NaN: skip them, do not break the line
    ok = np.isfinite(mean)
    steps, mean, se = steps[ok], mean[ok], np.nan_to_num(se[ok])
    ax.plot(steps, mean, color=colour, label=label, lw=lw)
    ax.fill_between(steps, mean - se, mean + se, color=colour, alpha=0.2)


def return_curves(curves: dict[tuple[str, str], Path], path: Path) -> Path | None:
    """Figs. 9/15: return of completed episodes over training, mean and standard error over seeds."""
    by = _by_env(curves)
    if max(len(ks) for ks in by.values()) > MAX_LINES:
        return None
    colours = _colours(k for e in by.values() for k in e)
    fig, axes = _grid(len(by))
    for ax, (env, ks) in zip(axes, by.items()):
        for k, p in ks.items():
            z = _load(p)
            _band(ax, z["env_steps"], z["episode_return"], colours[k], display(k))
        ax.set_title(env, fontsize=10)
        _steps_label(ax)
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    fig.suptitle("Return over training (mean ± standard error over seeds)", fontsize=11)
    return _save(fig, path)


def _dormancy(z: dict[str, np.ndarray], net: str = "actor") -> np.ndarray | None:
    """(seeds, updates) tau=0 dormancy of ``net``, averaged over its hidden layers."""
    layers = [v for k, v in z.items() if k.startswith(f"dormancy/{net}/")]
    return None if not layers else np.mean(np.stack(layers), axis=0)


def ablation_bars(summary: dict[str, Any], curves: dict[tuple[str, str], Path], path: Path) -> Path | None:
    """Fig. 5: per optimizer, final-return IQM (CI) and final tau=0 actor dormancy (mean ± SE), one env."""
    if len(summary["results"]) != 1:
        return None
    env, res = next(iter(summary["results"].items()))
    keys = [k for k in summary["optimizers"] if k in res]
    dorm = {}
    for k in keys:
        p = curves.get((env, k))
        d = None if p is None else _dormancy(_load(p))
        if d is not None:
            dorm[k] = d[:, -1]
    if len(keys) < 2 or not dorm:
        return None
    colours = _colours(summary["optimizers"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 0.5 * len(keys) + 1.8), dpi=120, sharey=True)
    _interval_panel(a1, [(k, res[k]["iqm"]) for k in keys], colours, "IQM final return (95% CI)")
    for i, k in enumerate(keys):
        if k in dorm:
            m, se = float(np.mean(dorm[k])), float(np.std(dorm[k]) / np.sqrt(dorm[k].size))
            a2.barh(i, m, xerr=se, color=colours[k], alpha=0.75, height=0.6, capsize=3)
            # the value as text: a near-zero bar (OPEN keeps almost no dead units) is otherwise invisible
            a2.annotate(f" {m:.3f}", (m + se, i), va="center", fontsize=8)
    a2.margins(x=0.12)  # room for the value labels
    a2.set_xlabel("final actor dormancy, τ=0 (fraction of dead units)")
    a2.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{env}: return and dormancy per optimizer", fontsize=11)
    return _save(fig, path)


def dormancy_curves(curves: dict[tuple[str, str], Path], path: Path) -> Path | None:
    """Fig. 10: tau=0 actor dormancy over training (mean ± SE over seeds), one panel per env."""
    by = _by_env(curves)
    if max(len(ks) for ks in by.values()) > MAX_LINES:
        return None
    loaded = {e: {k: _dormancy(_load(p)) for k, p in ks.items()} for e, ks in by.items()}
    loaded = {e: {k: d for k, d in ks.items() if d is not None} for e, ks in loaded.items()}
    loaded = {e: ks for e, ks in loaded.items() if ks}
    if not loaded:
        return None
    colours = _colours(k for e in loaded.values() for k in e)
    fig, axes = _grid(len(loaded))
    for ax, (env, ks) in zip(axes, loaded.items()):
        for k, d in ks.items():
            _band(ax, _load(by[env][k])["env_steps"], d, colours[k], display(k))
        ax.set_title(env, fontsize=10)
        _steps_label(ax)
        ax.set_ylabel("actor dormancy (τ=0)")
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    fig.suptitle("Dormant (never-active) actor units over training", fontsize=11)
    return _save(fig, path)


# file -> (statistic prefix, figure title, y-axis label, log scale)
_ANALYSIS = {
    "fig11_cosine_similarity.png": (
        "cos_",
        "Cosine similarity of the update u with the gradient g and each momentum m_β",
        "cosine similarity",
        False,
    ),
    "fig12_update_over_param.png": (
        "update_over_param",
        "Mean |û / p|: update size relative to the parameter",
        "|û / p| (log scale)",
        True,
    ),
    "fig13_noise_over_param.png": (
        "noise_over_param",
        "Mean |α3·δ / p|: learned noise scale relative to the parameter (actor)",
        "|α3·δ / p| (log scale)",
        True,
    ),
}


def analysis_curves(curves: dict[tuple[str, str], Path], out_dir: Path) -> list[Path] | None:
    """Figs. 11-14 from ``optimizer.analysis=true`` runs: one figure per statistic, panels per env/net."""
    loaded = {ek: _load(p) for ek, p in curves.items()}
    loaded = {ek: z for ek, z in loaded.items() if any(k.startswith("analysis/") for k in z)}
    if not loaded:
        return None
    made = []
    colours = _colours(k for _, k in loaded)
    for fname, (prefix, title, ylabel, log) in _ANALYSIS.items():
        # panels: one per (env, statistic); lines: optimizers (for a net: "all" when present, else actor)
        panels: dict[tuple[str, str], list[tuple[str, np.ndarray, np.ndarray]]] = {}
        for (env, key), z in loaded.items():
            nets = {k.split("/")[1] for k in z if k.startswith("analysis/")}
            net = "all" if "all" in nets else "actor"
            if prefix == "noise_over_param":
                net = "actor"
            for name in sorted(k for k in z if k.startswith(f"analysis/{net}/{prefix}")):
                stat = name.split("/")[-1]
                panels.setdefault((env, stat), []).append((key, z["env_steps"], z[name]))
        if not panels:
            continue
        order = sorted(panels, key=lambda p: (p[0], _stat_order(p[1])))
        fig, axes = _grid(len(order), width=3.8, height=3.0, max_cols=4)
        for ax, (env, stat) in zip(axes, order):
            for key, steps, v in panels[(env, stat)]:
                _band(ax, steps, v, colours[key], display(key), lw=1.2)
            if log:
                ax.set_yscale("log")
            ax.set_title(f"{env}: {_stat_title(stat)}", fontsize=9)
            _steps_label(ax)
            ax.grid(alpha=0.3)
        for i, ax in enumerate(axes):
            if i % 4 == 0:  # first panel of each row
                ax.set_ylabel(ylabel, fontsize=9)
        _legend(fig, axes)
        fig.suptitle(f"{title} (mean ± SE over seeds)", fontsize=11)
        made.append(_save(fig, out_dir / fname))
    return made or None


def _stat_order(stat: str) -> float:
    return -1.0 if stat == "cos_g" else float(stat[5:]) if stat.startswith("cos_m") else 0.0


def _stat_title(stat: str) -> str:
    if stat == "cos_g":
        return "cos(u, g)"
    if stat.startswith("cos_m"):
        return f"cos(u, m_{stat[5:]})"
    return {"update_over_param": "|û/p|", "noise_over_param": "|α3·δ/p|"}.get(stat, stat)


def generalisation_grid(records: list[Any], summary: dict[str, Any], out_dir: Path) -> list[Path] | None:
    """Figs. 4/16: per gridworld level, return normalised by the baseline at the same level and setting,
    against agent width (Fig. 4) or training length (Fig. 16); IQM with 95% CI over seeds."""

    recs = [r for r in records if r.facts().get("env.level") is not None]
    if not recs:
        return None
    base = summary["baseline"]
    made = []
    for axis, fname, xlabel in (
        ("ppo.width", "fig4_gridworld_width.png", "agent width (hidden units)"),
        ("ppo.total_timesteps", "fig16_gridworld_length.png", "training length (environment steps)"),
    ):
        if len({r.facts().get(axis) for r in recs}) < 2:
            continue
        levels = sorted({str(r.facts()["env.level"]) for r in recs})
        labels = [k for k in dict.fromkeys(r.label for r in recs) if k != base]
        colours = _colours(labels)
        fig, axes = _grid(len(levels), width=3.6, height=3.0, max_cols=4)
        for ax, level in zip(axes, levels):
            at = [r for r in recs if str(r.facts()["env.level"]) == level]
            xs = sorted({r.facts()[axis] for r in at})
            for lab in labels:
                pts = []
                for x in xs:
                    mine = [r for r in at if r.label == lab and r.facts()[axis] == x]
                    ref = [r for r in at if r.label == base and r.facts()[axis] == x]
                    if not mine or not ref:
                        continue
                    b = float(np.mean(np.concatenate([r.final_return for r in ref])))
                    if not np.isfinite(b) or b == 0:
                        continue
                    s = np.concatenate([r.final_return for r in mine]) / b
                    iv = stats.interval_estimates({lab: s}, ("iqm",), reps=500, seed=0)[lab]["iqm"]
                    pts.append((x, iv.value, iv.lo, iv.hi))
                if pts:
                    p = np.array(pts)
                    ax.plot(p[:, 0], p[:, 1], marker="o", color=colours[lab], label=display(lab))
                    ax.fill_between(p[:, 0], p[:, 2], p[:, 3], color=colours[lab], alpha=0.2)
            ax.axhline(1.0, color="grey", ls="--", lw=1, label=display(base))
            ax.set_title(level, fontsize=10)
            ax.set_xlabel(xlabel, fontsize=8)
            if axis == "ppo.width":
                ax.set_xscale("log", base=2)
                ax.set_xticks(xs)
                ax.set_xticklabels([str(x) for x in xs])
                ax.minorticks_off()
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(f"return / {display(base)}'s")
        _legend(fig, axes)
        fig.suptitle(
            f"Gridworld generalisation: IQM return normalised by {display(base)} (95% CI)", fontsize=11
        )
        made.append(_save(fig, out_dir / fname))
    return made or None


def deepsea_sizes(records: list[Any], path: Path) -> Path | None:
    """Figs. 6/17: Deep Sea return against size per optimizer (IQM with 95% CI over seeds)."""

    recs = [r for r in records if r.facts().get("env.size") is not None]
    if len({r.facts()["env.size"] for r in recs}) < 2:
        return None
    # lines are optimizers (labels): a sweep over env.size makes the size a variant of every record
    keys = list(dict.fromkeys(r.label for r in recs))
    colours = _colours(keys)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for k in keys:
        pts = []
        for size in sorted({r.facts()["env.size"] for r in recs if r.label == k}):
            s = np.concatenate(
                [r.final_return for r in recs if r.label == k and r.facts()["env.size"] == size]
            )
            iv = stats.interval_estimates({k: s}, ("iqm",), reps=500, seed=0)[k]["iqm"]
            pts.append((size, iv.value, iv.lo, iv.hi))
        p = np.array(pts)
        ax.plot(p[:, 0], p[:, 1], marker="o", ms=3, color=colours[k], label=display(k))
        ax.fill_between(p[:, 0], p[:, 2], p[:, 3], color=colours[k], alpha=0.2)
    ax.set_xlabel("Deep Sea size")
    ax.set_ylabel("IQM final return")
    ax.set_title("Deep Sea: return against size (95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def paper_figures(records: list[Any], summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Every paper-style figure that ``records`` (:class:`openrl.eval.records.Record`) and their
    ``summary`` support; one figure failing is logged and skipped, so the report keeps the others."""
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

    attempt(per_env_intervals, summary, out_dir / "fig2_per_env_iqm.png")
    if summary.get("aggregate"):
        attempt(aggregate_metrics, summary, out_dir / "fig3_aggregate.png")
    curves = {(r.env, r.key): r.curves for r in records if r.curves is not None and Path(r.curves).exists()}
    if curves:
        attempt(return_curves, curves, out_dir / "fig9_return_curves.png")
        attempt(ablation_bars, summary, curves, out_dir / "fig5_return_and_dormancy.png")
        attempt(dormancy_curves, curves, out_dir / "fig10_dormancy_curves.png")
        attempt(analysis_curves, curves, out_dir)
    attempt(generalisation_grid, records, summary, out_dir)
    attempt(deepsea_sizes, records, out_dir / "fig6_deepsea_sizes.png")
    return made
