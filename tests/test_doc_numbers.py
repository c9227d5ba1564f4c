"""Every number in a generated block of README.md and docs/ is the one its results JSON gives.

The blocks between ``<!-- generated: NAME ... -->`` markers are written by ``python -m
benchmarks.doc_numbers`` from ``benchmarks/results/*.json``. A number edited by hand, a JSON
republished without regenerating the docs, or a marker lost in an edit fails here, naming the file, the
block and the first number that differs.

Prose and hand-written tables that state measured numbers sit between ``<!-- cites: JSON ... -->`` and
``<!-- /cites -->``: each number there must be a value of a cited JSON (the exact rule is the docstring of
``test_every_cited_number_is_in_its_json``); an altered number fails naming the file, the line and the number.
"""

from __future__ import annotations

import json
import re

import pytest
from benchmarks import doc_numbers

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:e\d+)?")
# The tables that must stay generated (a marker deleted by an edit would otherwise go unnoticed).
EXPECTED = {
    "README.md": {"fig2-headline", "fig3-headline", "meta-cost"},
    "docs/meta-training.md": {"meta-cost-detail"},
    "docs/benchmarks.md": {"meta-scaling"},
}
CASES = [
    (name, block, body)
    for name in doc_numbers.DOCS
    for block, body in doc_numbers.blocks((doc_numbers.REPO / name).read_text())
]


def test_the_result_tables_are_marked_as_generated():
    found: dict[str, set[str]] = {}
    for name, block, _ in CASES:
        found.setdefault(name, set()).add(block)
    for name, blocks in EXPECTED.items():
        assert blocks <= found.get(name, set()), (
            f"{name}: generated blocks {sorted(blocks - found.get(name, set()))} are missing"
        )


@pytest.mark.parametrize(("name", "block", "body"), CASES, ids=[f"{n}:{b}" for n, b, _ in CASES])
def test_every_number_in_a_generated_block_matches_its_json(name, block, body):
    expected = doc_numbers.BLOCKS[block]()
    doc_nums, json_nums = NUMBER.findall(body), NUMBER.findall(expected)
    for i, (d, j) in enumerate(zip(doc_nums, json_nums)):
        assert d == j, f"{name} [{block}]: number {i + 1} reads {d!r}, its JSON gives {j!r}"
    assert len(doc_nums) == len(json_nums), (
        f"{name} [{block}]: {len(doc_nums)} numbers, the JSON gives {len(json_nums)}"
    )
    assert body == expected, (
        f"{name} [{block}]: the text differs from the generated table; run python -m benchmarks.doc_numbers"
    )


def test_regenerating_a_changed_block_restores_the_json_numbers():
    good = doc_numbers.regenerate((doc_numbers.REPO / "README.md").read_text())
    body = dict(doc_numbers.blocks(good))["meta-cost"]
    row = next(line for line in body.splitlines() if line.startswith("| `ablation_breakout`"))
    broken = good.replace(row, row.replace(" h (", "0 h ("))  # a wall time typed over by hand
    assert broken != good and doc_numbers.regenerate(broken) == good


# --- Numbers cited in prose and hand-written tables ------------------------------------------------------
README = doc_numbers.REPO / "README.md"
# Every doc that states measured results has cited regions (a region deleted by an edit shows here).
CITING = (
    "README.md",
    "docs/reproduce.md",
    "docs/benchmarks.md",
    "docs/scaling.md",
    "docs/usage.md",
    "docs/meta-training.md",
)


def test_every_doc_that_states_results_has_cited_regions():
    for name in CITING:
        assert doc_numbers.cited_regions((doc_numbers.REPO / name).read_text(), name), (
            f"{name}: no cites region"
        )


def test_every_cited_number_is_in_its_json():
    """Cited numbers: every number written between ``<!-- cites: benchmarks/results/X.json ... -->`` and
    ``<!-- /cites -->`` (markers on lines of their own, in README.md and docs/*.md) must be a numeric value of one
    of the cited JSONs. The rule, exactly (``doc_numbers.cited_mismatches``):

    - A number is digits with optional thousands commas, decimals, exponent (``2e5``, ``1e-3``), a leading minus
      (not right after a word character: ``1.30-1.64`` is two numbers) and a suffix ``k`` (x 1e3), ``M`` (x 1e6),
      ``%`` or ``x`` (a ratio); a number glued to letters (``H200``, ``float32``, ``64x64``) is not one.
    - Not numbers: inline code spans, link targets, HTML comments, bare URLs, dates (``2026-12-07``,
      ``2026-11``, ``2026-11-25/26``), times of day (``16:43``), versions (``0.9.2``), paper items (``Fig. 2``,
      ``Figs. 6, 17``, ``Tables 4-6``, ``Sec. 6``, ``App. B.4``), and bare integers 0 to 16 (counts: seeds,
      games, runs, ordinals).
    - A number written with d decimals matches a JSON value v (booleans and numbers inside strings are not
      values) when one of v, 100 v (a percentage), v / 60 (seconds as minutes) or v / 3600 (seconds as hours),
      divided by 1e3 for a ``k`` and 1e6 for an ``M`` suffix, lies within half a unit of its last digit
      (``62.36`` -> 0.005; ``2e5`` -> 5e4).
    """
    wrong = doc_numbers.check_cited()
    assert not wrong, "numbers not in their cited JSON:\n" + "\n".join(wrong)


