"""``dry_run=true``: compose, validate and plan a command line of ``openrl-train`` or ``openrl-eval``
without running it.

Why: ``--cfg job`` only prints Hydra's composition (``optimizer.lr=-1`` passes it). A dry run goes
through the same start-up path as the real command -- composition, the schemas, the cross-field rules,
budget presets, tuned values and weights files, the per-task and Adam configs of a meta-training run,
every (env, optimizer) pair of an evaluation -- and stops before any job module is imported or anything
is compiled. A sweep (``-m``) is planned point by point, as Hydra's basic sweeper would launch it
(``hydra.sweeper.params`` of the experiment, command-line values winning). Nothing is written.

:func:`plan_command` is the whole dry run as a function (``(exit status, text)``), so a test can check
every documented command in one process.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf, open_dict

from openrl.config.compose import CONF_DIR, apply_budget, meta_job, resolve
from openrl.config.cost import (
    Projection,
    effective_timesteps,
    meta_member_steps,
    project_meta,
    project_ppo,
)
from openrl.config.registry import OPTIMIZERS
from openrl.config.validate import ConfigError, resolve_optimizer

PROGRAMS = {"openrl-train": "config", "openrl-eval": "eval"}
_TRUE = re.compile(r"^\+{0,2}dry_run=(true|True|TRUE|yes|1)$")


def requested(argv: Sequence[str]) -> bool:
    """Whether the command line asks for a dry run (``dry_run=true``)."""
    return any(_TRUE.match(a) for a in argv)


def _split(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """``(multirun, overrides)``; Hydra flags other than ``-m`` are refused (a dry run plans jobs only)."""
    multirun, overrides = False, []
    for a in argv:
        if a in ("-m", "--multirun"):
            multirun = True
        elif a.startswith("-"):
            raise ConfigError(f"{a}: a dry run takes overrides and -m/--multirun only")
        elif not _TRUE.match(a):
            overrides.append(a)
    return multirun, overrides


def _points(loader: Any, config_name: str, overrides: list[str], multirun: bool) -> list[list[str]]:
    """The task overrides of every job the command launches (one without ``-m``)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    primary = loader.load_configuration(config_name, overrides, run_mode=mode)  # checks hydra.* too
    parser = OverridesParser.create()
    task = [o.input_line for o in parser.parse_overrides(overrides) if not o.is_hydra_override()]
    if not multirun:
        return [task]
    node = primary.hydra.sweeper.get("params")
    params = {} if node is None else OmegaConf.to_container(node, resolve=False)
    swept = [f"{k}={v}" for k, v in params.items()]
    return BasicSweeper.split_arguments(parser.parse_overrides([*swept, *task]), None)[0]


def _compose(config_name: str, overrides: list[str]) -> tuple[Any, dict[str, str]]:
    """``(config without the hydra node, group choices)`` of one job."""
    from hydra import compose as hydra_compose

    cfg = hydra_compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def _optimizer_line(opt: Any, env_name: str, label: str, total_timesteps: int | None = None) -> str:
    entry = OPTIMIZERS[opt.name]
    effective = resolve_optimizer(opt, env_name, total_timesteps)
    resolved = effective.as_dict()
    values = ", ".join(f"{k}={v}" for k, v in resolved.items() if k not in ("name", "anneal_lr"))
    anneal = ", lr annealed" if resolved["anneal_lr"] else ""
    source = f" (tuned: {effective.tuned_for})" if effective.tuned_for and entry.tuned else ""
    return f"{label} ({entry.display}, {entry.kind}): {values}{anneal}{source}"


def _es_line(es: Any) -> str:
    """The strategy's own settings (every field beyond population and generations)."""
    own = ", ".join(
        f"{f.name} {getattr(es, f.name)}"
        for f in dataclasses.fields(es)
        if f.name not in ("strategy", "population_size", "num_generations")
    )
    return f"ES {es.strategy}: population {es.population_size} x {es.num_generations} generations, {own}"


def _steps(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:,.1f}G"
    return f"{n:,.0f}" if n < 1e6 else f"{n / 1e6:,.1f}M"


