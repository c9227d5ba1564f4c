"""RunLogger: JSONL always on the primary process, W&B never fatal, silent on non-primary processes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import jax

from openrl.runs.logger import RunLogger


def _cfg(mode="disabled", jsonl=True):
    return SimpleNamespace(wandb_mode=mode, project="p", entity=None, group=None, tags=[], jsonl=jsonl)


def test_jsonl_written_and_nonfinite_become_null(tmp_path):
    with RunLogger(tmp_path, _cfg(), {"task_name": "t"}, name="n") as lg:
        lg.log({"a": 1.5, "b": float("nan")}, step=3)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [{"step": 3, "a": 1.5, "b": None}]
    assert lg.mode == "disabled"


def test_non_primary_process_logs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    with RunLogger(tmp_path, _cfg(mode="offline"), {"task_name": "t"}, name="n") as lg:
        lg.log({"a": 1.0}, step=1)
    assert lg.mode == "disabled"
    assert not (tmp_path / "metrics.jsonl").exists()
    assert not (tmp_path / "wandb").exists()
