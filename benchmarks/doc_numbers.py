"""Tables of measured results in README.md and docs/, generated from ``benchmarks/results/*.json``.

Why: a number typed by hand drifts from the file it came from. Every table that states a measured
result sits between two markers and is rewritten from its JSON by this script; ``tests/test_doc_numbers.py``
fails when a marked block differs from what its JSON gives (a number edited by hand, or a JSON
republished without regenerating the docs)::

    <!-- generated: meta-cost (python -m benchmarks.doc_numbers) -->
    ...
    <!-- /generated: meta-cost -->

    python -m benchmarks.doc_numbers            # rewrite every marked block in place
    python -m benchmarks.doc_numbers --check    # exit 1 naming each block that differs

Each block names its source file, the date and the machine it was measured on.

Prose and hand-written tables that state measured numbers are not generated but *cited*: they sit between
``<!-- cites: benchmarks/results/a.json [b.json ...] -->`` and ``<!-- /cites -->`` (markers on lines of their
own), and every number in them must be a value of a cited JSON as written (``cited_mismatches`` gives the
exact rule). ``--check`` (and ``tests/test_doc_numbers.py``) lists each number that is not, as
``FILE:LINE: 'NUMBER' is in none of ...``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DOCS = ("README.md", "docs/benchmarks.md", "docs/meta-training.md", "docs/reproduce.md")
_BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[\w-]+) \(python -m benchmarks\.doc_numbers\) -->\n)(?P<body>.*?)"
    r"(<!-- /generated: (?P=name) -->)",
    re.DOTALL,
)

# What the paper reports for each meta experiment, and which paper item it is (text, not measurements).
_PAPER_ITEM = {
    "ablation_breakout": "Fig. 5, per variant",
    "single_breakout": "Fig. 2, per game",
    "multitask_minatar": "Fig. 3, large OPEN",
    "gridworld": "Fig. 4",
    "deepsea": "Fig. 6",
}
_GAMES = {
    "asterix": "Asterix",
    "breakout": "Breakout",
    "freeway": "Freeway",
    "spaceinvaders": "SpaceInvaders",
}
_FIG2_COLUMNS = ("open_pretrained", "adam", "rmsprop", "lion")


def load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


def _machine(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    return f"{m['cpus']}-core {m['backend'].upper()}" if m["backend"] == "cpu" else ", ".join(m["devices"])


def _t(x: float, digits: int = 0) -> str:
    """A paper T: ``196608`` -> ``2e5``, ``9994240`` -> ``1e7`` (``digits`` after the point)."""
    mantissa, exp = f"{x:.{digits}e}".split("e")
    return f"{mantissa}e{int(exp)}"


def _wall(hours: float) -> str:
    return f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.0f} days"


def _kilo(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}" if x < 1000 else f"{x / 1000:.1f}k" if x < 10_000 else f"{x / 1000:.0f}k"


def _gpu_cost(lo: float | None, hi: float | None) -> str:
    if lo is None:
        return "not reported"
    if hi <= 24:
        return f"~{lo:g} GPU-hour{'s' * (lo != 1)}"
    return f"~{lo / 24:g} GPU-days" if lo == hi else f"{lo / 24:g}-{hi / 24:g} GPU-days"


def _budget(row: dict[str, Any]) -> str:
    p = row["paper"]
    tasks = f" x {len(row['tasks'])}" if len(row["tasks"]) > 1 else ""
    return f"{p['population']} x {p['generations']} x {_t(p['timesteps'])}{tasks}"


def meta_cost(doc: dict[str, Any] | None = None) -> str:
    """README: what the paper's meta-training budgets cost on the measuring CPU."""
    doc = doc or load("meta_cost_cpu.json")
    lines = [
        f"Measured {doc['finished'][:10]} on a {_machine(doc)} (`{doc['command']}`, "
        "`benchmarks/results/meta_cost_cpu.json`):",
        "",
        "| experiment (paper item) | paper budget: members x generations x T x tasks | member env-steps/s "
        "here | projected here, wall (CPU-h) | paper's reported cost |",
        "|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        lines.append(
            f"| `{r['experiment']}` ({_PAPER_ITEM.get(r['experiment'], '')}) | {_budget(r)} | "
            f"{r['measured']['marginal_member_env_steps_per_s'] / 1000:.0f}k | {_wall(r['projected_hours'])} "
            f"({_kilo(r['projected_cpu_hours'])}) | {_gpu_cost(*r['paper_gpu_hours'])} |"
        )
    return "\n".join(lines)


