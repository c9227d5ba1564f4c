"""``openrl-train`` meta-training end to end, as a user runs it: a tiny run writes every artefact; a run
SIGKILLed mid-way and re-run with the same command ends bitwise identical to an uninterrupted one; a
corrupt latest checkpoint is skipped in favour of the previous one; a checkpoint written by another
configuration is refused, naming the key, and nothing already written is touched.

Every run is a subprocess in its own run directory. They share a JAX persistent compilation cache, so
only the first run pays for compilation.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from openrl.config import load_config
from tiny import TINY_META_GENERATIONS, TINY_META_RUN

GENERATIONS = TINY_META_GENERATIONS
ARGS = TINY_META_RUN
TIMEOUT = 300

pytestmark = pytest.mark.slow


def _command(run_dir: Path, *extra: str) -> list[str]:
    script = Path(sys.executable).parent / "openrl-train"
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "openrl.cli.train"]
    return [*exe, *ARGS, *extra, f"hydra.run.dir={run_dir}"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("jax_cache")
    return {
        **os.environ,
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "WANDB_MODE": "disabled",
    }


def _run(run_dir: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(_command(run_dir, *extra), env=env, capture_output=True, text=True, timeout=TIMEOUT)


def _sigkill_after_checkpoint_2(run_dir: Path, env: dict, *extra: str) -> int:
    """Starts the tiny run, SIGKILLs it once its generation-2 checkpoint exists; its exit status."""
    proc = subprocess.Popen(
        _command(run_dir, *extra), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + TIMEOUT
    try:
        while not (run_dir / "checkpoints" / "2").is_dir():
            assert proc.poll() is None, "the run ended before writing checkpoint 2"
            assert time.monotonic() < deadline, "no checkpoint 2 in time"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode


def _steps(run_dir: Path) -> list[int]:
    d = run_dir / "checkpoints"
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.exists() else []


def _snapshot(root: Path, *parts: str) -> dict[str, bytes]:
    out = {}
    for part in parts:
        for p in sorted((root / part).rglob("*") if (root / part).is_dir() else [root / part]):
            if p.is_file():
                out[str(p.relative_to(root))] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env):
    """One uninterrupted tiny run."""
    run_dir = tmp_path_factory.mktemp("meta") / "uninterrupted"
    proc = _run(run_dir, env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return run_dir, proc


def test_uninterrupted_run_writes_everything(reference):
    run_dir, proc = reference
    log = proc.stdout + proc.stderr
    assert "generation program compiled in" in log
    assert "predicted remaining time" in log  # the duration forecast after the first generation
    for name in (
        "summary.md",
        "summary.json",
        "final_evaluation.json",
        "eval_breakout.png",
        "validation.png",
        "metrics.jsonl",
        "config_resolved.yaml",
    ):
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    assert "| breakout |" in (run_dir / "summary.md").read_text()
    final = json.loads((run_dir / "final_evaluation.json").read_text())
    assert set(final) == {"breakout"} and {"learned_mean", "adam_mean"} <= set(final["breakout"])
    # T = 384 has no budget-tuned entry: the comparison baseline says it used the paper's Breakout values
    assert final["breakout"]["adam_settings"]["tuned_for"] == "breakout"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["generations"] == GENERATIONS
    assert [h["generation"] for h in summary["validation"]] == [0, 2, 4, 6]
    assert _steps(run_dir) == [4, 5, 6]  # keep_checkpoints=3
    # best/ and latest/: the ES mean in the authors' flat float32 format, plus meta.json
    latest = np.load(run_dir / "latest" / "optimizer.npy")
    best = np.load(run_dir / "best" / "optimizer.npy")
    meta = json.loads((run_dir / "latest" / "meta.json").read_text())
    best_meta = json.loads((run_dir / "best" / "meta.json").read_text())
    assert latest.dtype == np.float32 and latest.ndim == 1 and latest.shape == best.shape
    assert meta["num_meta_params"] == latest.size and meta["optimizer"] == "open"
    assert meta["generation"] == GENERATIONS and meta["envs"] == ["breakout"]
    assert best_meta["generation"] == summary["best_generation"]
    assert best_meta["validation_score"] == summary["best_validation_score"]
    assert np.any(latest != 0) and np.all(np.isfinite(latest))  # the ES moved: the comparisons below bite
    # the export loads back as OPEN's weights (validation builds the rule from the file)
    _, cfg = load_config(["optimizer=open", f"optimizer.weights={run_dir / 'latest' / 'optimizer.npy'}"])
    assert cfg.optimizer.weights


def test_kill_and_resume_is_bitwise_identical(reference, tmp_path, env):
    ref_dir, _ = reference
    run_dir = tmp_path / "killed"
    assert _sigkill_after_checkpoint_2(run_dir, env) == -signal.SIGKILL
    assert not (run_dir / "latest").exists()
    assert 2 <= max(_steps(run_dir)) < GENERATIONS  # killed mid-run: generations are left to replay
    # metrics of checkpointed generations were on disk before the kill (they are never logged again)
    rows = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line cut by the kill
            rows.append(json.loads(line))
    assert {0, 1, 2} <= {r["step"] for r in rows}

    resumed = _run(run_dir, env)  # the very same command
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resumed from" in resumed.stdout + resumed.stderr
    validated = [f"validated/gen{g:05d}/optimizer.npy" for g in (0, 2, 4, 6)]  # every validated mean
    for name in ("latest/optimizer.npy", "best/optimizer.npy", *validated):
        assert (run_dir / name).read_bytes() == (ref_dir / name).read_bytes(), name
    a, b = (json.loads((d / "summary.json").read_text()) for d in (ref_dir, run_dir))
    assert a["validation"] == b["validation"] and a["best_generation"] == b["best_generation"]
    assert json.loads((run_dir / "final_evaluation.json").read_text()) == json.loads(
        (ref_dir / "final_evaluation.json").read_text()
    )


def test_corrupt_latest_checkpoint_is_skipped(reference, tmp_path, env):
    ref_dir, _ = reference
    run_dir = tmp_path / "corrupt"
    shutil.copytree(ref_dir, run_dir)
    shutil.rmtree(run_dir / "latest")
    last = run_dir / "checkpoints" / str(GENERATIONS)
    damaged = [p for p in last.rglob("*") if p.is_file() and "/d/" in str(p)]
    assert damaged
    for p in damaged:
        p.write_bytes(b"\x00garbage" * 16)
    proc = _run(run_dir, env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert "trying the previous one" in log and f"generation {GENERATIONS - 1}" in log
    assert (run_dir / "checkpoints" / f"{GENERATIONS}.corrupt").is_dir()  # kept, not deleted
    assert _steps(run_dir) == [4, 5, 6]  # the replayed generation was checkpointed again
    assert (run_dir / "latest/optimizer.npy").read_bytes() == (ref_dir / "latest/optimizer.npy").read_bytes()


def test_checkpoint_from_another_config_is_refused(reference, tmp_path, env):
    ref_dir, _ = reference
    run_dir = tmp_path / "other"
    shutil.copytree(ref_dir, run_dir)
    kept = (
        "checkpoints",
        "best",
        "latest",
        "summary.json",
        "summary.md",
        "final_evaluation.json",
        "metrics.jsonl",
    )
    before = _snapshot(run_dir, *kept)
    proc = _run(run_dir, env, "es.sigma_init=0.5")
    assert proc.returncode != 0
    assert "different configuration" in proc.stderr
    assert "es.sigma_init: checkpoint has 1.0, this run has 0.5" in proc.stderr
    assert _snapshot(run_dir, *kept) == before  # nothing already written is touched
    # starting afresh over existing checkpoints is refused too (Orbax would skip every existing step)
    proc = _run(run_dir, env, "meta.resume=false")
    assert proc.returncode != 0 and "meta.resume=false" in proc.stderr
    assert _snapshot(run_dir, *kept) == before


@pytest.mark.parametrize("strategy", ["pgpe", "snes", "sep_cma_es"])
def test_every_strategy_resumes_bitwise_after_sigkill(strategy, tmp_path, env):
    """es=<strategy>: a run SIGKILLed after its generation-2 checkpoint and re-run with the same command
    ends with the very files of an uninterrupted run (the ES state, its sigma and optimizer moments, all
    restored by Orbax)."""
    ref_dir = tmp_path / "uninterrupted"
    ref = _run(ref_dir, env, f"es={strategy}")
    assert ref.returncode == 0, ref.stderr[-4000:]
    run_dir = tmp_path / "killed"
    assert _sigkill_after_checkpoint_2(run_dir, env, f"es={strategy}") == -signal.SIGKILL
    assert not (run_dir / "latest").exists() and 2 <= max(_steps(run_dir)) < GENERATIONS
    resumed = _run(run_dir, env, f"es={strategy}")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resumed from" in resumed.stdout + resumed.stderr
    validated = [f"validated/gen{g:05d}/optimizer.npy" for g in (0, 2, 4, 6)]  # every validated mean
    for name in ("latest/optimizer.npy", "best/optimizer.npy", *validated):
        assert (run_dir / name).read_bytes() == (ref_dir / name).read_bytes(), name
    a, b = (json.loads((d / "summary.json").read_text()) for d in (ref_dir, run_dir))
    assert a["validation"] == b["validation"] and a["fitness_history"] == b["fitness_history"]
    assert np.any(np.load(ref_dir / "latest" / "optimizer.npy") != 0)  # the ES moved: equality bites
