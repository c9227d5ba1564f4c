"""Multi-process set-up for one run spread over several processes (``meta.distributed=true``).

Every process runs the same program; JAX's distributed runtime connects them, and the ES population is
sharded over every device of every process. The three launch settings come from the config
(``meta.coordinator_address``, ``meta.num_processes``, ``meta.process_id``), else from the environment
(``JAX_COORDINATOR_ADDRESS``, which JAX itself reads, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``), else JAX
detects them from the cluster (SLURM, Open MPI, TPU pods). On a CPU the processes exchange data with gloo.

A misconfigured launch fails after ``meta.init_timeout_s`` (no coordinator, or fewer processes than
``num_processes`` joined) with one line naming the settings and exit status 2; a process that dies later is noticed by the
others at their next collective (a gloo error, reported by :func:`peer_lost`) or by JAX's heartbeat
(``meta.heartbeat_timeout_s``), which terminates them.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

ENV = {
    "coordinator_address": "JAX_COORDINATOR_ADDRESS",
    "num_processes": "JAX_NUM_PROCESSES",
    "process_id": "JAX_PROCESS_ID",
}


class DistributedError(RuntimeError):
    """The processes of a distributed run could not be connected, or lost one of them."""


@dataclass(frozen=True)
class Launch:
    """The resolved launch settings; None = left to JAX's cluster auto-detection."""

    coordinator_address: str | None
    num_processes: int | None
    process_id: int | None
    init_timeout_s: int
    heartbeat_timeout_s: int

    def describe(self) -> str:
        return (
            f"meta.coordinator_address={self.coordinator_address}, meta.num_processes={self.num_processes}, "
            f"meta.process_id={self.process_id}"
        )


def _int_env(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise DistributedError(f"{name}={raw!r}: must be an integer") from None


def launch_settings(meta: Any) -> Launch:
    """The config's settings, each falling back to its environment variable (``ENV``)."""
    address = meta.coordinator_address or os.environ.get(ENV["coordinator_address"]) or None
    num = meta.num_processes if meta.num_processes is not None else _int_env(ENV["num_processes"])
    pid = meta.process_id if meta.process_id is not None else _int_env(ENV["process_id"])
    if num is not None and num < 1:
        raise DistributedError(f"meta.num_processes={num} (or {ENV['num_processes']}): must be >= 1")
    if pid is not None and (pid < 0 or (num is not None and pid >= num)):
        raise DistributedError(
            f"meta.process_id={pid} (or {ENV['process_id']}): must be in [0, meta.num_processes={num})"
        )
    return Launch(address, num, pid, int(meta.init_timeout_s), int(meta.heartbeat_timeout_s))


def initialize(meta: Any) -> Launch:
    """Connects this process to the others (once; later calls return at once).

    Must run before anything touches a JAX backend (``jax.devices()`` included).
    """
    launch = launch_settings(meta)
    if jax.distributed.is_initialized():
        return launch
    # Only the CPU client reads this: GPUs and TPUs keep their own collectives (NCCL, ICI).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    failed = (
        f"meta.distributed=true: could not connect the processes within meta.init_timeout_s="
        f"{launch.init_timeout_s} ({launch.describe()}; unset values come from {', '.join(ENV.values())} or "
        "the cluster)"
    )
    # When the coordinator is unreachable or a process never joins, JAX's client aborts the process from a
    # C++ thread (a stack dump, no Python exception) some time after the timeout. The watchdog says why, in
    # one line, at the timeout itself.
    connected = threading.Event()

    def expire() -> None:
        if not connected.is_set():
            prog = Path(sys.argv[0]).name if Path(sys.argv[0]).name.startswith("openrl") else "openrl"
            print(
                f"{prog}: {failed}: not every process joined, or the coordinator is unreachable",
                file=sys.stderr,
                flush=True,
            )
            os._exit(2)

    watchdog = threading.Timer(launch.init_timeout_s, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(
            coordinator_address=launch.coordinator_address,
            num_processes=launch.num_processes,
            process_id=launch.process_id,
            initialization_timeout=launch.init_timeout_s,
            heartbeat_timeout_seconds=launch.heartbeat_timeout_s,
        )
    except Exception as e:  # noqa: BLE001 - JAX raises ValueError, RuntimeError or its own runtime error
        first = " ".join(str(e).split())[:300]
        raise DistributedError(f"{failed}: {type(e).__name__}: {first}") from None
    finally:
        connected.set()
        watchdog.cancel()
    return launch


def is_primary() -> bool:
    """True in the one process that writes the run's files (process 0; also in a single-process run)."""
    return jax.process_index() == 0


def multi_process() -> bool:
    return jax.process_count() > 1


def replicate(tree: Any, mesh: Any) -> Any:
    """``tree`` as global arrays replicated over ``mesh``, from this process's (identical) values.

    Built shard by shard from host memory: ``jax.device_put`` would first compare the values across
    processes, which its check gets wrong for non-finite leaves (evosax's ``best_fitness=inf``).
    """
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = NamedSharding(mesh, PartitionSpec())

    def put(x: Any) -> jax.Array:
        a = np.asarray(jax.device_get(x))
        return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])

    return jax.tree.map(put, tree)


def peer_lost(error: Exception, generation: int, checkpoint: int | None) -> DistributedError:
    """The one-line error for a collective that failed because another process is gone."""
    first = " ".join(str(error).split())[:200]
    resume = f"generation {checkpoint}" if checkpoint else "the start"
    return DistributedError(
        f"process {jax.process_index()} of {jax.process_count()}: generation {generation + 1} failed because "
        f"another process stopped ({type(error).__name__}: {first}); relaunch every process with the same "
        f"command to resume from {resume}"
    )
