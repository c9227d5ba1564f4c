"""Running a benchmark never changes the published results the docs cite.

Every benchmark writes its JSON under ``outputs/benchmarks/`` (git-ignored) unless it is given
``--publish``, which writes to ``benchmarks/results/``. Checked on the writer itself and on every
benchmark script's command line.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import benchmarks.common as common
import pytest

# every script that writes a results JSON (doc_numbers writes the docs from them, not a result)
SCRIPTS = sorted(
    p.stem
    for p in Path(common.__file__).parent.glob("*.py")
    if p.stem not in ("__init__", "common") and re.search(r"\bwrite\(", p.read_text())
)


def test_write_goes_to_outputs_unless_published(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "OUTPUTS", tmp_path / "outputs")
    path = common.write("x", {"a": 1.5})
    assert path == tmp_path / "outputs" / "x.json" and json.loads(path.read_text()) == {"a": 1.5}
    assert not (tmp_path / "results").exists()
    assert common.write("x", {"a": 2}, publish=True) == tmp_path / "results" / "x.json"


def test_outputs_folder_is_ignored_by_git():
    ignore = (Path(common.__file__).parents[1] / ".gitignore").read_text().split()
    assert common.OUTPUTS.relative_to(common.OUTPUTS.parents[1]).parts[0] + "/" in ignore


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_benchmark_takes_publish_and_defaults_to_outputs(name, monkeypatch, capsys):
    module = importlib.import_module(f"benchmarks.{name}")
    monkeypatch.setattr(sys, "argv", [name, "--help"])
    with pytest.raises(SystemExit) as e:
        module.main()
    assert e.value.code == 0
    assert "--publish" in capsys.readouterr().out
    source = Path(module.__file__).read_text()
    assert "RESULTS /" not in source, f"{name} writes to benchmarks/results/ without --publish"
