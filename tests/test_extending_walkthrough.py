"""docs/extending.md, followed as written: its env YAML, its PPO YAML, its tuned-table row and its
handcrafted-optimizer direction and registry line are taken from the page itself and put into a copy of
``conf/``; the new env and optimizer then compose, validate, plan (``dry_run``) and build, and the
optimizer's static option reaches its update.

If the page's snippets stop working (a field renamed, a signature changed), this fails.
"""

from __future__ import annotations

import importlib
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

import jax
import optax
import pytest
import yaml

import openrl.cli.dry_run as dry_run
import openrl.config.eval_plan as eval_plan
from openrl.config import CONF_DIR, load_config, register_configs, resolve, resolve_optimizer
from openrl.config.registry import OPTIMIZERS, OptimizerEntry
from openrl.config.schema import OptimizerConfig
from openrl.optimizers import make_rule

compose = importlib.import_module("openrl.config.compose")  # the package's compose() hides the module
PAGE = (CONF_DIR.parent / "docs" / "extending.md").read_text()
_HANDCRAFTED = __name__  # the page's registry line names the direction as "<module>:sgd_direction"


def _blocks(lang: str) -> list[str]:
    return [
        "\n".join(line.removeprefix("   ") for line in m.group(1).splitlines())
        for m in re.finditer(rf"```{lang}\n(.*?)\n\s*```", PAGE, re.DOTALL)
    ]


def _block(lang: str, marker: str) -> str:
    found = [b for b in _blocks(lang) if marker in b]
    assert found, f"docs/extending.md has no {lang} block with {marker!r}"
    return found[0]


# Step 1 of "A handcrafted optax optimizer": the direction, exactly as the page gives it.
_NS = {"Mapping": Mapping, "jax": jax, "optax": optax}
exec(_block("python", "def sgd_direction"), _NS)  # noqa: S102
sgd_direction = _NS["sgd_direction"]


@dataclass
class SGDConfig(OptimizerConfig):
    """Step 2 (the page describes it in words): name, tuned fields as Optional floats, static options."""

    name: str = "sgd"
    lr: Optional[float] = None  # noqa: UP045 - OmegaConf structured configs need typing.Optional
    momentum: Optional[float] = None  # noqa: UP045
    nesterov: bool = False


@pytest.fixture
def conf(tmp_path, monkeypatch):
    """A copy of conf/ with the page's new env (steps 1-3) and optimizer preset (step 4)."""
    root = tmp_path / "conf"
    shutil.copytree(CONF_DIR, root)
    env_yaml = _block("yaml", "name: acrobot")
    (root / "env" / "acrobot.yaml").write_text(env_yaml)
    (root / "ppo" / "acrobot.yaml").write_text(_block("yaml", "- minatar"))
    row = re.search(r"`(acrobot: \{[^`]*\})`", PAGE)
    assert row, "docs/extending.md: step 3's tuned row for acrobot is missing"
    adam = yaml.safe_load((root / "optimizer" / "adam.yaml").read_text())
    adam["tuned"].update(yaml.safe_load(row.group(1)))
    (root / "optimizer" / "adam.yaml").write_text(yaml.safe_dump(adam))
    (root / "optimizer" / "sgd.yaml").write_text(
        "defaults: [/schema/optimizer/sgd@_here_, _self_]\n"
        "lr: null\nmomentum: null\nanneal_lr: null\n"
        "tuned:\n  acrobot: {lr: 0.01, momentum: 0.9, anneal_lr: false}\n"
    )
    for module in (compose, dry_run, eval_plan):
        monkeypatch.setattr(module, "CONF_DIR", root)
    line = _block("python", 'OptimizerEntry("sgd"').strip().rstrip(",")
    entry = eval(
        line, {"OptimizerEntry": OptimizerEntry, "SGDConfig": SGDConfig, "_HANDCRAFTED": _HANDCRAFTED}
    )  # noqa: S307
    with OPTIMIZERS.registered(entry):
        register_configs()
        yield root
    register_configs()


def test_the_pages_env_and_optimizer_compose_plan_and_run_their_settings(conf):
    overrides = ["experiment=ppo", "env=acrobot", "optimizer=sgd", "optimizer.nesterov=true"]
    code, text = dry_run.plan_command("openrl-train", overrides)
    assert code == 0, text
    assert "gymnax Acrobot-v1" in text and "lr=0.01, momentum=0.9, nesterov=True" in text
    cfg, obj = load_config(overrides)
    rule = make_rule(resolve_optimizer(obj.optimizer, obj.env.name))
    assert dict(rule.options) == {"nesterov": True}  # the static option reaches the direction
    assert resolve(cfg, overrides)[1]["optimizer"]["nesterov"] is True  # and is recorded
    # step 3's row is what tuned Adam uses on the new env
    _, adam = load_config(["experiment=ppo", "env=acrobot", "optimizer=adam"])
    row = yaml.safe_load(re.search(r"`(acrobot: \{[^`]*\})`", PAGE).group(1))["acrobot"]
    assert resolve_optimizer(adam.optimizer, "acrobot").lr == row["lr"]


def test_the_pages_inline_sgd_commands_pass_once_its_steps_are_done(conf):
    """The page's prose commands with its SGD (skipped by tests/test_docs_commands.py, where SGD is not
    registered), with the preset's ``tuned:`` table holding a row for the default env as a reader's would."""
    from test_docs_commands import WALKTHROUGH, assert_as_documented, inline_commands, run_check

    sgd = yaml.safe_load((conf / "optimizer" / "sgd.yaml").read_text())
    sgd["tuned"]["breakout"] = {"lr": 0.01, "momentum": 0.9, "anneal_lr": False}
    (conf / "optimizer" / "sgd.yaml").write_text(yaml.safe_dump(sgd))
    cmds = [c for c in inline_commands(["docs/extending.md"]) if any(WALKTHROUGH.search(a) for a in c.args)]
    assert {c.prog for c in cmds} == {"openrl-train", "openrl-eval"}, cmds
    for cmd in cmds:
        assert_as_documented(cmd, *run_check(cmd, list(cmd.args)))
