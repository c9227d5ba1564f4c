"""The paper-item scripts: benchmarks/fig2_ant_gpu.sh, benchmarks/fig4_gridworld_gpu.sh and
benchmarks/fig3_multitask_cpu.sh (all through benchmarks/gpu_jobs.sh) and the one-command GPU driver
benchmarks/gpu_paper_items.sh.

On the CPU with tiny budgets: a close deadline starts nothing, a job with a summary.json is skipped (a
resumed call), the time a group needs follows the longest finished job, and the driver runs a gridworld
job that openrl-report reads and packs the run directory into OUT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from openrl.config import CONF_DIR
from openrl.eval import records

REPO = CONF_DIR.parent
BENCH = REPO / "benchmarks"
ENV = {
    **os.environ,
    "PYTHON": sys.executable,
    "WANDB_MODE": "disabled",
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip(),
    "OPENRL_OFFLINE": "1",
}
TINY = "ppo.num_envs=8 ppo.num_steps=8 ppo.num_minibatches=2 ppo.update_epochs=1 ppo.total_timesteps=128"


def _sh(script: str, *args: str, timeout: int = 60, **env: str) -> subprocess.CompletedProcess:
    """Runs a script in its own session; on a timeout its whole process group is stopped (jobs too)."""
    with subprocess.Popen(
        ["bash", str(BENCH / script), *args],
        env={**ENV, **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _finished(run_dir: Path, name: str, env: str, label: str, wall_s: float) -> None:
    """A job directory as a finished openrl-eval job leaves it (the fields the scripts read)."""
    (run_dir / name).mkdir(parents=True)
    summary = {"results": {env: {label: {"wall_s": wall_s}}}}
    (run_dir / name / "summary.json").write_text(json.dumps(summary))


def test_a_close_deadline_starts_nothing(tmp_path):
    for script, first in (("fig2_ant_gpu.sh", "ant__adam"), ("fig4_gridworld_gpu.sh", "rand_all__w16__adam")):
        out = _sh(script, str(tmp_path / script), "1")
        assert out.returncode == 0, out.stderr
        assert f"[{first}] deadline: not started" in out.stdout
        assert not (tmp_path / script / first).exists()


def test_seed_groups_split_each_job_and_keep_runs_paired(tmp_path):
    """SEED_GROUPS=2: 8-seed jobs per optimizer, seed group by seed group (Adam and OPEN of a group
    together); SEEDS must divide."""
    out = _sh("fig2_ant_gpu.sh", str(tmp_path / "a"), "1", SEED_GROUPS="2", LANES="4")
    names = [line.split("]")[0][1:] for line in out.stdout.splitlines() if "deadline: not started" in line]
    assert names == ["ant__s0__adam", "ant__s0__open_pretrained", "ant__s1__adam", "ant__s1__open_pretrained"]
    bad = _sh("fig4_gridworld_gpu.sh", str(tmp_path / "b"), "1", SEED_GROUPS="3")
    assert bad.returncode == 2 and "not a multiple" in bad.stderr


def test_finished_jobs_are_skipped_and_set_the_time_a_group_needs(tmp_path):
    """A resumed call: the finished Adam job is skipped; the OPEN job is not started because the finished
    job took 2000 s (x1.1) and only 1000 s are left."""
    r = tmp_path / "ant"
    _finished(r, "ant__adam", "ant", "adam", 2000.0)
    out = _sh("fig2_ant_gpu.sh", str(r), "1000", OPTS="adam open_pretrained", LANES="1")
    assert out.returncode == 0, out.stderr
    assert "[ant__adam] finished earlier: skipped" in out.stdout
    assert "[ant__open_pretrained] deadline: not started" in out.stdout and "needs ~2200 s" in out.stdout
    # the same with both finished: nothing to do, whatever the deadline
    _finished(r, "ant__open_pretrained", "ant", "open_pretrained", 2000.0)
    out = _sh("fig2_ant_gpu.sh", str(r), "1", OPTS="adam open_pretrained")
    assert out.stdout.count("finished earlier: skipped") == 2 and "deadline" not in out.stdout


@pytest.mark.slow  # one gridworld job, a report and the driver's set-up check: ~1-2 min on 2 idle cores
def test_driver_runs_a_gridworld_job_reports_and_packs(tmp_path):
    """gpu_paper_items.sh OUT DEADLINE_S on the CPU: set-up check, one tiny Fig. 4 job (Adam, rand_sparse,
    width 8, 1 seed, 2 updates), openrl-report, and the run directory packed into OUT; a second call
    with the same run directory skips the job."""
    out, runs = tmp_path / "out", tmp_path / "runs"
    env = dict(
        ITEMS="fig4", OPTS="adam", LEVELS="rand_sparse", WIDTHS="8", SEEDS="1", EXTRA=TINY,
        RUNS=str(runs), ASSETS=str(tmp_path / "no_assets"), EXPECT_BACKEND="any",
    )  # fmt: skip
    proc = _sh("gpu_paper_items.sh", str(out), "900", timeout=600, **env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[rand_sparse__w8__adam] exit 0" in proc.stdout, proc.stdout[-3000:]
    job = runs / "fig4_gridworld" / "rand_sparse__w8__adam"
    s = json.loads((job / "summary.json").read_text())
    r = s["results"]["gridworld"]["adam"]
    assert r["num_seeds"] == 1 and r["config"]["env.level"] == "rand_sparse" and r["config"]["ppo.width"] == 8
    [rec] = records.load_sweep(runs / "fig4_gridworld")
    assert rec.facts()["env.level"] == "rand_sparse"
    assert "## gridworld" in (out / "fig4_gridworld_report.md").read_text()
    with tarfile.open(out / "fig4_gridworld.tar.gz") as t:
        assert "fig4_gridworld/rand_sparse__w8__adam/summary.json" in t.getnames()
        assert any(n.endswith(".npz") for n in t.getnames())
    with tarfile.open(out / "resume.tar.gz") as t:  # what the next run carries: no curves
        assert "fig4_gridworld/rand_sparse__w8__adam/summary.json" in t.getnames()
        assert not any(n.endswith((".npz", ".png")) for n in t.getnames())
    assert "set-up done" in (out / "gpu_paper_items.log").read_text()
    again = _sh("gpu_paper_items.sh", str(tmp_path / "out2"), "900", timeout=300, **env)
    assert "[rand_sparse__w8__adam] finished earlier: skipped" in again.stdout, again.stdout[-3000:]


def test_fig3_cpu_plans_the_missing_seeds_cheapest_first_and_resumes(tmp_path):
    """benchmarks/fig3_multitask_cpu.sh: 4 more seeds for the five handcrafted cells that have 4, then
    multi_OPEN one game-seed per job from seed 2, seed by seed; finished jobs are skipped."""
    r = tmp_path / "fig3"
    _finished(r, "asterix__multi__s2", "asterix", "open_multi_pretrained", 400.0)
    out = _sh("fig3_multitask_cpu.sh", str(r), "1", MULTI_SEEDS="4", LANES="16")
    assert out.returncode == 0, out.stderr
    names = [line.split("]")[0][1:] for line in out.stdout.splitlines() if "deadline: not started" in line]
    cells = ["asterix:rmsprop", "asterix:lion", "freeway:adam", "freeway:rmsprop", "freeway:lion"]
    hand = [c.replace(":", "__") + "__s1x4" for c in cells]
    multi = [f"{g}__multi__s{k}" for k in (2, 3) for g in ("asterix", "breakout", "freeway", "spaceinvaders")]
    assert names == hand + multi[1:]
    assert "[asterix__multi__s2] finished earlier: skipped" in out.stdout


@pytest.mark.slow  # two tiny population-64 meta runs: ~2-4 min on 2 cores
def test_driver_runs_the_race_item_and_packs_it(tmp_path):
    """ITEMS=race: the ES race's fig5_gpu track (both strategies, meta seed 0) under the driver's deadline,
    its JSON in OUT and its run directories in OUT/resume.tar.gz; a second call skips the finished runs."""
    out, runs = tmp_path / "out", tmp_path / "runs"
    extra = f"{TINY} es.num_generations=2 meta.eval_every=1 meta.validation_seeds=2 meta.final_eval_seeds=2"
    env = dict(
        ITEMS="race", RACE_EXTRA=extra, RUNS=str(runs), ASSETS=str(tmp_path / "no_assets"), EXPECT_BACKEND="any",
    )  # fmt: skip
    proc = _sh("gpu_paper_items.sh", str(out), "900", timeout=800, **env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "es_race_fig5_gpu.json").read_text())
    assert list(result["entries"]) == ["open_es_random_init", "pgpe"]
    for e in result["entries"].values():
        assert e["runs"]["0"]["command"].count("es.population_size=64") == 1
    with tarfile.open(out / "resume.tar.gz") as t:
        assert "fig5_race/runs/pgpe/seed0/summary.json" in t.getnames()
    again = _sh("gpu_paper_items.sh", str(tmp_path / "out2"), "900", timeout=300, **env)
    assert "seed 0: done" not in again.stdout and (tmp_path / "out2" / "es_race_fig5_gpu.json").exists()
