"""The authors' released OPEN optimizers: a hash-pinned registry, a download cache, ``pretrained:`` names.

Source and licence: the flat meta-parameter vectors listed in :data:`RELEASED` are the release of the
paper's authors ("Can Learned Optimization Make Reinforcement Learning Less Difficult?", Goldie et al.,
2024), published in https://github.com/AlexGoldie/rl-learned-optimization (folder
``rl_optimizer/pretrained/``) under the Apache License 2.0 (that repository's LICENSE). openrl does not
ship them: they are downloaded on request, unmodified, from that repository at the pinned commit
:data:`SOURCE_COMMIT`, and every byte is checked against the SHA-256 recorded here.

Wherever a weights path is accepted (``optimizer.weights=...``, ``openrl.learned_optimizer(...)``,
``openrl-eval`` entries), ``pretrained:NAME`` (e.g. ``pretrained:breakout_OPEN``) names one of these
files. It resolves, in this order:

1. ``OPENRL_PRETRAINED=<dir>`` set: ``<dir>/NAME.npy`` and nowhere else (a local copy of the release);
2. the download cache (``OPENRL_WEIGHTS_DIR``, default ``pooch.os_cache("openrl")/pretrained``);
3. a download from ``OPENRL_WEIGHTS_URL`` (default: the pinned commit on raw.githubusercontent.com),
   unless ``OPENRL_OFFLINE=1``, in which case the error says which command fetches it.

A file whose SHA-256 differs from the registry is never used, wherever it lies: a mismatching download
is discarded, and a mismatching cached or local file is refused with a message saying how to replace it.
The hash is checked on every use (the files are 5-15 KB), so a file changed after download is caught too.

Downloads use pooch, a small, widely used download library that verifies known hashes, writes to a
temporary file and moves it into place only when the hash matches (a failed or tampered download never
leaves a usable file behind); this module only adds the registry, the lookup order and the messages.

This module imports neither jax nor the optimizers, so ``openrl-weights list`` starts instantly.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

SOURCE_REPO = "AlexGoldie/rl-learned-optimization"
SOURCE_COMMIT = "b65037bd89c09f31e80c5d49f1d78cc9c6dc43e0"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{SOURCE_REPO}/{SOURCE_COMMIT}/rl_optimizer/pretrained/"
PREFIX = "pretrained:"

# Environment variables (read on every call, so a test or a notebook can change them at runtime).
ENV_CACHE = "OPENRL_WEIGHTS_DIR"  # where downloads are cached
ENV_URL = "OPENRL_WEIGHTS_URL"  # base URL of the files (a mirror, or a loopback server in tests)
ENV_OFFLINE = "OPENRL_OFFLINE"  # 1/true/yes/on: never download implicitly
ENV_LOCAL = "OPENRL_PRETRAINED"  # a local directory holding the release; replaces cache and download

DOWNLOAD_TIMEOUT_S = 30
log = logging.getLogger(__name__)


class PretrainedError(OSError):
    """Released weights that cannot be provided: unknown name, not downloaded, download failed, or a file
    whose SHA-256 differs from the registry. An ``OSError`` so every caller that reports unreadable
    weights files reports these too."""


@dataclass(frozen=True)
class Released:
    """One released optimizer file."""

    name: str  # e.g. breakout_OPEN; the file is NAME.npy
    arch: str  # the conf/optimizer preset whose architecture loads it
    num_meta_params: int
    envs: tuple[str, ...]  # what it was meta-trained on
    size: int  # bytes of the .npy file
    sha256: str

    @property
    def file(self) -> str:
        return f"{self.name}.npy"

    @property
    def architecture(self) -> str:
        return ARCHITECTURES[self.arch]


ARCHITECTURES = {
    "open": "OPEN small (GRU 8, MLP 16)",
    "open_large": "OPEN large (GRU 16, MLP 32)",
}

# SHA-256 of each file at SOURCE_COMMIT (the pin: a changed upstream file is refused, never used).
SHA256 = {
    "ant_OPEN": "e1901cafe323d1c5619b84e5178b3075c95a7cde920777e2c15e58c812c3e725",
    "asterix_OPEN": "55d96c80dca70e4a308352798daec00fc962d7a3faacc24f612e1b437c1893aa",
    "breakout_OPEN": "d7f0876c78736a0e354f8837e2a549dc7f45ff4d01f952ba9d547d8afc6f7926",
    "freeway_OPEN": "97ea3f8f9a6e34523dd50c138a1538b33fbd2b1c3a5ee05a31014460825ea9f0",
    "gridworld_OPEN": "16ebb93a79adbcbfdb3e6019986109ee374764cb9cc8b0ad65f69bdcaedd9bb5",
    "multi_OPEN": "9ba2dea70b0b308a365516dab092808b7b9211c70072bca934d83affaee5f60c",
    "spaceinvaders_OPEN": "42845f4c0b6b460789afffb1788f806e676b27acafa0febf34e86bd63d3e362f",
}
MINATAR = ("asterix", "breakout", "freeway", "spaceinvaders")


def _entry(name: str, envs: tuple[str, ...], large: bool = False) -> Released:
    # sizes: a .npy v1 header (128 bytes) + float32 values; 1211 / 3571 = OpenRule().num_meta_params
    n = 3571 if large else 1211
    return Released(name, "open_large" if large else "open", n, envs, 128 + 4 * n, SHA256[name])


RELEASED: dict[str, Released] = {
    r.name: r
    for r in (
        _entry("ant_OPEN", ("ant",)),
        _entry("asterix_OPEN", ("asterix",)),
        _entry("breakout_OPEN", ("breakout",)),
        _entry("freeway_OPEN", ("freeway",)),
        _entry("gridworld_OPEN", ("gridworld",)),
        _entry("multi_OPEN", MINATAR, large=True),
        _entry("spaceinvaders_OPEN", ("spaceinvaders",)),
    )
}


def is_pretrained(path: object) -> bool:
    """Whether a weights value is a ``pretrained:NAME`` reference rather than a filesystem path."""
    return isinstance(path, str) and path.startswith(PREFIX)


def lookup(name: str) -> Released:
    """The registry entry for ``NAME``, ``NAME.npy`` or ``pretrained:NAME``."""
    key = name.removeprefix(PREFIX).removesuffix(".npy")
    if key not in RELEASED:
        raise PretrainedError(
            f"{key!r} is not a released optimizer; available: {', '.join(RELEASED)} (openrl-weights list)"
        )
    return RELEASED[key]


def cache_dir() -> Path:
    """Where downloads are kept: ``$OPENRL_WEIGHTS_DIR``, else the platform's cache (``~/.cache/openrl``)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.path.expanduser(os.environ[ENV_CACHE]))
    import pooch

    return Path(pooch.os_cache("openrl")) / "pretrained"