def meta_cost_detail(doc: dict[str, Any] | None = None) -> str:
    """docs/meta-training.md: the same measurement with its timings."""
    doc = doc or load("meta_cost_cpu.json")
    lines = [
        f"Measured {doc['finished'][:10]} on a {_machine(doc)} (`{doc['command']}`; load average "
        f"{doc['machine']['loadavg_start'][0]:.1f} at the start; `benchmarks/results/meta_cost_cpu.json`):",
        "",
        "| experiment | tasks | s/generation at pop 2, U / 2U (CPU-s) | marginal member env-steps/s | paper "
        "budget (member env-steps) | projected wall | projected CPU-h | paper's reported cost |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        m = r["measured"]
        (s1, s2), (c1, c2) = m["sec_per_generation"], m["cpu_s_per_generation"]
        lines.append(
            f"| `{r['experiment']}` | {', '.join(r['tasks'])} | {s1:.2f} / {s2:.2f} ({c1:.1f} / {c2:.1f}) | "
            f"{m['marginal_member_env_steps_per_s'] / 1000:.1f}k | {_budget(r)} "
            f"({_t(r['paper']['total_env_steps'], 1)}) | {_wall(r['projected_hours'])} | "
            f"{r['projected_cpu_hours']:,.0f} | {_gpu_cost(*r['paper_gpu_hours'])} |"
        )
    return "\n".join(lines)


def meta_scaling(doc: dict[str, Any] | None = None) -> str:
    """docs/benchmarks.md: one ES generation against population size, with peak memory."""
    doc = doc or load("meta_scaling.json")
    lines = [
        f"`{doc['experiment']}` ({doc['optimizer']}), inner T = {doc['timesteps']:,}, on a {_machine(doc)} "
        f"(load average {doc['machine']['loadavg_start'][0]:.1f} at the start, "
        f"{doc.get('loadavg_end', [float('nan')])[0]:.1f} at the end; `benchmarks/results/meta_scaling.json`):",
        "",
        "| population | env-steps / generation | CPU-s / generation | env-steps per CPU-s | wall s / "
        "generation | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        steps, cpu = r["env_steps_per_generation"], r["cpu_s_per_generation"]
        lines.append(
            f"| {r['population']} | {steps / 1e3:,.0f}k | {cpu:.1f} | {steps / cpu / 1e3:.1f}k | "
            f"{r['sec_per_generation']:.1f} | {r['peak_rss_mib'] / 1024:.2f} GiB |"
        )
    return "\n".join(lines)


def _device(label: str | None) -> str:
    """The machine kind a summary records (``1x GPU``, ``CPU (2 cores)``) as a table cell says it."""
    if not label:
        return "?"
    return "CPU" if label.startswith("CPU") else "GPU" if label.endswith("GPU") else label


def _cell(res: dict[str, Any], best: bool) -> str:
    value = f"{res['iqm']['value']:.1f}"
    device = _device(res.get("device"))
    return f"{'**' + value + '**' if best else value} ({res['num_seeds']}, {device})"


def fig2_headline(doc: dict[str, Any] | None = None) -> str:
    """README: Fig. 2 on MinAtar at T = 1e7, every cell labelled by its seeds and machine."""
    doc = doc or load("fig2_minatar_1e7.json")
    head = ["OPEN (released)", "Adam", "RMSprop", "Lion"]
    lines = [
        "| IQM of final return (seeds, machine) | " + " | ".join(head) + " |",
        "|---" * (len(head) + 1) + "|",
    ]
    for env in sorted(doc["results"], key=lambda e: _GAMES.get(e, e)):
        res = doc["results"][env]
        top = max(res[k]["iqm"]["value"] for k in _FIG2_COLUMNS)
        cells = [_cell(res[k], res[k]["iqm"]["value"] == top) for k in _FIG2_COLUMNS]
        lines.append(f"| {_GAMES.get(env, env)} | " + " | ".join(cells) + " |")
    agg = doc["aggregate"]
    n = sorted(set(agg["truncated_to_seeds"].values()))
    cells = []
    top = max(agg["results"][k]["iqm"]["value"] for k in _FIG2_COLUMNS)
    for k in _FIG2_COLUMNS:
        iqm = agg["results"][k]["iqm"]
        v = f"{iqm['value']:.2f}"
        cells.append(
            f"{'**' + v + '**' if iqm['value'] == top else v} [{iqm['ci'][0]:.2f}, {iqm['ci'][1]:.2f}]"
        )
    lines.append(
        f"| Adam-normalised IQM, {len(agg['envs'])} games, first {'/'.join(map(str, n))} seeds per game | "
        + " | ".join(cells)
        + " |"
    )
    return "\n".join(lines)


def _ci(est: dict[str, Any]) -> str:
    return f"{est['value']:.2f} [{est['ci'][0]:.2f}, {est['ci'][1]:.2f}]"


def fig3_headline(doc: dict[str, Any] | None = None) -> str:
    """README: the Fig. 3 aggregate, naming which cells ran on which machine."""
    doc = doc or load("fig3_multitask_1e7.json")
    from openrl.eval.labels import display

    agg = doc["aggregate"]
    res = agg["results"]
    seeds = sorted(set(agg["truncated_to_seeds"].values()))
    gpu = [
        f"{_GAMES.get(env, env)} {display(k)}"
        for env in sorted(doc["results"], key=lambda e: _GAMES.get(e, e))
        for k, r in doc["results"][env].items()
        if _device(r.get("device")) == "GPU"
    ]
    where = f"{', '.join(gpu)} ran on one GPU, every other cell on a 2-core CPU" if gpu else "2-core CPU"
    multi = "open_multi_pretrained"
    return (
        f"- **Fig. 3, {'/'.join(map(str, seeds))} seeds per game and optimizer** ({where}; "
        "`benchmarks/results/fig3_multitask_1e7.json`): the released multi-task OPEN against Adam, RMSprop "
        f"and Lion at T = 1e7, Adam-normalised IQM {_ci(res[multi]['iqm'])}, mean {_ci(res[multi]['mean'])}, "
        f"median {_ci(res[multi]['median'])}; Adam {res['adam']['iqm']['value']:.2f}, RMSprop "
        f"{res['rmsprop']['iqm']['value']:.2f}, Lion {res['lion']['iqm']['value']:.2f}."
    )


def _adam_point(r: dict[str, Any]) -> str:
    return f"lr {r['lr']:g}, b1 {r['b1']:g}, b2 {r['b2']:g}, annealing {'on' if r['anneal_lr'] else 'off'}"


def _grid_point(doc: dict[str, Any], point: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A grid JSON's row for an Adam setting (lr, b1, b2, anneal_lr), and its rank by mean (1 = best)."""
    row = next(r for r in doc["points"] if all(r[k] == point[k] for k in ("lr", "b1", "b2", "anneal_lr")))
    return sorted(doc["points"], key=lambda r: -r["mean"]).index(row) + 1, row


def tune_adam_breakout(doc: dict[str, Any] | None = None) -> str:
    """docs/meta-training.md: the paper's Adam grid at T = 2e5 on Breakout, its top five and Table 4's point."""
    doc = doc or load("tune_adam_breakout_T200000.json")
    seeds = len(doc["points"][0]["final_return"])
    table4_rank, table4 = _grid_point(doc, {"lr": 0.01, "b1": 0.9, "b2": 0.99, "anneal_lr": True})
    rank = sorted(doc["points"], key=lambda p: -p["mean"])
    lines = [
        f"`{doc['command']}` ({len(doc['points'])} points x {seeds} tuning seeds `{doc['seed_keys']}`, "
        f"{_machine(doc)}, {doc['finished'][:10]}; `benchmarks/results/tune_adam_breakout_T200000.json`):",
        "",
        "| rank | Adam at T = 2e5 | mean final return over the tuning seeds |",
        "|---|---|---|",
    ]
    lines += [f"| {i + 1} | {_adam_point(r)} | {r['mean']:.2f} |" for i, r in enumerate(rank[:5])]
    lines.append(
        f"| {table4_rank} | {_adam_point(table4)} (paper Table 4, tuned at T = 1e7) | {table4['mean']:.2f} |"
    )
    return "\n".join(lines)


# The MinAtar games other than Breakout whose paper Adam grid openrl has run at T = 2e5 (budget=cpu's T);
# each JSON's winner is the ``<game>@200000`` entry of conf/optimizer/adam.yaml.
T2E5_GRIDS = ("spaceinvaders", "asterix", "freeway")


def tune_adam_t2e5(docs: dict[str, dict[str, Any]] | None = None) -> str:
    """docs/meta-training.md: per game, the paper's Adam grid at T = 2e5: its winner and the paper's Table 4
    point (tuned at T = 1e7) on the same tuning seeds; games whose grid is not published are named."""
    if docs is None:
        docs = {
            g: load(f"tune_adam_{g}_T200000.json")
            for g in T2E5_GRIDS
            if (RESULTS / f"tune_adam_{g}_T200000.json").exists()
        }
    if not docs:
        return "No grid published yet for " + ", ".join(_GAMES[g] for g in T2E5_GRIDS) + "."
    paper = yaml.safe_load((REPO / "conf" / "optimizer" / "adam.yaml").read_text())["tuned"]
    lines = [
        "| game | winner at T = 2e5 (mean over the tuning seeds) | paper Table 4 point (tuned at T = 1e7): rank, mean | points x tuning seeds | CPU-s | date |",
        "|---|---|---|---|---|---|",
    ]
    for game, doc in docs.items():
        seeds = len(doc["points"][0]["final_return"])
        table4_rank, table4 = _grid_point(doc, paper[game])
        cpu_s = sum(t["cpu_s"] for t in doc["timing"].values())
        lines.append(
            f"| {_GAMES[game]} | {_adam_point(doc['best'])} ({doc['best']['mean']:.2f}) | "
            f"{_adam_point(table4)}: {table4_rank}, {table4['mean']:.2f} | "
            f"{len(doc['points'])} x {seeds} | {cpu_s:,.0f} | {doc['finished'][:10]} |"
        )
    missing = [_GAMES[g] for g in T2E5_GRIDS if g not in docs]
    lines += [
        "",
        "`python -m benchmarks.tune_adam_grid --experiment single_<game> --extra budget=cpu --seeds 8 --chunk 9` "
        f"(seeds `{next(iter(docs.values()))['seed_keys']}`, {_machine(next(iter(docs.values())))}; "
        "`benchmarks/results/tune_adam_<game>_T200000.json`)."
        + (f" Not run yet: {', '.join(missing)}." if missing else ""),
    ]
    return "\n".join(lines)


def rebaseline_breakout(doc: dict[str, Any] | None = None) -> str:
    """docs/meta-training.md: the published Fig. 5 CPU optimizer against Table 4's and budget-tuned Adam."""
    doc = doc or load("meta_breakout_cpu_vs_budget_adam.json")
    t = doc["tasks"]["breakout"]
    iv = t["intervals"]
    new = t["new_adam"]
    return "\n".join(
        [
            f"| on the run's {t['seeds']} held-out seeds (`{doc['source']}`) | IQM [95% CI] | mean | P(learned > this Adam) |",
            "|---|---|---|---|",
            f"| learned (best validated, published) | {_ci(iv['learned']['iqm'])} | {iv['learned']['mean']['value']:.2f} | |",
            f"| Adam, paper Table 4 values, as published | {_ci(iv['adam_recorded']['iqm'])} | {iv['adam_recorded']['mean']['value']:.2f} | {_ci(t['p_learned_beats_recorded_adam'])} |",
            f"| Adam, paper Table 4 values, re-run on the same keys ({'identical returns' if t['recorded_adam_reproduced'] else 'returns differ from the recorded ones'}) | {_ci(iv['adam_recorded_rerun']['iqm'])} | {iv['adam_recorded_rerun']['mean']['value']:.2f} | |",
            f"| **Adam tuned for T = 2e5** ({_adam_point(new)}) | {_ci(iv['adam_new']['iqm'])} | {iv['adam_new']['mean']['value']:.2f} | **{_ci(t['p_learned_beats_new_adam'])}** |",
            "",
            f"{_machine(doc)}, {doc['finished'][:10]}, {doc['cpu_s']:.0f} CPU-s: `{doc['command']}`",
        ]
    )


def quickstart_spread(doc: dict[str, Any] | None = None) -> str:
    """README: what `make train` (the quickstart, the race's ``QUICKSTART_ENTRY``) gave for each meta seed
    the race ran."""
    from benchmarks.es_race import QUICKSTART_ENTRY

    doc = doc or load("es_race_quickstart.json")
    e = doc["entries"][QUICKSTART_ENTRY]
    runs = ", ".join(
        f"seed {k}: {r['final_learned_mean']:.1f} vs {r['final_adam_mean']:.1f} "
        f"(P {r['p_learned_beats_adam']['value']:.2f})"
        for k, r in e["runs"].items()
    )
    return (
        f"Measured on a {_machine(doc)} ({doc['finished'][:10]}, `python -m benchmarks.es_race --track "
        f"quickstart`, whose `{QUICKSTART_ENTRY}` entry is this job; {e['median_cpu_s']:.0f} CPU-s per run, median): "
        f"held-out mean of the learned optimizer vs tuned Adam per meta seed -- {runs}. "
        f"The ES mean's validation reached tuned Adam's on the same seeds in {e['reached_adam']} of "
        f"{e['seeds']} runs."
    )


def fig5_cpu_headline(doc: dict[str, Any] | None = None) -> str:
    """README: the Fig. 5 CPU preset (``budget=cpu``: open_es from a random start), every meta seed the
    race finished, each judged against Adam tuned for the same T on its 16 held-out seeds."""
    doc = doc or load("es_race_fig5_cpu.json")
    e = doc["entries"]["open_es_random_init"]
    runs = list(e["runs"].items())
    adam = next((r["adam_settings"] for _, r in runs if r.get("adam_settings")), None)
    tuned = f"Adam tuned at T = 2e5 ({_adam_point(adam)})" if adam else "Adam tuned at T = 2e5"
    per_seed = "; ".join(
        f"meta seed {k}: {_ci(r['final_learned_iqm'])} vs {_ci(r['final_adam_iqm'])}, P(learned > Adam) "
        f"{_ci(r['p_learned_beats_adam'])}"
        for k, r in runs
    )
    return (
        "- **openrl's own meta-training against Adam tuned for the same budget** (Fig. 5's task, "
        f"Breakout-MinAtar at T = 2e5, {_machine(doc)}, {doc['finished'][:10]}): "
        "`openrl-train experiment=ablation_breakout budget=cpu`, full OPEN from a random start, population 8 x "
        f"56 generations, {e['median_cpu_s'] / 3600:.1f} CPU-h per meta seed (median). IQM [95% CI] on 16 "
        f"held-out seeds against {tuned} -- {per_seed}. The learned optimizer's IQM is above Adam's for "
        f"{e['iqm_above_adam']} of {e['seeds']} meta seeds; median IQM over meta seeds {e['median_final_iqm']:.2f} "
        f"against Adam's {e['median_adam_iqm']:.2f} ([docs/meta-training.md](docs/meta-training.md); "
        "the paper's full OPEN reaches ~12 with 36x the ES budget)."
    )


def es_race(track: str, doc: dict[str, Any] | None = None) -> str:
    """docs/meta-training.md: the ES race of one track, one row per strategy and settings."""
    doc = doc or load(f"es_race_{track}.json")
    lines = [
        "| strategy (settings) | meta seeds | reached Adam's validation (median generation) | median best validation | final IQM per meta seed vs Adam's (16 held-out seeds) | mean P(learned > Adam) | median CPU-s per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, e in doc["entries"].items():
        iqms = "; ".join(
            f"seed {k}: {r['final_learned_iqm']['value']:.1f} vs {r['final_adam_iqm']['value']:.1f}"
            for k, r in e["runs"].items()
        )
        gen = e["median_generations_to_adam"]
        lines.append(
            f"| {label} (`{' '.join(e['overrides'])}`) | {e['seeds']} | {e['reached_adam']}/{e['seeds']}"
            f"{f' ({gen:.0f})' if gen is not None else ''} | {e['median_best_validation']:.1f} | {iqms} | "
            f"{e['mean_p_learned_beats_adam']:.2f} | {e['median_cpu_s']:.0f} |"
        )
    lines += [
        "",
        f"{' '.join(doc['base'])}; {_machine(doc)}, {doc['finished'][:10]}; `benchmarks/results/es_race_{track}.json`",
    ]
    return "\n".join(lines)


def selection(doc: dict[str, Any] | None = None) -> str:
    """docs/meta-training.md: what each rule for picking the finished optimizer picks, on truth seeds."""
    doc = doc or load("selection_quickstart.json")
    n = len(doc["runs"])
    lines = [
        "| rule | extra inner runs | truth-seed return / tuned Adam's (mean over runs) | mean regret vs the best candidate | picks the best candidate | beats tuned Adam |",
        "|---|---|---|---|---|---|",
    ]
    for rule, r in doc["rules"].items():
        lines.append(
            f"| `{rule}` | {r['cost']} | {r['mean_truth_over_adam']:.3f} | {r['mean_regret']:.1f} | "
            f"{r['picks_oracle']}/{n} | {r['beats_adam']}/{n} |"
        )
    lines += [
        "",
        f"{n} runs, {doc['truth_seeds']} truth seeds and {doc['extra_seeds']} extra selection seeds per "
        f"candidate; {_machine(doc)}, {doc['date']}; `benchmarks/results/selection_quickstart.json`",
    ]
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {
    "tune-adam-breakout": tune_adam_breakout,
    "tune-adam-t2e5": tune_adam_t2e5,
    "rebaseline-breakout": rebaseline_breakout,
    "quickstart-spread": quickstart_spread,
    "es-race-quickstart": lambda: es_race("quickstart"),
    "es-race-fig5-cpu": lambda: es_race("fig5_cpu"),
    "fig5-cpu-headline": fig5_cpu_headline,
    "selection-quickstart": selection,
    "meta-cost": meta_cost,
    "meta-cost-detail": meta_cost_detail,
    "meta-scaling": meta_scaling,
    "fig2-headline": fig2_headline,
    "fig3-headline": fig3_headline,
}


def blocks(text: str) -> list[tuple[str, str]]:
    """``(name, body)`` of every marked block in ``text`` (body without its trailing newline)."""
    return [(m.group("name"), m.group("body").removesuffix("\n")) for m in _BLOCK.finditer(text)]


def regenerate(text: str) -> str:
    """``text`` with every marked block rewritten from its JSON; an unknown block name is an error."""

    def body(m: re.Match) -> str:
        name = m.group("name")
        if name not in BLOCKS:
            raise KeyError(f"generated block {name!r}: no such table (known: {', '.join(BLOCKS)})")
        return f"{m.group(1)}{BLOCKS[name]()}\n{m.group(4)}"

    return _BLOCK.sub(body, text)


# --- Cited numbers: prose and hand-written tables that state measured numbers -------------------------
#
#     <!-- cites: benchmarks/results/a.json benchmarks/results/b.json -->
#     ...prose or a table...
#     <!-- /cites -->
#
# Every number in such a region must be a numeric value of one of the cited JSONs, as written (see
# ``cited_mismatches`` for the exact rule). The markers stand on lines of their own.
CITED_DOCS = ("README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")))
_CITES_OPEN = re.compile(r"^<!-- cites: (?P<files>[^>]*?) -->$")
_CITES_CLOSE = "<!-- /cites -->"
# What is not a cited number: code spans, link targets, HTML comments, dates and times, versions, and
# paper references ("Fig. 2", "Figs. 6, 17", "Tables 4-6", "Sec. 6", "App. B.4"): each is blanked out
# (same length, so columns stay put) before numbers are read.
_NOT_NUMBERS = re.compile(
    r"`[^`]*`"  # inline code
    r"|\]\([^)]*\)"  # a link's target (its text is kept)
    r"|<!--.*?-->"  # an HTML comment
    r"|https?://\S+"  # a bare URL
    r"|\b\d{4}-\d{2}(?:-\d{2})?(?:/\d{2})?\b"  # a date: 2026-12-07, 2026-11, 2026-11-25/26
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"  # a time of day: 16:43
    r"|\b\d+\.\d+\.\d+\b"  # a version: 0.9.2
    r"|\b(?:Fig|Figs|Table|Tables|Sec|App|Appendix)\.? (?:[A-Z]\.)?\d+(?:(?:, |-|/| and )\d+)*"  # paper items
)
# A number as written: optional minus (not after a word character: "1.30-1.64" is two positive
# numbers), digits with optional thousands commas, optional decimals and exponent, optional suffix k (x
# 1e3), M (x 1e6), % or x (a ratio; no scaling). Not inside a word ("H200", "float32", "64x64").
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<sign>-)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?:e(?P<exp>[-+]?\d+))?(?P<suffix>[kM%x])?(?![\w])"
)
SMALL_INT = 16  # bare integers 0..16 (no decimals, no suffix) are counts: seeds, games, runs, ordinals
# The values a written number is compared with, for each numeric JSON value v: v itself, v x 100 (a
# fraction written as a percentage), v / 60 (seconds as minutes) and v / 3600 (seconds as hours); then
# divided by 1e3 or 1e6 when the number carries the suffix k or M.
TRANSFORMS = {"as is": 1.0, "x100": 100.0, "/60": 1 / 60, "/3600": 1 / 3600}
_SCALE = {"k": 1e3, "M": 1e6}


