"""openrl-dashboard: the workspace builds with no network, and every panel reads what real runs log.

A tiny PPO job (OPEN with ``optimizer.analysis=true``) and a tiny meta-training job run once per module
through the real ``openrl-train``, in subprocesses, with a stand-in ``wandb`` module that records what
W&B would receive (``define_metric`` calls, logged keys, images, summary keys). Each line panel's keys
must be in the job's ``metrics.jsonl`` and among the keys sent to W&B, each regex panel must match at
least one of them, and each section's x-axis must be the step metric that job declares and logs, so a
renamed metric or step key fails here instead of leaving an empty panel.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import wandb_workspaces.reports.v2 as wr

from openrl.cli import dashboard as dashboard_cli
from openrl.runs import dashboard
from openrl.runs.logger import STEP_METRICS
from tiny import TINY_PPO

# Runs `openrl-train` with a stand-in `wandb` that writes one JSON line per call to argv[1].
RECORDING_TRAIN = r"""
import json, sys, types

out = open(sys.argv[1], "w")

def rec(**kw):
    out.write(json.dumps(kw) + "\n")
    out.flush()

class Image:
    def __init__(self, path):
        self.path = path

class Summary(dict):
    def update(self, values):
        rec(call="summary", keys=sorted(values))
        super().update(values)

class Run:
    def __init__(self, **kw):
        self.summary = Summary()
        rec(call="init", job_type=kw.get("job_type"))

    def define_metric(self, name, step_metric=None, **kw):
        rec(call="define_metric", name=name, step_metric=step_metric)

    def log(self, row, step=None):
        rec(call="log", step=step, row={k: v for k, v in row.items() if not isinstance(v, Image)},
            images=sorted(k for k, v in row.items() if isinstance(v, Image)))

    def finish(self):
        rec(call="finish")

