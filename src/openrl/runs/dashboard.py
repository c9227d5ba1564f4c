"""openrl's Weights & Biases workspace, written as code (the ``openrl-dashboard`` console script).

A W&B project that holds openrl runs otherwise shows one auto-generated chart per logged key, against
W&B's row counter, in alphabetical sections. This builds one curated workspace instead, whose panels
name the metrics openrl's jobs log, against the axis each job counts in (``STEP_METRICS`` in
:mod:`openrl.runs.logger`, declared to W&B with ``define_metric``):

- **meta-training** (x: ES generation): population fitness, validation score per env against tuned
  Adam's level on the same seeds, ES sigma and learning rate, the learning diagnostics, seconds per
  generation;
- **PPO** (x: environment steps): return curves grouped by optimizer, losses, dormancy, the App. F
  analysis statistics (``optimizer.analysis=true``), throughput;
- **evaluation**: the figures the jobs upload (PPO return curves, the learned optimizer against tuned
  Adam after meta-training, ``openrl-eval``'s paper figures).

Every key here is one a real run writes (the test-suite runs tiny jobs and checks them), so a renamed
metric fails a test instead of leaving an empty panel. Per-env metrics are matched by regular
expressions (W&B's metric-regex panels), so one panel covers whatever envs a run trained on.

The workspace is built with ``wandb-workspaces``, W&B's library for saved workspace views: the view
format is internal to W&B, and this library is the supported way to write one. ``--dry-run`` prints
the sections and panels (no network, no API key); without it the workspace is saved to the project.
"""

from __future__ import annotations

import os
from pathlib import Path

import wandb_workspaces.reports.v2 as wr
import wandb_workspaces.workspaces as ws
import yaml
from wandb_workspaces import expr

from openrl.config import CONF_DIR
from openrl.runs.logger import STEP_METRICS, _has_api_key

META_X = STEP_METRICS["meta_train"]  # generation
PPO_X = STEP_METRICS["train"]  # env_steps
OPTIMIZER = "optimizer.name"  # the run config key PPO panels group by (one curve per optimizer)

# Images: the PPO job logs its return curve, the meta job one comparison per task after its final
# evaluation (``eval/<env>``), openrl-eval its figures (``figures/<file stem>``).
PPO_IMAGE = "return_curve"
META_IMAGE_PREFIX = "eval/"
EVAL_FIGURES = {
    "fig2_per_env_iqm": "Fig. 2: final return per env (IQM, 95% CI)",
    "fig3_aggregate": "Fig. 3: aggregate over envs, normalised by Adam",
    "fig4_gridworld_width": "Fig. 4: gridworld generalisation over agent width",
    "fig5_return_and_dormancy": "Fig. 5: return and dormancy per optimizer",
    "fig6_deepsea_sizes": "Fig. 6: Deep Sea return against size",
    "fig9_return_curves": "Fig. 9: return curves",
    "fig10_dormancy_curves": "Fig. 10: dormancy over training",
    "fig11_cosine_similarity": "Fig. 11: cosine of the update with gradient and momenta",
    "fig12_update_over_param": "Fig. 12: |update / parameter|",
    "fig13_noise_over_param": "Fig. 13: |noise / parameter|",
    "fig16_gridworld_length": "Fig. 16: gridworld generalisation over training length",
}
EVAL_FIGURE_PREFIX = "figures/"


class DashboardError(RuntimeError):
    """The workspace cannot be saved (no API key, offline, network or service error): one line."""


def env_names(conf_dir: Path = CONF_DIR) -> list[str]:
    """The ``name`` of every env preset in ``conf/env``: the tasks a meta run can log ``eval/<env>`` for."""
    names = []
    for f in sorted((conf_dir / "env").glob("*.yaml")):
        name = (yaml.safe_load(f.read_text()) or {}).get("name")
        if name:
            names.append(str(name))
    return names


def _line(title: str, x: str, keys: tuple[str, ...] = (), regex: str | None = None, **kw) -> wr.LinePlot:
    return wr.LinePlot(title=title, x=x, y=list(keys), metric_regex=regex, title_x=x, **kw)


def _by_optimizer(title: str, keys: tuple[str, ...] = (), regex: str | None = None) -> wr.LinePlot:
    # one mean curve per optimizer with a standard-error band over its runs (seeds)
    return _line(
        title,
        PPO_X,
        keys,
        regex,
        groupby=wr.Config(OPTIMIZER),
        groupby_aggfunc="mean",
        groupby_rangefunc="stderr",
    )


def meta_section() -> ws.Section:
    """ES meta-training, against the generation (validation rows share the generation they follow)."""
    x = META_X
    panels = [
        _line("ES fitness: population mean and best", x, ("fitness/mean", "fitness/best")),
        _line("validation score (normalised) vs tuned Adam", x, ("val/score", "val/adam_score")),
        _line("validation return per env", x, regex=r"^val/[^/]+/return$"),
        _line(
            "training return per env (normalised, population mean)", x, regex=r"^train/[^/]+/normalised/mean$"
        ),
        _line("ES sigma", x, ("es/sigma",)),
        _line("ES learning rate", x, ("es/lr",)),
        _line("mean |theta| of the ES mean", x, ("diag/theta_abs_mean",)),
        _line("update RMS / tuned Adam's (per task when several)", x, regex=r"^diag/([^/]+/)?update_ratio$"),
        _line("fitness spread (std over the population)", x, ("diag/fitness_spread",)),
        _line("non-finite population members", x, ("es/nan_count",)),
        _line("seconds per generation", x, ("time/generation_s",)),
        _line("member env-steps per second", x, ("time/env_steps_per_s",)),
    ]
    return ws.Section(
        name="meta-training", panels=panels, is_open=True, panel_settings=ws.SectionPanelSettings(x_axis=x)
    )