@dataclass(frozen=True)
class Cited:
    """One number written in a cited region: where, as written, its value and the half-unit it is exact to."""

    file: str
    line: int
    text: str
    value: float
    tolerance: float
    suffix: str


def _blank(m: re.Match) -> str:
    return " " * len(m.group(0))


def cited_numbers(line: str) -> list[tuple[str, float, float, str]]:
    """``(as written, value, tolerance, suffix)`` of every number ``line`` states (see ``_NOT_NUMBERS``).

    ``tolerance`` is half a unit of the last written digit (``62.36`` -> 0.005, ``2e5`` -> 5e4, ``85,887``
    -> 0.5): a JSON value matches when it lies within it. Bare integers up to ``SMALL_INT`` are skipped."""
    clean = _NOT_NUMBERS.sub(_blank, line)
    out = []
    for m in _NUMBER.finditer(clean):
        frac, exp, suffix = m.group("frac"), int(m.group("exp") or 0), m.group("suffix") or ""
        mantissa = float(m.group("int").replace(",", "") + (f".{frac}" if frac else ""))
        if not frac and not exp and not suffix and "," not in m.group("int") and mantissa <= SMALL_INT:
            continue
        value = (-1 if m.group("sign") else 1) * mantissa * 10.0**exp
        out.append((m.group(0), value, 0.5 * 10.0 ** (exp - len(frac or "")), suffix))
    return out


