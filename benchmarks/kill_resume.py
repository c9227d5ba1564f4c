"""SIGKILL a small real meta-training run at random moments; each resumed run must end bitwise identical.

``openrl-train`` runs a tiny Breakout meta-training (OPEN, population 4, 6 generations, a checkpoint
every generation, validation every 2) as a subprocess, exactly as a user starts it. After one
uninterrupted reference run and a second uninterrupted control run (two runs of the same command must
agree, or the comparison proves nothing; the control's timeline also dates each phase of a run), each
trial starts the same command in a fresh run directory, SIGKILLs it once, re-runs the very same command
until it finishes, and compares against the reference:

* ``best/optimizer.npy`` and ``latest/optimizer.npy`` byte for byte;
* ``summary.json``'s validation history (every validated generation: score, per-env return, |theta|;
  floats compared exactly) and best generation; ``final_evaluation.json``.

Kill moments (``--seed`` draws them). A run of this size spends most of its time importing, compiling
and in the final evaluation; its meta-training loop (6 generations, 3 validations, 6 checkpoint writes)
takes a second or two. Uniform times over the whole run would almost never hit the
loop, so each kill is drawn uniformly within one phase, timed from that phase's start in the trial itself
(seen in its ``checkpoints/`` directory, polled every few milliseconds):

* ``write`` (``--in-write``): inside the write of a randomly drawn checkpoint, a random delay after
  Orbax's temporary directory ``<step>.orbax-checkpoint-tmp-*`` appears, up to the duration of that write
  in the control run;
* ``loop``: from the start of checkpoint 1's write to the end of the last checkpoint's (generations 2-6,
  their validations, checkpoint writes 1-6), as long as it took in the control run;
* ``tail`` (``--tail``): from the end of the last checkpoint's write to the end of the run (the exports to
  ``latest/``, the final evaluation, the summary), as long as it took in the control run.

Where each kill landed is read from the run directory the killed process left (the process is dead, so
it is frozen): inside a checkpoint write (a temporary directory is left), during a generation or its
validation (after checkpoint ``s``), after the last checkpoint (exports, final evaluation). A trial
slower than the control may be killed earlier in a phase or in the next one; one that ends before its
kill is reported as not killed.

Every process shares one JAX persistent compilation cache (``<workdir>/jax_cache``), so only the first
run compiles; ``--keep DIR`` with a DIR used before starts with a warm cache.

    python -m benchmarks.kill_resume                      # 10 kills: 2 in a checkpoint write, 6 in the loop, 2 after
    python -m benchmarks.kill_resume --kills 3 --in-write 1 --tail 1 --keep /tmp/kr
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.tiny import TINY_META_GENERATIONS, TINY_META_RUN

from benchmarks.common import add_publish_flag, write

GENERATIONS = TINY_META_GENERATIONS
# the test-suite's tiny resumable meta-training run (Breakout PPO + OPEN, population 4, 6 generations),
# without the update-ratio probe: each of the ~20 processes compiles one program fewer
ARGS = [*TINY_META_RUN, "meta.probe_updates=0"]
TMP_MARK = ".orbax-checkpoint-tmp"
# Checkpoint-directory polls: often enough to date (and land in) a write of ~0.05 s, rarely enough that
# the watcher takes little CPU from the run it watches on a loaded machine.
POLL_S = 0.005
RESUMED = b"\n===== resumed with the same command =====\n"


def _command(run_dir: Path) -> list[str]:
    script = Path(sys.executable).parent / "openrl-train"
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "openrl.cli.train"]
    return [*exe, *ARGS, f"hydra.run.dir={run_dir}"]


def _environ(cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "WANDB_MODE": "disabled",
    }


def _fresh(run_dir: Path) -> None:
    """Removes a run directory (and its log) left by an earlier invocation: re-running would resume it."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.with_suffix(".log").unlink(missing_ok=True)


