"""Resumable meta-training checkpoints (Orbax).

A checkpoint holds the *full* state needed to continue bit-for-bit: the evosax state (mean, sigma,
meta-optimizer moments, generation counter, best-so-far), the host RNG key, the validation history, the
best validation score and generation, the W&B run id, and the resolved config. The latest
``keep`` checkpoints are retained; the best ES mean is exported separately (``best/``) so it survives.

Robustness:
* a corrupt or partial latest checkpoint is skipped (with a warning) in favour of the previous valid one,
  and moved aside to ``<step>.corrupt`` (kept for inspection) so that the resumed run can write that step
  again -- Orbax silently skips saving a step that already exists;
* a checkpoint written by a different configuration is refused, naming the keys that differ;
* nothing already written is deleted by a failed restore.

In a multi-process run (``meta.distributed=true``) every process calls ``save`` and ``restore_latest``
with the same global (replicated) arrays, as Orbax expects: Orbax synchronises the processes, process 0
writes the replicated arrays and the JSON items, and every process restores into the template's sharding.
The run directory must be on a file system that all processes share.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jax
import orbax.checkpoint as ocp

from openrl.meta.init import init_kind
from openrl.runs.checkpoint import CheckpointError

log = logging.getLogger(__name__)

# Keys that may change between a run and its resume (they do not affect the result).
RESUME_TOLERANT = (
    "logger",
    "progress",
    "es.num_generations",
    "meta.resume",
    "meta.checkpoint_every",
    "meta.keep_checkpoints",
    # which validated mean is finished is decided after the last generation, from the kept validated/ means
    "meta.selection",
    "meta.selection_top_k",
    "meta.selection_seeds",
    # how the processes were launched (each process has its own process_id; the numbers do not depend on it)
    "meta.distributed",
    "meta.coordinator_address",
    "meta.num_processes",
    "meta.process_id",
    "meta.init_timeout_s",
    "meta.heartbeat_timeout_s",
    # the preset tables the run's values were composed from: what they supplied is compared where it went
    # (es.*, meta.*, ppo.total_timesteps), so a preset edited since, or another preset's row, is no change
    "budgets",
    "es_settings",
)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = d
    return out


def _effective(flat: dict[str, Any]) -> dict[str, Any]:
    """Settings whose null means a concrete value, written as that value (``meta.init``, resolved as
    ``openrl.meta.init.init_kind`` resolves it): a run started with the null, or before the field existed,
    resumes when the value is now spelled out, and vice versa."""
    meta = SimpleNamespace(init=flat.get("meta.init"), init_weights=flat.get("meta.init_weights"))
    return {**flat, "meta.init": init_kind(meta)}


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    a, b = _effective(_flatten(saved)), _effective(_flatten(current))
    diffs = []
    for k in sorted(set(a) | set(b)):
        if any(k == t or k.startswith(t + ".") for t in RESUME_TOLERANT) or k.startswith("hydra"):
            continue
        if a.get(k) != b.get(k):
            diffs.append(f"{k}: checkpoint has {a.get(k)!r}, this run has {b.get(k)!r}")
    return diffs


class MetaCheckpointer:
    def __init__(self, directory: Path, keep: int = 3):
        self.directory = Path(directory).resolve()
        opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        self.mngr = ocp.CheckpointManager(
            self.directory, options=opts, item_names=("state", "host", "config")
        )

    def save(self, generation: int, state: Any, host: dict[str, Any], config: dict[str, Any]) -> None:
        self.mngr.save(
            generation,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                host=ocp.args.JsonSave(host),
                config=ocp.args.JsonSave(config),
            ),
        )
        self.mngr.wait_until_finished()

    def restore_latest(self, template: Any, config: dict[str, Any]) -> tuple[Any, dict[str, Any], int] | None:
        """The newest valid checkpoint as ``(state, host, generation)``, or None if there is none."""
        self.mngr.reload()
        steps = sorted(self.mngr.all_steps(), reverse=True)
        if not steps:
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        errors = []
        bad: list[int] = []
        for step in steps:
            try:
                saved_cfg = self.mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))[
                    "config"
                ]
            except Exception as e:  # noqa: BLE001 - any unreadable file means "try the previous one"
                errors.append(f"{step}: {e}")
                bad.append(step)
                log.warning(
                    "checkpoint %s/%s is unreadable (%s: %s); trying the previous one",
                    self.directory,
                    step,
                    type(e).__name__,
                    str(e)[:200],
                )
                continue
            diffs = config_differences(dict(saved_cfg), config)
            if diffs:
                raise CheckpointError(
                    f"the checkpoint in {self.directory} was written by a different configuration; refusing to "
                    "resume. Use a new run directory, or restore the original settings:\n  "
                    + "\n  ".join(diffs[:20])
                )
            try:
                out = self.mngr.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract), host=ocp.args.JsonRestore()
                    ),
                )
            except Exception as e:  # noqa: BLE001
                errors.append(f"{step}: {e}")
                bad.append(step)
                log.warning(
                    "checkpoint %s/%s is corrupt or partial (%s: %s); trying the previous one",
                    self.directory,
                    step,
                    type(e).__name__,
                    str(e)[:200],
                )
                continue
            self._set_aside(bad)
            # Orbax hands back arrays committed to a device; a fresh state is uncommitted. Made alike, a
            # resumed run lowers and compiles exactly the program of an uninterrupted one (and a jitted
            # generation does not add a cache entry).
            state = jax.device_put(jax.device_get(out["state"]))
            return state, dict(out["host"]), step
        raise CheckpointError(
            f"no readable checkpoint in {self.directory}; nothing was changed there. Move the step "
            "directories aside or use a new run directory:\n  " + "\n  ".join(errors)
        )

    def _set_aside(self, steps: list[int]) -> None:
        """Renames unreadable step directories to ``<step>.corrupt[-n]`` (Orbax ignores those names)."""
        if steps and jax.process_count() > 1:
            from jax.experimental import multihost_utils

            if jax.process_index() == 0:
                self._rename_aside(steps)
            multihost_utils.sync_global_devices("openrl: unreadable checkpoints set aside")
            self.mngr.reload()
            return
        self._rename_aside(steps)
        if steps:
            self.mngr.reload()

    def _rename_aside(self, steps: list[int]) -> None:
        for step in steps:
            src = self.directory / str(step)
            if not src.is_dir():
                continue
            dst, n = self.directory / f"{step}.corrupt", 0
            while dst.exists():
                n += 1
                dst = self.directory / f"{step}.corrupt-{n}"
            src.rename(dst)
            log.warning("moved the unreadable checkpoint %s to %s (kept for inspection)", src, dst)

    def close(self) -> None:
        self.mngr.close()
