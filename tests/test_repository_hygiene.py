"""The repository speaks to its users: it needs nothing beside the clone, and it does not narrate its making.

Two rules over every tracked text file (``git ls-files``; binary files skipped):

- nothing outside ``tests/`` reads or points to a ``shared`` folder next to the repository (``../shared``,
  or a path built as ``shared/reference`` / ``shared/spec``): users do not have one. Released weights
  come from openrl's weights cache (``pretrained:NAME``). Tests may read such fixtures when present
  and skip with a reason otherwise.
- no file talks about how the project was developed (numbered development steps, tracker numbers,
  the instructions or working periods behind a change): what a user reads should describe the software
  and its dated results, not its history. The patterns below use character classes so that this file
  does not itself contain the phrases it forbids.

A failure lists ``file:line`` of every hit, with the text that matched.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()

BESIDE_THE_REPO = {
    "../shared": re.compile(r"\.\./shared\b"),
    "a path to shared/reference or shared/spec": re.compile(
        r"""\bshared["']?\s*[/\\]\s*["']?(?:reference|spec)\b""", re.IGNORECASE
    ),
}
HISTORY = {
    "development step": re.compile(r"\bwor[k][- ]?sto[p]s?\b", re.IGNORECASE),
    "numbered step": re.compile(r"\bsto[p] #?\d+\b", re.IGNORECASE),
    "tracker number": re.compile(r"\biss[u]es? #?\d+\b", re.IGNORECASE),
    "instructions": re.compile(r"\bthe br[i]ef\b", re.IGNORECASE),
    "working period": re.compile(r"\bthis sess[i]on\b", re.IGNORECASE),
    "hand-over note": re.compile(r"\bclosin[g] notes?\b", re.IGNORECASE),
}


def _tracked_text_files() -> list[tuple[str, list[str]]]:
    """``(path, lines)`` of every tracked file present in the work tree that is text (no NUL byte)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"not a git checkout, or git is unavailable ({e}): nothing to list")
    files = []
    for name in out.decode().split("\0"):
        path = REPO / name
        if not name or not path.is_file():  # deleted in the work tree, or a submodule
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        files.append((name, data.decode("utf-8", errors="replace").splitlines()))
    assert files, "git ls-files listed no text files"
    return files


def _hits(files: list[tuple[str, list[str]]], rules: dict[str, re.Pattern]) -> list[str]:
    hits = []
    for name, lines in files:
        for i, line in enumerate(lines, 1):
            for what, rule in rules.items():
                m = rule.search(line)
                if m:
                    hits.append(f"{name}:{i}: {m.group(0)!r} ({what})")
    return hits


@pytest.fixture(scope="module")
def tracked() -> list[tuple[str, list[str]]]:
    return _tracked_text_files()


def test_nothing_outside_tests_depends_on_a_folder_beside_the_repository(tracked):
    files = [(n, lines) for n, lines in tracked if not n.startswith("tests/")]
    hits = _hits(files, BESIDE_THE_REPO)
    assert not hits, "files that point outside the repository (users have no such folder):\n" + "\n".join(
        hits
    )


def test_no_file_talks_about_how_the_project_was_built(tracked):
    files = [(n, lines) for n, lines in tracked if n != THIS]
    hits = _hits(files, HISTORY)
    assert not hits, (
        "development history in tracked files (say what the software does instead):\n" + "\n".join(hits)
    )


@pytest.mark.parametrize(
    "text,rules,caught",
    [
        ('PRETRAINED = REPO.parent / "shared" / "reference" / "pretrained"', BESIDE_THE_REPO, True),
        ("see ../shared/spec/open-reference.md", BESIDE_THE_REPO, True),
        ("weights: /work/shared/reference/pretrained/breakout_OPEN.npy", BESIDE_THE_REPO, True),
        ("shared/separated actor-critic meta-parameters", BESIDE_THE_REPO, False),
        ("measured in wo" + "rk st" + "op 3", HISTORY, True),
        ("fixed in st" + "op 12", HISTORY, True),
        ("the cost model of iss" + "ue 4", HISTORY, True),
        ("as the b" + "rief asks", HISTORY, True),
        ("timed in this ses" + "sion", HISTORY, True),
        ("early stopping after 10 generations; known issues with jax 0.10", HISTORY, False),
    ],
)
def test_the_rules_catch_what_they_are_for(text, rules, caught):
    assert bool(_hits([("f", [text])], rules)) is caught
