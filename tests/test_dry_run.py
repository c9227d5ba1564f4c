"""``dry_run=true``: the start-up path of ``openrl-train`` / ``openrl-eval`` without running anything.

A dry run must refuse exactly what the real command refuses (exit 2, the usual message), plan every
point of a sweep, count what the job will run from the validated config, project its cost from the
published measured rates, and neither import jax nor write a run directory.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from openrl.cli.dry_run import plan_command
from openrl.config import CONF_DIR
from openrl.config.cost import RESULTS_DIR

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_meta_plan_counts_the_budget_and_projects_from_its_measured_row():
    code, text = plan_command("openrl-train", ["experiment=ablation_breakout", "budget=cpu"])
    assert code == 0, text
    # the cpu preset of conf/experiment/ablation_breakout.yaml, read here rather than restated
    import yaml

    preset = yaml.safe_load((CONF_DIR / "experiment" / "ablation_breakout.yaml").read_text())["budgets"][
        "cpu"
    ]
    pop, gens, t = preset["es.population_size"], preset["es.num_generations"], preset["ppo.total_timesteps"]
    t_eff = (t // (64 * 128)) * 64 * 128  # whole rollout batches of Breakout's PPO settings
    assert f"population {pop} x {gens} generations" in text
    assert f"T = {t_eff:,} env-steps per inner run" in text
    row = next(
        r for r in json.loads((RESULTS_DIR / "meta_cost_cpu.json").read_text())["rows"]
        if r["experiment"] == "ablation_breakout"
    )  # fmt: skip
    m = row["measured"]
    cpu_per_step = (m["cpu_s_per_generation"][1] - m["cpu_s_per_generation"][0]) / (
        m["population"] * (m["timesteps"][1] - m["timesteps"][0])
    )
    validation = preset["meta.validation_seeds"] * t_eff * (gens // preset["meta.eval_every"])
    total = gens * pop * t_eff + validation + 2 * preset["meta.final_eval_seeds"] * t_eff
    minutes = cpu_per_step * total / 60
    assert f"at least {minutes:.0f} min CPU" in text
    assert "meta_cost_cpu.json, ablation_breakout (its own row)" in text


@pytest.mark.parametrize(
    "prog,argv,message",
    [
        ("openrl-train", ["experiment=ppo", "optimizer.lr=-1"], "optimizer.lr=-1.0: must be positive"),
        ("openrl-train", ["experiment=multitask_minatar", "es.sigma_init=nan"], "es.sigma_init=nan: must be a finite number"),
        ("openrl-train", ["experiment=ppo", "env=breakout,asterix"], "Ambiguous value for argument 'env=breakout,asterix'"),
        ("openrl-eval", ["experiment=fig5_ablation", "budget=small"], "budget='small': allowed values are paper, smoke"),
        ("openrl-eval", ["eval.optimizers=[adamw]"], "unknown optimizer preset 'adamw'"),
        ("openrl-train", ["--cfg", "job"], "--cfg: a dry run takes overrides and -m/--multirun only"),
    ],
)  # fmt: skip
def test_invalid_command_lines_exit_2_naming_the_field(prog, argv, message):
    code, text = plan_command(prog, argv)
    assert code == 2, text
    assert text.startswith(f"{prog}: ") and message in text


def test_a_sweep_is_planned_point_by_point_and_a_failing_point_is_named():
    code, text = plan_command(
        "openrl-train", ["-m", "experiment=ppo", "env=breakout,asterix", "optimizer=adam,lion"]
    )
    assert code == 0, text
    assert text.count("openrl-train dry run, job ") == 4 and "dry run of 4 jobs" in text
    assert "env=asterix optimizer=lion" in text
    # the experiment's own hydra.sweeper.params are swept too (seven ablation variants)
    code, text = plan_command("openrl-train", ["-m", "experiment=ablation_breakout", "budget=smoke"])
    assert code == 0 and "dry run of 7 jobs" in text, text
    # without experiment=ppo every point is the default meta-training job, which a handcrafted optimizer fails
    code, text = plan_command("openrl-train", ["-m", "env=breakout,asterix", "optimizer=adam,lion"])
    assert code == 2 and "job 0 of 4" in text and "meta-training needs a learned optimizer" in text


def test_eval_plan_lists_every_pair_with_its_resolved_values():
    code, text = plan_command(
        "openrl-eval", ["eval.envs=[breakout,asterix]", "eval.optimizers=[adam,lion]", "num_seeds=4"]
    )
    assert code == 0, text
    assert "evaluation of 4 (env, optimizer) pairs" in text
    adam = yaml_tuned("adam", "breakout")
    assert f"breakout / adam (Adam, handcrafted): lr={adam['lr']}" in text
    assert "4 seeds from seed 0" in text


def yaml_tuned(preset: str, env: str) -> dict:
    import yaml

    return yaml.safe_load((CONF_DIR / "optimizer" / f"{preset}.yaml").read_text())["tuned"][env]


def test_console_script_dry_run_imports_no_jax_and_writes_nothing(tmp_path):
    code = (
        "import sys\n"
        "from openrl.cli.train import train_main\n"
        "sys.argv = ['openrl-train', 'experiment=ppo', 'env=asterix', 'num_seeds=8', 'dry_run=true']\n"
        "try:\n    train_main()\nexcept SystemExit as e:\n    print('exit', e.code, 'jax' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.strip().endswith("exit 0 False"), proc.stdout + proc.stderr
    assert "seeds: 8 (from seed 0), one vmapped program" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # no outputs/ run directory
