"""What the console scripts print at start-up: ``--help`` offers only the presets of each group (no
structured-config schema), and JAX's probe of the backends missing here (``Unable to initialize backend
'tpu'``, logged at INFO) stays out of the run's log while openrl's own INFO lines are shown.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from openrl.config import CONF_DIR
from tiny import TINY_PPO

PROBE_LOGGER = "jax._src.xla_bridge"
# JAX_PLATFORMS names the platforms to start, which skips the probe: unset, as for a user who never set it.
ENV = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"} | {"WANDB_MODE": "disabled"}
ENV["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()


def _script(name: str, module: str, func: str) -> list[str]:
    exe = Path(sys.executable).with_name(name)
    return [str(exe)] if exe.is_file() else [sys.executable, "-c", f"from {module} import {func}; {func}()"]


TRAIN = _script("openrl-train", "openrl.cli.train", "train_main")
EVAL = _script("openrl-eval", "openrl.cli.eval", "eval_main")


def test_help_lists_presets_without_schemas():
    proc = subprocess.run([*TRAIN, "--help"], capture_output=True, text=True, timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = {ln.split(":")[0]: ln for ln in proc.stdout.splitlines() if ": " in ln}
    for group in ("optimizer", "env", "ppo", "logger"):
        options = lines[group].split(": ", 1)[1].split(", ")
        assert options == sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")), group
    assert "_schema" not in proc.stdout


def _probe_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if f"[{PROBE_LOGGER}][INFO]" in ln]


@pytest.fixture(scope="module")
def probe_logs_here():
    """JAX's INFO lines from the probe when nothing silences them (a plain script, Hydra's log format)."""
    code = (
        "import logging, jax\n"
        "logging.basicConfig(level=logging.INFO, format='[%(name)s][%(levelname)s] - %(message)s')\n"
        "jax.devices()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = _probe_lines(proc.stderr)
    if not lines:
        pytest.skip(
            f"JAX logs no backend probe at INFO on this machine: nothing to silence ({proc.stderr!r})"
        )
    return lines


@pytest.mark.parametrize(
    "command",
    [
        [*TRAIN, "experiment=ppo", "save_agent=false"],
        [*EVAL, "num_seeds=1", "eval.figures=false", "eval.bootstrap_reps=10"],
    ],
    ids=["openrl-train", "openrl-eval"],
)
def test_tiny_run_logs_no_backend_probe(probe_logs_here, tmp_path, command):
    args = ["env=breakout", "optimizer=adam", *TINY_PPO, "logger=disabled", "progress=false"]
    proc = subprocess.run(
        [*command, *args, f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, timeout=300, env=ENV
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "[openrl" in log and "][INFO] - " in log  # Hydra's INFO log is on: the probe would show
    assert _probe_lines(log) == [], log[-3000:]