def test_an_altered_cited_number_fails_naming_file_line_and_number():
    text = README.read_text()
    good = "PPO + Adam 85.9k env-steps/s"
    assert good in text
    line = text[: text.index(good)].count("\n") + 1
    broken = text.replace(good, "PPO + Adam 95.9k env-steps/s")
    wrong = doc_numbers.cited_mismatches(broken, "README.md")
    assert wrong == [f"README.md:{line}: '95.9k' is in none of benchmarks/results/ppo_throughput_idle.json"]


def _check(body: str, values: dict, tmp_path) -> list[str]:
    (tmp_path / "r.json").write_text(json.dumps(values))
    return doc_numbers.cited_mismatches(
        f"<!-- cites: r.json -->\n{body}\n<!-- /cites -->\n", "doc.md", tmp_path
    )


@pytest.mark.parametrize(
    ("body", "values"),
    [
        ("IQM 62.36 [52.75, 68.68]", {"iqm": 62.3612, "ci": [52.749, 68.684]}),
        ("85,887 env-steps/s, 85.9k, 8.97M in total", {"a": 85886.95, "b": 8967519.06}),
        ("P = 0.59, i.e. 59%; 2e5 steps; -0.199", {"p": 0.5913, "t": 196608, "r": -0.1994}),
        ("40.4 min, 1.05 h, 2,424 s", {"wall_s": 2423.9, "h": 3780.0}),
        ("1.95x slower", {"slowdown_vs_adam": 1.9539}),
    ],
)
def test_cited_numbers_match_their_json_as_written(body, values, tmp_path):
    assert _check(body, values, tmp_path) == []


@pytest.mark.parametrize(
    ("body", "wrong"),
    [
        ("IQM 62.37", "'62.37'"),  # one digit off
        ("IQM 62.4 and 62.360", "'62.360'"),  # more decimals than the value holds at that precision
        ("1.6-1.7M env-steps/s", "'1.6'"),  # a suffix belongs to its own number only
        ("-62.36", "'-62.36'"),  # the sign counts
        ("17 seeds", "'17'"),  # above SMALL_INT, an integer is checked
    ],
)
def test_numbers_not_in_the_json_fail(body, wrong, tmp_path):
    msgs = _check(body, {"iqm": 62.3612, "env_steps_per_s": 1.7e6}, tmp_path)
    assert len(msgs) == 1 and msgs[0].startswith("doc.md:2: " + wrong), msgs


def test_what_is_not_a_cited_number(tmp_path):
    body = (
        "On 2026-12-07 16:43 (2026-11-25/26), jax 0.9.2 on an H200 in float32 with 64x64 MLPs, `--updates 30` "
        "([Fig. 9](figures/fig9_2024.png)), as in Figs. 6, 17, Tables 4-6 and App. B.4; 16 seeds, 4 games. "
        "<!-- 123 --> https://arxiv.org/abs/2407.07082"
    )
    assert _check(body, {}, tmp_path) == []


def test_broken_markers_and_missing_json_are_errors(tmp_path):
    with pytest.raises(ValueError, match="never closed"):
        doc_numbers.cited_regions("<!-- cites: a.json -->\n1.5\n", "doc.md")
    with pytest.raises(ValueError, match="without an opening"):
        doc_numbers.cited_regions("1.5\n<!-- /cites -->\n", "doc.md")
    with pytest.raises(ValueError, match="inside"):
        doc_numbers.cited_regions("<!-- cites: a.json -->\n<!-- cites: b.json -->\n", "doc.md")
    msgs = doc_numbers.cited_mismatches("<!-- cites: none.json -->\nx\n<!-- /cites -->\n", "doc.md", tmp_path)
    assert msgs == ["doc.md:1: cites none.json, which cannot be read as JSON (FileNotFoundError)"]
