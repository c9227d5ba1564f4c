"""The optimizer and env-family registries: a new handcrafted optimizer (SGD with momentum) and a new env
family (a one-step bandit) registered through the public API alone, with no YAML and no change to
openrl, validate, build and train PPO; registrations do not outlive their ``with`` block; the registry
module stays free of jax; and the built-in tables agree with ``conf/``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import yaml
from hydra.core.config_store import ConfigStore

from openrl.builders import build_trainer
from openrl.config import CONF_DIR, ConfigError, resolve_optimizer, validate
from openrl.config.registry import (
    ENV_FAMILIES,
    OPTIMIZERS,
    EnvFamily,
    OptimizerEntry,
    register_configs,
    register_optimizer,
)
from openrl.config.schema import Config, EnvConfig, MetaConfig, OpenESConfig, OptimizerConfig, PPOConfig
from openrl.envs import make_env
from openrl.envs.base import StepOut
from openrl.optimizers import learned_architectures, make_rule
from openrl.optimizers.base import UpdateContext
from openrl.optimizers.handcrafted import OptaxRule


# -- the toy optimizer: SGD with momentum ------------------------------------------------------------------
@dataclass
class ToySGDConfig(OptimizerConfig):
    name: str = "toy_sgd"
    lr: Optional[float] = None  # noqa: UP045 - OmegaConf structured configs need typing.Optional
    momentum: Optional[float] = None  # noqa: UP045


def sgd_direction(hp: dict[str, jax.Array], eps: float) -> optax.GradientTransformation:
    """Heavy-ball momentum: the direction is the running sum ``g + momentum * previous``."""
    del eps
    return optax.trace(decay=hp["momentum"])


SGD = OptimizerEntry(
    "toy_sgd", "handcrafted", ToySGDConfig, "SGD (momentum)", sgd_direction, ("lr", "momentum")
)


# -- the toy env family: a one-step bandit, reward 1 for the good arm --------------------------------------
@dataclass
class BanditEnvConfig(EnvConfig):
    num_arms: int = 3
    good_arm: int = 2


@dataclass(frozen=True)
class BanditVecEnv:
    num_envs: int
    num_arms: int
    good_arm: int
    obs_dim: int = 1
    discrete: bool = True
    max_episode_steps: int = 1

    @property
    def action_dim(self) -> int:
        return self.num_arms

    def reset(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jnp.zeros((self.num_envs, 1), jnp.float32), jnp.zeros((self.num_envs,), jnp.float32)

    def step(self, key: jax.Array, state: jax.Array, action: jax.Array) -> tuple[jax.Array, Any, StepOut]:
        reward = (action == self.good_arm).astype(jnp.float32)
        done = jnp.ones((self.num_envs,), bool)
        obs = jnp.zeros((self.num_envs, 1), jnp.float32)
        out = StepOut(reward, done, done, ~done, obs, reward, jnp.ones((self.num_envs,), jnp.int32), reward)
        return obs, reward, out


def build_bandit(cfg: BanditEnvConfig, num_envs: int) -> BanditVecEnv:
    return BanditVecEnv(num_envs, cfg.num_arms, cfg.good_arm)


def check_bandit(env: BanditEnvConfig) -> list[str]:
    if not 0 <= env.good_arm < env.num_arms:
        return [f"env.good_arm={env.good_arm}: must lie in [0, env.num_arms={env.num_arms})"]
    return []


BANDIT = EnvFamily("toy_bandit", BanditEnvConfig, build_bandit, check_bandit)


@pytest.fixture
def toys():
    """Both toys registered for one test, removed afterwards (also on failure)."""
    with OPTIMIZERS.registered(SGD), ENV_FAMILIES.registered(BANDIT):
        yield
    register_configs()  # drops their schemas from Hydra's ConfigStore again


def _config(**opt: Any) -> Config:
    tuned = {"bandit": {"lr": 0.5, "momentum": 0.5, "anneal_lr": False}}
    return Config(
        env=BanditEnvConfig(name="bandit", family="toy_bandit", id="bandit"),
        ppo=PPOConfig(
            num_envs=16, num_steps=4, total_timesteps=16 * 4 * 12, num_minibatches=2, update_epochs=2, width=8
        ),
        optimizer=ToySGDConfig(tuned=tuned, **opt),
        progress=False,
    )


def test_toy_optimizer_and_env_train_ppo(toys):
    cfg = _config()
    validate(cfg)
    res = resolve_optimizer(cfg.optimizer, "bandit")
    assert (res.lr, res.momentum, res.anneal_lr) == (0.5, 0.5, False)  # from the tuned table
    trainer, rule_params, hp = build_trainer(cfg)
    assert isinstance(trainer.env, BanditVecEnv) and trainer.env.action_dim == 3
    assert isinstance(trainer.rule, OptaxRule) and trainer.rule.name == "toy_sgd"
    assert {k: float(v) for k, v in rule_params.items()} == {"lr": 0.5, "momentum": 0.5}
    _, metrics = jax.device_get(jax.jit(trainer.train)(jax.random.PRNGKey(0), rule_params, hp))
    ret = np.asarray(metrics["episode_return"])
    assert ret.shape == (12,) and np.all(np.isfinite(ret))
    # a uniform policy over 3 arms earns ~1/3; PPO with the toy SGD must learn to pull the good arm
    assert ret[0] < 0.6 and ret[-1] > 0.9, ret


def test_toy_sgd_moves_params_by_momentum(toys):
    """Two steps of the registered rule are exactly heavy-ball momentum: p1 = p0 - lr g,
    p2 = p1 - lr (g + momentum g)."""
    rule = make_rule(resolve_optimizer(_config().optimizer, "bandit"))
    p0 = {"w": jnp.array([1.0, -2.0])}
    g = {"w": jnp.array([0.5, -1.0])}
    ctx = UpdateContext(0.0, 0.0, 1.0, layer_props=None, activations=None, key=jax.random.PRNGKey(0))
    state = rule.init(p0)
    p1, state = rule.update(rule.default_params(), state, g, p0, ctx)
    p2, _ = rule.update(rule.default_params(), state, g, p1, ctx)
    np.testing.assert_allclose(p1["w"], [0.75, -1.5])
    np.testing.assert_allclose(p2["w"], [0.75 - 0.5 * 0.75, -1.5 + 0.5 * 1.5])


def test_toy_registrations_are_validated(toys):
    msg = _rejected(dataclasses.replace(_config(), env=BanditEnvConfig(name="b", family="toy_bandit", id="b", good_arm=3)))  # fmt: skip
    assert "env.good_arm=3: must lie in [0, env.num_arms=3)" in msg
    # env "b" has no tuned row: the toy's tuned fields must be given
    assert "optimizer.lr: no value given" in msg and "optimizer.momentum: no value given" in msg
    assert "optimizer.momentum=1.5: must lie in [0, 1)" in _rejected(_config(momentum=1.5))
    assert "meta-training needs a learned optimizer" in _rejected(dataclasses.replace(_config(), mode="meta", meta=MetaConfig(), es=OpenESConfig()))  # fmt: skip
    assert "es: no evolution strategy selected" in _rejected(dataclasses.replace(_config(), mode="meta", meta=MetaConfig()))  # fmt: skip
    # a config of the common schema only cannot pass for the bandit family (its fields would be missing)
    plain = dataclasses.replace(_config(), env=EnvConfig(name="bandit", family="toy_bandit", id="bandit"))
    assert "env.family='toy_bandit': the env preset extends EnvConfig, not the toy_bandit schema" in _rejected(plain)  # fmt: skip


# -- a handcrafted optimizer with static options (optax.adabelief's eps_root, a boolean) --------------------
@dataclass
class ToyBeliefConfig(OptimizerConfig):
    name: str = "toy_belief"
    lr: Optional[float] = 0.1  # noqa: UP045
    b1: Optional[float] = 0.9  # noqa: UP045
    b2: Optional[float] = 0.999  # noqa: UP045
    eps: float = 1e-16
    eps_root: float = 1e-14
    flip: bool = False  # a boolean option: negate the direction


def belief_direction(hp, eps: float, eps_root: float, flip: bool) -> optax.GradientTransformation:
    tx = optax.scale_by_belief(b1=hp["b1"], b2=hp["b2"], eps=eps, eps_root=eps_root)
    return optax.chain(tx, optax.scale(-1.0)) if flip else tx


BELIEF = OptimizerEntry("toy_belief", "handcrafted", ToyBeliefConfig, "AdaBelief", belief_direction, ("lr", "b1", "b2"))  # fmt: skip


def _one_step(opt: ToyBeliefConfig) -> np.ndarray:
    rule = make_rule(resolve_optimizer(opt, "bandit"))
    p0, g = {"w": jnp.array([1.0, -2.0])}, {"w": jnp.array([0.5, -1.0])}
    ctx = UpdateContext(0.0, 0.0, 1.0, layer_props=None, activations=None, key=jax.random.PRNGKey(0))
    return np.asarray(rule.update(rule.default_params(), rule.init(p0), g, p0, ctx)[0]["w"])


def test_every_option_of_a_handcrafted_optimizer_reaches_the_update():
    """Schema fields that are neither tuned nor traced (eps_root, a boolean) are passed to the direction:
    changing one changes the step, exactly as optax computes it."""
    with OPTIMIZERS.registered(BELIEF):
        assert BELIEF.options == ("eps_root", "flip")
        rule = make_rule(resolve_optimizer(ToyBeliefConfig(eps_root=0.25, flip=True), "bandit"))
        assert dict(rule.options) == {"eps_root": 0.25, "flip": True}
        base = _one_step(ToyBeliefConfig())
        # first AdaBelief step: m = 0.1 g, s = 0.001 (g - m)^2 + eps_root, bias-corrected; update -lr m/sqrt(s)
        g = np.array([0.5, -1.0])
        for eps_root in (1e-14, 0.25):
            m_hat = 0.1 * g / 0.1
            s_hat = (0.001 * (g - 0.1 * g) ** 2 + eps_root) / 0.001
            step = _one_step(ToyBeliefConfig(eps_root=eps_root))
            np.testing.assert_allclose(step, [1.0, -2.0] - 0.1 * m_hat / (np.sqrt(s_hat) + 1e-16), rtol=1e-5)
        assert not np.allclose(_one_step(ToyBeliefConfig(eps_root=0.25)), base)
        np.testing.assert_allclose(_one_step(ToyBeliefConfig(flip=True)) - [1.0, -2.0], -(base - [1.0, -2.0]), rtol=1e-6)  # fmt: skip


def test_an_option_the_direction_does_not_take_is_refused_at_start_up():
    def narrow(hp, eps):  # knows nothing of eps_root or flip
        return optax.scale_by_adam(b1=hp["b1"], b2=hp["b2"], eps=eps)

    entry = dataclasses.replace(BELIEF, build=narrow)
    with OPTIMIZERS.registered(entry):
        cfg = dataclasses.replace(_config(), optimizer=ToyBeliefConfig())
        msg = _rejected(cfg)
    assert "optimizer.eps_root=1e-14: toy_belief's direction takes no argument 'eps_root'" in msg
    assert "optimizer.flip=False" in msg


def _rejected(cfg: Config) -> str:
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    return str(ei.value)


def test_registrations_do_not_leak():
    cs = ConfigStore.instance()
    with OPTIMIZERS.registered(SGD), ENV_FAMILIES.registered(BANDIT):
        register_configs()
        assert "toy_sgd.yaml" in cs.list("schema/optimizer") and "toy_bandit.yaml" in cs.list("schema/env")
        assert "toy_sgd" in OPTIMIZERS.names() and make_env(_config().env, 2).num_arms == 3
    assert "toy_sgd" not in OPTIMIZERS and "toy_bandit" not in ENV_FAMILIES
    register_configs()
    assert "toy_sgd.yaml" not in cs.list("schema/optimizer")
    assert "toy_bandit.yaml" not in cs.list("schema/env")
    with pytest.raises(ValueError, match="has no update rule"):
        make_rule(_resolved_toy())
    with pytest.raises(ValueError, match="toy_bandit.* is not supported"):
        make_env(_config().env, 2)


def _resolved_toy() -> Any:
    with OPTIMIZERS.registered(SGD):
        return resolve_optimizer(_config().optimizer, "bandit")


def test_bad_entries_rejected():
    with pytest.raises(ValueError, match="ToySGDConfig.name must default to 'sgd'"):
        OptimizerEntry("sgd", "handcrafted", ToySGDConfig, "SGD", sgd_direction, ("lr", "momentum"))
    with pytest.raises(ValueError, match="traced fields need 'lr'"):
        OptimizerEntry("toy_sgd", "handcrafted", ToySGDConfig, "SGD", sgd_direction, ("momentum",))
    with pytest.raises(ValueError, match=r"\['beta'\] are not fields of ToySGDConfig"):
        OptimizerEntry("toy_sgd", "handcrafted", ToySGDConfig, "SGD", sgd_direction, ("lr", "beta"))
    with pytest.raises(ValueError, match="'adam' is already registered"):
        register_optimizer(OPTIMIZERS["adam"])
    with pytest.raises(TypeError, match="schema must be an EnvConfig dataclass"):
        EnvFamily("toy", ToySGDConfig, build_bandit)
    with pytest.raises(
        KeyError, match="optimizer.name='sgd': no such optimizer; registered: adam, .*rmsprop"
    ):
        OPTIMIZERS["sgd"]


def test_registry_module_imports_no_jax():
    """Validation and the console scripts' --help import the registries: they must not pull in jax."""
    code = "import sys, openrl.config.registry, openrl.config; print(sorted({'jax', 'flax', 'brax', 'optax'} & set(sys.modules)))"  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_builtin_tables_match_conf():
    """Every built-in optimizer has its preset; every env preset extends its registered family's schema;
    the learned architectures come from the registry (so openrl-import-weights knows each size)."""
    # the built-ins, in this order; an optimizer registered beside them (docs/extending.md) is welcome
    builtin = ("adam", "rmsprop", "lion", "open", "no_features", "optim4rl")
    assert [n for n in OPTIMIZERS.names() if n in builtin] == list(builtin), OPTIMIZERS.names()
    assert [OPTIMIZERS[n].kind for n in ("adam", "open", "optim4rl")] == ["handcrafted", "learned", "learned"]
    assert {e.name: e.display for e in OPTIMIZERS}["no_features"] == "No Features"
    for entry in OPTIMIZERS:
        assert (CONF_DIR / "optimizer" / f"{entry.name}.yaml").is_file(), entry.name
    for path in sorted((CONF_DIR / "env").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        assert doc["family"] in ENV_FAMILIES, path.name
        assert f"/schema/env/{doc['family']}@_here_" in doc["defaults"], path.name
    archs = learned_architectures()
    assert list(archs) == ["open", "open_large", "no_features", "optim4rl", "optim4rl_large"]
    assert [archs[a].num_meta_params for a in ("open", "open_large", "no_features")] == [1211, 3571, 1074]
