"""Command-line override strings (``key=value``, ``+key=value``, ``~key``): the one parser of them.

Jobs need to know which keys a command line set (a budget preset must not undo them), drop some before
composing a related config (Adam's baseline keeps the PPO settings but not the optimizer), and report
what a finished job was run with. Hydra's own grammar is richer (sweeps, interpolations); these helpers
only split on the first ``=``, which is what every use here needs.
"""

from __future__ import annotations

from collections.abc import Iterable


def key(override: str) -> str:
    """``"+optimizer.lr=0.1"`` -> ``"optimizer.lr"``; ``"~logger"`` -> ``"logger"``."""
    return override.lstrip("+~").split("=", 1)[0]


def value(override: str) -> str | None:
    """The text after the first ``=``, or None for a deletion without a value."""
    return override.split("=", 1)[1] if "=" in override else None


def as_dict(overrides: Iterable[str]) -> dict[str, str]:
    """``{key: value}`` of the overrides that set a value (deletions ``~key`` are left out)."""
    return {key(o): o.split("=", 1)[1] for o in overrides if "=" in o and not o.startswith("~")}


def under(k: str, *prefixes: str) -> bool:
    """Whether key ``k`` is one of ``prefixes`` or below one (``env`` covers ``env`` and ``env.level``)."""
    return any(k == p or k.startswith(p + ".") for p in prefixes)


def without(overrides: Iterable[str], *keys: str) -> list[str]:
    """The overrides that set none of ``keys`` nor anything below them (``env=...``, ``env.level=...``)."""
    return [o for o in overrides if not under(key(o), *keys)]


def quote(text: str) -> str:
    """A value Hydra's override parser takes verbatim (paths with ``=``, ``,``, spaces or quotes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
