"""Opt-in optimizer statistics (paper App. F, Figs. 10-14): definitions on hand-made inputs, OpenRule's
values against a numpy recomputation, the PPO loop's plumbing, and zero cost when switched off."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from openrl.optimizers.analysis import cosine, mean_abs_ratio, update_stats
from openrl.optimizers.base import UpdateContext
from openrl.optimizers.handcrafted import OptaxRule
from openrl.optimizers.open import DECAYS, OpenRule, draw_noise, no_features
from openrl.ppo.train import PPOHParams, PPOStatic, PPOTrainer, layer_proportions
from tiny import tiny_actor_critic

COS_KEYS = ("cos_g", *(f"cos_m{d:g}" for d in DECAYS))


def _jit(f):
    def run(*args):
        return jax.jit(f).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})(*args)

    return run


def test_definitions_on_hand_made_vectors():
    g = jnp.asarray([1.0, -2.0, 0.5, 0.0])
    assert float(cosine(g, g)) == pytest.approx(1.0)
    assert float(cosine(-3.0 * g, g)) == pytest.approx(-1.0)
    assert float(cosine(jnp.asarray([2.0, 1.0, 0.0, 7.0]), g)) == pytest.approx(0.0, abs=1e-7)  # orthogonal
    assert float(cosine(jnp.zeros(4), g)) == 0.0  # zero update (zero meta-parameters): defined as 0
    c = float(cosine(jnp.asarray([1.0, 1.0, 1.0, 1.0]), g))
    assert c == pytest.approx(-0.5 / (2.0 * np.sqrt(5.25)), rel=1e-6) and -1.0 <= c <= 1.0
    # |x / p| over non-zero p only (biases start at exactly 0)
    assert float(
        mean_abs_ratio(jnp.asarray([1.0, 2.0, -3.0]), jnp.asarray([2.0, 0.0, -6.0]))
    ) == pytest.approx(0.5)
    assert np.isnan(float(mean_abs_ratio(jnp.ones(2), jnp.zeros(2))))
    s = update_stats(g, g, momenta=jnp.stack([g, -g]), decays=(0.1, 0.5), p=2 * g, u_hat=g)
    assert set(s) == {"cos_g", "cos_m0.1", "cos_m0.5", "update_over_param"}
    assert float(s["cos_m0.5"]) == pytest.approx(-1.0) and float(s["update_over_param"]) == pytest.approx(0.5)


def _tiny():
    params, grads, acts, _, arr = tiny_actor_critic(zero_actor_bias=True)  # zero biases, as at init
    ctx = UpdateContext(
        jnp.float32(0.25), jnp.float32(1 / 3), jnp.float32(1.0),
        {k: layer_proportions(v) for k, v in params.items()}, acts, jax.random.PRNGKey(7),
    )  # fmt: skip
    rule = OpenRule(analysis=True)
    state = {k: s._replace(momenta=arr(*s.momenta.shape, scale=1e-2)) for k, s in rule.init(params).items()}
    flat = jax.random.normal(jax.random.PRNGKey(0), (rule.num_meta_params,)) * 0.5
    meta = ravel_pytree(rule.zero_meta_params())[1](flat)
    return rule, meta, state, grads, params, ctx


def _np_cos(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return a @ b / np.linalg.norm(a) / np.linalg.norm(b)


def _np_ratio(x, p):
    x, p = np.asarray(x, np.float64).ravel(), np.asarray(p, np.float64).ravel()
    nz = p != 0
    return np.mean(np.abs(x[nz] / p[nz]))


def test_open_rule_statistics_match_their_definitions():
    rule, meta, state, grads, params, ctx = _tiny()
    p_plain, s_plain = _jit(rule.update)(meta, state, grads, params, ctx)
    p_ana, s_ana, stats = _jit(rule.update_with_analysis)(meta, state, grads, params, ctx)
    for a, b in zip(jax.tree.leaves((p_plain, s_plain)), jax.tree.leaves((p_ana, s_ana))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # the update itself is unchanged

    # recompute from the meta-network outputs, in float64
    outs = rule.outputs(meta, state, grads, params, ctx)
    u_hat, u, noise_scale = {}, {}, {}
    for net, (o, _, _) in outs.items():
        o = np.asarray(o, np.float64)
        u_hat[net] = o[0] * 1e-3 * np.exp(1e-3 * o[1])
        u[net] = u_hat[net].copy()
        if net == "actor":
            noise_scale[net] = 1e-3 * o[2]
            u[net] += noise_scale[net] * np.asarray(
                draw_noise(ctx.key, jax.tree.leaves(params["actor"])), np.float64
            )
    mean = np.concatenate(list(u.values())).mean()
    u = {k: v - mean for k, v in u.items()}
    g = {k: np.asarray(ravel_pytree(v)[0]) for k, v in grads.items()}
    p = {k: np.asarray(ravel_pytree(v)[0]) for k, v in params.items()}
    m = {k: np.asarray(outs[k][2]) for k in outs}
    cat = lambda d: np.concatenate([d["actor"], d["critic"]], axis=-1)  # noqa: E731
    u["all"], g["all"], p["all"], m["all"], u_hat["all"] = cat(u), cat(g), cat(p), cat(m), cat(u_hat)

    assert set(stats) == {"actor", "critic", "all"}
    for net in ("actor", "critic", "all"):
        want = {"cos_g": _np_cos(u[net], g[net]), "update_over_param": _np_ratio(u_hat[net], p[net])}
        want.update({f"cos_m{d:g}": _np_cos(u[net], m[net][i]) for i, d in enumerate(DECAYS)})
        if net == "actor":
            want["noise_over_param"] = _np_ratio(noise_scale["actor"], p["actor"])
        assert set(stats[net]) == set(want), net
        for k, v in want.items():
            got = float(stats[net][k])
            assert np.isfinite(got), (net, k)
            assert got == pytest.approx(v, rel=2e-3, abs=1e-6), (net, k, got, v)
            if k.startswith("cos_"):
                assert -1.0 <= got <= 1.0
    # zero biases are excluded from |u_hat / p| rather than making it infinite
    assert np.isfinite(float(stats["actor"]["update_over_param"]))


def test_no_features_statistics_have_no_noise_entry():
    rule = no_features(analysis=True)
    _, _, state, grads, params, ctx = _tiny()
    meta = ravel_pytree(rule.zero_meta_params())[1](
        jax.random.normal(jax.random.PRNGKey(1), (rule.num_meta_params,)) * 0.5
    )
    _, _, stats = _jit(rule.update_with_analysis)(meta, state, grads, params, ctx)
    assert set(stats["actor"]) == {*COS_KEYS, "update_over_param"}


def test_config_switch():
    from openrl.config import load_config, resolve_optimizer
    from openrl.optimizers import make_rule

    for name in ("open", "no_features", "open_large"):
        _, obj = load_config(["experiment=ppo", f"optimizer={name}"])
        assert make_rule(resolve_optimizer(obj.optimizer, "breakout")).analysis is False
        _, obj = load_config(["experiment=ppo", f"optimizer={name}", "optimizer.analysis=true"])
        assert make_rule(resolve_optimizer(obj.optimizer, "breakout")).analysis is True


# -- in the PPO loop ----------------------------------------------------------------------------------
def _trainer(rule):
    from openrl.envs.probe import ProbeVecEnv

    return PPOTrainer(PPOStatic(8, 4, 2, 2, 2, (8,), "tanh"), ProbeVecEnv("action_reward", 8), rule)


@dataclass(frozen=True)
class _Delegate:
    """An update rule that only has the UpdateRule protocol (no analysis attribute at all)."""

    inner: OpenRule

    def default_params(self):
        return self.inner.default_params()

    def init(self, params):
        return self.inner.init(params)

    def update(self, rule_params, state, grads, params, ctx):
        return self.inner.update(rule_params, state, grads, params, ctx)


def test_off_means_no_extra_outputs_and_the_same_program():
    off, on = OpenRule(), OpenRule(analysis=True)
    rng = jax.random.PRNGKey(0)
    hp = PPOHParams()
    shapes = {}
    for name, rule in (("off", off), ("on", on), ("delegate", _Delegate(off))):
        tr = _trainer(rule)
        state = tr.init(rng)
        jaxpr = jax.make_jaxpr(tr.update)(state, rule.default_params(), hp)
        _, metrics = jax.eval_shape(tr.update, state, rule.default_params(), hp)
        shapes[name] = (str(jaxpr), len(jaxpr.jaxpr.eqns), metrics)
    assert "analysis" not in shapes["off"][2] and "analysis" not in shapes["delegate"][2]
    # switched off, the traced PPO update is identical to a loop that never heard of analysis
    assert shapes["off"][0] == shapes["delegate"][0]
    assert shapes["on"][0] != shapes["off"][0]
    ana = shapes["on"][2]["analysis"]
    assert set(ana) == {"actor", "critic", "all"}
    assert set(ana["actor"]) == {*COS_KEYS, "update_over_param", "noise_over_param"}
    assert set(ana["critic"]) == set(ana["all"]) == {*COS_KEYS, "update_over_param"}
    assert all(x.shape == () for x in jax.tree.leaves(ana))
    # optax rules are untouched
    adam = OptaxRule("adam", (("lr", 1e-3), ("b1", 0.9), ("b2", 0.999)))
    assert not _trainer(adam).analysis


@dataclass(frozen=True)
class _GradientRule:
    """SGD whose update u is exactly 0.01 * g; reports its statistics like OpenRule does."""

    analysis: bool = True

    def default_params(self):
        return {}

    def init(self, params):
        return ()

    def update(self, rule_params, state, grads, params, ctx):
        return self.update_with_analysis(rule_params, state, grads, params, ctx)[:2]

    def update_with_analysis(self, rule_params, state, grads, params, ctx):
        new = jax.tree.map(lambda p, g: p - 0.01 * g, params, grads)
        g = ravel_pytree(grads)[0]
        return new, state, {"all": update_stats(0.01 * g, g, p=ravel_pytree(params)[0], u_hat=0.01 * g)}


def test_ppo_loop_records_the_statistics_per_update():
    rule = _GradientRule()
    tr = _trainer(rule)
    _, metrics = _jit(lambda r: tr.train(r, {}, PPOHParams()))(jax.random.PRNGKey(0))
    cos = np.asarray(metrics["analysis"]["all"]["cos_g"])
    assert cos.shape == (2,)  # one value per PPO update
    np.testing.assert_allclose(cos, 1.0, rtol=1e-5)  # a rule that returns the gradient
    assert np.all(np.asarray(metrics["analysis"]["all"]["update_over_param"]) > 0)
