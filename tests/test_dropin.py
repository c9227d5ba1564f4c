"""Drop-in optax API (``openrl.learned_optimizer``): parity with OpenRule on an actor/critic tree,
training a small regression model in a plain optax loop, jit-ability, defaults, arbitrary pytrees."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import openrl
from openrl.optimizers.base import UpdateContext
from openrl.optimizers.dropin import dormancy_from_activations, infer_layer_props, learned_optimizer
from openrl.optimizers.open import OpenNetState, OpenRule, no_features
from openrl.optimizers.optim4rl import Optim4RLRule
from openrl.optimizers.weights import WeightsError, save_flat
from openrl.ppo.train import layer_proportions
from tiny import tiny_actor_critic

PRETRAINED = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "pretrained"
BREAKOUT = PRETRAINED / "breakout_OPEN.npy"
needs_ref = pytest.mark.skipif(not BREAKOUT.is_file(), reason=f"released weights not found at {PRETRAINED}")


def _jit(f):
    """Compile without backend optimisation: tiny programs whose compile time dominates."""

    def run(*args, **kw):
        return (
            jax.jit(f)
            .lower(*args, **kw)
            .compile(compiler_options={"xla_backend_optimization_level": 0})(*args, **kw)
        )

    return run


def _random_meta(rule, seed=0, scale=0.3):
    from jax.flatten_util import ravel_pytree

    flat = jax.random.normal(jax.random.PRNGKey(seed), (rule.num_meta_params,)) * scale
    return ravel_pytree(rule.zero_meta_params())[1](flat)


def _actor_critic():
    params, grads, acts, _, arr = tiny_actor_critic()
    return params, grads, acts, arr


@needs_ref
@pytest.mark.parametrize("stochastic", [True, False], ids=["actor_noise", "deterministic"])
def test_reproduces_open_rule_on_actor_critic_tree(stochastic):
    params, grads, acts, arr = _actor_critic()
    rule = OpenRule(weights=str(BREAKOUT), use_stochasticity=True)
    meta = rule.default_params()
    lp = {k: layer_proportions(v) for k, v in params.items()}
    key = jax.random.PRNGKey(7)
    ctx = UpdateContext(jnp.float32(0.25), jnp.float32(2 / 3), jnp.float32(1.0), lp, acts, key)
    state = {
        k: s._replace(momenta=arr(*s.momenta.shape, scale=1e-2), carry=arr(*s.carry.shape, scale=0.3))
        for k, s in rule.init(params).items()
    }
    if not stochastic:  # OpenRule noises the actor always; the drop-in only where asked: compare o2 = 0
        meta = jax.tree.map(lambda x: x, meta)
        last = meta["params"]["params"]["layers_6"]
        meta["params"]["params"]["layers_6"] = {
            "kernel": last["kernel"].at[:, 2].set(0.0),
            "bias": last["bias"].at[2].set(0.0),
        }
    want_p, want_s = _jit(rule.update)(meta, state, grads, params, ctx)

    tx = learned_optimizer(
        rule=rule, meta_params=meta, noise=(lambda path, _: path[0] == "actor") if stochastic else None
    )
    cat = lambda f: jnp.concatenate([f(state["actor"]), f(state["critic"])], axis=1)  # noqa: E731
    dstate = OpenNetState(
        momenta=cat(lambda s: s.momenta), carry=cat(lambda s: s.carry), iteration=jnp.int32(0)
    )
    updates, new_dstate = _jit(
        lambda g, s, p, tp, bp, lps, d, k: tx.update(
            g, s, p, training_prop=tp, batch_prop=bp, layer_props=lps, dormancy=d, key=k
        )
    )(grads, dstate, params, ctx.training_prop, ctx.batch_prop, lp,
      dormancy_from_activations(params, acts), key)  # fmt: skip
    got_p = optax.apply_updates(params, updates)
    moved = max(
        float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(want_p), jax.tree.leaves(params))
    )
    assert moved > 1e-4  # the released optimizer really moves the parameters
    for a, b in zip(jax.tree.leaves(got_p), jax.tree.leaves(want_p)):
        # identical meta-network inputs and outputs; only the global mean is summed in a different order
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-9)
    want_m = jnp.concatenate([want_s["actor"].momenta, want_s["critic"].momenta], axis=1)
    np.testing.assert_array_equal(np.asarray(new_dstate.momenta), np.asarray(want_m))
    np.testing.assert_allclose(
        np.asarray(new_dstate.carry),
        np.asarray(jnp.concatenate([want_s["actor"].carry, want_s["critic"].carry], axis=1)),
        rtol=1e-5,
        atol=1e-6,
    )
    assert int(new_dstate.iteration) == 1


def _regression():
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(k1, (256, 4))
    y = x @ jnp.asarray([1.0, -2.0, 0.5, 3.0]) + 0.3
    params = {
        "Dense_0": {"kernel": jax.random.normal(k2, (4, 16)) * 0.5, "bias": jnp.zeros(16)},
        "Dense_1": {"kernel": jax.random.normal(k3, (16, 1)) * 0.25, "bias": jnp.zeros(1)},
    }

    def loss(p):
        h = jax.nn.relu(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
        return jnp.mean(jnp.square((h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"])[:, 0] - y))

    return params, loss


def _train(tx, params, loss, steps):
    def step(carry, _):
        p, s = carry
        value, g = jax.value_and_grad(loss)(p)
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), value

    (p, s), losses = jax.jit(lambda p0: jax.lax.scan(step, (p0, tx.init(p0)), None, steps))(params)
    return p, s, np.asarray(losses)


@needs_ref
def test_released_weights_train_a_regression_mlp():
    """Meta-trained on Breakout, OPEN still descends a supervised loss (slowly: its steps are ~1e-3)."""
    params, loss = _regression()
    tx = openrl.learned_optimizer(str(BREAKOUT), total_steps=300)
    p, state, losses = _train(tx, params, loss, 300)
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.85 * losses[0], losses[[0, 100, 200, -1]]
    assert np.mean(np.diff(losses) < 0) > 0.9  # nearly every step decreases the loss
    assert jax.tree.map(jnp.shape, p) == jax.tree.map(jnp.shape, params)
    assert int(state.iteration) == 300
    # the state is a pytree of arrays
    assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(state))


def test_zero_meta_params_and_arbitrary_pytrees():
    """Any pytree (lists, tuples, nested dicts); zero meta-parameters give exactly zero update."""
    rule = OpenRule()
    params = [jnp.ones((3, 2)), {"w": jnp.arange(4.0), "b": (jnp.zeros(()), jnp.ones((2, 2, 2)))}]
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.1), params)
    tx = learned_optimizer(rule=rule, meta_params=rule.zero_meta_params(), noise="all")
    u, s = _jit(tx.update)(grads, tx.init(params), params)
    assert jax.tree.structure(u) == jax.tree.structure(params)
    assert all(float(jnp.max(jnp.abs(x))) == 0.0 for x in jax.tree.leaves(u))
    assert s.momenta.shape == (6, 6 + 4 + 1 + 8) and int(s.iteration) == 1


def test_jit_noise_keys_and_defaults():
    rule = OpenRule()
    meta = _random_meta(rule)
    params, loss = _regression()
    grads = jax.grad(loss)(params)
    det = learned_optimizer(rule=rule, meta_params=meta)
    noisy = learned_optimizer(rule=rule, meta_params=meta, noise="all", seed=3)
    s0 = det.init(params)
    upd = _jit(lambda g, s, p: det.update(g, s, p))
    u1, s1 = upd(grads, s0, params)
    u1b, _ = upd(grads, s0, params)
    for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u1b)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # deterministic without noise
    # documented defaults: training_prop 0.5 without total_steps, batch_prop 0, dormancy 1, inferred layers
    explicit = _jit(
        lambda g, s, p: det.update(
            g, s, p, training_prop=0.5, batch_prop=0.0, layer_props=infer_layer_props(p),
            dormancy=jax.tree.map(jnp.ones_like, p), unrelated_extra_arg=123,
        )
    )(grads, s0, params)[0]  # fmt: skip
    for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(explicit)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # noise: default key folds in the step; an explicit key changes the update; zero-mean overall
    nu = _jit(lambda g, s, p: noisy.update(g, s, p))
    n0, ns1 = nu(grads, s0, params)
    n1, _ = nu(grads, ns1._replace(momenta=s0.momenta, carry=s0.carry), params)  # same inputs, next step
    flat = lambda t: np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])  # noqa: E731
    assert np.std(flat(n0) - flat(n1)) > 0
    assert abs(flat(n0).mean()) < 1e-6 * np.abs(flat(n0)).max()
    assert np.std(flat(n0) - flat(u1)) > 0
    with pytest.raises(ValueError, match="conditions on the parameters"):
        det.update(grads, s0)


def test_training_prop_from_total_steps():
    rule = OpenRule()
    meta = _random_meta(rule, seed=2)
    params, loss = _regression()
    grads = jax.grad(loss)(params)
    tx = learned_optimizer(rule=rule, meta_params=meta, total_steps=11)
    s = tx.init(params)._replace(iteration=jnp.int32(5))
    a = _jit(lambda g, s, p: tx.update(g, s, p))(grads, s, params)[0]
    b = _jit(lambda g, s, p: tx.update(g, s, p, training_prop=0.5))(grads, s, params)[0]
    c = _jit(lambda g, s, p: tx.update(g, s, p, training_prop=0.0))(grads, s, params)[0]
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))  # step 5 of 11 -> 5 / 10
    assert any(
        not np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(c))
    )


def test_infer_layer_props_and_dormancy_helper():
    tree = {
        "Dense_10": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
        "Dense_2": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
        "Dense_0": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
    }
    lp = infer_layer_props(tree)
    assert lp["Dense_0"]["kernel"] == lp["Dense_0"]["bias"] == 0.0
    assert lp["Dense_2"]["kernel"] == 0.5 and lp["Dense_10"]["bias"] == 1.0  # natural order, not "10" < "2"
    assert infer_layer_props([jnp.ones(3)]) == [0.0]
    acts = {"Dense_0": jnp.asarray([0.0, 2.0]), "Dense_2": jnp.asarray([1.0, 1.0])}
    d = dormancy_from_activations(tree, acts)
    np.testing.assert_allclose(np.asarray(d["Dense_0"]["kernel"]), [0.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(np.asarray(d["Dense_2"]["bias"]), [1.0, 1.0])
    assert float(d["Dense_10"]["bias"]) == 1.0  # no activations: "not dormant"


@needs_ref
def test_weights_sources(tmp_path):
    """A released .npy, an optimizer directory, inferred architecture, and clear errors."""
    d = tmp_path / "opt"
    d.mkdir()
    np.save(d / "optimizer.npy", np.load(BREAKOUT))
    a = learned_optimizer(str(BREAKOUT))
    b = learned_optimizer(d)
    params, loss = _regression()
    g = jax.grad(loss)(params)
    ua = _jit(lambda g, s, p: a.update(g, s, p))(g, a.init(params), params)[0]
    ub = _jit(lambda g, s, p: b.update(g, s, p))(g, b.init(params), params)[0]
    for x, y in zip(jax.tree.leaves(ua), jax.tree.leaves(ub)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    nf = save_flat(tmp_path / "nf.npy", no_features().zero_meta_params())
    learned_optimizer(nf)  # 1074 values: No Features, inferred
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(7, np.float32))
    with pytest.raises(WeightsError, match="7 values"):
        learned_optimizer(bad)
    o4 = save_flat(tmp_path / "o4.npy", Optim4RLRule().zero_meta_params())
    with pytest.raises(WeightsError, match="Optim4RLRule"):
        learned_optimizer(o4)
    with pytest.raises(FileNotFoundError, match="optimizer.npy"):
        learned_optimizer(tmp_path)


def test_optim4rl_dropin_is_sign_descent_at_zero():
    rule = Optim4RLRule(lr=0.01)
    tx = learned_optimizer(rule=rule, meta_params=rule.zero_meta_params())
    params = {"w": jnp.asarray([1.0, -2.0, 3.0]), "b": jnp.zeros(2)}
    grads = {"w": jnp.asarray([0.5, -1e-3, 0.0]), "b": jnp.asarray([-4.0, 2.0])}
    u, s = _jit(tx.update)(grads, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(u["w"]), [-0.01, 0.01, 0.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(u["b"]), [0.01, -0.01], rtol=1e-6)
    assert int(s.iteration) == 1