def base_url() -> str:
    return os.environ.get(ENV_URL) or DEFAULT_BASE_URL


def url(name: str) -> str:
    return base_url().rstrip("/") + "/" + lookup(name).file


def offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in ("1", "true", "yes", "on")


def local_dir() -> Path | None:
    """``$OPENRL_PRETRAINED`` when set: a directory that replaces the cache and the download."""
    value = os.environ.get(ENV_LOCAL)
    return Path(os.path.expanduser(value)) if value else None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download_cmd(name: str) -> str:
    return f"`openrl-weights download {name}`"


def status(name: str) -> tuple[str, Path]:
    """``(state, path)`` of a name where it would be read from: ``ok``, ``missing`` or ``corrupt``."""
    entry = lookup(name)
    where = local_dir() or cache_dir()
    path = where / entry.file
    if not path.is_file():
        return "missing", path
    return ("ok" if sha256(path) == entry.sha256 else "corrupt"), path


def _refuse(entry: Released, path: Path, fix: str) -> PretrainedError:
    return PretrainedError(
        f"{path} does not match the released {entry.name} (sha256 {sha256(path)[:16]}..., expected "
        f"{entry.sha256[:16]}...): refusing to use it; {fix}"
    )


def fetch(
    name: str, download: bool | None = None, replace_corrupt: bool = False, use_local: bool = True
) -> Path:
    """The verified local file of a released optimizer, downloading it if needed and allowed.

    Args:
        name: ``NAME``, ``NAME.npy`` or ``pretrained:NAME``.
        download: whether a missing file may be downloaded; ``None`` = unless ``OPENRL_OFFLINE`` is set.
        replace_corrupt: re-download a cached file whose hash differs (the explicit ``download``
            command); otherwise such a file is refused, never silently replaced or used.
        use_local: honour ``OPENRL_PRETRAINED`` (the ``download`` command fills the cache regardless).

    Raises:
        PretrainedError: one line naming the file or URL, what went wrong and what to run.
    """
    entry = lookup(name)
    local = local_dir() if use_local else None
    if local is not None:
        path = local / entry.file
        if not path.is_file():
            raise PretrainedError(
                f"{ENV_LOCAL}={local} has no {entry.file}; put the released file there, or unset "
                f"{ENV_LOCAL} to use the download cache"
            )
        if sha256(path) != entry.sha256:
            raise _refuse(entry, path, f"replace it with the released file, or unset {ENV_LOCAL}")
        return path
    path = cache_dir() / entry.file
    if path.is_file():
        if sha256(path) == entry.sha256:
            return path
        if not replace_corrupt:
            raise _refuse(entry, path, f"run {_download_cmd(entry.name)} to replace it (or delete it)")
    if download is None:
        download = not offline()
    if not download:
        why = f" and {ENV_OFFLINE} is set" if offline() else ""
        raise PretrainedError(
            f"{entry.name} is not downloaded ({path} does not exist){why}; "
            f"run {_download_cmd(entry.name)} (needs network access) first"
        )
    return _download(entry, path)


