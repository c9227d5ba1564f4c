"""benchmarks/es_race.py's machinery: deadline shares, the progress of unfinished runs, the GPU track.

The runs themselves are ``openrl-train`` commands whose exact resume after SIGKILL is tested with the meta
job (tests/test_meta.py); here the race's own logic runs with stand-in commands, in seconds.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from benchmarks import es_race


def _sleeper(seconds: float):
    def command(track, entry, seed, directory, extra=()):
        return [sys.executable, "-c", f"import time; time.sleep({seconds})"]

    return command


def test_deadline_shares_the_seconds_left_and_stops_each_run(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(es_race, "command", _sleeper(60))
    entries = list(es_race.TRACKS["fig5_gpu"]["entries"])
    t0 = time.monotonic()
    es_race.run("fig5_gpu", entries, [0], tmp_path, deadline_s=4.0)
    took = time.monotonic() - t0
    out = capsys.readouterr().out
    assert took < 20, f"a 4 s deadline took {took:.1f} s"
    # two runs share 4 s: each is stopped after its ~2 s share, not left to sleep for 60
    assert out.count("s share (resumes from its last checkpoint)") == len(entries) == 2
    assert "after its 2 s share" in out


def test_finished_runs_are_skipped_under_a_deadline(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(es_race, "command", _sleeper(0))
    entries = list(es_race.TRACKS["fig5_gpu"]["entries"])
    done = es_race.run_dir(tmp_path, entries[0], 0)
    done.mkdir(parents=True)
    (done / "summary.json").write_text("{}")
    es_race.run("fig5_gpu", entries, [0], tmp_path, deadline_s=30.0)
    out = capsys.readouterr().out
    assert entries[0].label not in out and f"{entries[1].label} seed 0: done" in out


def test_progress_reads_an_unfinished_run(tmp_path: Path) -> None:
    rows = [
        {"step": 0, "val/adam_score": 8.0},
        {"step": 0, "val/score": 0.5},
        {"step": 1, "time/generation_s": 10.0},
        {"step": 2, "time/generation_s": 30.0},  # generation 2 redone after a kill: the last row wins
        {"step": 2, "time/generation_s": 12.0, "val/score": 3.0},
        {"step": 3, "time/generation_s": 14.0},
    ]
    text = "\n".join(json.dumps(r) for r in rows) + '\n{"step": 4, "time/gen'  # cut short by a kill
    (tmp_path / "metrics.jsonl").write_text(text)
    p = es_race.progress(tmp_path)
    assert p == {
        "generations": 3,
        "seconds_per_generation": 12.0,
        "validation": [[0, 0.5], [2, 3.0]],
        "validation_adam": 8.0,
    }
    assert es_race.progress(tmp_path / "missing") is None


def test_gpu_track_is_the_cpu_track_at_the_paper_population() -> None:
    cpu, gpu = es_race.TRACKS["fig5_cpu"], es_race.TRACKS["fig5_gpu"]
    assert gpu["base"][: len(cpu["base"])] == cpu["base"]
    assert "es.population_size=64" in gpu["base"]
    cpu_entries = {e.label: e for e in cpu["entries"]}
    for e in gpu["entries"]:
        assert cpu_entries[e.label] == e  # the same strategy settings as on the CPU


@pytest.mark.parametrize("track", sorted(es_race.TRACKS))
def test_every_track_composes(track: str) -> None:
    """Every race command is a valid openrl-train configuration (validated, nothing compiled), and every
    entry of a track spends the same budget: population x generations x rollouts per member x T."""
    from openrl.config.compose import compose

    budgets = {}
    for entry in es_race.TRACKS[track]["entries"]:
        cmd = es_race.command(track, entry, 0, Path("unused"))
        cfg = compose([o for o in cmd if "=" in o and not o.startswith("hydra.")])
        assert cfg.es.strategy == entry.overrides[0].split("=")[1]
        budgets[entry.label] = (
            cfg.es.population_size * cfg.es.num_generations * cfg.meta.num_rollouts * cfg.ppo.total_timesteps
        )
        if track == "fig5_gpu":
            assert (cfg.es.population_size, cfg.ppo.total_timesteps) == (64, 200_000)
    assert len(set(budgets.values())) == 1, budgets


def test_population_is_read_from_the_run_config_and_sets_the_plot_axis(tmp_path: Path, monkeypatch) -> None:
    """Entries that trade population or rollouts per member against generations are drawn against inner
    runs spent."""
    for label, pop, meta in (("a", 8, ""), ("b", 16, ""), ("c", 8, "meta:\n  num_rollouts: 2\n")):
        d = tmp_path / label
        d.mkdir()
        (d / "config_resolved.yaml").write_text(f"es:\n  population_size: {pop}\n{meta}")
        assert es_race.population(d) == pop
        assert es_race.rollouts(d) == (2 if meta else 1)
    assert es_race.population(tmp_path / "missing") is None and es_race.rollouts(tmp_path / "missing") is None

    def row(pop: int, gens: list[int], rollouts: int = 1) -> dict:
        return {
            "validation": [[g, 1.0] for g in gens],
            "validation_adam": 2.0,
            "population": pop,
            "rollouts": rollouts,
        }

    result = {
        "track": "t",
        "base": [],
        "entries": {
            "a": {"runs": {"0": row(8, [0, 10, 20, 30, 40])}},
            "b": {"runs": {"0": row(16, [0, 10, 20])}},
            "c": {"runs": {"0": row(8, [0, 10, 20], rollouts=2)}},
        },
        "unfinished": {},
    }
    import matplotlib.pyplot as plt

    captured = {}
    orig = plt.Figure.savefig

    def grab(fig, *a, **k):
        ax = fig.axes[0]
        captured["xlabel"] = ax.get_xlabel()
        captured["x_max"] = [float(line.get_xdata().max()) for line in ax.lines[:3]]
        return orig(fig, *a, **k)

    monkeypatch.setattr(plt.Figure, "savefig", grab)
    es_race.plot(result, tmp_path / "p.png")
    assert captured["xlabel"].startswith("inner runs spent")
    assert captured["x_max"] == [320.0] * 3  # 8 x 40, 16 x 20, 8 x 2 x 20: one budget, one point on the axis


def test_the_quickstart_entry_is_the_quickstart_itself() -> None:
    """README quotes the QUICKSTART_ENTRY's runs as what `make train` gives: its overrides must change
    nothing of the bare quickstart (strategy, ES settings, start, budget)."""
    from openrl.config.compose import compose

    (entry,) = [e for e in es_race.TRACKS["quickstart"]["entries"] if e.label == es_race.QUICKSTART_ENTRY]
    cmd = es_race.command("quickstart", entry, 0, Path("unused"))
    raced = compose([o for o in cmd if "=" in o and not o.startswith("hydra.")])
    bare = compose(["seed=0"])
    assert raced.es == bare.es and raced.meta == bare.meta and raced.ppo == bare.ppo and raced.env == bare.env
