"""Optim4RL baseline: layout and size, zero meta-parameters = sign descent, fused forward = flax modules,
config wiring (tuned LR = 0.1 x Adam), weights files, and a tiny PPO run."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from openrl.optimizers.base import UpdateContext
from openrl.optimizers.optim4rl import Optim4RLRule, optim4rl_param_count
from openrl.optimizers.weights import WeightsError, save_flat


def _jit(f):
    def run(*args):
        return jax.jit(f).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})(*args)

    return run


def _ctx():
    z = jnp.float32(0.0)
    return UpdateContext(z, z, z, {}, {}, jax.random.PRNGKey(0))


def _tree(rng, scale=1.0):
    return {
        "actor": {"Dense_0": {"kernel": jnp.asarray(rng.normal(size=(3, 4)) * scale, jnp.float32),
                              "bias": jnp.asarray(rng.normal(size=(4,)) * scale, jnp.float32)}},
        "critic": {"Dense_0": {"kernel": jnp.asarray(rng.normal(size=(3, 1)) * scale, jnp.float32)}},
    }  # fmt: skip


def test_meta_parameter_layout():
    small, large = Optim4RLRule(), Optim4RLRule(gru_features=16, hidden=32)
    assert small.num_meta_params == optim4rl_param_count(8, 16) == 1403
    assert large.num_meta_params == optim4rl_param_count(16, 32) == 5107
    meta = small.zero_meta_params()
    assert set(meta) == {"m", "v"}
    gm, gv = meta["m"]["gru_params"]["params"], meta["v"]["gru_params"]["params"]
    assert gm["ir"]["kernel"].shape == (2, 8) and gv["ir"]["kernel"].shape == (
        1,
        8,
    )  # [sign g, log|g|]; [log g^2]
    mlp_m, mlp_v = meta["m"]["params"]["params"], meta["v"]["params"]["params"]
    assert sorted(mlp_m) == ["layers_0", "layers_2", "layers_4"]  # Dense, relu, Dense, relu, Dense
    assert mlp_m["layers_2"]["kernel"].shape == (16, 16)
    assert mlp_m["layers_4"]["kernel"].shape == (16, 2) and mlp_v["layers_4"]["kernel"].shape == (16, 1)


def test_zero_meta_params_give_sign_descent():
    rng = np.random.default_rng(0)
    params, grads = _tree(rng), _tree(rng, 1e-2)
    grads["actor"]["Dense_0"]["bias"] = grads["actor"]["Dense_0"]["bias"].at[1].set(0.0)
    rule = Optim4RLRule(lr=1e-3)
    new, state = _jit(rule.update)(rule.zero_meta_params(), rule.init(params), grads, params, _ctx())
    for p, g, q in zip(jax.tree.leaves(params), jax.tree.leaves(grads), jax.tree.leaves(new)):
        np.testing.assert_allclose(np.asarray(q), np.asarray(p - 1e-3 * jnp.sign(g)), rtol=0, atol=1e-7)
        assert np.all(np.isfinite(np.asarray(q)))
    assert float(new["actor"]["Dense_0"]["bias"][1]) == float(params["actor"]["Dense_0"]["bias"][1])
    assert np.all(np.asarray(state.carry_m) == 0.0) and int(state.iteration) == 1


def test_fused_direction_equals_flax_modules():
    rule = Optim4RLRule()
    flat = jax.random.normal(jax.random.PRNGKey(1), (rule.num_meta_params,)) * 0.3
    meta = ravel_pytree(rule.zero_meta_params())[1](flat)
    n = 41
    g = jax.random.normal(jax.random.PRNGKey(2), (n,)) * 1e-2
    g = g.at[0].set(0.0)
    cm = jax.random.normal(jax.random.PRNGKey(3), (n, 8)) * 0.5
    cv = jax.random.normal(jax.random.PRNGKey(4), (n, 8)) * 0.5
    state = rule.init({"x": jnp.zeros(n)})._replace(carry_m=cm.T, carry_v=cv.T)
    d, new = rule.direction(meta, state, g)
    rd, (hm, hv) = rule.reference_direction(meta, (cm, cv), g)
    np.testing.assert_allclose(np.asarray(new.carry_m.T), np.asarray(hm), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(new.carry_v.T), np.asarray(hv), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(d), np.asarray(rd), rtol=1e-4, atol=1e-7)
    assert float(d[0]) == 0.0  # a zero gradient never moves
    assert np.any(np.asarray(d) != 0.0) and np.all(np.isfinite(np.asarray(d)))


def test_sequential_batching_equals_vectorised_under_nested_vmap():
    """``batching=sequential`` (the CPU default) runs both networks member by member under vmap: same
    maths as the batched program under two nested vmaps (ES population x seeds), bitwise the same
    without vmap; a bad value is refused; the rule stays picklable (launchers ship it)."""
    import pickle

    rng = np.random.default_rng(0)
    params = _tree(rng)
    flat = jax.random.normal(jax.random.PRNGKey(6), (Optim4RLRule().num_meta_params,)) * 0.3
    meta = ravel_pytree(Optim4RLRule().zero_meta_params())[1](flat)
    grads = _tree(rng, 1e-2)
    key = jax.random.PRNGKey(7)
    grads_b = jax.tree.map(lambda x: x + 1e-2 * jax.random.normal(key, (2, 3) + x.shape), grads)
    outs, single = {}, {}
    for b in ("vectorised", "sequential"):
        rule = Optim4RLRule(batching=b)
        state = rule.init(params)

        def one(g, rule=rule, state=state):
            return rule.update(meta, state, g, params, _ctx())

        outs[b] = jax.jit(jax.vmap(jax.vmap(one)))(grads_b)
        single[b] = jax.jit(one)(grads)
        text = jax.jit(jax.vmap(one)).lower(jax.tree.map(lambda x: x[0], grads_b)).as_text()
        assert ("stablehlo.while" in text) == (b == "sequential")  # the member loop is really there
        assert pickle.loads(pickle.dumps(rule)) == rule
    for a, b in zip(jax.tree.leaves(outs["vectorised"]), jax.tree.leaves(outs["sequential"])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(single["vectorised"]), jax.tree.leaves(single["sequential"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    u = outs["sequential"][0]["actor"]["Dense_0"]["kernel"]
    assert float(jnp.max(jnp.abs(u[0, 0] - u[1, 2]))) > 0  # the members really differ
    with pytest.raises(ValueError, match="batching='loop'"):
        Optim4RLRule(batching="loop")
    # auto = vectorised, also on CPU (member by member measured slower for these small networks)
    auto, st = Optim4RLRule(), Optim4RLRule().init(params)
    g0 = jax.tree.map(lambda x: x[0], grads_b)
    text = jax.jit(jax.vmap(lambda g: auto.update(meta, st, g, params, _ctx()))).lower(g0).as_text()
    assert "stablehlo.while" not in text


def test_weights_roundtrip_and_errors(tmp_path):
    rule = Optim4RLRule()
    flat = jax.random.normal(jax.random.PRNGKey(5), (rule.num_meta_params,))
    meta = ravel_pytree(rule.zero_meta_params())[1](flat)
    path = save_flat(tmp_path / "o4.npy", meta)
    loaded = Optim4RLRule(weights=str(path)).default_params()
    np.testing.assert_array_equal(np.asarray(ravel_pytree(loaded)[0]), np.asarray(flat))
    with pytest.raises(WeightsError, match="5107"):
        Optim4RLRule(gru_features=16, hidden=32, weights=str(path)).default_params()


# -- config -------------------------------------------------------------------------------------------
PAPER_LR = {"asterix": 0.0003, "freeway": 0.0001, "breakout": 0.001, "spaceinvaders": 0.0007, "ant": 0.00003}
ADAM_LR = {"asterix": 0.003, "freeway": 0.001, "breakout": 0.01, "spaceinvaders": 0.007, "ant": 0.0003}


@pytest.mark.parametrize("env", sorted(PAPER_LR))
def test_config_tuned_lr_is_a_tenth_of_adam(env):
    from openrl.config import load_config, resolve_optimizer
    from openrl.optimizers import make_rule

    _, obj = load_config(["experiment=ppo", f"env={env}", "optimizer=optim4rl"])
    rule = make_rule(resolve_optimizer(obj.optimizer, env))
    assert isinstance(rule, Optim4RLRule)
    assert rule.lr == PAPER_LR[env] == pytest.approx(0.1 * ADAM_LR[env])
    assert (rule.gru_features, rule.hidden) == (8, 16) and rule.num_meta_params == 1403


def test_config_large_override_and_errors(tmp_path):
    from openrl.config import ConfigError, load_config, resolve_optimizer
    from openrl.optimizers import make_rule

    _, obj = load_config(["experiment=ppo", "env=asterix", "optimizer=optim4rl_large"])
    rule = make_rule(resolve_optimizer(obj.optimizer, "asterix"))
    assert (rule.gru_features, rule.hidden, rule.lr) == (16, 32, 0.0003)
    _, obj = load_config(["experiment=ppo", "env=breakout", "optimizer=optim4rl", "optimizer.lr=0.05"])
    assert make_rule(resolve_optimizer(obj.optimizer, "breakout")).lr == 0.05
    with pytest.raises(ConfigError, match=r"optimizer\.lr: no value given.*deepsea"):
        load_config(["experiment=ppo", "env=deepsea", "optimizer=optim4rl"])
    with pytest.raises(ConfigError, match=r"optimizer\.anneal_lr"):
        load_config(["experiment=ppo", "optimizer=optim4rl", "optimizer.anneal_lr=true"])
    with pytest.raises(ConfigError, match=r"optimizer\.lr=-1"):
        load_config(["experiment=ppo", "optimizer=optim4rl", "optimizer.lr=-1"])
    wrong = tmp_path / "w.npy"
    np.save(wrong, np.zeros(1211, np.float32))
    with pytest.raises(ConfigError, match=r"optimizer\.weights=.*1211 values.*1403"):
        load_config(["experiment=ppo", "optimizer=optim4rl", f"optimizer.weights={wrong}"])


def test_tiny_ppo_run():
    from openrl.envs.probe import ProbeVecEnv
    from openrl.ppo.train import PPOHParams, PPOStatic, PPOTrainer

    rule = Optim4RLRule(lr=1e-3)
    trainer = PPOTrainer(PPOStatic(8, 4, 2, 2, 2, (8,), "tanh"), ProbeVecEnv("action_reward", 8), rule)
    rng = jax.random.PRNGKey(0)
    state, metrics = _jit(lambda r, p: trainer.train(r, p, PPOHParams()))(rng, rule.default_params())
    init = trainer.init(rng)
    assert int(state.opt_state.iteration) == 2 * 2 * 2
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(init.params)):
        d = np.abs(np.asarray(a) - np.asarray(b))
        assert np.all(np.isfinite(d)) and d.max() <= 8 * 1e-3 + 1e-6  # sign descent: |step| <= lr
    assert np.all(np.isfinite(np.asarray(metrics["value_loss"])))
