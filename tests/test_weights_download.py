"""``openrl-weights`` and ``pretrained:NAME``: the released optimizers' registry, download cache and lookup.

No internet: the release fixtures are served by a loopback HTTP server started here (``OPENRL_WEIGHTS_URL``
points at it) that counts requests, and the cache is a temporary directory (``OPENRL_WEIGHTS_DIR``).
"""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from openrl import pretrained
from openrl.cli.tools import weights_main
from openrl.pretrained import PretrainedError

REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "pretrained"
needs_ref = pytest.mark.skipif(
    not (REF / "breakout_OPEN.npy").is_file(), reason=f"released weights fixtures not found at {REF}"
)
BREAKOUT = "breakout_OPEN"


class Server:
    """A directory served over HTTP on 127.0.0.1 (an OS-chosen port), recording every GET path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/pretrained/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A server holding a copy of the release (tests may tamper with the copy), wired up as the source;
    the cache is ``tmp_path/cache``; no local override, not offline."""
    root = tmp_path / "www"
    shutil.copytree(REF, root / "pretrained")
    server = Server(root)
    monkeypatch.setenv(pretrained.ENV_URL, server.url)
    monkeypatch.setenv(pretrained.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.delenv(pretrained.ENV_OFFLINE, raising=False)
    monkeypatch.delenv(pretrained.ENV_LOCAL, raising=False)
    for var in ("NO_PROXY", "no_proxy"):  # a configured proxy must not see loopback requests
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    yield server
    server.close()


def _cached(tmp_path: Path, name: str = BREAKOUT) -> Path:
    return tmp_path / "cache" / f"{name}.npy"


def test_registry_matches_architectures_and_fixtures():
    from openrl.optimizers.factory import learned_architectures

    archs = learned_architectures()
    for name, entry in pretrained.RELEASED.items():
        assert archs[entry.arch].num_meta_params == entry.num_meta_params, name
        assert entry.size == 128 + 4 * entry.num_meta_params  # .npy v1 header + float32 values
        if (REF / entry.file).is_file():
            assert pretrained.sha256(REF / entry.file) == entry.sha256, name
            assert (REF / entry.file).stat().st_size == entry.size, name
    assert pretrained.RELEASED["multi_OPEN"].num_meta_params == 3571
    with pytest.raises(PretrainedError, match="'cartpole_OPEN' is not a released optimizer.*breakout_OPEN"):
        pretrained.lookup("pretrained:cartpole_OPEN")


@needs_ref
def test_download_lands_in_cache_then_hits_cache(served, tmp_path, capsys):
    path = pretrained.fetch(BREAKOUT)
    assert path == _cached(tmp_path)
    assert path.read_bytes() == (REF / "breakout_OPEN.npy").read_bytes()
    assert served.requests == ["/pretrained/breakout_OPEN.npy"]
    # a second use (and the CLI's path) reads the cache: no new request
    assert pretrained.fetch("pretrained:breakout_OPEN") == path
    assert weights_main(["path", BREAKOUT]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    assert served.requests == ["/pretrained/breakout_OPEN.npy"]
    # the CLI downloads several names; already-cached ones are not fetched again
    assert weights_main(["download", BREAKOUT, "multi_OPEN"]) == 0
    assert capsys.readouterr().out.split() == [str(path), str(_cached(tmp_path, "multi_OPEN"))]
    assert served.requests == ["/pretrained/breakout_OPEN.npy", "/pretrained/multi_OPEN.npy"]


@needs_ref
def test_tampered_download_is_refused_and_not_kept(served, tmp_path, monkeypatch):
    f = served.root / "pretrained" / "breakout_OPEN.npy"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0x01  # one bit of the last float: still a valid .npy of the right size
    f.write_bytes(bytes(data))
    with pytest.raises(PretrainedError, match="does not match the released breakout_OPEN") as e:
        pretrained.fetch(BREAKOUT)
    assert served.url + "breakout_OPEN.npy" in str(e.value) and "discarded" in str(e.value)
    assert served.requests == ["/pretrained/breakout_OPEN.npy"]
    cache = tmp_path / "cache"
    assert not cache.exists() or list(cache.iterdir()) == []  # no file, no temporary left behind
    # nothing usable was left: offline use still has nothing
    monkeypatch.setenv(pretrained.ENV_OFFLINE, "1")
    with pytest.raises(PretrainedError, match="is not downloaded"):
        pretrained.fetch(BREAKOUT)


@needs_ref
def test_changed_cached_file_is_refused_then_repaired_by_download(served, tmp_path, capsys):
    from openrl.optimizers.weights import resolve_weights_path

    path = pretrained.fetch(BREAKOUT)
    path.write_bytes(path.read_bytes()[:-4] + b"\x00\x00\x80\x7f")  # last value -> +inf
    with pytest.raises(PretrainedError, match="refusing to use it") as e:
        resolve_weights_path("pretrained:breakout_OPEN")
    assert str(path) in str(e.value) and "`openrl-weights download breakout_OPEN`" in str(e.value)
    assert len(served.requests) == 1  # refused, not silently re-downloaded
    assert weights_main(["list"]) == 0
    assert "CORRUPT" in _row(capsys.readouterr().out, BREAKOUT)
    assert weights_main(["download", BREAKOUT]) == 0  # the explicit command replaces it
    assert len(served.requests) == 2
    assert pretrained.sha256(path) == pretrained.RELEASED[BREAKOUT].sha256


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/pretrained/"


@needs_ref
def test_server_down_or_missing_file_names_url_and_fix(served, tmp_path, monkeypatch, capsys):
    down = _closed_port_url()
    monkeypatch.setenv(pretrained.ENV_URL, down)
    with pytest.raises(PretrainedError) as e:
        pretrained.fetch(BREAKOUT)
    msg = str(e.value)
    assert f"could not download breakout_OPEN from {down}breakout_OPEN.npy" in msg
    assert "`openrl-weights download breakout_OPEN`" in msg and "\n" not in msg
    assert not _cached(tmp_path).exists()
    # the CLI: one line on stderr, exit status 2
    assert weights_main(["download", BREAKOUT]) == 2
    err = capsys.readouterr().err
    assert err.startswith("openrl-weights: error: could not download") and err.count("\n") == 1
    # a server that lacks the file: the HTTP error and the URL
    (served.root / "pretrained" / "breakout_OPEN.npy").unlink()
    monkeypatch.setenv(pretrained.ENV_URL, served.url)
    with pytest.raises(PretrainedError, match=r"404.*`openrl-weights download breakout_OPEN`"):
        pretrained.fetch(BREAKOUT)


def _row(table: str, name: str) -> str:
    (row,) = [line for line in table.splitlines() if line.startswith(name + " ")]
    return row


@needs_ref
def test_list_shows_cached_status(served, tmp_path, capsys):
    assert weights_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "not downloaded" in _row(out, BREAKOUT) and str(tmp_path / "cache") in out
    row = _row(out, "multi_OPEN")
    for field in ("OPEN large (GRU 16, MLP 32)", "3571", "14412", pretrained.RELEASED["multi_OPEN"].sha256):
        assert field in row
    pretrained.fetch(BREAKOUT)
    assert weights_main(["list"]) == 0
    out = capsys.readouterr().out
    assert _row(out, BREAKOUT).endswith("cached") and _row(out, "multi_OPEN").endswith("not downloaded")
    assert served.requests == ["/pretrained/breakout_OPEN.npy"]  # list itself never downloads


@needs_ref
def test_offline_without_cache_gives_one_line_instruction(served, monkeypatch, capsys):
    from openrl.config import ConfigError, load_config

    monkeypatch.setenv(pretrained.ENV_OFFLINE, "1")
    with pytest.raises(PretrainedError) as e:
        pretrained.fetch(BREAKOUT)
    msg = str(e.value)
    assert "\n" not in msg and "OPENRL_OFFLINE is set" in msg
    assert "run `openrl-weights download breakout_OPEN`" in msg
    with pytest.raises(ConfigError) as e:
        load_config(["optimizer=open_pretrained", "env=breakout"])
    (line,) = [x for x in str(e.value).splitlines() if "optimizer.weights" in x]
    assert "pretrained:breakout_OPEN" in line and "run `openrl-weights download breakout_OPEN`" in line
    assert weights_main(["path", BREAKOUT]) == 2
    assert "openrl-weights download breakout_OPEN" in capsys.readouterr().err
    assert served.requests == []


@needs_ref
def test_pretrained_configs_resolve_from_the_cache(served, tmp_path, monkeypatch):
    from jax.flatten_util import ravel_pytree

    from openrl.config import ConfigError, load_config, resolve_optimizer
    from openrl.optimizers import make_rule
    from openrl.optimizers.weights import resolve_weights_path

    # first use downloads (validation loads the weights), and the config names no path of this machine
    _, cfg = load_config(["optimizer=open_pretrained", "env=breakout"])
    assert cfg.optimizer.weights == "pretrained:breakout_OPEN"
    assert resolve_weights_path(cfg.optimizer.weights) == _cached(tmp_path)
    assert served.requests == ["/pretrained/breakout_OPEN.npy"]
    # later uses work offline, from the cache, and load exactly the released vector
    monkeypatch.setenv(pretrained.ENV_OFFLINE, "1")
    _, cfg = load_config(["optimizer=open_pretrained", "env=breakout"])
    rule = make_rule(resolve_optimizer(cfg.optimizer, "breakout"))
    flat, _ = ravel_pytree(rule.default_params())
    np.testing.assert_array_equal(np.asarray(flat), np.load(REF / "breakout_OPEN.npy"))
    assert served.requests == ["/pretrained/breakout_OPEN.npy"]
    # the multi-task preset names its own (large) file
    monkeypatch.delenv(pretrained.ENV_OFFLINE)
    _, cfg = load_config(["optimizer=open_multi_pretrained", "env=asterix"])
    assert cfg.optimizer.weights == "pretrained:multi_OPEN" and cfg.optimizer.hidden == 32
    assert served.requests[-1] == "/pretrained/multi_OPEN.npy"
    # an env without a released optimizer: the error names the name and the available ones
    with pytest.raises(ConfigError, match="'cartpole_OPEN' is not a released optimizer"):
        load_config(["optimizer=open_pretrained", "env=cartpole"])


@needs_ref
def test_local_directory_override_is_used_only_when_it_matches(served, tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.ENV_LOCAL, str(REF))
    assert pretrained.fetch(BREAKOUT) == REF / "breakout_OPEN.npy"
    bad = tmp_path / "local"
    bad.mkdir()
    (bad / "breakout_OPEN.npy").write_bytes(b"\x93NUMPY not the release")
    monkeypatch.setenv(pretrained.ENV_LOCAL, str(bad))
    with pytest.raises(PretrainedError, match="refusing to use it.*unset OPENRL_PRETRAINED"):
        pretrained.fetch(BREAKOUT)
    with pytest.raises(PretrainedError, match="has no multi_OPEN.npy"):
        pretrained.fetch("multi_OPEN")
    assert served.requests == []  # the override never downloads
