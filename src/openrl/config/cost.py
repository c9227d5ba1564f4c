"""What a validated run will cost: env-step counts from the config, CPU time from measured rates.

Why: a user should know before starting whether a job takes minutes or months. The counts follow from
the validated config alone (the same formulas the jobs run: ``num_updates = T // batch``), and the
rates are the ones published in ``benchmarks/results/`` (``meta_cost_cpu.json`` for meta-training,
``ppo_throughput.json`` for PPO training and evaluation), named in the projection so it can be checked.
No jax is imported: ``dry_run=true`` must answer in seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from openrl.config.compose import CONF_DIR
from openrl.config.registry import optimizer_kind

RESULTS_DIR = CONF_DIR.parent / "benchmarks" / "results"
META_COST = "meta_cost_cpu.json"
PPO_THROUGHPUT = "ppo_throughput.json"


def effective_timesteps(ppo: Any) -> int:
    """Agent env-steps one inner run takes: whole rollout batches only (``openrl.builders.ppo_static``)."""
    batch = ppo.num_envs * ppo.num_steps
    return (ppo.total_timesteps // batch) * batch


@dataclass(frozen=True)
class Projection:
    """CPU seconds (and wall seconds where the source measured both) for ``env_steps``, with its source."""

    env_steps: float
    cpu_s: float | None
    wall_s: float | None
    source: str

    def describe(self) -> str:
        if self.cpu_s is None:
            return f"no measured rate applies ({self.source})"
        wall = "" if self.wall_s is None else f", {_duration(self.wall_s)} wall"
        # marginal rates: compilation, host round-trips and a busy machine come on top
        return f"at least {_duration(self.cpu_s)} CPU{wall} on the measuring machine ({self.source})"


def _duration(seconds: float) -> str:
    """``seconds`` in the largest sensible unit, e.g. ``43.2 h`` or ``114 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


@cache
def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _machine(doc: dict[str, Any]) -> str:
    m = doc.get("machine", {})
    return f"{m.get('cpus', '?')}-core {m.get('backend', '?')}"


def meta_member_steps(cfg: Any, tasks: int) -> dict[str, float]:
    """Member env-steps of a meta-training run, as ``benchmarks.meta_cost`` counts them: every generation
    runs the population on every task, validation runs every ``eval_every`` generations, the final
    evaluation runs the learned optimizer and Adam on ``final_eval_seeds`` seeds."""
    t = effective_timesteps(cfg.ppo)
    es, meta = cfg.es, cfg.meta
    per_generation = es.population_size * t * tasks * meta.num_rollouts
    validation = meta.validation_seeds * t * tasks * (es.num_generations // meta.eval_every)
    final = 2 * meta.final_eval_seeds * t * tasks
    if meta.selection == "top_k":  # the top-k validated means re-run on fresh seeds
        final += meta.selection_top_k * meta.selection_seeds * t * tasks
    return {
        "timesteps": t,
        "per_generation": per_generation,
        "total": es.num_generations * per_generation + validation + final,
    }


def project_meta(cfg: Any, task_names: list[str]) -> Projection:
    """CPU time of a meta-training run from the marginal cost per member env-step that
    ``meta_cost_cpu.json`` measured for the same experiment (``task_name``), else for the row with the
    same tasks, else for Breakout (the row named in the source)."""
    steps = meta_member_steps(cfg, len(task_names))["total"]
    doc = _load(META_COST)
    if doc is None:
        return Projection(steps, None, None, f"benchmarks/results/{META_COST} not found")
    rows = doc.get("rows", [])
    row = next((r for r in rows if r["experiment"] == cfg.task_name), None)
    how = "its own row"
    if row is None:
        row = next((r for r in rows if sorted(r["tasks"]) == sorted(task_names)), None)
        how = "the row with the same tasks"
    if row is None:
        row = next((r for r in rows if r["experiment"] == "ablation_breakout"), None)
        how = "no row for these tasks; Breakout's rate"
    if row is None:
        return Projection(steps, None, None, f"no usable row in benchmarks/results/{META_COST}")
    m = row["measured"]
    pop, (t1, t2) = m["population"], m["timesteps"]
    member_steps = pop * (t2 - t1) * len(row["tasks"])
    cpu = (m["cpu_s_per_generation"][1] - m["cpu_s_per_generation"][0]) / member_steps
    wall = (m["sec_per_generation"][1] - m["sec_per_generation"][0]) / member_steps
    src = (
        f"benchmarks/results/{META_COST}, {row['experiment']} ({how}), {_machine(doc)}, "
        f"{doc.get('finished', '?')[:10]}"
    )
    return Projection(steps, cpu * steps, wall * steps, src)


def project_ppo(optimizer_name: str, num_seeds: int, env_steps: float) -> Projection:
    """CPU time of PPO training (or evaluation) from ``ppo_throughput.json``'s Breakout-MinAtar rates:
    the optimizer's own row where measured (``ppo_<name>_1_seed``), else OPEN's for a learned optimizer
    and Adam's for a handcrafted one (16 vmapped seeds when more than one seed runs)."""
    doc = _load(PPO_THROUGHPUT)
    if doc is None:
        return Projection(env_steps, None, None, f"benchmarks/results/{PPO_THROUGHPUT} not found")
    if optimizer_kind(optimizer_name) == "learned":
        key = f"ppo_{optimizer_name}_1_seed" if f"ppo_{optimizer_name}_1_seed" in doc else "ppo_open_1_seed"
    else:
        key = "ppo_16_seeds" if num_seeds > 1 else "ppo_1_seed"
    row = doc.get(key)
    if not row:
        return Projection(env_steps, None, None, f"no {key} in benchmarks/results/{PPO_THROUGHPUT}")
    cpu = row["cpu_s_per_1e6_steps"] * env_steps / 1e6
    src = f"benchmarks/results/{PPO_THROUGHPUT}, {key} ({doc.get('env', '?')}), {_machine(doc)}"
    return Projection(env_steps, cpu, env_steps / row["env_steps_per_s"], src)
