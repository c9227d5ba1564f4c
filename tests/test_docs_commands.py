"""Every ``openrl-*`` command in a code block of README.md and docs/*.md passes openrl's own start-up checks.

``openrl-train`` / ``openrl-eval`` lines run the dry-run path (:func:`openrl.cli.dry_run.plan_command`:
composition, schemas, cross-field rules, budgets, tuned values, weights files; a sweep point by point),
the other console scripts parse their arguments and run their pre-checks. All in this process, so the
whole documentation is checked in seconds.

What a reader would fill in is substituted by fixtures: ``<...>`` placeholders and the ``outputs/`` paths
earlier commands produce become directories holding what those commands write (an optimizer directory, a
run directory with ``best/``, a sweep directory), ``$(openrl-weights path NAME)`` the released file (read
from the release fixtures when present). A command meant to fail carries ``# exits 2: <text>`` in the doc:
it must exit 2 with ``<text>`` in its message.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from openrl.cli.dry_run import plan_command
from openrl.config import CONF_DIR

REPO = CONF_DIR.parent
DOCS = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]
PRETRAINED = REPO.parent / "shared" / "reference" / "pretrained"
_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")
_EXPECT_FAIL = re.compile(r"#\s*exits 2:\s*(.+?)\s*$")
_SUBST = re.compile(r"\$\(openrl-weights path (\w+)\)")
_RELEASED = re.compile(r"@released:(\w+)@")  # what _SUBST leaves for substitute() to fill in


@dataclass(frozen=True)
class DocCommand:
    where: str  # file:line
    prog: str
    args: tuple[str, ...]
    fails_with: str | None  # the message a command marked "exits 2:" must print


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """``(first line number, command)`` of every line inside fenced code blocks, continuations joined."""
    out, in_block, start, buf = [], False, 0, ""
    for i, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block, buf = not in_block, ""
            continue
        if not in_block:
            continue
        if not buf:
            start = i
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        out.append((start, buf + line))
        buf = ""
    return out


def _expand_braces(token: str) -> list[str]:
    """Bash brace expansion of one ``{a,b,c}`` group (the docs use no nesting)."""
    m = re.search(r"\{([^{}]*,[^{}]*)\}", token)
    if not m:
        return [token]
    return [token[: m.start()] + alt + token[m.end() :] for alt in m.group(1).split(",")]


_ASSIGN = re.compile(r"^\s*([A-Z_][A-Z0-9_]*)=(.*)$")
_VAR = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")


def doc_commands(files: list[str] = DOCS, root: Path = REPO) -> list[DocCommand]:
    """Every ``openrl-*`` command in a code block of ``files`` (comment lines and other tools skipped).

    A shell variable assigned on a line of its own (``TINY="..."``) is expanded in the file's later
    commands (``openrl-train $TINY ...``), and a trailing ``&`` or ``;`` is dropped."""
    found = []
    for name in files:
        variables: dict[str, str] = {}
        for lineno, line in _logical_lines((root / name).read_text()):
            if line.lstrip().startswith("#"):
                continue
            if _ASSIGN.match(line):  # VAR="value" on its own line (a shell line that sets a variable)
                whole = shlex.split(line, comments=True)
                if len(whole) == 1 and (assign := _ASSIGN.match(whole[0])):
                    variables[assign.group(1)] = assign.group(2)
                    continue
            line = _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), line)
            line = re.sub(r"\s*(&|;)\s*$", "", line)
            words = line.split()
            while words and _ENV_VAR.match(words[0]):  # VAR=value before the command
                words.pop(0)
            if not words or not Path(words[0]).name.startswith("openrl-"):
                continue
            expect = _EXPECT_FAIL.search(line)
            line = _SUBST.sub(lambda m: f"@released:{m.group(1)}@", line)
            tokens = shlex.split(line[line.index(words[0]) :], comments=True)
            prog = Path(tokens[0]).name
            args = tuple(a for t in tokens[1:] for a in _expand_braces(t))
            found.append(DocCommand(f"{name}:{lineno}", prog, args, expect.group(1) if expect else None))
    return found


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[str, str]:
    """What earlier commands (or a reader) provide, as files: ``{placeholder kind: path}``."""
    root = tmp_path_factory.mktemp("docs_fixtures")
    from openrl.optimizers.factory import learned_architectures

    sizes = {a: r.num_meta_params for a, r in learned_architectures().items()}
    out = {}
    for arch, size in sizes.items():  # a meta-training run directory per architecture: best/optimizer.npy
        (root / f"run_{arch}" / "best").mkdir(parents=True)
        np.save(root / f"run_{arch}" / "best" / "optimizer.npy", np.zeros(size, np.float32))
        out[f"run_{arch}"] = str(root / f"run_{arch}")
    out["open_large"] = str(root / "run_open_large" / "best")  # openrl-import-weights --arch open_large
    (root / "sweep").mkdir()  # a finished multirun
    out["sweep"] = str(root / "sweep")
    return out


def _released(name: str) -> str:
    path = PRETRAINED / f"{name}.npy"
    return str(path) if path.is_file() else f"pretrained:{name}"


def substitute(cmd: DocCommand, fx: dict[str, str]) -> list[str]:
    """The command's arguments with placeholders and earlier commands' outputs replaced by fixtures."""
    out = []
    for a in cmd.args:
        a = _RELEASED.sub(lambda m: _released(m.group(1)), a)
        a = a.replace("env=<name>", "env=breakout").replace("optimizer=<name>", "optimizer=adam")
        # a run a reader names: of the entry's optimizer (``optim4rl@outputs/...``), else OPEN's
        a = re.sub(
            r"(?:(\w+)@)?outputs/[^\s'\",\]]*<[^>]+>[^\s'\",\]]*",
            lambda m: (f"{m.group(1)}@" if m.group(1) else "") + fx.get(f"run_{m.group(1)}", fx["run_open"]),
            a,
        )
        a = a.replace("optimizer.weights=optimizers/multi", f"optimizer.weights={fx['open_large']}")
        if cmd.prog == "openrl-report" and a.startswith("outputs/") and "--out" not in out[-1:]:
            a = fx["sweep"]  # a sweep directory an earlier command of the doc writes
        out.append(a)
    return out


def run_check(cmd: DocCommand, args: list[str]) -> tuple[int, str]:
    """``(exit status, message)`` of the command's start-up checks, without running it."""
    if cmd.prog in ("openrl-train", "openrl-eval"):
        return plan_command(cmd.prog, args)
    from openrl.cli import dashboard, tools
    from openrl.cli.eval import report_args

    parse = {
        "openrl-report": report_args,
        "openrl-weights": lambda a: tools.weights_parser().parse_args(a),
        "openrl-import-weights": lambda a: tools.import_weights_parser().parse_args(a),
        "openrl-dashboard": lambda a: dashboard.parser().parse_args(a),
    }.get(cmd.prog)
    if parse is None:
        return 2, f"{cmd.prog}: not an openrl console script"
    try:
        parse(args)
    except SystemExit as e:
        return int(e.code or 0), f"{cmd.prog} exited {e.code}"
    return 0, ""


