"""Every ``openrl-*`` command in a code block or an inline code span (prose, tables) of README.md and
docs/*.md passes openrl's own start-up checks. Which spans are commands: :func:`inline_commands`.

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
from unittest import mock

import numpy as np
import pytest
import yaml

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


def _assignment(line: str) -> tuple[str, str] | None:
    """``(VAR, value)`` of a shell line that only sets a variable (``VAR="value"``), else None."""
    if not _ASSIGN.match(line):
        return None
    whole = shlex.split(line, comments=True)
    assign = _ASSIGN.match(whole[0]) if len(whole) == 1 else None
    return (assign.group(1), assign.group(2)) if assign else None


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
            if assign := _assignment(line):
                variables[assign[0]] = assign[1]
                continue
            line = _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), line)
            line = re.sub(r"\s*(&|;)\s*$", "", line)
            words = line.split()
            while words and _ENV_VAR.match(words[0]):  # VAR=value before the command
                words.pop(0)
            if not words or not Path(words[0]).name.startswith("openrl-"):
                continue
            found.append(_command(f"{name}:{lineno}", line, words[0]))
    return found


def _command(where: str, line: str, first: str) -> DocCommand:
    """The :class:`DocCommand` of a shell line whose command word (after any ``VAR=value``) is ``first``."""
    expect = _EXPECT_FAIL.search(line)
    line = _SUBST.sub(lambda m: f"@released:{m.group(1)}@", line)
    tokens = shlex.split(line[line.index(first) :], comments=True)
    prog = Path(tokens[0]).name
    args = tuple(a for t in tokens[1:] for a in _expand_braces(t))
    return DocCommand(where, prog, args, expect.group(1) if expect else None)


# An inline code span (CommonMark: a run of backticks closed by a run of the same length), within one
# paragraph (no blank line inside); fenced code blocks are blanked out before spans are searched.
_SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.S)
_PROGRAM = re.compile(r"^(?:\S*/)?openrl-[a-z]+(?:-[a-z]+)*$")  # a console script, e.g. .venv/bin/openrl-eval


def prose_of(text: str) -> str:
    """``text`` with its fenced code blocks blanked (line numbers kept): where inline spans are searched."""
    lines, in_block = text.splitlines(keepends=True), False
    for i, line in enumerate(lines):
        fence = line.lstrip().startswith("```")
        lines[i] = "\n" if (fence or in_block) else line
        in_block ^= fence
    return "".join(lines)


def inline_commands(files: list[str] = DOCS, root: Path = REPO) -> list[DocCommand]:
    """Every complete ``openrl-*`` command written in an inline code span of ``files`` (prose, tables).

    A span is a command when, after any ``VAR=value`` words (a ``$VAR`` set in a code block above is
    expanded), its first word is exactly an ``openrl-<name>``
    console script (a path prefix such as ``.venv/bin/`` allowed) and at least one argument follows:
    ``openrl-train experiment=ablation_breakout budget=cpu``. It may wrap onto the next line of its
    paragraph and may end in ``# exits 2: <text>`` like a block command. Not commands, and not checked:

    * a mention of a program: the bare name (``openrl-train``) or the name joined to other text
      (``openrl-eval/1``, ``$(openrl-weights path NAME)``);
    * an elided form or a usage synopsis: any span containing ``...`` (``optimizer=...``,
      ``openrl-report SWEEP_DIR [SWEEP_DIR ...]``), which the reader completes.

    Placeholders are written ``<...>`` and filled by :func:`substitute` as in code blocks (a placeholder
    with spaces, ``<multirun dir>``, is one argument); a span with a placeholder that cannot be filled is
    to be reworded so that it is not a command (``openrl-import-weights`` with ``--arch <preset>``).
    """
    found = []
    for name in files:
        text = (root / name).read_text()
        prose = prose_of(text)
        assigned = [(n, a) for n, line in _logical_lines(text) if (a := _assignment(line))]
        for m in _SPAN.finditer(prose):
            lineno = prose.count("\n", 0, m.start()) + 1
            variables = dict(a for n, a in assigned if n < lineno)  # as set by the blocks above the span
            span = _VAR.sub(lambda v: variables.get(v.group(1), v.group(0)), " ".join(m.group(2).split()))
            words = span.split()
            while words and _ENV_VAR.match(words[0]):
                words.pop(0)
            if len(words) < 2 or not _PROGRAM.match(words[0]) or "..." in span:
                continue
            span = re.sub(r"<[^<>]*>", lambda p: p.group(0).replace(" ", "_"), span)
            found.append(_command(f"{name}:{lineno}", span, words[0]))
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
    # eval.weights_root of an evaluation whose entries are "preset@{root}/<job glob>": the meta-training
    # multirun it reads, one job directory per entry holding that preset's weights
    from openrl.config.compose import load_config
    from openrl.config.validate import resolve_optimizer
    from openrl.optimizers import make_rule

    for path in sorted((CONF_DIR / "experiment").glob("*.yaml")):
        entries = [str(e) for e in ((yaml.safe_load(path.read_text()) or {}).get("eval") or {}).get("optimizers") or []]  # fmt: skip
        for preset, job in (e.split("@{root}/", 1) for e in entries if "@{root}/" in e):
            _, obj = load_config(["experiment=ppo", f"optimizer={preset.rpartition('=')[2]}"])
            size = make_rule(resolve_optimizer(obj.optimizer, obj.env.name)).num_meta_params
            best = root / f"multirun_{path.stem}" / job.replace("*", "0_") / "best"
            best.mkdir(parents=True)
            np.save(best / "optimizer.npy", np.zeros(size, np.float32))
            out[f"multirun_{path.stem}"] = str(root / f"multirun_{path.stem}")
    return out


def _released(name: str) -> str:
    path = PRETRAINED / f"{name}.npy"
    return str(path) if path.is_file() else f"pretrained:{name}"


def _experiment(cmd: DocCommand) -> str | None:
    return next((a.partition("=")[2] for a in cmd.args if a.startswith("experiment=")), None)


_EXAMPLE_EXPERIMENT = {"openrl-train": "single_breakout", "openrl-eval": "fig2_single_task"}


def substitute(cmd: DocCommand, fx: dict[str, str]) -> list[str]:
    """The command's arguments with placeholders and earlier commands' outputs replaced by fixtures."""
    out = []
    for a in cmd.args:
        a = _RELEASED.sub(lambda m: _released(m.group(1)), a)
        a = a.replace("env=<name>", "env=breakout").replace("optimizer=<name>", "optimizer=adam")
        if a.startswith("eval.weights_root=") and "<" in a:  # the multirun of the evaluated experiment
            a = f"eval.weights_root={fx[f'multirun_{_experiment(cmd)}']}"
        # an experiment a reader names: a meta-training one for openrl-train, an evaluation for openrl-eval
        a = a.replace("experiment=<name>", f"experiment={_EXAMPLE_EXPERIMENT.get(cmd.prog, '<name>')}")
        a = re.sub(r"single_<(?:name|game)>", "single_breakout", a)  # a task or experiment named by env
        a = a.replace("<seed>", "0")
        # a run a reader names: of the entry's optimizer (``optim4rl@outputs/...``), else OPEN's
        a = re.sub(
            r"(?:(\w+)@)?outputs/[^\s'\",\]]*<[^>]+>[^\s'\",\]]*",
            lambda m: (f"{m.group(1)}@" if m.group(1) else "") + fx.get(f"run_{m.group(1)}", fx["run_open"]),
            a,
        )
        a = a.replace("optimizer.weights=optimizers/multi", f"optimizer.weights={fx['open_large']}")
        if cmd.prog == "openrl-report" and a.startswith(("outputs/", "<")) and "--out" not in out[-1:]:
            a = fx["sweep"]  # a sweep directory an earlier command of the doc writes
        out.append(a)
    return out


MAX_POINTS = 48  # a larger sweep is planned on the points that use each of its values (_covering)


def _covering(points: list[list[str]]) -> list[list[str]]:
    """The points of a sweep that together use every value of every axis, each at least once (greedy,
    in sweep order): a value the start-up checks refuse is still found, in a fraction of the time."""
    seen: set[str] = set()
    keep = []
    for point in points:
        if not seen.issuperset(point):
            keep.append(point)
            seen.update(point)
    return keep


def run_check(cmd: DocCommand, args: list[str]) -> tuple[int, str]:
    """``(exit status, message)`` of the command's start-up checks, without running it.

    A sweep of more than :data:`MAX_POINTS` jobs (``tune_adam``: 432) is planned on :func:`_covering`
    points."""
    if cmd.prog in ("openrl-train", "openrl-eval"):
        from openrl.cli import dry_run

        points = dry_run._points

        def sampled(*a, **kw):
            out = points(*a, **kw)
            return _covering(out) if len(out) > MAX_POINTS else out

        with mock.patch.object(dry_run, "_points", sampled):
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


COMMANDS = doc_commands() + inline_commands()
# Commands of docs/extending.md's walkthrough that exist only once its steps are done (its SGD);
# tests/test_extending_walkthrough.py does the steps and checks them.
WALKTHROUGH = re.compile(r"\bsgd\b")
_RESULTS: dict[tuple[str, tuple[str, ...]], tuple[int, str]] = {}  # a command written twice is planned once


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
    if cmd.where.startswith("docs/extending.md") and any(WALKTHROUGH.search(a) for a in cmd.args):
        pytest.skip("the walkthrough's own optimizer: tests/test_extending_walkthrough.py checks it")
    monkeypatch.chdir(REPO)  # benchmarks/results/*.json paths are the repository's
    args = substitute(cmd, fixtures)
    key = (cmd.prog, tuple(args))
    if key not in _RESULTS:
        code, message = run_check(cmd, args)
        _RESULTS[key] = code, message + capsys.readouterr().err
    code, message = _RESULTS[key]
    if code and "OPENRL_OFFLINE" in message and not PRETRAINED.is_dir():
        pytest.skip(f"needs a released weights file, not cached here: {message}")
    assert_as_documented(cmd, code, message)


def assert_as_documented(cmd: DocCommand, code: int, message: str) -> None:
    """Exit 0, or exit 2 with the marked text; a failure names the command's ``file:line``."""
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


