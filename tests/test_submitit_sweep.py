"""A sweep through Hydra's submitit launcher, run for real with submitit's local executor (slow).

``hydra/launcher=submitit_local`` runs each sweep point as a submitit job (a subprocess here, an array
task with ``hydra/launcher=slurm``): two tiny meta-training jobs complete, each job's results land where
``openrl-report`` finds them, and a sweep killed mid-way is resumed by running the same command again
(each job continues from its latest checkpoint).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiny import TINY_META_GENERATIONS, TINY_META_RUN

pytestmark = pytest.mark.slow
TIMEOUT = 900


def sweep_command(sweep_dir: Path) -> list[str]:
    """Two tiny meta-training jobs (seeds 0 and 1), one submitit job each, in ``sweep_dir/<job number>``."""
    script = Path(sys.executable).parent / "openrl-train"
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "openrl.cli.train"]
    return [
        *exe,
        "-m",
        "hydra/launcher=submitit_local",
        *TINY_META_RUN,
        "seed=0,1",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweep.subdir=${hydra.job.num}",
    ]


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    return {
        **env,
        "JAX_PLATFORMS": "cpu",
        "WANDB_MODE": "disabled",
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_submitit_local_sweep_is_killed_resumed_and_reported(tmp_path):
    sweep = tmp_path / "sweep"
    env = _env(tmp_path / "jax_cache")
    # the sweep and its submitit jobs share one process group: killing it kills every job mid-way
    proc = subprocess.Popen(
        sweep_command(sweep),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (sweep / "0" / "checkpoints" / "2" / "commit_success.txt").exists():
            assert proc.poll() is None, "the sweep ended before job 0 wrote checkpoint 2"
            assert time.monotonic() < deadline, "no checkpoint 2 in time"
            time.sleep(0.05)
    finally:
        _kill_group(proc)
    assert not (sweep / "0" / "summary.json").exists()  # killed mid-way

    again = subprocess.run(sweep_command(sweep), env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "resumed from" in (sweep / "0" / "train.log").read_text()
    for job in ("0", "1"):
        summary = json.loads((sweep / job / "summary.json").read_text())
        assert summary["generations"] == TINY_META_GENERATIONS, job
    assert list((sweep / ".submitit").iterdir())  # submitit's own job folders (logs, pickled results)
    print("sweep directory:", sorted(str(p.relative_to(sweep)) for p in sweep.iterdir()))

    script = Path(sys.executable).parent / "openrl-report"
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "openrl.cli.eval"]
    report = subprocess.run([*exe, str(sweep)], env=env, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-4000:]
    text = (sweep / "report.md").read_text()
    print(report.stdout.strip())
    print(text)
    pooled = json.loads((sweep / "report_summary.json").read_text())
    assert "| OPEN | 2 |" in text  # the learned optimizer of both jobs: one held-out seed each
    finals = sorted(
        json.loads((sweep / job / "final_evaluation.json").read_text())["breakout"]["learned_final_return"][0]
        for job in ("0", "1")
    )
    assert sorted(pooled["results"]["breakout"]["open"]["final_return"]) == finals
