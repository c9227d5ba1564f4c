"""Every ``python -m benchmarks.<script>`` command and every ``make <target>`` of README.md and docs/*.md
is one the repository accepts, so a reader who copies it gets a run, not a usage error.

``tests/test_docs_commands.py`` checks the ``openrl-*`` commands; this file checks the rest of what the
docs tell a reader to type. A benchmark command is checked without running it: its script's own argument
parser reads the arguments (``main()`` is stopped right after ``parse_args``), then what the arguments
name must exist: the experiment (composed with the ``--extra`` overrides, as the script does), envs,
optimizer presets, gridworld levels, the race's track entries, released weights and the published
results files it reads. A ``make`` command must name a target of the Makefile.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from openrl.config import CONF_DIR
from test_docs_commands import _SPAN, _SUBST, DOCS, REPO, _logical_lines, prose_of

# ``python -m benchmarks.<script>``, optionally through a venv's interpreter (``.venv/bin/python``)
_BENCH = re.compile(r"(?:^|\s)(?:\S*/)?python3? -m (benchmarks\.[a-z_0-9]+)((?:\s+[^#]*)?)")
_MAKE = re.compile(r"^\s*make\s+([a-z][a-z-]*)\b")


@dataclass(frozen=True)
class BenchCommand:
    where: str  # file:line
    module: str
    args: tuple[str, ...]


def _parse(where: str, text: str) -> BenchCommand | None:
    m = _BENCH.search(text)
    if not m:
        return None
    line = _SUBST.sub(lambda w: f"pretrained:{w.group(1)}", m.group(2) or "")
    line = re.sub(r"<[^<>]*>", lambda p: p.group(0).replace(" ", "_"), line)
    return BenchCommand(where, m.group(1), tuple(shlex.split(line, comments=True)))


def bench_commands(files: list[str] = DOCS, root: Path = REPO) -> list[BenchCommand]:
    """Every complete ``python -m benchmarks.<script> [args]`` of ``files``: the lines of code blocks and
    the inline code spans. A span holding ``...`` is an elided form the reader completes (not checked), and
    a span that only names a script inside a generated-table marker comment is not a span at all."""
    found = []
    for name in files:
        text = (root / name).read_text()
        for lineno, line in _logical_lines(text):
            if not line.lstrip().startswith("#") and (cmd := _parse(f"{name}:{lineno}", line)):
                found.append(cmd)
        prose = prose_of(text)
        for m in _SPAN.finditer(prose):
            span = " ".join(m.group(2).split())
            if "..." in span or not span.startswith(("python", ".venv/")):
                continue
            if cmd := _parse(f"{name}:{prose.count(chr(10), 0, m.start()) + 1}", span):
                found.append(cmd)
    return found


def make_commands(files: list[str] = DOCS, root: Path = REPO) -> list[tuple[str, str]]:
    """``(file:line, target)`` of every ``make <target>`` of ``files``: a code block's line or an inline
    code span (``make test-all``)."""
    found = []
    for name in files:
        text = (root / name).read_text()
        prose = prose_of(text)
        found += [(f"{name}:{n}", m.group(1)) for n, line in _logical_lines(text) if (m := _MAKE.match(line))]
        found += [
            (f"{name}:{prose.count(chr(10), 0, s.start()) + 1}", m.group(1))
            for s in _SPAN.finditer(prose)
            if (m := _MAKE.match(" ".join(s.group(2).split())))
        ]
    return found


class _Parsed(Exception):
    def __init__(self, namespace: argparse.Namespace):
        self.namespace = namespace


def parsed_args(cmd: BenchCommand) -> argparse.Namespace:
    """The namespace the script's own parser makes of the command's arguments (``main()`` goes no
    further). A usage error fails naming the doc's line and argparse's message."""
    module = importlib.import_module(cmd.module)
    parse = argparse.ArgumentParser.parse_args

    def stop_after_parsing(self, args=None, namespace=None):
        raise _Parsed(parse(self, args, namespace))

    with (
        mock.patch.object(sys, "argv", [cmd.module, *cmd.args]),
        mock.patch.object(argparse.ArgumentParser, "parse_args", stop_after_parsing),
    ):
        try:
            module.main()
        except _Parsed as done:
            return done.namespace
        except SystemExit as e:
            pytest.fail(f"{cmd.where}: python -m {cmd.module} {' '.join(cmd.args)}: exited {e.code}")
    pytest.fail(f"{cmd.where}: {cmd.module}.main() returned without parsing its arguments")


def _exists(kind: str, name: str, where: str) -> None:
    assert (CONF_DIR / kind / f"{name}.yaml").is_file(), f"{where}: no {kind} '{name}' in conf/{kind}/"


def check_names(cmd: BenchCommand, ns: argparse.Namespace) -> None:
    """What the parsed arguments name exists (see the module docstring)."""
    from openrl.config.compose import load_config

    a = vars(ns)
    if a.get("experiment"):
        _exists("experiment", a["experiment"], cmd.where)
        if cmd.module == "benchmarks.tune_adam_grid":  # the grid composes exactly this
            load_config([f"experiment={a['experiment']}", "mode=ppo", "optimizer=adam", *a.get("extra", [])])
    named = [a[k] for k in ("env", "game") if isinstance(a.get(k), str)]
    for env in named + list(a.get("games") or []):
        _exists("env", env, cmd.where)
    for name in a.get("optimizers") or []:
        _exists("optimizer", name, cmd.where)
    if cmd.module == "benchmarks.es_race":
        from benchmarks.es_race import TRACKS

        labels = {e.label for e in TRACKS[a["track"]]["entries"]}
        assert set(a["only"] or ()) <= labels, f"{cmd.where}: --only {a['only']} not in {sorted(labels)}"
    if cmd.module == "benchmarks.gridworld_generalisation":
        from openrl.envs.gridworld import LEVELS

        assert set(a["levels"]) <= set(LEVELS), f"{cmd.where}: --levels {a['levels']}"
    for key in ("recorded", "new"):  # benchmarks.rebaseline: the Adams compared, composed as it does
        if isinstance(a.get(key), str):
            load_config([*shlex.split(a[key]), "optimizer=adam", "mode=ppo"])
    weights = a.get("weights")
    if isinstance(weights, str) and weights.startswith("pretrained:"):
        from openrl.pretrained import RELEASED

        assert weights.partition(":")[2] in RELEASED, f"{cmd.where}: no released weights {weights}"
    for value in a.values():  # a published result the command reads
        for v in value if isinstance(value, list) else [value]:
            if str(v).startswith("benchmarks/results/"):
                assert (REPO / str(v)).is_file(), f"{cmd.where}: {v} is not in the repository"


COMMANDS = bench_commands()
MAKES = make_commands()


def test_the_docs_have_benchmark_and_make_commands_to_check():
    modules = {c.module for c in COMMANDS}
    assert {"benchmarks.tune_adam_grid", "benchmarks.es_race", "benchmarks.ppo_throughput"} <= modules
    assert {"train", "test"} <= {t for _, t in MAKES}


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.where for c in COMMANDS])
def test_documented_benchmark_command_parses_and_names_what_exists(cmd, monkeypatch):
    monkeypatch.chdir(REPO)
    args = BenchCommand(cmd.where, cmd.module, tuple(re.sub(r"<game>", "breakout", a) for a in cmd.args))
    check_names(args, parsed_args(args))


@pytest.mark.parametrize("where,target", MAKES, ids=[w for w, _ in MAKES])
def test_documented_make_target_exists(where, target):
    targets = re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), re.M)
    assert target in targets, f"{where}: make {target}: the Makefile has {targets}"


def test_a_wrong_benchmark_command_fails_naming_its_line(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "Run `python -m benchmarks.tune_adam_grid --experiment no_such_game --seeds 8`.\n\n"
        "```bash\n.venv/bin/python -m benchmarks.es_race --track fig5_cpu --only no_such_entry\n"
        "python -m benchmarks.es_race --trak quickstart   # a typo\n```\n"
    )
    cmds = bench_commands(["doc.md"], tmp_path)
    assert [(c.where, c.module) for c in cmds] == [
        ("doc.md:4", "benchmarks.es_race"),
        ("doc.md:5", "benchmarks.es_race"),
        ("doc.md:1", "benchmarks.tune_adam_grid"),
    ]
    assert cmds[0].args == ("--track", "fig5_cpu", "--only", "no_such_entry")
    with pytest.raises(AssertionError, match="doc.md:4: --only"):
        check_names(cmds[0], parsed_args(cmds[0]))
    with pytest.raises(pytest.fail.Exception, match="doc.md:5: python -m benchmarks.es_race --trak"):
        parsed_args(cmds[1])
    with pytest.raises(AssertionError, match="doc.md:1: no experiment 'no_such_game'"):
        check_names(cmds[2], parsed_args(cmds[2]))
