"""Every YAML under conf/ composes and validates; tuned values resolve per env; bad configs are rejected
with the offending field named."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException, MissingConfigException

from openrl.config import CONF_DIR, ConfigError, load_config, register_configs, resolve, resolve_optimizer
from openrl.config.registry import OPTIMIZERS as OPTIMIZER_REGISTRY
from openrl.optimizers import make_rule
from tiny import TINY_PPO

ENVS = sorted(p.stem for p in (CONF_DIR / "env").glob("*.yaml") if not p.stem.endswith("_schema"))
OPTIMIZERS = sorted(p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml") if not p.stem.endswith("_schema"))
# the tuned fields of every optimizer, from its registry entry (a new one is checked without editing this)
OPT_HYPERS = {e.name: e.tuned for e in OPTIMIZER_REGISTRY if e.tuned}


def _yaml(group: str, name: str) -> dict:
    return yaml.safe_load((CONF_DIR / group / f"{name}.yaml").read_text())


def _tuned_pairs():
    pairs = []
    for o in OPTIMIZERS:
        tuned = _yaml("optimizer", o).get("tuned", {})
        pairs += [(e, o) for e in ENVS if e in tuned]
    return pairs


TUNED_PAIRS = _tuned_pairs()


def test_expected_files_present():
    paper_envs = {"ant", "asterix", "breakout", "freeway", "spaceinvaders"}
    assert paper_envs | {"deepsea"} <= set(ENVS)
    assert {"adam", "lion", "rmsprop"} <= set(OPTIMIZERS)
    # every handcrafted optimizer is tuned for the paper's five single-task envs (Tables 4-5)
    for o in ("adam", "lion", "rmsprop"):
        for e in paper_envs:
            assert (e, o) in TUNED_PAIRS, (e, o)


@pytest.mark.parametrize(("env", "opt"), TUNED_PAIRS, ids=[f"{e}-{o}" for e, o in TUNED_PAIRS])
def test_compose_and_resolve_tuned(env, opt):
    cfg, obj = load_config(["experiment=ppo", f"env={env}", f"optimizer={opt}"])
    assert obj.env.name == env
    assert obj.optimizer.name == opt
    tuned = _yaml("optimizer", opt)["tuned"][env]
    res = resolve_optimizer(obj.optimizer, obj.env.name)
    for k in OPT_HYPERS[opt]:
        assert getattr(res, k) == pytest.approx(tuned[k]), k
    assert res.anneal_lr is bool(tuned.get("anneal_lr", False))
    # env YAML fields survive composition
    env_yaml = _yaml("env", env)
    for k in ("family", "id"):
        assert getattr(obj.env, k) == env_yaml[k]
    # ppo group follows the env (ppo: ${env})
    assert obj.ppo.num_envs * obj.ppo.num_steps % obj.ppo.num_minibatches == 0
    # the update rule builds with the resolved values
    rule = make_rule(res)
    if opt == "optim4rl":  # learned: its tuned LR is static config; rule_params are meta-parameters
        assert rule.lr == pytest.approx(tuned["lr"])
        return
    params = rule.default_params()
    for k in OPT_HYPERS[opt]:
        assert float(params[k]) == pytest.approx(tuned[k])


@pytest.mark.parametrize(
    ("env", "opt", "expected"),
    [
        ("breakout", "adam", {"lr": 0.01, "b1": 0.9, "b2": 0.99, "anneal_lr": True}),
        ("asterix", "adam", {"lr": 0.003, "b1": 0.9, "b2": 0.999, "anneal_lr": True}),
        ("ant", "adam", {"lr": 0.0003, "b1": 0.99, "b2": 0.99, "anneal_lr": False}),
        ("spaceinvaders", "rmsprop", {"lr": 0.009, "decay": 0.99, "anneal_lr": False}),
        ("freeway", "rmsprop", {"lr": 0.001, "decay": 0.999}),
        ("breakout", "lion", {"lr": 0.0008, "b1": 0.9, "b2": 0.9, "weight_decay": 1e-3}),
        ("asterix", "lion", {"lr": 0.0003, "b1": 0.99, "b2": 0.9, "weight_decay": 1e-3}),
        ("deepsea", "adam", {"lr": 0.001, "b1": 0.9, "b2": 0.999}),
    ],
)
def test_known_tuned_values(env, opt, expected):
    """Spot checks against the paper's tables, independent of the YAML parser used above."""
    _, obj = load_config(["experiment=ppo", f"env={env}", f"optimizer={opt}"])
    res = resolve_optimizer(obj.optimizer, obj.env.name).as_dict()
    for k, v in expected.items():
        assert res[k] == v, (k, res[k], v)


