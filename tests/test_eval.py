"""openrl-eval, rliable statistics, summary.json schema, figures, openrl-report and the paper sweeps.

Fast by construction: statistics run on fixed arrays, the report on synthetic job directories, and the
end-to-end runs use CartPole/Breakout with a handful of updates, a few seeds and ``num_chunks=1`` (one
compilation per optimizer). Anything that compiles several programs in a subprocess is marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from openrl import pretrained
from openrl.config import CONF_DIR, ConfigError, load_config
from openrl.eval import records, stats
from openrl.eval.markdown import markdown
from openrl.eval.summary import check_schema, summarise
from openrl.jobs import evaluate as eval_run
from openrl.optimizers.weights import sha256_file

REPO = CONF_DIR.parent
PRETRAINED = REPO.parent / "shared" / "reference" / "pretrained"
SWEEPS = ["fig2_single_task", "fig3_multitask", "fig5_ablation", "tune_adam", "tune_rmsprop", "tune_lion",
          "table11_runtime"]  # fmt: skip
TINY_PPO = [
    "ppo.num_envs=4",
    "ppo.num_steps=16",
    "ppo.num_minibatches=2",
    "ppo.update_epochs=1",
    "ppo.total_timesteps=128",
    "ppo.width=8",
    "num_chunks=1",
    "progress=false",
    "logger=disabled",
]
# Subprocess runs compile a few small programs: XLA's -O0 backend halves that on a small CPU.
ENV = {
    **os.environ,
    "WANDB_MODE": "disabled",
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip(),
    # pretrained:NAME reads the release fixtures (when present) instead of downloading
    **({"OPENRL_PRETRAINED": str(PRETRAINED)} if PRETRAINED.exists() else {"OPENRL_OFFLINE": "1"}),
}


# -- statistics ------------------------------------------------------------------------------------------------
FIXED = np.array(
    [[3.1, 10.0, 0.5], [2.0, 12.5, 0.7], [4.4, 9.0, 0.2], [1.5, 15.0, 0.9], [2.8, 11.0, 0.4], [3.9, 8.5, 0.6]]
)


def _rliable_direct(scores: np.ndarray, seed: int, reps: int):
    """rliable called exactly as its README shows, with NumPy's global RNG seeded."""
    from rliable import library, metrics

    def func(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x), metrics.aggregate_median(x)])

    np.random.seed(seed)
    return library.get_interval_estimates({"a": scores}, func, reps=reps)


def test_interval_estimates_agree_with_rliable_called_directly():
    ours = stats.interval_estimates({"a": FIXED}, ("iqm", "mean", "median"), reps=300, seed=7)["a"]
    point, ci = _rliable_direct(FIXED, seed=7, reps=300)
    for i, m in enumerate(("iqm", "mean", "median")):
        assert ours[m].value == pytest.approx(point["a"][i], abs=0)
        assert (ours[m].lo, ours[m].hi) == (pytest.approx(ci["a"][0][i]), pytest.approx(ci["a"][1][i]))
        assert ours[m].lo <= ours[m].value <= ours[m].hi


def test_iqm_matches_a_hand_computed_example():
    # 8 values: the IQM drops the lowest 2 and highest 2 and averages the middle 4: (3+4+5+6)/4
    x = np.array([[1.0, 8.0], [2.0, 7.0], [3.0, 6.0], [4.0, 5.0]])
    assert stats.iqm(x) == 4.5
    assert stats.iqm([10.0, 0.0, 1.0, 2.0, 3.0, -50.0, 4.0, 5.0]) == pytest.approx((1 + 2 + 3 + 4) / 4)
    est = stats.interval_estimates({"x": x}, ("iqm", "mean"), reps=100)["x"]
    assert est["iqm"].value == 4.5 and est["mean"].value == 4.5


def test_bootstrap_is_seeded_and_leaves_the_global_rng_alone():
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    a = stats.interval_estimates({"a": FIXED}, stats.METRICS, reps=200, seed=1)
    assert np.random.rand() == expected_next  # caller's RNG stream untouched
    b = stats.interval_estimates({"a": FIXED, "b": FIXED * 2}, stats.METRICS, reps=200, seed=1)
    assert a["a"] == b["a"]  # reproducible, and independent of which other algorithms are present
    c = stats.interval_estimates({"a": FIXED}, stats.METRICS, reps=200, seed=2)
    assert c["a"]["iqm"] != a["a"]["iqm"]


def test_probability_of_improvement_agrees_with_rliable():
    from rliable import metrics

    x, y = FIXED, FIXED * 0.9
    p = stats.probability_of_improvement(x, y, reps=200)
    assert p.value == pytest.approx(metrics.probability_of_improvement(x, y))
    assert 0 <= p.lo <= p.value <= p.hi <= 1
    hi = stats.probability_of_improvement(FIXED + 100, FIXED, reps=50)
    assert hi.value == 1.0
    # hand-computed: x = [1, 3], y = [2]: one of two pairs wins -> 0.5
    assert stats.probability_of_improvement([1.0, 3.0], [2.0], reps=20).value == 0.5


def test_optimality_gap_and_normalise():
    n = stats.normalise(np.array([[2.0, 30.0], [4.0, 60.0]]), [4.0, 30.0])
    assert n.tolist() == [[0.5, 1.0], [1.0, 2.0]]
    og = stats.interval_estimates({"a": n}, ("optimality_gap",), reps=50)["a"]["optimality_gap"]
    assert og.value == pytest.approx(1 - np.mean(np.minimum(n, 1)))  # = 0.125
    with pytest.raises(ValueError, match="cannot normalise"):
        stats.normalise(n, [0.0, 1.0])


