"""Every number in a generated block of README.md and docs/ is the one its results JSON gives.

The blocks between ``<!-- generated: NAME ... -->`` markers are written by ``python -m
benchmarks.doc_numbers`` from ``benchmarks/results/*.json``. A number edited by hand, a JSON
republished without regenerating the docs, or a marker lost in an edit fails here, naming the file, the
block and the first number that differs.
"""

from __future__ import annotations

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