def test_lion_rule_has_weight_decay():
    _, obj = load_config(["experiment=ppo", "env=breakout", "optimizer=lion"])
    rule = make_rule(resolve_optimizer(obj.optimizer, obj.env.name))
    assert dict(rule.hypers)["weight_decay"] == pytest.approx(1e-3)


def test_default_config_is_breakout_adam():
    _, obj = load_config(["experiment=ppo"])
    assert obj.env.name == "breakout"
    assert obj.optimizer.name == "adam"
    assert obj.logger.wandb_mode == "auto"


def test_command_line_override_wins():
    _, obj = load_config(
        ["experiment=ppo", "env=breakout", "optimizer=adam", "optimizer.lr=0.5", "optimizer.anneal_lr=false"]
    )
    res = resolve_optimizer(obj.optimizer, "breakout")
    assert res.lr == 0.5
    assert res.b1 == 0.9 and res.b2 == 0.99  # the others stay tuned
    assert res.anneal_lr is False  # tuned value (true) overridden
    # the config object itself is not mutated by resolution
    assert obj.optimizer.b1 is None


def test_experiment_ppo_composes():
    cfg, obj = load_config(["experiment=ppo", "env=asterix"])
    assert obj.task_name == "ppo"
    assert obj.env.name == "asterix"


def test_logger_groups():
    for mode in ("auto", "online", "offline", "disabled"):
        _, obj = load_config(["experiment=ppo", f"logger={mode}"])
        assert obj.logger.wandb_mode == mode


def test_ppo_per_family():
    _, ant = load_config(["experiment=ppo", "env=ant"])
    assert ant.ppo.num_envs == 2048
    assert ant.ppo.num_steps == 10
    assert ant.ppo.activation == "tanh"
    assert ant.ppo.total_timesteps == 50_000_000
    assert ant.ppo.num_minibatches == 32
    assert ant.ppo.ent_coef == 0.0
    assert ant.env.family == "brax"

    for env in ("breakout", "asterix", "freeway", "spaceinvaders"):
        _, obj = load_config(["experiment=ppo", f"env={env}"])
        p = obj.ppo
        assert (p.num_envs, p.num_steps, p.num_minibatches, p.update_epochs) == (64, 128, 8, 4), env
        assert p.activation == "relu"
        assert p.total_timesteps == 10_000_000 and math.isclose(p.total_timesteps, 1e7)
        assert (p.width, p.hidden_layers) == (64, 2)
        assert p.ent_coef == 0.01
        assert obj.env.family == "minatar"

    _, ds = load_config(["experiment=ppo", "env=deepsea"])
    assert ds.env.family == "bsuite" and ds.env.size == 10
    assert ds.ppo.activation == "tanh"


def test_ppo_override():
    _, obj = load_config(["experiment=ppo", "env=breakout", "ppo.num_envs=16", "ppo.gamma=0.9"])
    assert obj.ppo.num_envs == 16 and obj.ppo.gamma == 0.9


# -- rejections ---------------------------------------------------------------------------------------
def test_unknown_key_rejected():
    with pytest.raises(ConfigCompositionException) as ei:
        load_config(["experiment=ppo", "ppo.foo=1"])
    assert "ppo.foo" in str(ei.value)


def test_unknown_optimizer_key_rejected():
    # each optimizer accepts only its own hyperparameters
    with pytest.raises(ConfigCompositionException) as ei:
        load_config(["experiment=ppo", "optimizer=adam", "optimizer.decay=0.9"])
    assert "optimizer.decay" in str(ei.value)


def test_wrong_type_rejected():
    with pytest.raises(ConfigCompositionException) as ei:
        load_config(["experiment=ppo", "ppo.num_envs=lots"])
    assert "ppo.num_envs" in str(ei.value) + str(ei.value.__cause__)


