"""Flat meta-parameter vectors on disk: the format of the authors' released OPEN weights.

A file is a plain ``np.save`` of one 1-D float32 vector (no pickle), laid out as
``jax.flatten_util.ravel_pytree`` of the meta-parameter pytree: dict keys sorted, every leaf raveled in
C order (tests/test_open.py checks the released files against the authors' golden outputs this way).
ES checkpoints written by :func:`save_flat` use the same format, so released weights and our own
checkpoints are interchangeable.

An *optimizer directory* is what the meta-training job exports (``best/``, ``latest/``) and what
``openrl-import-weights`` writes: ``optimizer.npy`` (the flat vector above) plus ``meta.json``
(architecture, source, ...). Wherever a weights path is accepted, such a directory is accepted too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from openrl import pretrained

OPTIMIZER_FILE = "optimizer.npy"
META_FILE = "meta.json"


class WeightsError(ValueError):
    """A weights file that cannot be used for the selected optimizer architecture."""


def load_flat(path: str | os.PathLike, expected_sizes: tuple[int, ...], arch: str) -> np.ndarray:
    """Reads a flat float32 vector and checks its length.

    Args:
        path: an ``.npy`` file holding one 1-D float vector, or an optimizer directory holding one as
            ``optimizer.npy``.
        expected_sizes: the lengths the selected architecture accepts (first = the canonical one).
        arch: a human-readable description of the architecture, used in error messages.

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        WeightsError: the file is unreadable, not a 1-D float vector, of the wrong length, or non-finite.
    """
    p = resolve_weights_path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"weights file {str(p)!r} does not exist (expected a flat float32 .npy vector)"
        )
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any parse failure means "not a usable .npy"
        raise WeightsError(f"weights file {str(p)!r} is not a readable .npy array: {e}") from e
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.floating):
        raise WeightsError(
            f"weights file {str(p)!r} holds dtype {getattr(arr, 'dtype', type(arr))}, expected floats"
        )
    want = " or ".join(str(s) for s in expected_sizes)
    if arr.ndim != 1 or arr.size not in expected_sizes:
        raise WeightsError(
            f"weights file {str(p)!r} holds {arr.size} values (shape {arr.shape}); the selected architecture "
            f"{arch} expects a flat vector of {want} values{_described_as(p)}"
        )
    if not np.all(np.isfinite(arr)):
        raise WeightsError(f"weights file {str(p)!r} contains non-finite values")
    return arr.astype(np.float32)


def resolve_weights_path(path: str | os.PathLike) -> Path:
    """A weights path as given, or ``DIR/optimizer.npy`` when it names an optimizer directory.

    ``pretrained:NAME`` names one of the authors' released optimizers: it resolves to the verified
    local copy, downloaded on first use (:mod:`openrl.pretrained`), so configs need no machine's path.
    """
    if pretrained.is_pretrained(os.fspath(path)):
        return pretrained.resolve(os.fspath(path))
    p = Path(os.path.expanduser(os.fspath(path)))
    if p.is_dir():
        inner = p / OPTIMIZER_FILE
        if not inner.is_file():
            raise FileNotFoundError(
                f"weights directory {str(p)!r} has no {OPTIMIZER_FILE} (expected an optimizer directory as "
                "written by meta-training or openrl-import-weights, or a flat float32 .npy file)"
            )
        return inner
    return p


def _described_as(npy: Path) -> str:
    """' (meta.json says ...)' when the vector sits in an optimizer directory with a readable meta.json."""
    meta_file = npy.parent / META_FILE
    if npy.name != OPTIMIZER_FILE or not meta_file.is_file():
        return ""
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError):
        return ""
    said = {k: meta[k] for k in ("optimizer", "arch", "config", "num_meta_params") if k in meta}
    return f" ({META_FILE} describes it as {said})" if said else ""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_flat(path: str | os.PathLike, tree: Any) -> Path:
    """Writes ``ravel_pytree(tree)`` as a flat float32 ``.npy`` (the released-weights format)."""
    flat, _ = ravel_pytree(jax.tree.map(lambda x: np.asarray(x, np.float32), tree))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, np.asarray(flat, np.float32), allow_pickle=False)
    return p


def unflatten(flat: np.ndarray, template: Any) -> Any:
    """Inverse of ``ravel_pytree`` for ``template``'s structure (float32 leaves)."""
    _, unravel = ravel_pytree(template)
    return jax.tree.map(lambda x: jax.numpy.asarray(x, jax.numpy.float32), unravel(jax.numpy.asarray(flat)))


def export_optimizer(directory: Path, flat: np.ndarray, meta: dict[str, Any]) -> None:
    """Writes an optimizer directory: ``optimizer.npy`` (the flat float32 vector, the released format)
    plus ``meta.json``. The one writer of that layout, used by meta-training's ``best/``/``latest/``
    exports and by ``openrl-import-weights``, so both read back through :func:`resolve_weights_path`."""
    # runs.checkpoint also holds the Orbax checkpoints: importing it here keeps orbax off every path that
    # only reads weights (the drop-in optimizer, config checks)
    from openrl.runs.checkpoint import write_json

    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / OPTIMIZER_FILE, np.asarray(flat, np.float32))
    write_json(directory / META_FILE, meta)