# -- summary.json ------------------------------------------------------------------------------------------------
def _records(envs=("breakout", "asterix"), labels=("adam", "lion", "open_pretrained"), seeds=6):
    rng = np.random.default_rng(0)
    out = []
    for e_i, env in enumerate(envs):
        for l_i, lab in enumerate(labels):
            finals = 10.0 * (e_i + 1) + l_i + rng.normal(size=seeds)
            out.append(records.Record(env, lab, finals, None, {"total_timesteps": 1000, "wall_s": 1.0}))
    return out


def test_summary_schema_multi_env():
    s = summarise(_records(), reps=100)
    check_schema(s)
    json.loads(json.dumps(s))  # JSON-serialisable as is
    assert s["envs"] == ["breakout", "asterix"] and s["optimizers"] == ["adam", "lion", "open_pretrained"]
    e = s["results"]["breakout"]["lion"]
    assert e["num_seeds"] == 6 and len(e["final_return"]) == 6
    # per env, the median is over seeds (rliable's aggregate median is over tasks: on one env, the mean)
    assert e["median"]["value"] == pytest.approx(np.median(e["final_return"]))
    assert e["iqm"]["value"] == pytest.approx(stats.iqm(e["final_return"]))
    assert e["probability_of_improvement"]["vs"] == "adam"
    assert e["normalised"]["by"].startswith("adam")
    assert s["results"]["breakout"]["adam"]["normalised"]["mean"]["value"] == pytest.approx(1.0)
    agg = s["aggregate"]
    assert agg["envs"] == ["breakout", "asterix"]
    # the aggregate equals rliable on the Adam-normalised (runs x envs) matrix
    mat = np.stack([np.asarray(s["results"][e]["lion"]["final_return"]) for e in agg["envs"]], axis=1)
    mat = mat / np.array([agg["normalised_by"][e]["baseline_return"] for e in agg["envs"]])
    assert agg["results"]["lion"]["iqm"]["value"] == pytest.approx(stats.iqm(mat))
    md = markdown(s, "t")
    assert "| Lion |" in md and "Aggregate over breakout, asterix" in md and "optimality gap" in md
    assert "Not in the aggregate" not in md
    # an optimizer missing on one env stays in its env's table and is named as left out of the aggregate
    partial = [r for r in _records() if not (r.env == "asterix" and r.label == "lion")]
    s2 = summarise(partial, reps=50)
    assert "lion" not in s2["aggregate"]["results"] and "lion" in s2["results"]["breakout"]
    assert "Not in the aggregate (not run on every env above): Lion." in markdown(s2, "t")


def test_summary_schema_single_env_and_broken_summaries_are_named():
    s = summarise(_records(envs=("breakout",)), reps=50)
    check_schema(s)
    assert s["aggregate"] is None
    bad = json.loads(json.dumps(s))
    del bad["results"]["breakout"]["adam"]["iqm"]
    with pytest.raises(ValueError, match=r"results.breakout.adam.iqm: missing"):
        check_schema(bad)
    bad = json.loads(json.dumps(s))
    bad["results"]["breakout"]["adam"]["final_return"].pop()
    with pytest.raises(ValueError, match="final_return"):
        check_schema(bad)


# -- openrl-eval ---------------------------------------------------------------------------------------------------
def test_parse_entries():
    assert eval_run.parse_entry("adam") == eval_run.OptimizerSpec("adam", "adam")
    s = eval_run.parse_entry("OPEN=open@/w/{env}_OPEN.npy")
    assert (s.label, s.preset, s.weights) == ("OPEN", "open", "/w/{env}_OPEN.npy")
    with pytest.raises(ConfigError, match="unknown optimizer preset 'adamw'"):
        eval_run.parse_entry("adamw")
    with pytest.raises(ConfigError, match="handcrafted"):
        eval_run.parse_entry("adam@x.npy")


def _plan(tmp_path, *overrides):
    cfg = load_config(["env=cartpole", *overrides], config_name="eval")[1]
    return eval_run.plan(cfg, ["env=cartpole", *overrides], "adam")


@pytest.mark.parametrize(
    "content,expected",
    [
        (None, "does not exist"),
        (b"\x93NUMPY garbage", "is not a readable .npy array"),
        (np.zeros(100, np.float32), "holds 100 values (shape (100,)); the selected architecture"),
        (np.zeros((1211, 2), np.float32), "expects a flat vector of 1211 values"),
    ],
    ids=["missing", "corrupt", "wrong-size", "wrong-shape"],
)
def test_bad_weights_file_is_named_with_what_was_expected(tmp_path, content, expected):
    w = tmp_path / "opt.npy"
    if isinstance(content, bytes):
        w.write_bytes(content)
    elif content is not None:
        np.save(w, content)
    with pytest.raises(ConfigError) as e:
        _plan(tmp_path, f"eval.optimizers=[adam,open@{w}]")
    assert expected in str(e.value) and str(w) in str(e.value) and "[cartpole / open]" in str(e.value)


def test_weights_paths_substitute_env_root_glob_and_run_dirs(tmp_path):
    run = tmp_path / "sweep" / "3_optimizer=open" / "best"
    run.mkdir(parents=True)
    np.save(run / "optimizer.npy", np.zeros(1211, np.float32))
    root = str(tmp_path / "sweep")
    assert eval_run.resolve_weights("{root}/*optimizer=open", "breakout", root) == str(run)
    assert eval_run.resolve_weights(str(run.parent), "x") == str(run)  # a run directory -> its best/
    with pytest.raises(ConfigError, match="eval.weights_root is not set"):
        eval_run.resolve_weights("{root}/x", "breakout", None)
    with pytest.raises(ConfigError, match="matches 0 paths"):
        eval_run.resolve_weights("{root}/*optimizer=none", "breakout", root)
    pairs = _plan(tmp_path, f"eval.weights_root={root}", "eval.optimizers=[adam,'OPEN=open@{root}/*=open']")
    assert [(p.env, p.spec.label, p.weights) for p in pairs] == [
        ("cartpole", "adam", None),
        ("cartpole", "OPEN", str(run)),
    ]


