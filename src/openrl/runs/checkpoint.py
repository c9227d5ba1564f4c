"""Orbax checkpoints of a training run's full state (agent, optimizer state, env state, RNG).

Local files are the source of truth; nothing here depends on W&B. Checkpoints are written with the
``args=`` API of orbax-checkpoint 0.12 and restored against a template so dtypes and shapes are checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not match what was expected."""


def manager(directory: Path, max_to_keep: int = 2) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
    )
    return ocp.CheckpointManager(Path(directory).resolve(), options=options, item_names=("state", "meta"))


def save(mngr: ocp.CheckpointManager, step: int, state: Any, meta: dict[str, Any]) -> None:
    mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    mngr.wait_until_finished()


def restore(directory: Path, template: Any, step: int | None = None) -> tuple[Any, dict[str, Any], int]:
    """Restores ``(state, meta, step)``; raises :class:`CheckpointError` with the path on any failure."""
    directory = Path(directory).resolve()
    if not directory.exists():
        raise CheckpointError(f"no checkpoint directory at {directory}")
    with manager(directory) as mngr:
        step = mngr.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint found in {directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        try:
            out = mngr.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
                ),
            )
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"checkpoint {directory}/{step} could not be restored: {e}") from e
    return out["state"], dict(out["meta"]), step


def write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    tmp.replace(path)
