"""One meta-training run over several processes (``meta.distributed=true``), run for real on one machine.

Two local processes with one CPU device each, connected by ``jax.distributed`` over 127.0.0.1 with gloo
collectives, against one process with two forced CPU devices
(``--xla_force_host_platform_device_count=2``) on the same config: the same ES means, fitness histories
and validations, bitwise. Only process 0 writes the run's files. A launch that cannot connect fails within
``meta.init_timeout_s`` naming the settings; when both processes are SIGKILLed, re-running the same
commands resumes bitwise; when one is killed, the other exits with one line within the heartbeat bound.

Fast (``make test``): the launch-setting rules, and the job loop on a fake task (compiles in seconds) in
2 processes x 1 device vs 1 process x 2 devices. Slow: the same with ``openrl-train`` and the tiny real
Breakout program, the kill cases and the failed launches. Every process is bounded by a timeout and
killed at the end of its test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from openrl.config import ConfigError, load_config
from openrl.runs import distributed
from tiny import TINY_META_GENERATIONS, TINY_META_RUN

TESTS = Path(__file__).parent
TIMEOUT = 600  # one process of a tiny real run, compilation included, on 2 busy cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env.update({"JAX_PLATFORMS": "cpu", "WANDB_MODE": "disabled", **extra})
    return env


class Processes:
    """Popen'ed processes that are always killed (SIGKILL) and reaped when the block ends."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        with log.open("w") as f:
            p = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        self.logs.append(log)
        return p

    def wait(self, timeout: float = TIMEOUT) -> list[int]:
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill()
                pytest.fail(f"processes still running after {timeout}s:\n{self.tail()}")
        return [p.returncode for p in self.procs]

    def tail(self, n: int = 3000) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-n:]}" for log in self.logs if log.exists())

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


# -- launch settings: config, then environment, then JAX's cluster detection --------------------------------
def _meta(**kw):
    base = dict(
        distributed=True,
        coordinator_address=None,
        num_processes=None,
        process_id=None,
        init_timeout_s=300,
        heartbeat_timeout_s=100,
    )
    return SimpleNamespace(**{**base, **kw})