def _plan_train(cfg: Any, overrides: list[str], choices: dict[str, str]) -> tuple[list[str], Projection]:
    obj, _ = resolve(cfg, overrides)
    label = choices.get("optimizer") or obj.optimizer.name
    t = effective_timesteps(obj.ppo)
    lines = [f"experiment={choices.get('experiment')}, task_name={obj.task_name}, budget={obj.budget}"]
    if obj.mode == "meta":
        job = meta_job(obj, overrides, label)
        tasks = [task.env.name for task in job.tasks]
        es, meta = obj.es, obj.meta
        counts = meta_member_steps(obj, len(tasks))
        lines += [
            f"job: meta-training with ES ({es.strategy}), meta seed {obj.seed}",
            f"optimizer: {_optimizer_line(obj.optimizer, job.tasks[0].env.name, label)}",
            f"tasks: {', '.join(tasks)}; T = {t:,} env-steps per inner run",
            _es_line(es),
            f"validation every {meta.eval_every} generations on {meta.validation_seeds} seeds; final "
            f"evaluation against tuned Adam on {meta.final_eval_seeds} held-out seeds",
            _selection_line(meta),
            *(
                f"comparison baseline on {a.env.name}: "
                + _optimizer_line(a.optimizer, a.env.name, "adam", a.ppo.total_timesteps)
                for a in job.adam
            ),
            f"member env-steps: {_steps(counts['per_generation'])} per generation, "
            f"{_steps(counts['total'])} in all (validation and final evaluation included)",
        ]
        return lines, project_meta(obj, tasks)
    seeds = range(obj.seed, obj.seed + obj.num_seeds)
    lines += [
        f"job: PPO training on {obj.env.name} ({obj.env.family} {obj.env.id})",
        f"optimizer: {_optimizer_line(obj.optimizer, obj.env.name, label, obj.ppo.total_timesteps)}",
        f"seeds: {obj.num_seeds} (from seed {seeds[0]}), one vmapped program",
        f"env-steps: T = {t:,} per seed, {_steps(t * obj.num_seeds)} in all",
    ]
    return lines, project_ppo(obj.optimizer.name, obj.num_seeds, t * obj.num_seeds)


def _plan_eval(cfg: Any, overrides: list[str], choices: dict[str, str]) -> tuple[list[str], Projection]:
    from openrl.config.eval_plan import plan

    eval_cfg = OmegaConf.to_object(cfg)
    apply_budget(cfg, overrides)  # an unknown budget preset fails here, as in the real command
    pairs = plan(eval_cfg, overrides, choices.get("optimizer", "adam"))
    lines = [
        f"experiment={choices.get('experiment')}, task_name={eval_cfg.task_name}, budget={eval_cfg.budget}",
        f"job: evaluation of {len(pairs)} (env, optimizer) pairs",
    ]
    cpu: float | None = 0.0
    wall = 0.0
    steps = 0.0
    sources: set[str] = set()
    for p in pairs:
        t = effective_timesteps(p.cfg.ppo)
        n = p.cfg.num_seeds
        lines.append(
            f"  {p.env} / {_optimizer_line(p.cfg.optimizer, p.env, p.spec.label)}; "
            f"{n} seeds from seed {p.cfg.seed}, T = {t:,}"
        )
        proj = project_ppo(p.cfg.optimizer.name, n, t * n)
        steps += t * n
        sources.add(proj.source)
        if proj.cpu_s is None or cpu is None:
            cpu = None
        else:
            cpu, wall = cpu + proj.cpu_s, wall + (proj.wall_s or 0.0)
    lines.append(f"env-steps: {_steps(steps)} in all")
    return lines, Projection(steps, cpu, None if cpu is None else wall, "; ".join(sorted(sources)))


def plan_command(prog: str, argv: Sequence[str]) -> tuple[int, str]:
    """The dry run of ``prog argv`` (``prog``: ``openrl-train`` or ``openrl-eval``): ``(0, the plan)``
    or ``(2, "<prog>: <the error>")``, exactly what the console script prints and exits with."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from openrl.config.registry import register_configs

    config_name = PROGRAMS[prog]
    register_configs()
    GlobalHydra.instance().clear()
    out: list[str] = []
    try:
        multirun, overrides = _split(argv)
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            points = _points(GlobalHydra.instance().config_loader(), config_name, overrides, multirun)
            for i, point in enumerate(points):
                head = f"job {i} of {len(points)}: " if multirun else ""
                try:
                    cfg, choices = _compose(config_name, point)
                    planner = _plan_eval if prog == "openrl-eval" else _plan_train
                    lines, proj = planner(cfg, point, choices)
                except ConfigError as e:
                    raise ConfigError(f"{head}{e}" if multirun else str(e)) from e
                out.append(f"{prog} dry run, {head}{' '.join(point) or '(defaults)'}")
                out += [f"  {ln}" for ln in lines]
                out.append(f"  projected: {proj.describe()}")
    except ConfigError as e:
        return 2, f"{prog}: {e}"
    except (HydraException, OmegaConfBaseException) as e:
        return 2, f"{prog}: {' '.join(str(e).split())}"
    finally:
        GlobalHydra.instance().clear()
    jobs = len(points)
    out.append(f"{prog}: dry run of {jobs} job{'s' * (jobs != 1)}; nothing was run or written")
    return 0, "\n".join(out)


def main(prog: str, argv: Sequence[str]) -> None:
    """Prints the dry run of ``prog argv`` and exits (0, or 2 on an invalid configuration)."""
    code, text = plan_command(prog, argv)
    print(text, file=sys.stderr if code else sys.stdout)
    sys.exit(code)


__all__ = ["PROGRAMS", "main", "plan_command", "requested"]


def _selection_line(meta: Any) -> str:
    if meta.selection == "top_k":
        return (
            f"finished optimizer: the top {meta.selection_top_k} validated means re-run on "
            f"{meta.selection_seeds} fresh seeds, the best over validation + fresh seeds (meta.selection=top_k)"
        )
    return "finished optimizer: the best validation score (meta.selection=best_validated)"