def test_plan_single_and_multi_forms(tmp_path, monkeypatch):
    (p,) = _plan(tmp_path, "optimizer.lr=0.005")
    assert p.spec.label == "adam" and p.cfg.optimizer.lr == 0.005
    cfg = load_config(["eval.envs=[breakout,asterix]", "eval.optimizers=[adam,lion]"], config_name="eval")[1]
    pairs = eval_run.plan(cfg, ["eval.envs=[breakout,asterix]", "eval.optimizers=[adam,lion]"], "adam")
    assert [(p.env, p.spec.label, p.cfg.optimizer.name) for p in pairs] == [
        ("breakout", "adam", "adam"),
        ("breakout", "lion", "lion"),
        ("asterix", "adam", "adam"),
        ("asterix", "lion", "lion"),
    ]
    assert pairs[0].cfg.num_seeds == 16 and pairs[0].cfg.ppo.total_timesteps == 10_000_000
    # optimizer.* settings reach the optimizers that have them (Adam has no `analysis`) ...
    # (Hydra composes them against the base `optimizer=` first: that one must have them)
    ov = [
        "env=breakout",
        "optimizer=open",
        "eval.optimizers=[adam,open]",
        "optimizer.analysis=true",
        "optimizer.anneal_lr=false",
    ]
    cfg = load_config(ov, config_name="eval")[1]
    adam, open_ = eval_run.plan(cfg, ov, "adam")
    assert adam.cfg.optimizer.anneal_lr is False and open_.cfg.optimizer.analysis is True
    # ... and one that none of them has is an error naming it
    ov = ["env=breakout", "optimizer=open", "eval.optimizers=[adam,lion]", "optimizer.analysis=true"]
    with pytest.raises(ConfigError, match="optimizer.analysis: none of eval.optimizers"):
        eval_run.plan(load_config(ov, config_name="eval")[1], ov, "adam")
    if PRETRAINED.exists():
        monkeypatch.setenv("OPENRL_PRETRAINED", str(PRETRAINED))  # the release fixtures, no download
        cfg = load_config(["optimizer=open_pretrained", "env=asterix"], config_name="eval")[1]
        (p,) = eval_run.plan(cfg, ["optimizer=open_pretrained", "env=asterix"], "open_pretrained")
        assert p.weights == "pretrained:asterix_OPEN"
        from openrl.optimizers.weights import resolve_weights_path

        assert resolve_weights_path(p.weights) == PRETRAINED / "asterix_OPEN.npy"
        # a published summary names the release, not this machine's cache path; the hash pins the file
        ref, sha = eval_run.recorded_weights(p.weights)
        assert ref == "pretrained:asterix_OPEN" and sha == sha256_file(PRETRAINED / "asterix_OPEN.npy")


def _run_cli(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from openrl.cli.eval import eval_main; eval_main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=REPO,
    )