def test_launch_settings_come_from_config_then_environment(monkeypatch):
    for v in distributed.ENV.values():
        monkeypatch.delenv(v, raising=False)
    assert distributed.launch_settings(_meta()).num_processes is None  # left to the cluster detection
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    got = distributed.launch_settings(_meta())
    assert (got.coordinator_address, got.num_processes, got.process_id) == ("10.0.0.1:1234", 4, 3)
    got = distributed.launch_settings(_meta(coordinator_address="127.0.0.1:9", num_processes=2, process_id=0))
    assert (got.coordinator_address, got.num_processes, got.process_id) == ("127.0.0.1:9", 2, 0)
    monkeypatch.setenv("JAX_PROCESS_ID", "x")
    with pytest.raises(distributed.DistributedError, match="JAX_PROCESS_ID='x': must be an integer"):
        distributed.launch_settings(_meta())
    monkeypatch.setenv("JAX_PROCESS_ID", "4")
    with pytest.raises(distributed.DistributedError, match=r"meta.process_id=4 .* must be in \[0, "):
        distributed.launch_settings(_meta())


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            ["meta.distributed=true", "meta.coordinator_address=localhost"],
            "meta.coordinator_address='localhost'",
        ),
        (
            ["meta.distributed=true", "meta.num_processes=2", "meta.process_id=2"],
            "meta.process_id=2: must be in",
        ),
        (["meta.distributed=true", "meta.num_processes=0"], "meta.num_processes=0: must be >= 1"),
        (["meta.distributed=true", "meta.init_timeout_s=0"], "meta.init_timeout_s=0: must be >= 1"),
        (["meta.num_processes=2"], "meta.num_processes set but meta.distributed=false"),
    ],
)
def test_bad_launch_settings_name_the_field(overrides, expected):
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[")):
        load_config(["experiment=single_breakout", *overrides])


def test_slurm_multinode_command_composes_one_process_per_gpu():
    """docs/scaling.md's SLURM command, composed (no cluster here): 4 nodes x 8 tasks, one per GPU."""
    script = Path(sys.executable).parent / "openrl-train"
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "openrl.cli.train"]
    cmd = [
        *exe,
        "experiment=multitask_minatar",
        "meta.distributed=true",
        "hydra/launcher=slurm_multinode",
        "seed=0",
    ]
    proc = subprocess.run([*cmd, "--cfg", "hydra"], env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    launcher = yaml.safe_load(proc.stdout)["hydra"]["launcher"]
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (4, 8, 8)
    _, cfg = load_config(cmd[len(exe) : -1])  # the job's own settings pass start-up validation
    assert cfg.meta.distributed and cfg.meta.num_processes is None  # left to SLURM's detection


# -- the job loop on a fake task: 2 processes x 1 device == 1 process x 2 devices --------------------------
FAKE_JOB = textwrap.dedent(
    """
    import json, os, sys
    layout, run_dir, tests_dir, port, pid = sys.argv[1:6]
    if layout == "1x2":
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    sys.path.insert(0, tests_dir)
    from types import SimpleNamespace
    from pathlib import Path
    from openrl.runs import distributed
    if layout == "2x1":
        distributed.initialize(SimpleNamespace(
            coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=int(pid),
            init_timeout_s=60, heartbeat_timeout_s=20))
    import jax, numpy as np
    from jax.sharding import Mesh
    from openrl.meta import job
    from test_meta import DIMS, _job_cfg, fake_meta
    assert len(jax.devices()) == 2 and len(jax.local_devices()) == (1 if layout == "2x1" else 2)
    meta = fake_meta(mesh=Mesh(np.asarray(jax.devices()), ("pop",)))
    resolved = {"seed": 0, "es": {"sigma_init": 0.1, "num_generations": 4}}
    summary = job.run(_job_cfg(), Path(run_dir), resolved, meta, 4, 2, 2,
                      {"optimizer": "fake", "num_meta_params": DIMS})
    out = {k: summary[k] for k in ("fitness_history", "validation", "best_generation")}
    Path(run_dir, f"process{jax.process_index()}.json").write_text(json.dumps(out))
    """
)


def _fake_job(tmp_path: Path, layout: str) -> Path:
    run_dir = tmp_path / layout
    run_dir.mkdir()
    port = free_port()
    with Processes() as procs:
        for pid in range(2 if layout == "2x1" else 1):
            cmd = [sys.executable, "-c", FAKE_JOB, layout, str(run_dir), str(TESTS), str(port), str(pid)]
            procs.start(cmd, _env(), tmp_path / f"{layout}.{pid}.log")
        assert procs.wait(300) == [0] * len(procs.procs), procs.tail()
    return run_dir


def test_two_processes_equal_one_process_with_two_devices_fake_task(tmp_path):
    """The job loop (replicated ES state, collective checkpoints, process-0-only files) over 2 processes."""
    two, one = _fake_job(tmp_path, "2x1"), _fake_job(tmp_path, "1x2")
    p0, p1, ref = (
        json.loads((d / f).read_text())
        for d, f in ((two, "process0.json"), (two, "process1.json"), (one, "process0.json"))
    )
    assert p0 == p1 == ref  # every process computes the same generations, equal to one process (bitwise)
    assert len(ref["fitness_history"]) == 4
    for name in ("latest/optimizer.npy", "best/optimizer.npy"):
        assert (two / name).read_bytes() == (one / name).read_bytes(), name
    # exactly one process wrote the metrics: one row per generation and validation, as with one process
    assert (two / "metrics.jsonl").read_text().count("\n") == (one / "metrics.jsonl").read_text().count("\n")
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["2", "3", "4"]


# -- openrl-train, the tiny real Breakout program (slow) -----------------------------------------------------
HEARTBEAT_S = 10


def _train(run_dir: Path, *extra: str) -> list[str]:
    script = Path(sys.executable).parent / "openrl-train"
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "openrl.cli.train"]
    return [*exe, *TINY_META_RUN, *extra, f"hydra.run.dir={run_dir}"]


