"""``openrl-import-weights``: released flat vector -> optimizer directory (optimizer.npy + meta.json), the
same layout meta-training exports; weights paths accept such directories everywhere."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from openrl.cli.tools import import_weights, import_weights_main
from openrl.optimizers.open import OpenRule
from openrl.optimizers.weights import WeightsError, save_flat

PRETRAINED = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "pretrained"
needs_ref = pytest.mark.skipif(
    not (PRETRAINED / "breakout_OPEN.npy").is_file(), reason=f"released weights not found at {PRETRAINED}"
)


@needs_ref
@pytest.mark.parametrize(
    ("name", "arch", "size"), [("breakout_OPEN", "open", 1211), ("multi_OPEN", "open_large", 3571)]
)
def test_import_released_weights(tmp_path, name, arch, size, capsys):
    src = PRETRAINED / f"{name}.npy"
    out = tmp_path / name
    assert import_weights_main([str(src), "--out", str(out), "--env", "breakout"]) == 0  # arch inferred
    assert f"optimizer={arch}" in capsys.readouterr().out
    flat = np.load(out / "optimizer.npy", allow_pickle=False)
    assert flat.dtype == np.float32 and flat.shape == (size,)
    np.testing.assert_array_equal(flat, np.load(src))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["arch"] == arch and meta["optimizer"] == "open" and meta["num_meta_params"] == size
    assert meta["envs"] == ["breakout"] and meta["source"] == str(src.resolve())
    assert meta["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    # the directory is accepted wherever a weights file is
    rule = OpenRule(gru_features=16, hidden=32) if arch == "open_large" else OpenRule()
    from_dir = dataclasses.replace(rule, weights=str(out)).default_params()
    from_npy = dataclasses.replace(rule, weights=str(src)).default_params()
    for a, b in zip(_leaves(from_dir), _leaves(from_npy)):
        np.testing.assert_array_equal(a, b)


def _leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@needs_ref
def test_directory_in_config_and_arch_mismatch(tmp_path):
    from openrl.config import ConfigError, load_config

    out = tmp_path / "bk"
    import_weights(PRETRAINED / "breakout_OPEN.npy", out, arch="open")
    _, obj = load_config(["experiment=ppo", "optimizer=open", f"optimizer.weights={out}"])
    assert obj.optimizer.weights == str(out)
    # a directory of the wrong architecture: the error names the sizes and what meta.json says
    with pytest.raises(ConfigError, match=r"1211 values.*3571.*meta\.json describes it as .*'arch': 'open'"):
        load_config(["experiment=ppo", "optimizer=open_large", f"optimizer.weights={out}"])
    with pytest.raises(WeightsError, match=r"1211 values.*3571"):
        import_weights(PRETRAINED / "breakout_OPEN.npy", tmp_path / "x", arch="open_large")
    # an existing optimizer is not overwritten without --force
    assert import_weights_main([str(PRETRAINED / "breakout_OPEN.npy"), "--out", str(out)]) == 2
    assert import_weights_main([str(PRETRAINED / "breakout_OPEN.npy"), "--out", str(out), "--force"]) == 0


def test_bad_sources_give_clear_errors(tmp_path, capsys):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros(100, np.float32))
    assert import_weights_main([str(wrong), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "wrong.npy" in err and "100 values" in err and "1211" in err and "3571" in err
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not numpy")
    assert import_weights_main([str(garbage), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable .npy" in capsys.readouterr().err
    assert import_weights_main([str(tmp_path / "missing.npy"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert import_weights_main([str(empty_dir), "--out", str(tmp_path / "o")]) == 2
    assert "has no optimizer.npy" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    # our own checkpoints import too (any known architecture, inferred from the size)
    ok = save_flat(tmp_path / "zeros.npy", OpenRule(use_dormancy=True).zero_meta_params())
    assert import_weights(ok, tmp_path / "z")["arch"] == "open"


@pytest.mark.skipif(shutil.which("openrl-import-weights") is None and not Path(
    __file__).resolve().parents[1].joinpath(".venv/bin/openrl-import-weights").exists(),
    reason="console script not installed (pip install -e .)")  # fmt: skip
def test_console_script_is_installed(tmp_path):
    exe = shutil.which("openrl-import-weights") or str(
        Path(__file__).resolve().parents[1] / ".venv" / "bin" / "openrl-import-weights"
    )
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros(3, np.float32))
    r = subprocess.run([exe, str(wrong), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "3 values" in r.stderr