def json_values(doc: Any) -> list[float]:
    """Every number in a parsed JSON document (booleans and numbers inside strings are not numbers)."""
    if isinstance(doc, bool):
        return []
    if isinstance(doc, int | float):
        return [float(doc)]
    if isinstance(doc, dict):
        doc = list(doc.values())
    if isinstance(doc, list):
        return [v for x in doc for v in json_values(x)]
    return []


def matches(number: Cited, values: list[float]) -> bool:
    """Whether some JSON value, after one of ``TRANSFORMS`` (and the k/M scale), rounds to ``number``."""
    scale = _SCALE.get(number.suffix, 1.0)
    slack = number.tolerance * (1 + 1e-9) + 1e-12
    return any(abs(v * t / scale - number.value) <= slack for v in values for t in TRANSFORMS.values())


def cited_regions(text: str, file: str = "") -> list[tuple[int, int, list[str]]]:
    """``(first line, last line, cited JSON paths)`` of every region; an unclosed or nested one is an error."""
    regions, start, files = [], None, []
    for i, line in enumerate(text.splitlines(), 1):
        m = _CITES_OPEN.match(line.strip())
        if m:
            if start is not None:
                raise ValueError(f"{file}:{i}: cites region opened inside the one opened at line {start}")
            start, files = i, m.group("files").split()
            if not files:
                raise ValueError(f"{file}:{i}: cites region names no JSON")
        elif line.strip() == _CITES_CLOSE:
            if start is None:
                raise ValueError(f"{file}:{i}: <!-- /cites --> without an opening marker")
            regions.append((start, i, files))
            start = None
    if start is not None:
        raise ValueError(f"{file}:{start}: cites region never closed")
    return regions