def two_process_command(run_dir: Path, port: int, *extra: str) -> list[str]:
    """What each process runs (docs/scaling.md); the process id comes from JAX_PROCESS_ID."""
    return _train(
        run_dir,
        "meta.distributed=true",
        f"meta.coordinator_address=127.0.0.1:{port}",
        "meta.num_processes=2",
        f"meta.heartbeat_timeout_s={HEARTBEAT_S}",
        *extra,
    )


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("jax_cache")
    return {"JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


def _start_two(procs: Processes, run_dir: Path, cache_env: dict, tag: str, *extra: str) -> None:
    port = free_port()
    for pid in (0, 1):
        env = _env(JAX_PROCESS_ID=str(pid), **cache_env)
        procs.start(two_process_command(run_dir, port, *extra), env, run_dir.parent / f"{tag}.{pid}.log")


def _wait_for_checkpoint(procs: Processes, run_dir: Path, step: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not (run_dir / "checkpoints" / str(step) / "commit_success.txt").exists():
        assert all(p.poll() is None for p in procs.procs), f"a process ended early:\n{procs.tail()}"
        assert time.monotonic() < deadline, f"no checkpoint {step} in time:\n{procs.tail()}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, cache_env) -> Path:
    """The tiny run, uninterrupted, over 2 processes x 1 CPU device."""
    run_dir = tmp_path_factory.mktemp("mp") / "two"
    with Processes() as procs:
        _start_two(procs, run_dir, cache_env, "two")
        assert procs.wait() == [0, 0], procs.tail()
        logs = [log.read_text() for log in procs.logs]
    assert all("generation program compiled in" in log for log in logs)
    return run_dir


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, cache_env) -> Path:
    """The same run in 1 process with 2 forced CPU devices (meta.shard=true: the population is split)."""
    run_dir = tmp_path_factory.mktemp("mp") / "one"
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=2", **cache_env)
    with Processes() as procs:
        procs.start(_train(run_dir), env, run_dir.parent / "one.log")
        assert procs.wait() == [0], procs.tail()
    return run_dir


RUN_FILES = ("summary.json", "summary.md", "final_evaluation.json", "metrics.jsonl", "eval_breakout.png")


@pytest.mark.slow
def test_two_processes_equal_one_process_with_two_devices(two_processes, one_process):
    a, b = (json.loads((d / "summary.json").read_text()) for d in (two_processes, one_process))
    assert a["fitness_history"] == b["fitness_history"] and len(a["fitness_history"]) == TINY_META_GENERATIONS
    assert a["validation"] == b["validation"] and a["best_generation"] == b["best_generation"]
    mean2, mean1 = (np.load(d / "latest" / "optimizer.npy") for d in (two_processes, one_process))
    print(f"ES mean, 2 processes x 1 device vs 1 process x 2 devices: max abs difference "
          f"{np.max(np.abs(mean2 - mean1))} over {mean2.size} meta-parameters")  # fmt: skip
    assert np.any(mean2 != 0) and np.array_equal(mean2, mean1)  # bitwise
    assert (two_processes / "best/optimizer.npy").read_bytes() == (
        one_process / "best/optimizer.npy"
    ).read_bytes()
    assert json.loads((two_processes / "final_evaluation.json").read_text()) == json.loads(
        (one_process / "final_evaluation.json").read_text()
    )
    for name in RUN_FILES:
        assert (two_processes / name).is_file(), name
    # one writer: as many metric rows as the one-process run (two writers would double them)
    rows = [(d / "metrics.jsonl").read_text().splitlines() for d in (two_processes, one_process)]
    assert len(rows[0]) == len(rows[1])


@pytest.mark.slow
def test_both_processes_killed_then_relaunched_resume_bitwise(two_processes, tmp_path, cache_env):
    run_dir = tmp_path / "killed"
    with Processes() as procs:
        _start_two(procs, run_dir, cache_env, "killed")
        _wait_for_checkpoint(procs, run_dir, 2)
        procs.kill()
    assert not (run_dir / "latest").exists()
    with Processes() as procs:  # the same commands (a fresh coordinator port)
        _start_two(procs, run_dir, cache_env, "resumed")
        assert procs.wait() == [0, 0], procs.tail()
        logs = [log.read_text() for log in procs.logs]
    assert all("resumed from" in log for log in logs)
    print(
        "resumed after both processes were killed:",
        [ln for ln in logs[0].splitlines() if "resumed from" in ln],
    )
    for name in ("latest/optimizer.npy", "best/optimizer.npy"):
        assert (run_dir / name).read_bytes() == (two_processes / name).read_bytes(), name
    a, b = (json.loads((d / "summary.json").read_text()) for d in (two_processes, run_dir))
    assert a["fitness_history"] == b["fitness_history"] and a["validation"] == b["validation"]


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0], ids=["process1_killed", "coordinator_killed"])
def test_one_process_killed_the_other_exits_and_a_relaunch_resumes(
    two_processes, tmp_path, cache_env, victim
):
    run_dir = tmp_path / "one_killed"
    with Processes() as procs:
        _start_two(procs, run_dir, cache_env, "one_killed")
        _wait_for_checkpoint(procs, run_dir, 2)
        os.killpg(procs.procs[victim].pid, signal.SIGKILL)
        survivor, log_file = procs.procs[1 - victim], procs.logs[1 - victim]
        t0 = time.monotonic()
        try:
            survivor.wait(timeout=HEARTBEAT_S + 60)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"process {1 - victim} still running {HEARTBEAT_S + 60}s after process {victim} was killed"
            )
        exit_s = time.monotonic() - t0
        log = log_file.read_text()
    last = [ln for ln in log.splitlines() if ln.startswith("openrl-train:") or "Terminating process" in ln]
    print(
        f"process {victim} SIGKILLed: process {1 - victim} exited after {exit_s:.1f}s with status "
        f"{survivor.returncode}: {last}"
    )
    assert survivor.returncode != 0 and last, log[-3000:]
    assert exit_s < HEARTBEAT_S + 60
    if survivor.returncode == 1:  # it was in a collective: our one line, naming what to do
        assert "another process stopped" in last[-1] and "relaunch every process" in last[-1]
    with Processes() as procs:
        _start_two(procs, run_dir, cache_env, "one_killed_resumed")
        assert procs.wait() == [0, 0], procs.tail()
        assert "resumed from" in procs.logs[0].read_text()
    for name in ("latest/optimizer.npy", "best/optimizer.npy"):
        assert (run_dir / name).read_bytes() == (two_processes / name).read_bytes(), name


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing_process", "unreachable_coordinator"])
def test_misconfigured_launch_fails_in_bounded_time_naming_the_settings(tmp_path, case):
    port = free_port()  # nobody listens there: process 1 cannot reach a coordinator
    pid = "0" if case == "missing_process" else "1"  # process 0 waits for a process 1 that never comes
    cmd = _train(
        tmp_path / "run",
        "meta.distributed=true",
        f"meta.coordinator_address=127.0.0.1:{port}",
        "meta.num_processes=2",
        f"meta.process_id={pid}",
        "meta.init_timeout_s=5",
    )
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t0
    last = proc.stderr.strip().splitlines()[-1]
    print(f"{case}: exit status {proc.returncode} after {took:.1f}s: {last}")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert last.startswith("openrl-train: meta.distributed=true: could not connect the processes within "
                           "meta.init_timeout_s=5")  # fmt: skip
    assert f"meta.coordinator_address=127.0.0.1:{port}, meta.num_processes=2, meta.process_id={pid}" in last
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_generation_timing_benchmark_runs(tmp_path):
    """docs/scaling.md's timing command: every layout runs, and its processes agree."""
    out = tmp_path / "mp.json"
    cmd = [sys.executable, "-m", "benchmarks.multiprocess_generation", "--gens", "1", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=TESTS.parent, env=_env(), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    layouts = json.loads(out.read_text())["layouts"]
    assert len(layouts) == 3 and all(v["processes_agree"] for v in layouts.values())
    two, one = (
        layouts[k]["fitness_last_generation"] for k in ("2 processes x 1 device", "1 process x 2 devices")
    )
    assert two == one  # the same program on the same two-device mesh: bitwise