def _download(entry: Released, path: Path) -> Path:
    import pooch
    import requests

    source = url(entry.name)
    fetcher = pooch.create(
        path=path.parent,
        base_url=base_url().rstrip("/") + "/",
        registry={e.file: f"sha256:{e.sha256}" for e in RELEASED.values()},
    )
    log.info("downloading %s from %s to %s", entry.name, source, path.parent)
    # pooch's own logger writes to the stderr stream it found at import time; ours goes where the
    # application's logging is configured, so pooch is quietened for the call
    pooch_log = pooch.get_logger()
    level = pooch_log.level
    pooch_log.setLevel(logging.WARNING)
    try:
        got = fetcher.fetch(entry.file, downloader=pooch.HTTPDownloader(timeout=DOWNLOAD_TIMEOUT_S))
    except ValueError as e:  # pooch: the downloaded bytes do not hash to the registry's value (discarded)
        raise PretrainedError(
            f"the file downloaded from {source} does not match the released {entry.name} "
            f"(expected sha256 {entry.sha256[:16]}...); it was discarded, nothing was cached. Check "
            f"{ENV_URL} (now {base_url()}) or retry {_download_cmd(entry.name)}"
        ) from e
    except requests.exceptions.RequestException as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PretrainedError(
            f"could not download {entry.name} from {source} ({reason}); check the network or set "
            f"{ENV_URL} to a mirror, then run {_download_cmd(entry.name)}, or point {ENV_LOCAL} at a "
            "local copy of the release"
        ) from e
    except OSError as e:  # the cache cannot be created or written
        raise PretrainedError(
            f"cannot write {entry.file} to the cache {path.parent} ({e}); set {ENV_CACHE} to a writable "
            f"directory and run {_download_cmd(entry.name)}"
        ) from e
    finally:
        pooch_log.setLevel(level)
    return Path(got)


def resolve(value: str) -> Path:
    """``pretrained:NAME`` -> the verified local file (see :func:`fetch`)."""
    return fetch(value)