def ppo_section() -> ws.Section:
    """PPO training, against environment steps, one curve per optimizer."""
    panels = [
        _by_optimizer("episode return by optimizer", ("episode_return",)),
        _by_optimizer("final return (the authors' fitness) by optimizer", ("final_return",)),
        _by_optimizer("episode length", ("episode_length",)),
        _by_optimizer("value loss", ("value_loss",)),
        _by_optimizer("actor loss", ("actor_loss",)),
        _by_optimizer("entropy", ("entropy",)),
        _by_optimizer("actor dormancy (tau = 0), per layer", regex=r"^dormancy/actor/.+$"),
        _by_optimizer("critic dormancy (tau = 0), per layer", regex=r"^dormancy/critic/.+$"),
        _by_optimizer("cosine of the update with the gradient and momenta", regex=r"^analysis/all/cos_.+$"),
        _by_optimizer("|update / parameter|", regex=r"^analysis/[^/]+/update_over_param$"),
        _by_optimizer("|noise / parameter|", regex=r"^analysis/[^/]+/noise_over_param$"),
        wr.BarPlot(
            title="throughput: env-steps/s after compilation",
            metrics=[wr.SummaryMetric("env_steps_per_s")],
            groupby=wr.Config(OPTIMIZER),
            groupby_aggfunc="mean",
            groupby_rangefunc="stderr",
        ),
    ]
    return ws.Section(
        name="PPO", panels=panels, is_open=True, panel_settings=ws.SectionPanelSettings(x_axis=PPO_X)
    )


def evaluation_section(envs: list[str] | None = None) -> ws.Section:
    """The uploaded figures: one media panel per kind, so each compares across the selected runs."""
    envs = env_names() if envs is None else envs
    panels = [
        wr.MediaBrowser(title="PPO return curve", media_keys=[PPO_IMAGE]),
        wr.MediaBrowser(
            title="after meta-training: learned optimizer vs tuned Adam",
            media_keys=[META_IMAGE_PREFIX + e for e in envs],
        ),
    ]
    panels += [
        wr.MediaBrowser(title=title, media_keys=[EVAL_FIGURE_PREFIX + stem])
        for stem, title in EVAL_FIGURES.items()
    ]
    return ws.Section(name="evaluation", panels=panels, is_open=True)


def build_workspace(
    project: str, entity: str | None = None, group: str | None = None, name: str = "openrl"
) -> ws.Workspace:
    """The workspace object (no network): the three sections, runs filtered to ``group`` when given."""
    runset = ws.RunsetSettings(filters=[expr.Metric("Group") == group] if group else [])
    return ws.Workspace(
        entity=entity or "",
        project=project,
        name=name,
        sections=[meta_section(), ppo_section(), evaluation_section()],
        runset_settings=runset,
    )


def panel_keys(panel: object) -> tuple[list[str], str | None]:
    """``(exact keys, metric regex or None)`` a panel reads; the step axis is not included."""
    if isinstance(panel, wr.LinePlot):
        return [str(k) for k in panel.y], panel.metric_regex
    if isinstance(panel, wr.BarPlot):
        return [getattr(m, "name", str(m)) for m in panel.metrics], None
    if isinstance(panel, wr.MediaBrowser):
        return list(panel.media_keys), None
    raise TypeError(f"unexpected panel type {type(panel).__name__}")


def describe(workspace: ws.Workspace, group: str | None = None) -> str:
    """What ``--dry-run`` prints: the target, then every section's axis and panels with their keys."""
    where = f"{workspace.entity or '<your default entity>'}/{workspace.project}"
    lines = [f"W&B workspace {workspace.name!r} in {where}; runs: {f'group {group}' if group else 'all'}"]
    kinds = {wr.LinePlot: "line", wr.BarPlot: "bar (summary)", wr.MediaBrowser: "media"}
    for section in workspace.sections:
        has_axis = any(isinstance(p, wr.LinePlot) for p in section.panels)
        axis = f", x-axis {section.panel_settings.x_axis}" if has_axis else ""
        lines.append(f"\n[{section.name}] {len(section.panels)} panels{axis}")
        for p in section.panels:
            keys, regex = panel_keys(p)
            shown = ", ".join([*keys, *([f"regex {regex}"] if regex else [])])
            if isinstance(p, wr.LinePlot | wr.BarPlot) and p.groupby is not None:
                shown += f"  (by {getattr(p.groupby, 'name', p.groupby)})"
            lines.append(f"  {kinds[type(p)]:<14}{p.title}: {shown}")
    return "\n".join(lines)


def save(workspace: ws.Workspace) -> str:
    """Saves the workspace to W&B and returns its URL; a :class:`DashboardError` says why it cannot."""
    mode = os.environ.get("WANDB_MODE", "")
    if mode in ("offline", "disabled", "dryrun"):
        raise DashboardError(
            f"WANDB_MODE={mode}: saving a workspace needs W&B online; unset WANDB_MODE, or use --dry-run"
        )
    if not _has_api_key():
        raise DashboardError(
            "no W&B API key: run `wandb login` or set WANDB_API_KEY (or use --dry-run to print the workspace)"
        )
    try:
        if not workspace.entity:
            import wandb

            workspace.entity = wandb.Api().default_entity or ""
        workspace.save()
        return workspace.url
    except Exception as e:  # noqa: BLE001 - network, permission and service errors: one line for the user
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DashboardError(
            f"could not save the workspace to {workspace.entity or '<default entity>'}/{workspace.project}: "
            f"{reason}"
        ) from e