def test_inline_spans_that_are_commands_and_those_that_are_not(tmp_path):
    (tmp_path / "doc.md").write_text(
        "Mentions: `openrl-train`, `openrl-eval/1`, `$(openrl-weights path NAME)`, `python -m x`.\n"
        "| item | command |\n"
        "|---|---|\n"
        "| a | `openrl-eval -m experiment=<name>` (elided: `openrl-train optimizer=...`) |\n"
        "Wrapped over a line: `XLA_FLAGS=x .venv/bin/openrl-train experiment=ppo\n"
        "    env=breakout`; ``openrl-report <multirun dir>``.\n"
        "```bash\n"
        "echo `openrl-train in_a_block=1`\n"
        "```\n"
        "Meant to fail: `openrl-train ppo.gamma=2 # exits 2: ppo.gamma=2.0: must lie in [0, 1]`.\n"
    )
    cmds = inline_commands(["doc.md"], tmp_path)
    assert [(c.where, c.prog, c.args) for c in cmds] == [
        ("doc.md:4", "openrl-eval", ("-m", "experiment=<name>")),
        ("doc.md:5", "openrl-train", ("experiment=ppo", "env=breakout")),
        ("doc.md:6", "openrl-report", ("<multirun_dir>",)),
        ("doc.md:10", "openrl-train", ("ppo.gamma=2",)),
    ]
    assert cmds[3].fails_with == "ppo.gamma=2.0: must lie in [0, 1]"
    assert len(COMMANDS) - len(doc_commands()) == len(inline_commands()) > 30  # the docs' spans are checked


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_broken_inline_command_fails_naming_its_file_and_line(tmp_path, fixtures, capsys):
    (tmp_path / "doc.md").write_text(
        "# A page\n\n| item | command |\n|---|---|\n"
        "| Fig. 5 | `openrl-train experiment=ablation_breakout budget=cpus` |\n"
    )
    (cmd,) = inline_commands(["doc.md"], tmp_path)
    code, message = run_check(cmd, substitute(cmd, fixtures))
    message += capsys.readouterr().err
    assert code == 2 and "cpus" in message, message
    with pytest.raises(
        AssertionError, match=r"^doc\.md:5: openrl-train experiment=ablation_breakout budget=cpus\n"
    ):
        assert_as_documented(cmd, code, message)