COMMANDS = doc_commands()


def test_the_docs_have_commands_to_check():
    progs = {c.prog for c in COMMANDS}
    assert {"openrl-train", "openrl-eval", "openrl-report", "openrl-weights"} <= progs, progs
    assert any("-m" in c.args for c in COMMANDS)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.where for c in COMMANDS])
def test_documented_command_passes_its_start_up_checks(cmd, fixtures, monkeypatch, capsys):
    if PRETRAINED.is_dir():
        monkeypatch.setenv("OPENRL_PRETRAINED", str(PRETRAINED))
    else:
        monkeypatch.setenv("OPENRL_OFFLINE", "1")
    monkeypatch.chdir(REPO)  # benchmarks/results/*.json paths are the repository's
    code, message = run_check(cmd, substitute(cmd, fixtures))
    message += capsys.readouterr().err
    if code and "OPENRL_OFFLINE" in message and not PRETRAINED.is_dir():
        pytest.skip(f"needs a released weights file, not cached here: {message}")
    if cmd.fails_with is not None:
        assert code == 2, f"{cmd.where}: marked 'exits 2' but exited {code}"
        assert cmd.fails_with in message, f"{cmd.where}: {message}"
    else:
        assert code == 0, f"{cmd.where}: {cmd.prog} {' '.join(cmd.args)}\n{message}"


def test_extraction_reads_continuations_sweeps_and_failure_marks(tmp_path):
    (tmp_path / "doc.md").write_text(
        "```bash\n"
        "openrl-train -m experiment=ppo env=breakout,asterix \\\n"
        "    seed=0,1   # a comment\n"
        "openrl-train experiment=ppo optimizer.lr=-1 dry_run=true   # exits 2: optimizer.lr=-1.0: must be\n"
        "openrl-report outputs/a/{x,y} --out r\n"
        "python -m benchmarks.meta_cost\n"
        "```\n"
        "openrl-train outside=a_block\n"
    )
    cmds = doc_commands(["doc.md"], tmp_path)
    assert [c.where for c in cmds] == ["doc.md:2", "doc.md:4", "doc.md:5"]
    assert cmds[0].args == ("-m", "experiment=ppo", "env=breakout,asterix", "seed=0,1")
    assert cmds[1].fails_with == "optimizer.lr=-1.0: must be"
    assert cmds[2].args == ("outputs/a/x", "outputs/a/y", "--out", "r")