def _start(run_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    """The run as a subprocess (its output appended to ``<run_dir>.log``) and its monotonic start."""
    with run_dir.with_suffix(".log").open("ab") as f:
        t0 = time.monotonic()
        return subprocess.Popen(_command(run_dir), env=env, stdout=f, stderr=subprocess.STDOUT), t0


def _entries(run_dir: Path) -> list[str]:
    try:
        return os.listdir(run_dir / "checkpoints")
    except FileNotFoundError:
        return []


def _started(step: int, names: list[str]) -> bool:
    """Checkpoint ``step``'s write has begun (its temporary directory, or already the finished one)."""
    return any(n == str(step) or n.startswith(f"{step}{TMP_MARK}") for n in names)


def watched_run(run_dir: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """An uninterrupted run, with the time (from its start) each entry of ``checkpoints/`` first appeared."""
    _fresh(run_dir)
    proc, t0 = _start(run_dir, env)
    seen: dict[str, float] = {}
    while proc.poll() is None:
        t = time.monotonic() - t0
        if t > timeout:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{run_dir} did not finish in {timeout}s; see {run_dir}.log")
        for name in _entries(run_dir):
            seen.setdefault(name, t)
        time.sleep(POLL_S)
    wall_s = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{run_dir} exited {proc.returncode}; see {run_dir}.log")
    writes = {}
    for step in range(1, GENERATIONS + 1):
        begun = [t for n, t in seen.items() if _started(step, [n])]
        done = seen.get(str(step))
        writes[step] = {"start_s": min(begun, default=None), "end_s": done}
        writes[step]["duration_s"] = None if None in writes[step].values() else done - min(begun)
    return {"wall_s": wall_s, "checkpoint_writes": writes}


def landing(run_dir: Path) -> tuple[str, str]:
    """``(kind, description)`` of where a killed run stopped, from what it left on disk."""
    names = _entries(run_dir)
    tmp = sorted(n for n in names if TMP_MARK in n)
    steps = sorted(int(n) for n in names if n.isdigit())
    if tmp:
        step = tmp[-1].split(".")[0]
        after = f" (checkpoint {steps[-1]} complete)" if steps else ""
        return "checkpoint-write", f"inside the write of checkpoint {step}{after}"
    log = run_dir.with_suffix(".log")
    text = log.read_text(errors="replace") if log.exists() else ""
    if not steps:
        if "generation program compiled" not in text:
            return "start-up", "start-up or compilation (no checkpoint yet)"
        return "generation", "generation 1 or the validations before it (no checkpoint yet)"
    s = steps[-1]
    if s < GENERATIONS:
        return "generation", f"generation {s + 1} or its validation (after checkpoint {s})"
    if not (run_dir / "latest" / "meta.json").exists():
        return "after-last-checkpoint", f"after the last checkpoint ({s}), before latest/ was exported"
    if not (run_dir / "summary.json").exists():
        return "final-evaluation", "final evaluation (latest/ exported, no summary.json yet)"
    return "finishing", "after summary.json was written (process exiting)"


def kill_run(
    run_dir: Path, env: dict[str, str], anchor: tuple[int, str], delay_s: float, timeout: float
) -> dict[str, Any]:
    """Starts the run and SIGKILLs it ``delay_s`` after ``anchor``: ``(step, "start")`` when checkpoint
    ``step``'s write begins, ``(step, "end")`` when it is complete. Returns when (seconds from the start)
    and where the kill landed."""
    step, edge = anchor
    _fresh(run_dir)
    proc, t0 = _start(run_dir, env)
    try:
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            names = _entries(run_dir)
            if _started(step, names) if edge == "start" else str(step) in names:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=delay_s)
                break
            time.sleep(POLL_S)
        t_kill = time.monotonic() - t0
        finished = proc.poll() is not None
        if not finished:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    kind, where = landing(run_dir)
    if finished:
        kind, where = "not-killed", f"the run ended (exit {proc.returncode}) before the kill"
    return {"kill_s": round(t_kill, 3), "landed": kind, "where": where, "returncode": proc.returncode}


def resume(run_dir: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Re-runs the very same command in the killed run's directory, to completion."""
    log = run_dir.with_suffix(".log")
    with log.open("ab") as f:
        f.write(RESUMED)
        f.flush()
        t0 = time.monotonic()
        proc = subprocess.run(_command(run_dir), env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    text = log.read_bytes().split(RESUMED)[-1].decode(errors="replace")
    m = re.search(r"resumed from \S+ at generation (\d+)", text)
    return {
        "resume_returncode": proc.returncode,
        "resume_wall_s": round(time.monotonic() - t0, 2),
        "resumed_at_generation": int(m.group(1)) if m else None,  # None: no checkpoint, started afresh
    }


def compare(run_dir: Path, ref_dir: Path) -> dict[str, bool]:
    """Which artefacts equal the reference's (files byte for byte; JSON floats exactly)."""

    def same_bytes(name: str) -> bool:
        a, b = ref_dir / name, run_dir / name
        return b.is_file() and a.read_bytes() == b.read_bytes()

    def load(d: Path, name: str) -> Any:
        p = d / name
        return json.loads(p.read_text()) if p.is_file() else None

    a, b = load(ref_dir, "summary.json"), load(run_dir, "summary.json") or {}
    return {
        "best/optimizer.npy": same_bytes("best/optimizer.npy"),
        "latest/optimizer.npy": same_bytes("latest/optimizer.npy"),
        "summary.validation": a["validation"] == b.get("validation"),
        "summary.best_generation": a["best_generation"] == b.get("best_generation"),
        "final_evaluation.json": load(ref_dir, "final_evaluation.json")
        == load(run_dir, "final_evaluation.json"),
    }


def plan_kills(
    control: dict[str, Any], kills: int, in_write: int, tail: int, rng: random.Random, write_delay: float
):
    """One ``{"phase", "anchor", "delay_s"}`` per trial: ``in_write`` in a checkpoint write, ``tail`` after
    the last checkpoint, the rest in the loop (see the module docstring)."""
    writes = control["checkpoint_writes"]
    timed = [s for s, w in writes.items() if w["duration_s"] is not None]
    loop_s = writes[GENERATIONS]["end_s"] - writes[1]["start_s"]
    tail_s = control["wall_s"] - writes[GENERATIONS]["end_s"]
    plans = []
    for i in range(kills):
        if i < in_write:
            step = rng.choice(timed)
            delay = rng.uniform(0.0, write_delay * writes[step]["duration_s"])
            plans.append({"phase": "write", "anchor": (step, "start"), "delay_s": delay})
        elif i < kills - tail:
            plans.append({"phase": "loop", "anchor": (1, "start"), "delay_s": rng.uniform(0.0, loop_s)})
        else:
            plans.append(
                {"phase": "tail", "anchor": (GENERATIONS, "end"), "delay_s": rng.uniform(0.0, tail_s)}
            )
    return plans, {"loop_s": loop_s, "tail_s": tail_s}


def run(
    workdir: Path,
    kills: int = 10,
    in_write: int = 2,
    tail: int = 2,
    seed: int = 0,
    timeout: float = 4 * 3600,
    write_delay: float = 1.0,
    jobs: int = 1,
) -> dict[str, Any]:
    """Reference, control and ``kills`` kill-and-resume trials under ``workdir``; the result as a dict.

    ``write_delay`` scales the random delay of the in-write kills (0: kill as soon as the temporary
    directory appears, the surest way to land inside the write). ``jobs`` trials run at once (each one
    process at a time); ``timeout`` bounds each process.
    """
    rng = random.Random(seed)
    env = _environ(workdir / "jax_cache")
    t_all = time.monotonic()
    ref_dir = workdir / "reference"
    reference = watched_run(ref_dir, env, timeout)
    print(f"reference: {reference['wall_s']:.1f}s (fills the compilation cache)", flush=True)
    control = watched_run(workdir / "control", env, timeout)
    control["identical"] = compare(workdir / "control", ref_dir)
    print(f"control: {control['wall_s']:.1f}s, identical {control['identical']}", flush=True)
    plans, windows = plan_kills(control, kills, in_write, tail, rng, write_delay)

    def trial(i: int) -> dict[str, Any]:
        run_dir = workdir / f"trial_{i}"
        p = plans[i]
        out = {
            "trial": i,
            "phase": p["phase"],
            "anchor": list(p["anchor"]),
            "delay_s": round(p["delay_s"], 4),
        }
        out.update(kill_run(run_dir, env, p["anchor"], p["delay_s"], timeout))
        out.update(resume(run_dir, env, timeout))
        out["identical"] = compare(run_dir, ref_dir)
        out["bitwise_identical"] = out["resume_returncode"] == 0 and all(out["identical"].values())
        print(
            f"trial {i} ({p['phase']}): killed at {out['kill_s']:.2f}s, {out['where']}; resumed at "
            f"generation {out['resumed_at_generation']}; bitwise identical: {out['bitwise_identical']}",
            flush=True,
        )
        return out

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        trials = list(pool.map(trial, range(kills)))
    killed = [t for t in trials if t["landed"] != "not-killed"]
    return {
        "command": ["openrl-train", *ARGS, "hydra.run.dir=<run dir>"],
        "seed": seed,
        "write_delay": write_delay,
        "jobs": jobs,
        "reference": reference,
        "control": control,
        "windows_s": windows,
        "trials": trials,
        "tally": {
            "trials": len(trials),
            "killed": len(killed),
            "bitwise_identical": sum(t["bitwise_identical"] for t in killed),
            "inside_checkpoint_write": sum(t["landed"] == "checkpoint-write" for t in trials),
            "landed": {
                k: sum(t["landed"] == k for t in trials) for k in sorted({t["landed"] for t in trials})
            },
        },
        "total_wall_s": round(time.monotonic() - t_all, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=10, help="kill-and-resume trials")
    ap.add_argument("--in-write", type=int, default=2, help="of them, killed inside a checkpoint write")
    ap.add_argument("--tail", type=int, default=2, help="of them, killed after the last checkpoint")
    ap.add_argument("--seed", type=int, default=0, help="draws the kill moments")
    ap.add_argument("--jobs", type=int, default=1, help="trials run at once")
    ap.add_argument("--timeout", type=float, default=4 * 3600, help="seconds allowed to each process")
    ap.add_argument("--keep", type=Path, default=None, help="run here and keep the run directories")
    ap.add_argument(
        "--out",
        default="kill_resume",
        help="<out>.json (outputs/benchmarks/, or benchmarks/results/ with --publish)",
    )
    add_publish_flag(ap)
    a = ap.parse_args()
    if a.in_write + a.tail > a.kills:
        ap.error("--in-write + --tail must not exceed --kills")
    workdir = a.keep or Path(tempfile.mkdtemp(prefix="openrl_kill_resume_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        from benchmarks.common import machine

        result = {
            "machine": machine(),
            **run(workdir, a.kills, a.in_write, a.tail, a.seed, a.timeout, jobs=a.jobs),
        }
    finally:
        if a.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    path = write(a.out, result, publish=a.publish)
    t = result["tally"]
    print(
        f"{t['bitwise_identical']} of {t['killed']} killed runs resumed bitwise identical "
        f"({t['inside_checkpoint_write']} killed inside a checkpoint write); {path}"
    )
    sys.exit(0 if t["bitwise_identical"] == t["killed"] == t["trials"] else 1)


if __name__ == "__main__":
    main()
