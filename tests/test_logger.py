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


def test_each_job_declares_its_step_axis_to_w_and_b(tmp_path, monkeypatch):
    """W&B charts use the job's own counter (generation, env steps) as x, declared with define_metric; a
    W&B without define_metric still gets every row."""
    import sys
    from types import ModuleType

    from openrl.runs.logger import STEP_METRICS

    calls = []

    class FakeRun:
        summary: dict = {}

        def define_metric(self, name, step_metric=None):
            calls.append(("define", name, step_metric))

        def log(self, row, step=None):
            calls.append(("log", row, step))

        def finish(self):
            pass

    class NoDefineRun(FakeRun):
        define_metric = None  # calling it fails, as in an old or stub W&B

    for run_cls in (FakeRun, NoDefineRun):
        calls.clear()
        fake = ModuleType("wandb")
        fake.init = lambda **kw: run_cls()
        fake.Settings = lambda **kw: kw
        monkeypatch.setitem(sys.modules, "wandb", fake)
        monkeypatch.delenv("WANDB_MODE", raising=False)
        with RunLogger(
            tmp_path, _cfg(mode="offline"), {"task_name": "t"}, name="n", job_type="meta_train"
        ) as lg:
            lg.log({"val/score": 0.5, "bad": float("nan")}, step=3)
        assert STEP_METRICS["meta_train"] == "generation"
        defined = [c[1:] for c in calls if c[0] == "define"]
        assert defined == ([("generation", None), ("*", "generation")] if run_cls is FakeRun else [])
        assert [c[1:] for c in calls if c[0] == "log"] == [({"val/score": 0.5, "generation": 3}, 3)]