wandb = types.ModuleType("wandb")
wandb.init = lambda **kw: Run(**kw)
wandb.Settings = lambda **kw: kw
wandb.Image = Image
sys.modules["wandb"] = wandb
sys.argv = ["openrl-train", *sys.argv[2:]]
from openrl.cli.train import train_main
train_main()
"""

COMMON = [*TINY_PPO, "num_chunks=1", "progress=false", "save_agent=false", "logger=offline"]
JOBS = {
    "train": ["experiment=ppo", "env=cartpole", "optimizer=open", "optimizer.analysis=true", *COMMON],
    "meta_train": ["experiment=ablation_breakout", "budget=smoke", *COMMON],  # explicit sizes win
}
SECTION_JOB = {"meta-training": "meta_train", "PPO": "train"}


@dataclass
class Run:
    run_dir: Path
    jsonl: list[dict]  # metrics.jsonl rows
    calls: list[dict]  # what the W&B stand-in received

    def jsonl_keys(self) -> set[str]:
        return {k for row in self.jsonl for k in row} - {"step"}

    def of(self, call: str) -> list[dict]:
        return [c for c in self.calls if c["call"] == call]

    def wandb_keys(self) -> set[str]:
        return {k for c in self.of("log") for k in c["row"]}

    def images(self) -> set[str]:
        return {k for c in self.of("log") for k in c["images"]}

    def summary_keys(self) -> set[str]:
        return {k for c in self.of("summary") for k in c["keys"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    """Both tiny jobs, started together (their compilations overlap), each in its own directory."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_API_KEY")
    }  # logger=offline decides: W&B "starts", and the stand-in records it
    env.update(
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip(),
    )
    procs = {}
    for job, overrides in JOBS.items():
        d = tmp_path_factory.mktemp(job)
        cmd = [sys.executable, "-c", RECORDING_TRAIN, str(d / "wandb_calls.jsonl"), *overrides]
        cmd.append(f"hydra.run.dir={d / 'run'}")
        procs[job] = (d, subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    out = {}
    for job, (d, p) in procs.items():
        log, _ = p.communicate(timeout=900)
        assert p.returncode == 0, f"{job} failed:\n{log.decode()[-3000:]}"
        rows = [json.loads(line) for line in (d / "run" / "metrics.jsonl").read_text().splitlines()]
        calls = [json.loads(line) for line in (d / "wandb_calls.jsonl").read_text().splitlines()]
        out[job] = Run(d / "run", rows, calls)
    return out


def _sections() -> dict[str, object]:
    return {s.name: s for s in dashboard.build_workspace("p", "e").sections}


# -- the workspace object, offline ----------------------------------------------------------------------------
def test_workspace_builds_and_prints_without_network(monkeypatch, capsys):
    def no_network(*a, **k):
        raise AssertionError("openrl-dashboard --dry-run opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    w = dashboard.build_workspace("proj", "ent", group="ablation_breakout")
    view = w._to_model()  # the payload save() would send
    assert (view.entity, view.project) == ("ent", "proj")
    assert [s.name for s in w.sections] == ["meta-training", "PPO", "evaluation"]
    filters = json.dumps(view.spec.section.run_sets[0].filters, default=str)
    assert '"group"' in filters and "ablation_breakout" in filters  # runs of that group only
    everyone = dashboard.build_workspace("proj", "ent")._to_model().spec.section.run_sets[0].filters
    assert "group" not in json.dumps(everyone, default=str)
    assert all(s.panels for s in w.sections)

    assert dashboard_cli.main(["--project", "proj", "--group", "g", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "group g" in out and "[meta-training]" in out and "x-axis generation" in out
    assert "val/adam_score" in out and "regex ^val/[^/]+/return$" in out and "figures/fig2_per_env_iqm" in out


@pytest.mark.parametrize(
    "env,expected", [({"WANDB_MODE": "offline"}, "WANDB_MODE=offline"), ({}, "no W&B API key")]
)
def test_saving_without_w_and_b_fails_in_one_line(monkeypatch, capsys, tmp_path, env, expected):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert dashboard_cli.main(["--project", "proj"]) == 1
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and err.startswith("openrl-dashboard: ")


# -- against real runs -------------------------------------------------------------------------------------
def test_metrics_jsonl_is_the_w_and_b_stream(runs):
    """metrics.jsonl holds every scalar W&B gets (plus the step under its axis name), row for row."""
    for job, run in runs.items():
        assert run.jsonl, f"{job}: metrics.jsonl is empty"
        step = STEP_METRICS[job]
        sent = run.of("log")
        scalar_rows = [c for c in sent if not c["images"]]
        assert len(scalar_rows) == len(run.jsonl)
        for c, row in zip(scalar_rows, run.jsonl):
            assert c["step"] == row["step"] and c["row"][step] == row["step"]
            assert set(c["row"]) - {step} == {k for k, v in row.items() if v is not None} - {"step"}


@pytest.mark.parametrize("section", list(SECTION_JOB))
def test_panels_read_keys_the_run_logs_against_its_step_axis(runs, section):
    run = runs[SECTION_JOB[section]]
    step = STEP_METRICS[SECTION_JOB[section]]
    # the job declares its axis to W&B and every logged row carries it
    assert {"name": step, "step_metric": None} in [
        {k: c[k] for k in ("name", "step_metric")} for c in run.of("define_metric")
    ]
    assert {"name": "*", "step_metric": step} in [
        {k: c[k] for k in ("name", "step_metric")} for c in run.of("define_metric")
    ]
    assert all(step in c["row"] for c in run.of("log"))
    s = _sections()[section]
    assert s.panel_settings.x_axis == step
    logged = run.jsonl_keys() & run.wandb_keys()
    problems = []
    for p in s.panels:
        keys, regex = dashboard.panel_keys(p)
        if isinstance(p, wr.BarPlot):  # summary metrics: what logger.summary sends
            problems += [f"{p.title}: summary {k}" for k in keys if k not in run.summary_keys()]
            continue
        assert p.x == step, f"{p.title}: x-axis {p.x}, the job logs {step}"
        assert keys or regex, f"{p.title}: reads nothing"
        problems += [f"{p.title}: {k}" for k in keys if k not in logged]
        if regex and not any(re.search(regex, k) for k in logged):
            problems.append(f"{p.title}: regex {regex} matches no logged key")
    assert not problems, f"panels reading keys the {SECTION_JOB[section]} run never logs: {problems}"


def test_media_panels_show_the_images_runs_upload(runs):
    media = {
        p.title: dashboard.panel_keys(p)[0]
        for p in _sections()["evaluation"].panels
        if isinstance(p, wr.MediaBrowser)
    }
    all_keys = {k for keys in media.values() for k in keys}
    assert (
        runs["train"].images() == {dashboard.PPO_IMAGE}
        and (runs["train"].run_dir / "return_curve.png").exists()
    )
    meta_images = runs["meta_train"].images()
    assert meta_images == {"eval/breakout"}, meta_images
    assert meta_images <= all_keys and dashboard.PPO_IMAGE in all_keys
    # eval/<task> for every env preset, and nothing else under that prefix
    meta_panel = next(keys for keys in media.values() if "eval/breakout" in keys)
    assert sorted(meta_panel) == sorted(f"eval/{e}" for e in dashboard.env_names())
    assert {"breakout", "cartpole", "gridworld"} <= set(dashboard.env_names())


def _curves(path: Path, rng: np.random.Generator, analysis: bool) -> Path:
    arrays = {"env_steps": np.arange(1, 6) * 8, "episode_return": rng.random((3, 5))}
    for net in ("actor", "critic"):
        arrays[f"dormancy/{net}/Dense_0"] = rng.random((3, 5))
    if analysis:
        for k in ("cos_g", "cos_m0.9", "update_over_param"):
            arrays[f"analysis/all/{k}"] = rng.random((3, 5))
        arrays["analysis/actor/noise_over_param"] = rng.random((3, 5)) * 1e-3
    np.savez(path, **arrays)
    return path


def test_eval_figure_panels_are_the_figures_openrl_eval_makes(tmp_path):
    """Records of every kind openrl-eval reports (one env with curves and analysis; gridworld widths and
    lengths with Deep Sea sizes over two envs) make every figure: the panels name exactly those."""
    from openrl.eval.figures import paper_figures
    from openrl.eval.records import Record
    from openrl.eval.summary import summarise

    rng = np.random.default_rng(0)
    one_env = [
        Record("breakout", lab, rng.random(3) + 1, _curves(tmp_path / f"{lab}.npz", rng, lab == "open"))
        for lab in ("adam", "open")
    ]
    facts = [("rand_all", 8, 1000), ("rand_all", 16, 1000), ("rand_all", 8, 2000)]
    generalisation = [
        Record(
            "gridworld",
            lab,
            rng.random(3) + 1,
            None,
            {"config": {"env.level": lv, "ppo.width": w, "ppo.total_timesteps": t}},
        )
        for lv, w, t in facts
        for lab in ("adam", "open")
    ] + [
        Record("deepsea", lab, rng.random(3) + 1, None, {"config": {"env.size": size}})
        for size in (4, 10)
        for lab in ("adam", "open")
    ]
    made = set()
    for i, records in enumerate((one_env, generalisation)):
        summary = summarise(records, reps=50)
        made |= {p.stem for p in paper_figures(records, summary, tmp_path / f"figures{i}")}
    assert made == set(dashboard.EVAL_FIGURES)
    panels = [p for p in _sections()["evaluation"].panels if isinstance(p, wr.MediaBrowser)]
    shown = {k for p in panels for k in dashboard.panel_keys(p)[0]}
    assert {dashboard.EVAL_FIGURE_PREFIX + stem for stem in made} <= shown
