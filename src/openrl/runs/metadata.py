"""What a run records about itself: resolved config, git SHA, library versions, device."""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

LIBRARIES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "evosax",
    "gymnax",
    "brax",
    "hydra-core",
    "omegaconf",
    "wandb",
    "rliable",
    "orbax-checkpoint",
    "numpy",
)


def git_sha() -> str | None:
    try:
        root = Path(__file__).resolve().parents[3]
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            out[lib] = None
    return out


def device_label(backend: str | None = None, devices: list[Any] | None = None) -> str:
    """What ran the job, for runtime tables: ``"1x NVIDIA H200"`` or ``"CPU (2 cores)"``.

    Why: wall seconds from a GPU and from a CPU differ ~100x; a report pooling both must say which is which.
    """
    import os

    import jax

    backend = backend or jax.default_backend()
    if backend == "cpu":
        return f"CPU ({os.cpu_count()} cores)"
    devices = devices if devices is not None else jax.devices()
    kinds = sorted({getattr(d, "device_kind", backend) for d in devices})
    return f"{len(devices)}x {'/'.join(kinds)}"


def collect() -> dict[str, Any]:
    import jax

    return {
        "git_sha": git_sha(),
        "versions": versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "device": device_label(),
    }


def write(run_dir: Path, resolved_config: dict[str, Any]) -> dict[str, Any]:
    meta = collect()
    (run_dir / "metadata.json").write_text(json.dumps(meta, indent=2))
    import yaml

    (run_dir / "config_resolved.yaml").write_text(yaml.safe_dump(resolved_config, sort_keys=False))
    return meta
