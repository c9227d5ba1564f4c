"""Small console tools.

``openrl-weights list | download [NAME ... | --all] | path NAME``: the authors' released OPEN optimizers
(registry, SHA-256-checked download cache and ``pretrained:NAME`` lookup in :mod:`openrl.pretrained`).

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

from openrl import pretrained  # light: no jax (openrl-weights starts instantly)


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
    # jax/flax load here, not at module import: this module also serves openrl-weights
    from openrl.optimizers.factory import learned_architectures
    from openrl.optimizers.weights import (
        OPTIMIZER_FILE,
        WeightsError,
        export_optimizer,
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
    export_optimizer(out_dir, np.asarray(flat, np.float32), meta)
    # the written vector is byte-for-byte the validated one
    written = np.load(out_dir / OPTIMIZER_FILE, allow_pickle=False)
    if written.dtype != np.float32 or not np.array_equal(written, flat):  # pragma: no cover
        raise OSError(f"{out_dir / OPTIMIZER_FILE} does not read back as the imported vector")
    return meta


def import_weights_parser() -> argparse.ArgumentParser:
    """``openrl-import-weights``'s arguments (also parsed by the documented-commands test)."""
    from openrl.optimizers.factory import learned_architectures  # jax/flax: kept off openrl-weights

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
    return parser


def import_weights_main(argv: list[str] | None = None) -> int:
    """Console script ``openrl-import-weights``. Exit status 0 on success, 2 on any error."""
    parser = import_weights_parser()
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


def _weights_table() -> str:
    """``openrl-weights list``: one row per released file, and where it is (or would be) read from."""
    rows = [("NAME", "ARCHITECTURE", "META-PARAMS", "ENVS", "BYTES", "SHA-256", "STATUS")]
    for name, r in pretrained.RELEASED.items():
        state, _ = pretrained.status(name)
        shown = {"ok": "cached", "missing": "not downloaded", "corrupt": "CORRUPT (hash differs)"}[state]
        rows.append(
            (name, r.architecture, str(r.num_meta_params), ",".join(r.envs), str(r.size), r.sha256, shown)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    local = pretrained.local_dir()
    where = (
        f"{pretrained.ENV_LOCAL}={local} (local copy; no downloads)"
        if local is not None
        else f"{pretrained.cache_dir()} (from {pretrained.base_url()})"
    )
    lines.append(f"location: {where}")
    lines.append("use: optimizer=open_pretrained env=<env> | optimizer=open_multi_pretrained | "
                 "optimizer.weights=pretrained:<NAME>")  # fmt: skip
    return "\n".join(lines)


def weights_parser() -> argparse.ArgumentParser:
    """``openrl-weights``'s arguments (also parsed by the documented-commands test)."""
    parser = argparse.ArgumentParser(
        prog="openrl-weights",
        description="The authors' released OPEN optimizers (Goldie et al. 2024; Apache-2.0, "
        f"{pretrained.SOURCE_REPO}@{pretrained.SOURCE_COMMIT[:12]}): list, download (SHA-256-checked) "
        "and locate them. Configs name them as pretrained:NAME (optimizer=open_pretrained does).",
        epilog=f"environment: {pretrained.ENV_CACHE}=<dir> cache location; {pretrained.ENV_URL}=<url> "
        f"download mirror; {pretrained.ENV_OFFLINE}=1 never download implicitly; "
        f"{pretrained.ENV_LOCAL}=<dir> read a local copy of the release instead of the cache",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="name, architecture, envs, size, SHA-256 and cache status of every file")
    dl = sub.add_parser("download", help="download (or repair) released files into the cache")
    dl.add_argument("names", nargs="*", metavar="NAME", help="e.g. breakout_OPEN (see list)")
    dl.add_argument("--all", action="store_true", help="every released file")
    pa = sub.add_parser("path", help="print the verified local path of a released file (no download)")
    pa.add_argument("name", metavar="NAME")
    return parser


def weights_main(argv: list[str] | None = None) -> int:
    """Console script ``openrl-weights``. Exit status 0 on success, 2 on any error (one line on stderr)."""
    parser = weights_parser()
    args = parser.parse_args(argv)
    try:
        if args.cmd == "list":
            print(_weights_table())
        elif args.cmd == "path":
            print(pretrained.fetch(args.name, download=False))
        else:
            if args.all == bool(args.names):
                parser.error("download: give NAME ... or --all (not both)")
            for name in list(pretrained.RELEASED) if args.all else args.names:
                pretrained.lookup(name)  # an unknown name fails before anything is downloaded
            for name in list(pretrained.RELEASED) if args.all else args.names:
                print(pretrained.fetch(name, download=True, replace_corrupt=True, use_local=False))
            if pretrained.local_dir() is not None:
                print(
                    f"note: {pretrained.ENV_LOCAL}={pretrained.local_dir()} is set, so configs read the files "
                    "there, not these",
                    file=sys.stderr,
                )
    except pretrained.PretrainedError as e:
        print(f"openrl-weights: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(import_weights_main())