def test_fig2_minatar_gpu_script_runs_a_job_and_keeps_its_deadline(tmp_path):
    """benchmarks/fig2_minatar_gpu.sh (the H200 Fig. 2 runs): one smoke-budget job lands where
    openrl-report finds it; a deadline too close starts nothing."""
    script = REPO / "benchmarks" / "fig2_minatar_gpu.sh"
    env = {**ENV, "PYTHON": sys.executable, "GAMES": "breakout", "OPTS": "adam", "SEEDS": "1"}
    env["EXTRA"] = "budget=smoke"
    out = subprocess.run(
        ["bash", str(script), str(tmp_path / "late"), "1"], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0 and "[adam] deadline: breakout not started" in out.stdout
    assert not (tmp_path / "late" / "breakout__adam").exists()
    out = subprocess.run(
        ["bash", str(script), str(tmp_path / "m")],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "[adam] breakout: exit 0" in out.stdout, out.stdout + out.stderr
    s = json.loads((tmp_path / "m" / "breakout__adam" / "summary.json").read_text())
    assert s["results"]["breakout"]["adam"]["num_seeds"] == 1
    assert [r.env for r in records.load_sweep(tmp_path / "m")] == ["breakout"]


def test_openrl_eval_writes_curves_csv_summary_and_figures(tmp_path):
    """Adam and a tiny OPEN weights file on CartPole, 3 seeds, 4 updates: every output is written."""
    w = tmp_path / "tiny.npy"
    np.save(w, (np.random.default_rng(0).normal(size=1211) * 0.1).astype(np.float32))
    out = tmp_path / "run"
    proc = _run_cli(
        [
            "env=cartpole",
            f"eval.optimizers=[adam,'tiny=open@{w}']",
            "optimizer=open",  # the base Hydra composes optimizer.analysis against
            "optimizer.analysis=true",  # reaches OPEN only (Adam has no such setting)
            "num_seeds=3",
            "eval.bootstrap_reps=200",
            *TINY_PPO,
            "num_chunks=2",
            "progress=false",  # batch-job mode: progress as log lines instead of a bar
            f"hydra.run.dir={out}",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cartpole / adam: 1/2 updates" in proc.stdout + proc.stderr
    s = json.loads((out / "summary.json").read_text())
    check_schema(s)
    assert s["optimizers"] == ["adam", "tiny"] and s["envs"] == ["cartpole"]
    tiny = s["results"]["cartpole"]["tiny"]
    assert tiny["weights"] == str(w.resolve()) and len(tiny["weights_sha256"]) == 64
    assert tiny["total_timesteps"] == 128 and tiny["num_seeds"] == 3 and tiny["wall_s"] > 0
    z = np.load(out / tiny["curves"])
    assert z["episode_return"].shape == (3, 2) and z["final_return"].tolist() == tiny["final_return"]
    assert any(k.startswith("dormancy/actor/") for k in z.files)
    assert "analysis/all/cos_g" in z.files and z["analysis/actor/noise_over_param"].shape == (3, 2)
    assert not any(
        k.startswith("analysis/") for k in np.load(out / s["results"]["cartpole"]["adam"]["curves"])
    )
    rows = (out / "final_returns.csv").read_text().splitlines()
    assert rows[0] == "env,optimizer,seed,final_return" and len(rows) == 1 + 2 * 3
    md = (out / "report.md").read_text()
    assert "## cartpole" in md and "| tiny |" in md
    for f in s["files"]["figures"]:
        assert (out / f).stat().st_size > 1000
    assert {"figures/fig2_per_env_iqm.png", "figures/fig11_cosine_similarity.png"} <= set(
        s["files"]["figures"]
    )
    assert (out / "config_resolved.yaml").exists() and (out / "metadata.json").exists()


def test_a_killed_evaluation_keeps_the_finished_pairs(tmp_path, monkeypatch):
    """final_returns.csv is rewritten after every pair: a crash (or kill) in pair 2 keeps pair 1's seeds."""
    overrides = ["env=cartpole", "eval.optimizers=[adam,'again=adam']", "logger=disabled", "num_seeds=3"]
    cfg = load_config(overrides, config_name="eval")[1]
    calls = []

    def fake_run_pair(pair, run_dir, progress=True):
        calls.append(pair.spec.label)
        if len(calls) == 2:
            raise KeyboardInterrupt  # what a Ctrl-C or SLURM pre-emption delivers mid-run
        return eval_run.PairResult(
            pair.env, pair.spec.label, np.array([1.5, 2.5, 3.5]), "curves/x.npz", {"wall_s": 1.0}
        )

    monkeypatch.setattr(eval_run, "run_pair", fake_run_pair)
    with pytest.raises(KeyboardInterrupt):
        eval_run.run(cfg, eval_run.plan(cfg, overrides, "adam"), tmp_path / "run")
    rows = (tmp_path / "run" / "final_returns.csv").read_text().splitlines()
    assert calls == ["adam", "again"]
    assert rows == [
        "env,optimizer,seed,final_return",
        "cartpole,adam,0,1.5",
        "cartpole,adam,1,2.5",
        "cartpole,adam,2,3.5",
    ]


def test_openrl_eval_bad_weights_exits_2_naming_the_file(tmp_path):
    w = tmp_path / "bad.npy"
    np.save(w, np.zeros(7, np.float32))
    proc = _run_cli(
        ["env=cartpole", "optimizer=open", f"optimizer.weights={w}", f"hydra.run.dir={tmp_path}/r"]
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert str(w) in proc.stderr and "1211" in proc.stderr and "openrl-eval:" in proc.stderr
    assert not (tmp_path / "r" / "summary.json").exists()


# -- openrl-report -------------------------------------------------------------------------------------------------
def _fake_sweep(root: Path) -> Path:
    """A finished multirun: 2 envs x 2 optimizers as openrl-eval jobs, with curves."""
    sweep = root / "multiruns" / "2026-01-01_00-00-00"
    rng = np.random.default_rng(1)
    n = 0
    for env in ("breakout", "asterix"):
        for opt in ("adam", "open_pretrained"):
            job = sweep / f"{n}_eval.envs=[{env}],eval.optimizers=[{opt}]"
            (job / ".hydra").mkdir(parents=True)
            (job / ".hydra" / "overrides.yaml").write_text(
                yaml.safe_dump([f"eval.envs=[{env}]", f"eval.optimizers=[{opt}]"])
            )
            finals = rng.normal(size=5) + (12.0 if opt == "open_pretrained" else 10.0)
            (job / "curves").mkdir()
            steps = np.arange(1, 21) * 100
            curve = np.cumsum(rng.random((5, 20)), axis=1)
            dorm = np.clip(rng.random((5, 20)) * 0.1, 0, 1)
            np.savez(
                job / "curves" / f"{env}__{opt}.npz",
                env_steps=steps,
                episode_return=curve,
                final_return=finals,
                **{"dormancy/actor/layer_0": dorm, "dormancy/actor/layer_1": dorm},
            )
            rec = records.Record(
                env, opt, finals, job / "curves" / f"{env}__{opt}.npz", {"total_timesteps": 2000}
            )
            s = summarise([rec], reps=50, root=job)
            (job / "summary.json").write_text(json.dumps(s))
            n += 1
    return sweep


def test_openrl_report_on_a_finished_sweep(tmp_path):
    from openrl.cli.eval import report_main

    sweep = _fake_sweep(tmp_path)
    report_main([str(sweep), "--reps", "100"])
    md = (sweep / "report.md").read_text()
    assert "## breakout" in md and "## asterix" in md and "OPEN (released)" in md
    assert "Aggregate over breakout, asterix" in md
    s = json.loads((sweep / "report_summary.json").read_text())
    check_schema(s)
    assert s["results"]["breakout"]["open_pretrained"]["num_seeds"] == 5
    figs = {Path(f).name for f in s["files"]["figures"]}
    assert {"fig2_per_env_iqm.png", "fig3_aggregate.png", "fig9_return_curves.png",
            "fig10_dormancy_curves.png"} <= figs  # fmt: skip
    for f in s["files"]["figures"]:
        assert (sweep / f).stat().st_size > 1000


def test_openrl_report_names_an_empty_directory(tmp_path, capsys):
    from openrl.cli.eval import report_main

    with pytest.raises(SystemExit) as e:
        report_main([str(tmp_path)])
    assert e.value.code == 2 and "no job directory" in capsys.readouterr().err


def test_report_pools_seeds_and_names_variants(tmp_path):
    """A tuning sweep: jobs differing in optimizer.lr become variants; jobs differing only in seed (or in
    display settings such as progress) pool."""
    sweep = tmp_path / "m"
    for i, (lr, seed) in enumerate([(0.001, 0), (0.001, 1), (0.01, 0)]):
        job = sweep / str(i)
        (job / ".hydra").mkdir(parents=True)
        extra = ["progress=false"] if seed else []
        (job / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump(["env=breakout", f"optimizer.lr={lr}", f"seed={seed}", *extra])
        )
        rec = records.Record("breakout", "adam", np.arange(4.0) + 10 * lr, None, {})
        (job / "summary.json").write_text(json.dumps(summarise([rec], reps=20)))
    recs = records.load_sweep(sweep)
    s = summarise(recs, reps=50)
    assert sorted(s["results"]["breakout"]) == ["adam [optimizer.lr=0.001]", "adam [optimizer.lr=0.01]"]
    assert s["results"]["breakout"]["adam [optimizer.lr=0.001]"]["num_seeds"] == 8


def test_report_rows_are_split_only_by_settings_that_define_a_result(tmp_path):
    """Two run folders whose jobs differ in how results were summarised (eval.bootstrap_reps), logged or
    saved pool into one row per optimizer, and the Adam column stays (it normalises the others)."""
    jobs = [
        ("adam", ["eval.bootstrap_reps=100", "logger=disabled"]),
        ("lion", ["eval.bootstrap_reps=2000", "save_agent=false", "eval.confidence=0.9"]),
        ("adam", ["eval.bootstrap_reps=2000", "ppo.total_timesteps=4096"]),
    ]
    for i, (label, extra) in enumerate(jobs):
        job = tmp_path / f"runs{i % 2}" / str(i)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["env=breakout", f"seed={i}", *extra]))
        rec = records.Record("breakout", label, np.arange(4.0) + i, None, {})
        (job / "summary.json").write_text(json.dumps(summarise([rec], reps=20)))
    recs = records.load_sweep([tmp_path / "runs0", tmp_path / "runs1"])
    keys = sorted({r.key for r in recs})
    # ppo.total_timesteps defines a result: that job is its own row; the statistics settings never split
    assert keys == ["adam", "adam [ppo.total_timesteps=4096]", "lion"], keys
    s = summarise([r for r in recs if "total_timesteps" not in r.key], reps=50)
    assert sorted(s["results"]["breakout"]) == ["adam", "lion"]
    assert s["results"]["breakout"]["lion"]["normalised"] is not None  # normalised by the Adam row


def test_openrl_report_pools_several_sweep_directories(tmp_path, capsys):
    """The rows of one table run on two machines (e.g. two games on a GPU with 16 seeds and num_chunks=10,
    a third on a CPU with 4 seeds): one report over both directories, no spurious num_seeds variants."""
    from openrl.cli.eval import report_main

    def job(sweep, name, env, label, n, extra, device):
        d = sweep / name
        (d / ".hydra").mkdir(parents=True)
        (d / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump([f"eval.envs=[{env}]", f"eval.optimizers=[{label}]", f"num_seeds={n}", *extra])
        )
        info = {"wall_s": 60.0, "compile_s": 10.0, "device": device}
        rec = records.Record(env, label, np.arange(float(n)) + (5 if label == "lion" else 0), None, info)
        (d / "summary.json").write_text(json.dumps(summarise([rec], reps=20)))

    gpu, cpu = tmp_path / "gpu", tmp_path / "cpu"
    for env in ("asterix", "spaceinvaders"):
        for lab in ("adam", "lion"):
            job(gpu, f"{env}__{lab}", env, lab, 16, ["num_chunks=10"], "1x NVIDIA H200")
    for lab in ("adam", "lion"):
        job(cpu, f"0_{lab}", "breakout", lab, 4, [], "CPU (2 cores)")
    with pytest.raises(SystemExit) as e:
        report_main([str(gpu), str(cpu)])  # several: --out required
    assert e.value.code == 2 and "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        report_main([str(gpu), str(tmp_path / "missing")])
    assert e.value.code == 2 and "not a directory" in capsys.readouterr().err
    report_main([str(gpu), str(cpu), "--out", str(tmp_path / "all"), "--reps", "50"])
    s = json.loads((tmp_path / "all" / "report_summary.json").read_text())
    assert s["envs"] == ["asterix", "spaceinvaders", "breakout"]
    assert sorted(s["results"]["breakout"]) == ["adam", "lion"]  # no "[num_seeds=4]" variants
    assert (
        s["results"]["asterix"]["lion"]["num_seeds"] == 16
        and s["results"]["breakout"]["adam"]["num_seeds"] == 4
    )
    assert sorted(s["aggregate"]["results"]) == ["adam", "lion"] and s["source"]["sweep_dir"] == [
        str(gpu),
        str(cpu),
    ]
    assert s["aggregate"]["truncated_to_seeds"] == {"adam": 4, "lion": 4}
    md = (tmp_path / "all" / "report.md").read_text()
    assert "gpu + cpu" in md.splitlines()[0] and "## breakout" in md
    assert "with their first n" in md and "Adam n = 4" in md
    # the runtime table names each column's device: GPU and CPU seconds are not comparable
    assert "| Lion | 60 (10), 1x NVIDIA H200 | 60 (10), 1x NVIDIA H200 | 60 (10), CPU (2 cores) |" in md

    # a results JSON (a report_summary.json, a benchmarks/results file) pools like a job: seeds add up;
    # --only keeps the named optimizers
    report_main([str(tmp_path / "all" / "report_summary.json"), str(cpu), "--out", str(tmp_path / "p")])
    p = json.loads((tmp_path / "p" / "report_summary.json").read_text())
    assert (
        p["results"]["breakout"]["adam"]["num_seeds"] == 8
        and p["results"]["asterix"]["adam"]["num_seeds"] == 16
    )
    report_main([str(cpu), "--only", "lion", "--out", str(tmp_path / "o"), "--reps", "50"])
    assert list(json.loads((tmp_path / "o" / "report_summary.json").read_text())["results"]["breakout"]) == [
        "lion"
    ]
    with pytest.raises(SystemExit) as e:
        report_main([str(tmp_path / "all" / "report_summary.json")])  # a file: --out required
    assert e.value.code == 2 and "--out" in capsys.readouterr().err


def test_device_label_and_old_job_metadata(tmp_path):
    from openrl.runs.metadata import device_label

    assert device_label() == f"CPU ({os.cpu_count()} cores)"  # tests run on the CPU backend

    class Dev:
        device_kind = "NVIDIA H200"

    assert device_label("gpu", [Dev(), Dev()]) == "2x NVIDIA H200"
    # a job written before summaries recorded the device: read from its metadata.json
    (tmp_path / "metadata.json").write_text(json.dumps({"jax_backend": "gpu", "devices": ["cuda:0"]}))
    assert records._job_device(tmp_path) == "1x GPU"
    (tmp_path / "metadata.json").write_text("{not json")
    assert records._job_device(tmp_path) is None


# -- figures ---------------------------------------------------------------------------------------------------------
def test_figure_colours_stable_across_orders_and_nan_gaps_bridged():
    """Found on the combined MinAtar report: Lion was green in the IQM panel and red in the return curves
    (colours by position, two orders); Freeway's curves were dots (NaN where no episode ended)."""
    import matplotlib.pyplot as plt

    from openrl.eval import figures

    a = figures._colours(["adam", "open_pretrained", "lion", "rmsprop"])
    b = figures._colours(["rmsprop", "adam", "lion"])
    assert all(a[k] == b[k] for k in b) and len(set(a.values())) == 4
    v = figures._colours(["adam [optimizer.lr=0.001]", "adam [optimizer.lr=0.01]", "mine"])
    assert len(set(v.values())) == 3  # variants of one optimizer are told apart
    many = figures._colours([f"x{i}" for i in range(8)])
    assert len(set(many.values())) == 8
    fig, ax = plt.subplots()
    vals = np.full((3, 10), np.nan)
    vals[:, ::3] = 1.0  # an episode ends every third update
    figures._band(ax, np.arange(10), vals, "C0", "Adam")
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [0, 3, 6, 9] and np.all(np.isfinite(line.get_ydata()))
    plt.close(fig)


def test_generalisation_and_deepsea_figures_from_generic_records(tmp_path):
    from openrl.eval import figures

    rng = np.random.default_rng(0)
    recs = []
    for level in ("rand_all", "standard_maze"):
        for width in (8, 16, 32):
            for lab in ("adam", "open"):
                facts = {"env.level": level, "ppo.width": width, "ppo.total_timesteps": 1000}
                recs.append(records.Record("gridworld", lab, rng.random(8) + 1, None, {"config": facts}))
    s = {"baseline": "adam"}
    made = figures.generalisation_grid(recs, s, tmp_path)
    assert [p.name for p in made] == ["fig4_gridworld_width.png"]
    ds = [
        records.Record("deepsea", lab, rng.random(8), None, {"config": {"env.size": size}})
        for size in (4, 10, 20)
        for lab in ("open", "open_separated")
    ]
    assert figures.deepsea_sizes(ds, tmp_path / "ds.png").stat().st_size > 1000
    assert figures.deepsea_sizes(recs, tmp_path / "none.png") is None


def test_analysis_figures_when_curves_carry_analysis(tmp_path):
    from openrl.eval import figures

    rng = np.random.default_rng(0)
    p = tmp_path / "c.npz"
    arrays = {"env_steps": np.arange(1, 11), "episode_return": rng.random((3, 10))}
    for k in ("cos_g", "cos_m0.1", "cos_m0.9", "update_over_param"):
        arrays[f"analysis/all/{k}"] = rng.random((3, 10))
    arrays["analysis/actor/noise_over_param"] = rng.random((3, 10)) * 1e-3
    np.savez(p, **arrays)
    made = figures.analysis_curves({("breakout", "open"): p}, tmp_path)
    assert sorted(m.name for m in made) == [
        "fig11_cosine_similarity.png",
        "fig12_update_over_param.png",
        "fig13_noise_over_param.png",
    ]


def test_figure_legend_names_every_optimizer_when_panels_differ():
    """Found on the H200 Fig. 2 run: Asterix had Adam and OPEN, SpaceInvaders all four; the legend of the
    first panel alone left Lion's and RMSprop's colours unexplained."""
    import matplotlib.pyplot as plt

    from openrl.eval import figures

    fig, axes = plt.subplots(1, 2)
    axes[0].plot([0, 1], label="Adam")
    axes[0].plot([0, 1], label="OPEN")
    for lab in ("Adam", "OPEN", "Lion", "RMSprop"):
        axes[1].plot([0, 1], label=lab)
    leg = figures._legend(fig, list(axes))
    assert [t.get_text() for t in leg.get_texts()] == ["Adam", "OPEN", "Lion", "RMSprop"]
    assert axes[0].get_legend() is None  # a figure-level legend, not one panel's
    fig2, ax2 = plt.subplots(1, 2)
    for ax in ax2:
        ax.plot([0, 1], label="Adam")
    assert figures._legend(fig2, list(ax2)) is ax2[0].get_legend()  # same lines everywhere: in panel 1
    plt.close("all")


# -- the paper sweeps ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("experiment", SWEEPS)
def test_sweep_config_composes_at_smoke_budget(experiment):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    spec = yaml.safe_load((CONF_DIR / "experiment" / f"{experiment}.yaml").read_text())
    assert "smoke" in spec["budgets"], "every paper sweep has a smoke preset"
    params = spec["hydra"]["sweeper"]["params"]
    parser = OverridesParser.create()
    points = {k: list(parser.parse_override(f"{k}={v}").sweep_string_iterator()) for k, v in params.items()}
    # the first point of the sweep composes and validates (weights placeholders need a root: use a fake one)
    first = [f"{k}={v[0]}" for k, v in points.items()]
    _, cfg = load_config([f"experiment={experiment}", "budget=smoke", *first], config_name="eval")
    assert cfg.task_name == experiment and cfg.mode == "ppo"
    assert cfg.ppo.total_timesteps == spec["budgets"]["smoke"]["ppo.total_timesteps"]
    if experiment.startswith("tune_"):
        assert cfg.num_seeds == 4
    elif experiment != "fig5_ablation":
        assert cfg.num_seeds == 16
    else:
        assert cfg.num_seeds == 64


def test_tuning_grids_contain_the_tuned_values():
    for opt, keys in (
        ("adam", ("lr", "b1", "b2")),
        ("rmsprop", ("lr", "decay")),
        ("lion", ("lr", "b1", "b2")),
    ):
        spec = yaml.safe_load((CONF_DIR / "experiment" / f"tune_{opt}.yaml").read_text())
        params = spec["hydra"]["sweeper"]["params"]
        tuned = yaml.safe_load((CONF_DIR / "optimizer" / f"{opt}.yaml").read_text())["tuned"]
        for env in ("asterix", "breakout", "freeway", "spaceinvaders"):
            for k in keys:
                grid = [float(v) for v in str(params[f"optimizer.{k}"]).split(",")]
                assert tuned[env][k] in grid, (opt, env, k)
        assert str(params["optimizer.anneal_lr"]) == "true,false"


@pytest.mark.slow
def test_fig2_multirun_two_points_then_report(tmp_path):
    """Two points of the Fig. 2 sweep through Hydra's multirun (tiny PPO), then openrl-report on them."""
    sweep = tmp_path / "sweep"
    proc = _run_cli(
        [
            "-m",
            "experiment=fig2_single_task",
            "budget=smoke",
            "eval.envs=[breakout]",  # command-line sweeps replace the config's sweeper params per key
            "eval.optimizers=[adam],[lion]",
            "num_seeds=3",
            "eval.bootstrap_reps=100",
            *TINY_PPO,
            f"hydra.sweep.dir={sweep}",
        ],
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "summary.json").exists())
    assert len(jobs) == 2
    from openrl.cli.eval import report_main

    report_main([str(sweep), "--reps", "100"])
    md = (sweep / "report.md").read_text()
    assert "| Adam |" in md and "| Lion |" in md


def _fig5_root(tmp_path: Path) -> Path:
    """A stand-in for a finished ablation_breakout multirun: one job directory with a best/ optimizer."""
    best = tmp_path / "ablation" / "0_optimizer=open" / "best"
    best.mkdir(parents=True)
    np.save(best / "optimizer.npy", (np.random.default_rng(0).normal(size=1211) * 0.1).astype(np.float32))
    return tmp_path / "ablation"


SWEEP_POINTS = {
    "fig3_multitask": ["eval.envs=[breakout]", "eval.optimizers=[open_multi_pretrained]"],
    "fig5_ablation": ["eval.optimizers=['open@{root}/*optimizer=open']"],
    "tune_adam": [
        "env=breakout",
        "optimizer.lr=0.003",
        "optimizer.b1=0.9",
        "optimizer.b2=0.99",
        "optimizer.anneal_lr=true",
    ],  # fmt: skip
    "tune_rmsprop": [
        "env=breakout",
        "optimizer.lr=0.002",
        "optimizer.decay=0.99",
        "optimizer.anneal_lr=false",
    ],
    "tune_lion": [
        "env=breakout",
        "optimizer.lr=0.0008",
        "optimizer.b1=0.9",
        "optimizer.b2=0.9",
        "optimizer.anneal_lr=false",
    ],  # fmt: skip
    "table11_runtime": ["eval.envs=[breakout]", "eval.optimizers=[lion]"],
}


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(SWEEP_POINTS))
def test_each_sweep_runs_one_point_at_smoke_budget(tmp_path, experiment):
    """One point of each paper sweep through Hydra's multirun at budget=smoke (tiny PPO on top)."""
    if "pretrained" in " ".join(SWEEP_POINTS[experiment]) and not PRETRAINED.exists():
        pytest.skip("released weights not available")
    extra = [f"eval.weights_root={_fig5_root(tmp_path)}"] if experiment == "fig5_ablation" else []
    sweep = tmp_path / "sweep"
    proc = _run_cli(
        [
            "-m",
            f"experiment={experiment}",
            "budget=smoke",
            *SWEEP_POINTS[experiment],
            *extra,
            "num_seeds=2",
            "eval.bootstrap_reps=50",
            "eval.figures=false",
            *TINY_PPO,
            f"hydra.sweep.dir={sweep}",
            "hydra.sweep.subdir=${hydra.job.num}",  # these overrides would make too long a directory name
        ],
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (summary,) = sweep.rglob("summary.json")
    s = json.loads(summary.read_text())
    check_schema(s)
    assert s["task_name"] == experiment and len(s["optimizers"]) == 1


def test_report_reads_openrl_train_ppo_jobs(tmp_path):
    """openrl-train experiment=ppo multirun jobs (summary.json in the shared schema, beside the job's own
    keys, + returns.npz) are read, with the config facts the gridworld figures group by."""
    from openrl.cli.eval import report_main

    sweep = tmp_path / "multiruns" / "d"
    rng = np.random.default_rng(0)
    for i, (opt, width) in enumerate([("adam", 8), ("adam", 16), ("open", 8), ("open", 16)]):
        job = sweep / str(i)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump([f"optimizer={opt}", f"ppo.width={width}", "env=gridworld", "env.level=rand_all"])
        )
        facts = {"env.id": "gw", "env.family": "gridworld", "env.level": "rand_all", "ppo.width": width,
                 "ppo.total_timesteps": 1000}  # fmt: skip
        finals = rng.random(4) + (1.5 if opt == "open" else 1.0)
        rec = records.Record(
            "gridworld", opt, finals, job / "returns.npz", {"total_timesteps": 1000, "config": facts}
        )
        summary = {**summarise([rec], reps=20, root=job), "env": "gridworld", "optimizer": opt,
                   "final_return": finals.tolist(), "total_env_steps": 4000, "wall_s": 1.0}  # fmt: skip
        (job / "summary.json").write_text(json.dumps(summary))
        np.savez(job / "returns.npz", episode_return=rng.random((4, 5)), env_steps=np.arange(1, 6) * 200)
    report_main([str(sweep), "--reps", "50"])
    s = json.loads((sweep / "report_summary.json").read_text())
    assert sorted(s["results"]["gridworld"]) == [
        "adam [ppo.width=16]",
        "adam [ppo.width=8]",
        "open [ppo.width=16]",
        "open [ppo.width=8]",
    ]
    assert s["results"]["gridworld"]["open [ppo.width=8]"]["total_timesteps"] == 1000
    figs = {Path(f).name for f in s["files"]["figures"]}
    assert "fig4_gridworld_width.png" in figs and "fig9_return_curves.png" in figs
    # outputs/<task>/multiruns/<date>: the report is titled after the task directory
    assert (sweep / "report.md").read_text().startswith(f"# {tmp_path.name}: d")


# -- the published summaries --------------------------------------------------------------------------------------
PUBLISHED = sorted((REPO / "benchmarks" / "results").glob("*.json"))


def _eval_summaries() -> list[tuple[str, dict]]:
    out = []
    for path in PUBLISHED:
        d = json.loads(path.read_text())
        if isinstance(d, dict) and d.get("schema") == "openrl-eval/1":
            out.append((path.name, d))
    return out


@pytest.mark.parametrize("name,summary", _eval_summaries(), ids=lambda x: x if isinstance(x, str) else "")
def test_published_summaries_are_valid_and_name_released_weights(name, summary):
    """Every published ``openrl-eval`` summary passes the schema and names a released optimizer as
    ``pretrained:NAME`` with the registry's hash -- no path that exists only on the machine that ran it."""
    check_schema(summary)
    for env, by_opt in summary["results"].items():
        for opt, entry in by_opt.items():
            w = entry.get("weights")
            if w is None:
                continue
            assert pretrained.is_pretrained(w), f"{name}: {env}/{opt} weights {w!r} is a local path"
            assert entry["weights_sha256"] == pretrained.lookup(w).sha256, f"{name}: {env}/{opt}"


def test_published_fig3_aggregate_follows_from_its_returns():
    """The Fig. 3 summary: at least 8 seeds in every cell, and its Adam-normalised IQM and mean are those of
    the per-seed final returns it carries (each optimizer's first 8 seeds per game, over Adam's mean)."""
    d = json.loads((REPO / "benchmarks" / "results" / "fig3_multitask_1e7.json").read_text())
    agg = d["aggregate"]
    assert sorted(agg["envs"]) == ["asterix", "breakout", "freeway", "spaceinvaders"]
    assert sorted(d["optimizers"]) == ["adam", "lion", "open_multi_pretrained", "rmsprop"]
    adam = [np.mean(d["results"][env]["adam"]["final_return"]) for env in agg["envs"]]
    assert [agg["normalised_by"][env]["baseline_return"] for env in agg["envs"]] == pytest.approx(adam)
    for opt in d["optimizers"]:
        runs = [np.asarray(d["results"][env][opt]["final_return"]) for env in agg["envs"]]
        assert min(r.size for r in runs) >= 8, (opt, [r.size for r in runs])
        scores = stats.normalise(np.stack([r[:8] for r in runs], axis=1), adam)
        assert agg["results"][opt]["iqm"]["value"] == pytest.approx(stats.iqm(scores))
        assert agg["results"][opt]["mean"]["value"] == pytest.approx(scores.mean())
    # the paper's Fig. 3 ordering: only the learned optimizer's IQM is above Adam's
    iqm = {o: r["iqm"]["value"] for o, r in agg["results"].items()}
    assert max(iqm, key=iqm.get) == "open_multi_pretrained" and iqm["open_multi_pretrained"] > 1.0
