"""Small console tools.

``openrl-import-weights SRC --out DIR [--arch open|open_large|...] [--env breakout] [--force]``:
validates a released flat meta-parameter vector (e.g. the authors' ``breakout_OPEN.npy``) against an
architecture and writes an openrl optimizer directory -- ``optimizer.npy`` (flat float32, the released
format) and ``meta.json`` -- with the same writer the meta-training job uses for its ``best/`` and
``latest/`` exports. The directory can then be given wherever a weights file is accepted
(``optimizer.weights=DIR``, ``openrl.learned_optimizer(DIR)``).

Without ``--arch`` the architecture is inferred from the vector length (each known architecture has a
distinct size); with it, a mismatch is an error that names both sizes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np


def _rule_config(name: str, rule: Any) -> dict[str, Any]:
    """The optimizer settings that reproduce the architecture (``optimizer=<preset>`` + these)."""
    cfg = {"name": rule.name, "gru_features": rule.gru_features, "hidden": rule.hidden}
    if hasattr(rule, "input_names"):
        cfg.update(num_inputs=rule.num_inputs, num_outputs=rule.num_outputs, inputs=list(rule.input_names))
    return cfg


def import_weights(
    src: str | Path, out: str | Path, arch: str | None = None, env: str | None = None, force: bool = False
) -> dict[str, Any]:
    """Validates ``src`` and writes the optimizer directory ``out``; returns the meta.json payload.

    Raises:
        FileNotFoundError / WeightsError: unreadable or wrong-sized source (the message names the file,
            its size and the sizes expected).
        FileExistsError: ``out`` already holds an optimizer and ``force`` is False.
        ValueError: unknown ``arch``.
    """
    from openrl.optimizers.factory import learned_architectures
    from openrl.optimizers.weights import (
        OPTIMIZER_FILE,
        WeightsError,
        load_flat,
        resolve_weights_path,
        sha256_file,
    )

    archs = learned_architectures()
    src_file = resolve_weights_path(src)
    if arch is not None:
        if arch not in archs:
            raise ValueError(f"--arch {arch!r}: known architectures are {', '.join(archs)}")
        chosen = [arch]
    else:
        chosen = list(archs)
    sizes = tuple(archs[a].num_meta_params for a in chosen)
    what = (
        archs[arch].describe()
        if arch is not None
        else "any known architecture (" + ", ".join(f"{a}: {archs[a].num_meta_params}" for a in chosen) + ")"
    )
    flat = load_flat(src_file, sizes, what)
    name = next(a for a in chosen if archs[a].num_meta_params == flat.size)
    rule = archs[name]
    if rule.num_meta_params != flat.size:  # pragma: no cover - load_flat checked it
        raise WeightsError(f"{src_file}: {flat.size} values, {name} needs {rule.num_meta_params}")

    out_dir = Path(out)
    if (out_dir / OPTIMIZER_FILE).exists() and not force:
        raise FileExistsError(f"{out_dir / OPTIMIZER_FILE} exists; pass --force to overwrite it")
    meta = {
        "optimizer": rule.name,
        "arch": name,
        "config": _rule_config(name, rule),
        "envs": [env] if env else [],
        "num_meta_params": int(flat.size),
        "source": str(src_file.resolve()),
        "sha256": sha256_file(src_file),
        "imported_by": "openrl-import-weights",
        "usage": f"optimizer={name} optimizer.weights={out_dir.resolve()}",
    }
    from openrl.meta.job import export_optimizer  # the meta-training job's writer (same layout)

    export_optimizer(out_dir, np.asarray(flat, np.float32), meta)
    # the written vector is byte-for-byte the validated one
    written = np.load(out_dir / OPTIMIZER_FILE, allow_pickle=False)
    if written.dtype != np.float32 or not np.array_equal(written, flat):  # pragma: no cover
        raise OSError(f"{out_dir / OPTIMIZER_FILE} does not read back as the imported vector")
    return meta


def import_weights_main(argv: list[str] | None = None) -> int:
    from openrl.optimizers.factory import learned_architectures

    parser = argparse.ArgumentParser(
        prog="openrl-import-weights",
        description="Validate a released flat optimizer vector and write an openrl optimizer directory "
        "(optimizer.npy + meta.json).",
    )
    parser.add_argument("src", help="flat float32 .npy (e.g. breakout_OPEN.npy) or an optimizer directory")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--arch",
        choices=list(learned_architectures()),
        default=None,
        help="architecture (conf/optimizer preset); default: inferred from the vector length",
    )
    parser.add_argument("--env", default=None, help="environment the optimizer was trained on (recorded)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing optimizer.npy")
    args = parser.parse_args(argv)
    try:
        meta = import_weights(args.src, args.out, args.arch, args.env, args.force)
    except (OSError, ValueError) as e:  # WeightsError is a ValueError
        print(f"openrl-import-weights: error: {e}", file=sys.stderr)
        return 2
    print(
        f"wrote {Path(args.out) / 'optimizer.npy'} ({meta['arch']}, {meta['num_meta_params']} values, "
        f"sha256 {meta['sha256'][:12]}...) and meta.json\nuse it with: {meta['usage']}"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(import_weights_main())