def cited_mismatches(text: str, file: str, root: Path = REPO) -> list[str]:
    """One message per number in a cited region of ``text`` that none of its cited JSONs holds.

    The rule: a number written with d decimals (or mantissa decimals and exponent, ``1.6e6``) matches a
    JSON value v when one of v, 100 v, v / 60, v / 3600 -- divided by 1e3 for a ``k`` suffix, by 1e6 for an
    ``M`` -- lies within half a unit of the last written digit. Not numbers: what ``_NOT_NUMBERS`` blanks
    (code spans, link targets, comments, dates, times, versions, paper items) and bare integers 0 to
    ``SMALL_INT``. A cited path that is missing or not a JSON is itself a mismatch."""
    lines = text.splitlines()
    out = []
    for start, end, files in cited_regions(text, file):
        values: list[float] = []
        for name in files:
            path = root / name
            try:
                values += json_values(json.loads(path.read_text()))
            except (OSError, ValueError) as e:
                out.append(
                    f"{file}:{start}: cites {name}, which cannot be read as JSON ({e.__class__.__name__})"
                )
        for i in range(start, end - 1):
            for written, value, tol, suffix in cited_numbers(lines[i]):
                number = Cited(file, i + 1, written, value, tol, suffix)
                if not matches(number, values):
                    out.append(f"{file}:{i + 1}: {written!r} is in none of {', '.join(files)}")
    return out


def check_cited(files: tuple[str, ...] = CITED_DOCS, root: Path = REPO) -> list[str]:
    """Every mismatch in every cited region of ``files``."""
    return [msg for name in files for msg in cited_mismatches((root / name).read_text(), name, root)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs")
    args = ap.parse_args()
    wrong = check_cited()
    for msg in wrong:
        print(msg)
    stale = []
    for name in DOCS:
        path = REPO / name
        text = path.read_text()
        new = regenerate(text)
        if new != text:
            stale.append(name)
            if not args.check:
                path.write_text(new)
    verb = "differ from their JSON" if args.check else "rewritten"
    print(f"{', '.join(stale) or 'no file'}: {verb}")
    print(f"cited numbers: {len(wrong)} not in their JSON")
    sys.exit(1 if (args.check and stale) or wrong else 0)


if __name__ == "__main__":
    main()