@pytest.mark.parametrize(
    ("env", "key", "owner", "schema"),
    [
        ("breakout", "level=labyrinth", "gridworld", "MinAtarEnvConfig"),
        ("ant", "size=10", "bsuite and deepsea", "BraxEnvConfig"),
        ("gridworld", "reward_gamma=0.9", "brax", "GridworldEnvConfig"),
        ("deepsea", "max_size=20", "deepsea", "BsuiteEnvConfig"),  # openrl's Deep Sea, not gymnax's
    ],
)
def test_another_familys_env_key_rejected(env, key, owner, schema):
    """Each env family accepts only its own fields: a key of another family fails at composition."""
    with pytest.raises(ConfigCompositionException) as ei:
        load_config(["experiment=ppo", f"env={env}", f"env.{key}"])
    field = key.split("=")[0]
    msg = str(ei.value)
    assert f"env.{field}: only env famil" in msg and owner in msg and "the selected env is of another" in msg
    assert f"Key '{field}' not in '{schema}'" in str(ei.value.__cause__)


def test_unknown_env_lists_options():
    with pytest.raises(MissingConfigException) as ei:
        load_config(["experiment=ppo", "env=foo"])
    msg = str(ei.value)
    assert "env/foo" in msg
    for e in ENVS:
        assert e in msg


@pytest.mark.parametrize("group", ["optimizer", "env", "ppo", "logger"])
def test_unknown_option_lists_the_presets_and_no_schema(group):
    """The structured-config schemas the presets extend are not offered as options of their group."""
    with pytest.raises(MissingConfigException) as ei:
        load_config(["experiment=ppo", f"{group}=typo"])
    head = str(ei.value).split("Config search path")[0]
    listed = head.split(f"Available options in '{group}':")[1].split()
    assert listed == sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
    assert "schema" not in head


