"""Command-line entry points. ``openrl-train`` composes ``conf/`` with Hydra and runs the selected job.

Configuration is validated (schemas + cross-field rules) before anything is built or compiled; an
invalid config exits with status 2 and a message naming every offending field. So does an output
directory that cannot be created or written (:class:`OutputDirCheck`, a Hydra callback registered in
``conf/config.yaml``, so ``openrl-eval`` gets it too).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from openrl.config import CONF_DIR, ConfigError, meta_job, register_configs, resolve
from openrl.runs import metadata

log = logging.getLogger("openrl")
logging.getLogger("absl").setLevel(logging.WARNING)  # Orbax logs every internal step at INFO
# JAX probes every backend it knows at start-up and logs each one missing here ("Unable to initialize
# backend 'tpu'") at INFO, which Hydra's logging config shows. Its warnings still show.
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
register_configs()


def output_dir_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot serve as a run's output directory, or None when it can.

    Probes by creating (and removing) a temporary subdirectory where the run would write, rather than
    asking ``os.access``: that answers "yes" for root even on read-only or virtual file systems (/proc).
    Nothing is left behind, and the run directory itself is not created here (Hydra creates it).
    """
    p = Path(path).expanduser().absolute()
    if p.exists():
        if not p.is_dir():
            return "it exists and is not a directory"
        probe, what = p, "it is not writable"
    else:
        parent = p.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            return f"it cannot be created: {parent} is not a directory"
        probe, what = parent, f"it cannot be created in {parent}"
    try:
        with tempfile.TemporaryDirectory(dir=probe):
            pass
    except OSError as e:
        return f"{what} ({e.strerror or e})"
    return None


class OutputDirCheck(Callback):
    """Stops at start-up (exit status 2, one line) when the run or sweep directory is unusable.

    Without it Hydra's own ``mkdir`` fails with a traceback, or worse, a job fails after compiling when it
    first writes. Runs before Hydra creates the directory and before the task function is called.
    """

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        _exit_if_unusable(config, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        _exit_if_unusable(config, "hydra.sweep.dir")


def _exit_if_unusable(config: Any, key: str) -> None:
    try:
        path = str(OmegaConf.select(config, key))
    except Exception:  # noqa: BLE001 - an interpolation only Hydra can resolve: leave the check to it
        return
    problem = output_dir_problem(path)
    if problem is not None:
        prog = Path(sys.argv[0]).name if Path(sys.argv[0]).name.startswith("openrl") else "openrl"
        print(f"{prog}: output directory {path!r} ({key}) is unusable: {problem}; choose another with "
              f"{key}=DIR", file=sys.stderr)  # fmt: skip
        sys.exit(2)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _train(cfg: DictConfig) -> float:
    overrides = list(HydraConfig.get().overrides.task)
    try:
        obj, resolved = resolve(cfg, overrides)
        # Every config the job needs (per-task configs, Adam baselines) is composed now, before compiling.
        label = HydraConfig.get().runtime.choices.get("optimizer")  # the preset: how reports name it
        job = meta_job(obj, overrides, label) if obj.mode == "meta" else None
    except ConfigError as e:
        print(f"openrl-train: {e}", file=sys.stderr)
        sys.exit(2)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    # The jobs import jax (and checkpoints Orbax): kept off this module's import so that --help and
    # config errors stay instant.
    from openrl.runs.checkpoint import CheckpointError

    primary = True
    if job is not None and obj.meta.distributed:
        # Before anything touches a device (the run's metadata names the device): JAX requires it.
        from openrl.runs import distributed

        try:
            distributed.initialize(obj.meta)
        except distributed.DistributedError as e:
            _exit_now(f"openrl-train: {e}", 2)
        primary = distributed.is_primary()
    # A resumed run keeps the record of the run it continues (a refused resume must not overwrite it).
    if primary and not (run_dir / "checkpoints").exists():
        metadata.write(run_dir, resolved)
    try:
        if job is not None:
            from openrl.jobs import meta
            from openrl.runs.distributed import DistributedError

            try:
                return meta.run(job, run_dir, resolved)
            except DistributedError as e:
                _exit_now(f"openrl-train: {e}", 1)
        from openrl.jobs import ppo

        return ppo.run(obj, run_dir, resolved, label)
    except CheckpointError as e:
        print(f"openrl-train: {e}", file=sys.stderr)
        sys.exit(2)


def _exit_now(message: str, status: int) -> None:
    """Prints ``message`` and ends the process at once.

    Without a working connection to the other processes, a normal exit would wait in JAX's shutdown
    barrier until the heartbeat timeout and then abort with a stack dump.
    """
    print(message, file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def train_main() -> None:
    """Console script ``openrl-train`` (``dry_run=true``: :mod:`openrl.cli.dry_run`, no job is started)."""
    from openrl.cli import dry_run

    if dry_run.requested(sys.argv[1:]):
        dry_run.main("openrl-train", sys.argv[1:])
    _train()


if __name__ == "__main__":
    train_main()