@pytest.mark.parametrize(
    ("preset", "key"),
    [
        ("optimizer/adam", "lr_typo"),
        ("optimizer/open", "lr"),  # Adam's hyperparameter: OPEN's own schema applies, not a shared one
        ("env/breakout", "nmae"),
        ("ppo/minatar", "num_env"),
        ("logger/disabled", "wandb_mod"),
    ],
)
def test_unknown_key_in_a_preset_yaml_is_rejected(tmp_path, preset, key):
    """Each preset is checked against its schema at composition: a key the schema lacks fails."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    group, name = preset.split("/")
    overrides = ["experiment=ppo", "env=breakout", f"{group}={name}"]

    def compose_copy():
        register_configs()  # the schemas, as load_config and the console scripts store them
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            return compose(config_name="config", overrides=overrides)

    assert compose_copy()[group]  # the untouched copy composes
    yml = conf / f"{preset}.yaml"
    yml.write_text(yml.read_text() + f"{key}: 1\n")
    with pytest.raises(ConfigCompositionException) as ei:
        compose_copy()
    assert key in str(ei.value) + str(ei.value.__cause__)
    GlobalHydra.instance().clear()


def _config_error(overrides) -> str:
    with pytest.raises(ConfigError) as ei:
        load_config(["experiment=ppo", *overrides])
    return str(ei.value)


def test_indivisible_minibatches_rejected():
    msg = _config_error(["env=breakout", "ppo.num_minibatches=7"])
    assert "ppo.num_minibatches=7" in msg


def test_negative_width_rejected():
    assert "ppo.width=-3" in _config_error(["ppo.width=-3"])


def test_gamma_above_one_rejected():
    assert "ppo.gamma=1.5" in _config_error(["ppo.gamma=1.5"])


def test_wandb_mode_typo_rejected():
    msg = _config_error(["logger.wandb_mode=onlin"])
    assert "logger.wandb_mode='onlin'" in msg
    assert "online" in msg


def test_bad_activation_rejected():
    assert "ppo.activation" in _config_error(["ppo.activation=gelu"])


def test_bad_shuffle_rejected_and_schema_matches_trainer():
    from openrl.config.validate import SHUFFLES as CONFIG_SHUFFLES
    from openrl.ppo.train import SHUFFLES

    msg = _config_error(["ppo.shuffle=random"])
    assert "ppo.shuffle='random'" in msg and "packed_sort" in msg
    assert CONFIG_SHUFFLES == SHUFFLES


@pytest.mark.parametrize("opt", ["open", "no_features", "optim4rl"])
def test_bad_batching_rejected_and_schema_matches_rule(opt):
    from openrl.config.validate import BATCHING as CONFIG_BATCHING
    from openrl.optimizers.open import BATCHING

    msg = _config_error([f"optimizer={opt}", "optimizer.batching=serial"])
    assert "optimizer.batching='serial'" in msg and "sequential" in msg
    assert CONFIG_BATCHING == BATCHING


def test_total_timesteps_below_one_batch_rejected():
    assert "ppo.total_timesteps" in _config_error(
        ["ppo.num_envs=4", "ppo.num_steps=8", "ppo.total_timesteps=16"]
    )


def test_untuned_optimizer_names_field():
    msg = _config_error(["env=deepsea", "optimizer=rmsprop"])
    assert "optimizer.lr" in msg
    assert "optimizer.decay" in msg
    # providing the values fixes it
    _, obj = load_config(
        ["experiment=ppo", "env=deepsea", "optimizer=rmsprop", "optimizer.lr=0.001", "optimizer.decay=0.99"]
    )
    assert resolve_optimizer(obj.optimizer, "deepsea").lr == 0.001


def test_errors_are_collected():
    msg = _config_error(["ppo.width=-3", "ppo.gamma=1.5", "logger.wandb_mode=x"])
    assert "ppo.width" in msg and "ppo.gamma" in msg and "logger.wandb_mode" in msg


def test_bad_optimizer_values_rejected():
    assert "optimizer.lr" in _config_error(["optimizer.lr=-0.1"])
    assert "optimizer.b1" in _config_error(["optimizer.b1=1.5"])


# -- non-finite values ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["experiment=single_breakout", "es.sigma_init=nan"], "es.sigma_init=nan"),
        (["experiment=ppo", "ppo.gamma=inf"], "ppo.gamma=inf"),  # a range rule would also trip: one message
        (["experiment=ppo", "optimizer.lr=-inf"], "optimizer.lr=-inf"),
        (["experiment=ppo", "optimizer=open", "optimizer.alpha1=nan"], "optimizer.alpha1=nan"),
        (["experiment=ppo", "optimizer.tuned.breakout.lr=nan"], "optimizer.tuned.breakout.lr=nan"),
        (["experiment=ppo", "eval.confidence=inf"], "eval.confidence=inf"),
    ],
)
def test_non_finite_values_rejected_naming_the_field(overrides, field):
    with pytest.raises(ConfigError) as ei:
        load_config(overrides)
    lines = str(ei.value).splitlines()[1:]
    key = field.split("=")[0]
    assert [line for line in lines if key in line] == [
        f"  - {field}: must be a finite number (NaN and infinity are not allowed)"
    ]


def _float_fields(node, prefix=""):
    import dataclasses

    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if dataclasses.is_dataclass(v):
            yield from _float_fields(v, f"{prefix}{f.name}.")
        elif isinstance(v, float):
            yield f"{prefix}{f.name}", node, f.name


@pytest.mark.parametrize("optimizer", ["adam", "open"])
def test_every_float_field_rejects_nan(optimizer):
    """Not a list of known fields: every float in the composed config (ES, PPO, env, optimizer, eval)."""
    import copy

    from openrl.config import validate

    # env=ant: Brax's env schema has a float of its own (reward_gamma); MinAtar's has only adam_return
    _, obj = load_config(["experiment=single_breakout", "mode=ppo", "env=ant", f"optimizer={optimizer}"])
    paths = [p for p, _, _ in _float_fields(obj)]
    assert {"es.sigma_init", "es.lr", "ppo.clip_eps", "env.reward_gamma", "eval.confidence"} <= set(paths)
    assert "env.adam_return" in paths
    for i, path in enumerate(paths):
        bad = copy.deepcopy(obj)
        _, node, name = list(_float_fields(bad))[i]
        setattr(node, name, math.nan)
        with pytest.raises(ConfigError, match=rf"{path}=nan: must be a finite number"):
            validate(bad)


# -- output directory ----------------------------------------------------------------------------------------
def test_output_dir_problem(tmp_path):
    from openrl.cli.train import output_dir_problem

    assert output_dir_problem(tmp_path) is None
    assert output_dir_problem(tmp_path / "new" / "deeper") is None
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind and creates nothing
    f = tmp_path / "file"
    f.write_text("x")
    assert output_dir_problem(f) == "it exists and is not a directory"
    assert output_dir_problem(f / "sub") == f"it cannot be created: {f} is not a directory"
    if Path("/proc/self").is_dir():  # a virtual file system: os.access says yes for root, mkdir fails
        assert output_dir_problem("/proc/x").startswith("it cannot be created in /proc (")


def _openrl_train(args: list[str]) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("openrl-train")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c", "from openrl.cli.train import train_main; train_main()"]  # fmt: skip
    return subprocess.run(cmd + args, capture_output=True, text=True, timeout=120, env={**os.environ, "WANDB_MODE": "disabled"})  # fmt: skip


def test_train_cli_refuses_unusable_output_dir_and_nan_at_start_up(tmp_path):
    (tmp_path / "file").write_text("x")
    bad = tmp_path / "file" / "run"
    proc = _openrl_train(["mode=ppo", *TINY_PPO, f"hydra.run.dir={bad}"])
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert str(bad) in line and "hydra.run.dir" in line and "is not a directory" in line
    # a usable directory gets as far as validation, which refuses the NaN before anything is built
    proc = _openrl_train(
        ["experiment=single_breakout", "es.sigma_init=nan", f"hydra.run.dir={tmp_path / 'r'}"]
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "es.sigma_init=nan: must be a finite number" in proc.stderr and "Traceback" not in proc.stderr


def test_the_recorded_config_holds_the_values_the_run_uses():
    """config_resolved.yaml (and W&B) get the optimizer as it runs: the env's tuned values filled in, and
    of the tuned table only the row that supplied them; an explicit value wins and is what is recorded."""
    cfg, _ = load_config(["experiment=ppo", "env=asterix", "optimizer=adam", "optimizer.b1=0.8"])
    _, recorded = resolve(cfg, ["experiment=ppo", "env=asterix", "optimizer=adam", "optimizer.b1=0.8"])
    row = _yaml("optimizer", "adam")["tuned"]["asterix"]
    opt = recorded["optimizer"]
    assert (opt["lr"], opt["b1"], opt["b2"], opt["anneal_lr"]) == (
        row["lr"],
        0.8,
        row["b2"],
        row["anneal_lr"],
    )
    assert opt["tuned"] == {"asterix": row}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("env.id=Seaquest-Minatar", "env.id='Seaquest-Minatar': not a gymnax environment; did you mean 'Seaquest-MinAtar'?"),
        ("env.id=NoSuchGame", "env.id='NoSuchGame': not a gymnax environment; known: Asterix-MinAtar"),
    ],
)  # fmt: skip
def test_a_misspelt_gymnax_id_fails_at_start_up(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(["experiment=ppo", "env=breakout", override])


@pytest.mark.parametrize(
    ("env", "override", "message"),
    [
        ("ant", "env.id=Ant", "env.id='Ant': not a brax environment; did you mean 'ant'? known: ant, fast, halfcheetah, hopper"),
        ("ant", "env.backend=positonal", "env.backend='positonal': not a brax physics backend; did you mean 'positional'? known: generalized, spring, positional"),
        ("gridworld", "env.level=labyrinht", "env.level='labyrinht': not a gridworld level type; did you mean 'labyrinth'? known: rand_all, rand_dense"),
        ("gridworld", "env.id=GridWorld", "env.id='GridWorld': not the gridworld family's one environment (env.level selects the level); did you mean 'gridworld'? known: gridworld"),
        ("deepsea", "env.id=Deepsea-bsuite", "env.id='Deepsea-bsuite': not a bsuite environment openrl builds; did you mean 'DeepSea-bsuite'? known: DeepSea-bsuite"),
        ("deepsea_random", "env.id=deep_sea", "env.id='deep_sea': not the deepsea family's one environment; did you mean 'deepsea'? known: deepsea"),
    ],
)  # fmt: skip
def test_a_wrong_env_id_or_level_fails_at_start_up_in_every_family(env, override, message):
    """Each family's id (and gridworld's level) is checked against its known values before anything is
    built: one line naming the field, the value, the closest allowed value and the allowed ones."""
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        load_config(["experiment=ppo", f"env={env}", override])
    assert str(e.value).count("\n  - ") == 1, str(e.value)  # the one error, on one line


def test_a_wrong_probe_kind_is_refused_by_its_family_check():
    from openrl.config.registry import ENV_FAMILIES, PROBE_KINDS
    from openrl.config.schema import ProbeEnvConfig

    check = ENV_FAMILIES["probe"].check
    assert all(check(ProbeEnvConfig(name=k, family="probe", id=k)) == [] for k in PROBE_KINDS)
    (error,) = check(ProbeEnvConfig(name="p", family="probe", id="two-step"))
    assert error.startswith(
        "env.id='two-step': not a probe environment; did you mean 'two_step'? known: constant"
    )


@pytest.mark.parametrize("env", ENVS)
def test_every_shipped_env_preset_passes_its_family_checks(env):
    from openrl.config.registry import ENV_FAMILIES

    _, cfg = load_config(["experiment=ppo", f"env={env}"])
    assert list(ENV_FAMILIES[cfg.env.family].check(cfg.env)) == []
