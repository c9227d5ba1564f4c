"""OPEN learned optimizer: released-weights layout and parity, the 19 input features, ablations, noise
mask, zero-mean, weights files, config wiring, and a tiny PPO run.

Golden values come from the authors' release (../shared/reference/pretrained/); tests that need them
skip when that folder is absent.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from openrl.optimizers.base import UpdateContext
from openrl.optimizers.open import DECAYS, OpenRule, meta_forward, meta_param_count, no_features
from openrl.optimizers.weights import WeightsError, load_flat, save_flat
from openrl.ppo.train import layer_proportions
from tiny import tiny_actor_critic

REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
PRETRAINED = REF / "pretrained"
needs_ref = pytest.mark.skipif(
    not (PRETRAINED / "golden_gru_mlp_outputs.json").is_file(),
    reason=f"reference data not found at {REF} (the released OPEN weights and golden outputs live outside the repo)",
)

FULL_INPUTS = (
    "param",
    *(f"sign_m{d:g}" for d in DECAYS),
    *(f"log_m{d:g}" for d in DECAYS),
    "sign_g",
    "log_g",
    "training_prop",
    "layer_prop",
    "batch_prop",
    "dormancy",
)
SWITCHES = {
    "use_training_prop": "training_prop",
    "use_batch_prop": "batch_prop",
    "use_dormancy": "dormancy",
    "use_layer_prop": "layer_prop",
}


def _jit(f):
    """Compile without backend optimisation: these programs are tiny and compile time dominates."""

    def run(*args):
        return jax.jit(f).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})(*args)

    return run


# -- a hand-made tiny agent ---------------------------------------------------------------------------
def _tiny():
    """The shared tiny actor-critic (tests/tiny.py) with a zero critic-bias gradient (sign 0) and a ctx."""
    params, grads, acts, rng, _ = tiny_actor_critic()
    grads["critic"]["Dense_1"]["bias"] = jnp.zeros((1,), jnp.float32)  # a zero gradient: sign 0
    ctx = UpdateContext(
        training_prop=jnp.float32(0.25),
        batch_prop=jnp.float32(2.0 / 3.0),
        anneal_frac=jnp.float32(1.0),
        layer_props={k: layer_proportions(v) for k, v in params.items()},
        activations=acts,
        key=jax.random.PRNGKey(7),
    )
    return params, grads, ctx, rng


def _state_with_momenta(rule, params, rng):
    state = rule.init(params)
    return {
        k: s._replace(momenta=jnp.asarray(rng.normal(size=s.momenta.shape) * 1e-2, jnp.float32))
        for k, s in state.items()
    }


def _numpy_features(params, grads, momenta, ctx, net):
    """The authors' per-tensor definition, written out leaf by leaf in float64."""
    d = np.asarray(DECAYS)
    blocks, start = [], 0
    acts = ctx.activations[net]
    lps = ctx.layer_props[net]
    for path, p in jax.tree_util.tree_flatten_with_path(params[net])[0]:
        keys = [k.key for k in path]
        g = np.asarray(
            grads[net][keys[0]][keys[1]] if len(keys) == 2 else grads[net][keys[0]], np.float64
        ).ravel()
        lp = lps[keys[0]][keys[1]] if len(keys) == 2 else lps[keys[0]]
        p = np.asarray(p, np.float64)
        size = p.size
        m_prev = np.asarray(momenta[:, start : start + size], np.float64).T  # (size, 6)
        m = d * m_prev + (1 - d) * g[:, None]  # momenta include the current gradient
        chans = [p.ravel()]
        chans += [np.sign(m[:, i]) for i in range(6)] + [np.log(np.abs(m[:, i]) + 1e-13) for i in range(6)]
        chans += [np.sign(g), np.log(np.abs(g) + 1e-13)]
        normed = [c / np.sqrt(1e-5 + np.mean(c**2)) for c in chans]
        a = np.asarray(acts[keys[0]], np.float64) + 1e-11
        s = a / np.sum(np.abs(a)) * a.size
        if keys[-1] == "kernel":
            dorm = np.tile(s, p.shape[0])  # w_ij gets the score of output unit j
        elif keys[-1] == "bias":
            dorm = s
        else:  # log_std
            dorm = np.full(size, s[0])
        extra = [
            np.full(size, float(ctx.training_prop)),
            np.full(size, lp),
            np.full(size, float(ctx.batch_prop)),
            dorm,
        ]
        blocks.append(np.stack(normed + extra, axis=1))
        start += size
    return np.concatenate(blocks, axis=0)  # (n, 19)


# -- layout and parity with the released weights ------------------------------------------------------
SMALL_OFFSETS = [
    ("gru_params/params/hn/bias", 0, 8), ("gru_params/params/hn/kernel", 8, 72),
    ("gru_params/params/hr/kernel", 72, 136), ("gru_params/params/hz/kernel", 136, 200),
    ("gru_params/params/in/bias", 200, 208), ("gru_params/params/in/kernel", 208, 360),
    ("gru_params/params/ir/bias", 360, 368), ("gru_params/params/ir/kernel", 368, 520),
    ("gru_params/params/iz/bias", 520, 528), ("gru_params/params/iz/kernel", 528, 680),
    ("params/params/layers_0/bias", 680, 696), ("params/params/layers_0/kernel", 696, 824),
    ("params/params/layers_1/bias", 824, 840), ("params/params/layers_1/scale", 840, 856),
    ("params/params/layers_3/bias", 856, 872), ("params/params/layers_3/kernel", 872, 1128),
    ("params/params/layers_4/bias", 1128, 1144), ("params/params/layers_4/scale", 1144, 1160),
    ("params/params/layers_6/bias", 1160, 1163), ("params/params/layers_6/kernel", 1163, 1211),
]  # fmt: skip
LARGE_BOUNDS = [0, 16, 272, 528, 784, 800, 1104, 1120, 1424, 1440, 1744, 1744 + 32, 2288, 2320, 2352, 2384,
                3408, 3440, 3472, 3475, 3571]  # fmt: skip


def _offsets(tree):
    out, start = [], 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        out.append(("/".join(k.key for k in path), start, start + leaf.size))
        start += leaf.size
    return out


def test_meta_param_layout_matches_release():
    small, large = OpenRule(), OpenRule(gru_features=16, hidden=32)
    assert small.num_meta_params == 1211 and large.num_meta_params == 3571
    assert _offsets(small.zero_meta_params()) == SMALL_OFFSETS
    large_offsets = _offsets(large.zero_meta_params())
    assert [o[0] for o in large_offsets] == [o[0] for o in SMALL_OFFSETS]
    assert [o[1] for o in large_offsets] + [large_offsets[-1][2]] == LARGE_BOUNDS
    # the template is exactly what the authors' flax modules define (built here independently)
    import flax.linen as nn

    gru = nn.GRUCell(features=8)
    mlp = nn.Sequential(
        [nn.Dense(16), nn.LayerNorm(), nn.relu, nn.Dense(16), nn.LayerNorm(), nn.relu, nn.Dense(3)]
    )
    k = jax.random.PRNGKey(0)
    ref = {
        "gru_params": jax.eval_shape(gru.init, k, jnp.zeros((1, 8)), jnp.zeros((1, 19))),
        "params": jax.eval_shape(mlp.init, k, jnp.zeros((1, 8))),
    }
    assert jax.tree.structure(ref) == jax.tree.structure(small.zero_meta_params())
    assert jax.tree.map(jnp.shape, ref) == jax.tree.map(jnp.shape, small.zero_meta_params())
    # closed-form count for every variant
    for r in (small, large, no_features(), no_features(16, 32), *(OpenRule(**{s: False}) for s in SWITCHES),
              OpenRule(use_stochasticity=False)):  # fmt: skip
        assert r.num_meta_params == meta_param_count(r.num_inputs, r.gru_features, r.hidden, r.num_outputs)


@needs_ref
@pytest.mark.parametrize(("name", "size"), [("breakout_OPEN", (8, 16)), ("multi_OPEN", (16, 32))])
def test_golden_parity(name, size):
    golden = json.loads((PRETRAINED / "golden_gru_mlp_outputs.json").read_text())
    rule = OpenRule(gru_features=size[0], hidden=size[1], weights=str(PRETRAINED / f"{name}.npy"))
    meta = rule.default_params()
    flat, _ = ravel_pytree(meta)
    np.testing.assert_array_equal(np.asarray(flat), np.load(PRETRAINED / f"{name}.npy"))
    x = jnp.asarray(golden["inputs_19"], jnp.float32)
    g = golden[name]
    c0 = jnp.zeros((x.shape[0], size[0]))
    h1, o1 = meta_forward(meta, c0, x)
    _, o2 = meta_forward(meta, h1, x)
    det = o1[:, 0] * 1e-3 * jnp.exp(1e-3 * o1[:, 1])
    errs = {}
    for key, got, tol in (
        ("carry1", h1, 2e-6),
        ("mlp_out_step1", o1, 1e-5),
        ("mlp_out_step2", o2, 1e-5),
        ("det_update_step1_before_zero_mean", det, 1e-8),
    ):
        want = np.asarray(g[key], np.float32)
        errs[key] = float(np.max(np.abs(np.asarray(got) - want)))
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=tol, err_msg=key)
    print(name, "max abs error", errs)
    # the fused forward equals the flax modules applied as the authors do
    rh, ro = rule.reference_forward(meta, c0, x)
    np.testing.assert_allclose(np.asarray(h1), np.asarray(rh), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(o1), np.asarray(ro), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "rule",
    [
        OpenRule(),
        OpenRule(gru_features=16, hidden=32),
        no_features(),
        OpenRule(use_dormancy=False, use_stochasticity=False),
    ],
    ids=["small", "large", "no_features", "ablated"],
)
def test_fused_forward_equals_flax_modules(rule):
    flat = jax.random.normal(jax.random.PRNGKey(1), (rule.num_meta_params,)) * 0.5
    meta = ravel_pytree(rule.zero_meta_params())[1](flat)
    x = jax.random.normal(jax.random.PRNGKey(2), (37, rule.num_inputs))
    c = jax.random.normal(jax.random.PRNGKey(3), (37, rule.gru_features)) * 0.5
    h, o = meta_forward(meta, c, x)
    rh, ro = rule.reference_forward(meta, c, x)
    assert o.shape == (37, rule.num_outputs)
    np.testing.assert_allclose(np.asarray(h), np.asarray(rh), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(o), np.asarray(ro), rtol=1e-4, atol=1e-4)


# -- features -----------------------------------------------------------------------------------------
def test_features_match_per_tensor_definition():
    params, grads, ctx, rng = _tiny()
    rule = OpenRule()
    assert rule.input_names == FULL_INPUTS
    state = _state_with_momenta(rule, params, rng)
    ins = rule.inputs(params, grads, state, ctx)
    for net in ("actor", "critic"):
        x, m = ins[net]
        n = sum(v.size for v in jax.tree.leaves(params[net]))
        assert x.shape == (19, n) and m.shape == (6, n)
        want = _numpy_features(params, grads, state[net].momenta, ctx, net)
        np.testing.assert_allclose(np.asarray(x).T, want, rtol=2e-5, atol=2e-5, err_msg=net)
        # momenta: EMA updated with the current gradient, decays in DECAYS order
        g = ravel_pytree(grads[net])[0]
        d = np.asarray(DECAYS, np.float32)[:, None]
        np.testing.assert_allclose(
            np.asarray(m), d * np.asarray(state[net].momenta) + (1 - d) * np.asarray(g), rtol=1e-6
        )
    # dormancy tiling spot checks: actor Dense_0 kernel (3, 4), unit 1 is dead
    x_a = np.asarray(ins["actor"][0])
    order = [k for k, _ in jax.tree_util.tree_flatten_with_path(params["actor"])[0]]
    assert [tuple(p.key for p in k) for k in order][:2] == [("Dense_0", "bias"), ("Dense_0", "kernel")]
    a = np.asarray([0.5, 0.0, 1.5, 2.0]) + 1e-11
    s = a / a.sum() * 4
    np.testing.assert_allclose(x_a[18, :4], s, rtol=1e-6)  # bias: its unit
    np.testing.assert_allclose(x_a[18, 4:16].reshape(3, 4), np.tile(s, (3, 1)), rtol=1e-6)  # kernel: unit j
    assert x_a[18, 5] < 1e-9  # the dead unit's weights see ~0
    np.testing.assert_allclose(x_a[18, -2:], [1.0, 1.0], rtol=1e-6)  # log_std: single score, tiled
    # layer proportions: actor has 3 layers incl. log_std -> 0, 0.5, 1; training/batch props tiled raw
    np.testing.assert_allclose(x_a[16, :16], 0.0)
    np.testing.assert_allclose(x_a[16, -2:], 1.0)
    np.testing.assert_allclose(x_a[15], 0.25)
    np.testing.assert_allclose(x_a[17], 2.0 / 3.0, rtol=1e-6)
    # each normalised channel has unit second moment per tensor (up to the 1e-5 epsilon)
    seg = x_a[:15, 4:16]
    ms = np.mean(seg**2, axis=1)
    assert np.all((ms > 0.99) | (ms == 0.0))


@pytest.mark.parametrize("switch", [*SWITCHES, "use_stochasticity"])
def test_each_ablation_removes_exactly_its_input(switch):
    params, grads, ctx, rng = _tiny()
    full = OpenRule()
    abl = OpenRule(**{switch: False})
    state = _state_with_momenta(full, params, rng)
    x_full = full.inputs(params, grads, state, ctx)
    x_abl = abl.inputs(params, grads, state, ctx)
    if switch == "use_stochasticity":
        assert abl.input_names == FULL_INPUTS and abl.num_outputs == 2 and full.num_outputs == 3
        keep = list(range(19))
    else:
        removed = SWITCHES[switch]
        assert abl.input_names == tuple(n for n in FULL_INPUTS if n != removed)
        assert abl.num_inputs == 18 and abl.num_outputs == 3
        keep = [i for i, n in enumerate(FULL_INPUTS) if n != removed]
    for net in params:
        np.testing.assert_array_equal(np.asarray(x_abl[net][0]), np.asarray(x_full[net][0])[keep])


def test_no_features_inputs():
    params, grads, ctx, rng = _tiny()
    full, nf = OpenRule(), no_features()
    assert nf.input_names == FULL_INPUTS[1:15]  # sign(m) x6, log|m| x6, sign(g), log|g|
    assert nf.num_inputs == 14 and nf.num_outputs == 2 and not nf.use_stochasticity
    state = _state_with_momenta(full, params, rng)
    x_full, x_nf = full.inputs(params, grads, state, ctx), nf.inputs(params, grads, state, ctx)
    for net in params:
        np.testing.assert_array_equal(np.asarray(x_nf[net][0]), np.asarray(x_full[net][0])[1:15])


# -- the update ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rule", [OpenRule(), OpenRule(separated=True), no_features(), OpenRule(use_dormancy=False)],
    ids=["open", "separated", "no_features", "no_dormancy"],
)  # fmt: skip
def test_zero_meta_params_give_exactly_zero_update(rule):
    params, grads, ctx, _ = _tiny()
    meta = rule.default_params()
    new_params, new_state = _jit(rule.update)(meta, rule.init(params), grads, params, ctx)
    for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(new_state["actor"].iteration) == 1 and int(new_state["critic"].iteration) == 1
    assert np.all(np.asarray(new_state["actor"].carry) == 0.0)


def _random_meta(rule, seed=0, scale=0.5):
    flat = jax.random.normal(jax.random.PRNGKey(seed), (rule.num_meta_params,)) * scale
    return ravel_pytree(rule.zero_meta_params())[1](flat)


def _deltas(params, new_params):
    return {
        net: np.asarray(ravel_pytree(params[net])[0] - ravel_pytree(new_params[net])[0], np.float64)
        for net in params
    }


def test_update_zero_mean_and_noise_only_on_actor():
    params, grads, ctx, rng = _tiny()
    # Small parameter values (the p feature is normalised per tensor, so only the scale changes): the
    # float32 rounding of p - u is then far below the update sizes the assertions compare.
    params = jax.tree.map(lambda p: p * 1e-3, params)
    stoch, det = OpenRule(), OpenRule(use_stochasticity=False)
    meta = _random_meta(stoch)
    # the same meta-parameters without the third output: identical o0 and o1
    meta_det = jax.tree.map(lambda x: x, meta)
    meta_det["params"]["params"]["layers_6"] = {
        "kernel": meta["params"]["params"]["layers_6"]["kernel"][:, :2],
        "bias": meta["params"]["params"]["layers_6"]["bias"][:2],
    }
    state = _state_with_momenta(stoch, params, rng)

    p_s, st_s = _jit(stoch.update)(meta, state, grads, params, ctx)
    p_d, _ = _jit(det.update)(meta_det, state, grads, params, ctx)
    d_s, d_d = _deltas(params, p_s), _deltas(params, p_d)

    # zero-mean: ONE mean over all actor and critic updates (before it, the mean is far from zero)
    outs = stoch.outputs(meta, state, grads, params, ctx)
    pre = np.concatenate([np.asarray(o[0] * 1e-3 * jnp.exp(1e-3 * o[1])) for o, _, _ in outs.values()])
    assert abs(pre.mean()) > 1e-5
    for d in (d_s, d_d):
        allu = np.concatenate([d["actor"], d["critic"]])
        assert abs(allu.mean()) < 1e-6 * np.abs(allu).max()
        assert np.abs(allu).max() > 1e-4

    # critic: identical pre-zero-mean updates -> the two differ only by the uniform mean shift
    diff_c = d_s["critic"] - d_d["critic"]
    np.testing.assert_allclose(diff_c, diff_c.mean(), atol=1e-9)
    # actor: the noise makes a non-uniform difference, and exactly that shift is shared with the critic
    diff_a = d_s["actor"] - d_d["actor"]
    assert np.std(diff_a) > 1e-7
    n_a, n_c = diff_a.size, diff_c.size
    noise = diff_a - diff_c.mean()  # the actor's noise term (its mean is what shifts everyone)
    np.testing.assert_allclose(diff_c.mean(), -noise.sum() / (n_a + n_c) * 1.0, rtol=1e-3, atol=1e-9)

    # pre-zero-mean outputs: the critic's o0/o1 do not depend on the key; a new key changes the actor only
    ctx2 = ctx._replace(key=jax.random.PRNGKey(123))
    p_s2, _ = _jit(stoch.update)(meta, state, grads, params, ctx2)
    d_s2 = _deltas(params, p_s2)
    c_shift = d_s2["critic"] - d_s["critic"]
    np.testing.assert_allclose(c_shift, c_shift.mean(), atol=1e-9)
    assert np.std(d_s2["actor"] - d_s["actor"]) > 1e-7
    # the carry advanced and momenta were stored
    assert np.any(np.asarray(st_s["actor"].carry) != 0.0)


def test_separated_uses_each_networks_meta_params():
    params, grads, ctx, rng = _tiny()
    params = jax.tree.map(lambda p: p * 1e-3, params)  # precise p - p_new (see above)
    shared, sep = OpenRule(use_stochasticity=False), OpenRule(use_stochasticity=False, separated=True)
    meta = _random_meta(shared, seed=3)
    state = _state_with_momenta(shared, params, rng)
    p_shared, _ = _jit(shared.update)(meta, state, grads, params, ctx)
    p_sep, _ = _jit(sep.update)({"actor": meta, "critic": meta}, state, grads, params, ctx)
    for a, b in zip(jax.tree.leaves(p_shared), jax.tree.leaves(p_sep)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-8)
    # zero critic meta-parameters: the critic moves only by the shared mean shift
    zero = sep.zero_meta_params()
    p_z, _ = _jit(sep.update)({"actor": meta, "critic": zero}, state, grads, params, ctx)
    d = _deltas(params, p_z)
    np.testing.assert_allclose(d["critic"], d["critic"][0], atol=1e-10)
    assert np.std(d["actor"]) > 0


# -- weights files ------------------------------------------------------------------------------------
def test_weights_roundtrip(tmp_path):
    rule = OpenRule(use_dormancy=False)
    meta = _random_meta(rule, seed=5)
    path = save_flat(tmp_path / "ckpt.npy", meta)
    loaded = dataclasses.replace(rule, weights=str(path)).default_params()
    for a, b in zip(jax.tree.leaves(meta), jax.tree.leaves(loaded)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # separated: one vector for both networks, or two concatenated (actor first)
    sep = dataclasses.replace(rule, separated=True, weights=str(path))
    both = sep.default_params()
    assert set(both) == {"actor", "critic"}
    meta2 = _random_meta(rule, seed=6)
    path2 = save_flat(tmp_path / "sep.npy", {"actor": meta, "critic": meta2})
    both2 = dataclasses.replace(sep, weights=str(path2)).default_params()
    np.testing.assert_array_equal(ravel_pytree(both2["critic"])[0], ravel_pytree(meta2)[0])
    np.testing.assert_array_equal(ravel_pytree(both2["actor"])[0], ravel_pytree(meta)[0])


def test_bad_weights_files_raise_clear_errors(tmp_path):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros(100, np.float32))
    with pytest.raises(WeightsError) as e:
        OpenRule(weights=str(wrong)).default_params()
    msg = str(e.value)
    assert str(wrong) in msg and "100 values" in msg and "1211" in msg and "gru_features=8" in msg
    with pytest.raises(WeightsError, match="3571"):
        OpenRule(gru_features=16, hidden=32, weights=str(wrong)).default_params()
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not a numpy file")
    with pytest.raises(WeightsError, match="garbage.npy"):
        OpenRule(weights=str(garbage)).default_params()
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        OpenRule(weights=str(tmp_path / "missing.npy")).default_params()
    two_d = tmp_path / "two_d.npy"
    np.save(two_d, np.zeros((1211, 1), np.float32))
    with pytest.raises(WeightsError, match=r"shape \(1211, 1\)"):
        load_flat(two_d, (1211,), "open")


@needs_ref
def test_released_weights_fit_only_the_full_architecture():
    path = str(PRETRAINED / "breakout_OPEN.npy")
    assert OpenRule(weights=path).default_params() is not None
    with pytest.raises(WeightsError, match="1187"):
        OpenRule(weights=path, use_dormancy=False).default_params()


# -- config wiring ------------------------------------------------------------------------------------
def test_configs_build_rules():
    from openrl.config import load_config, resolve_optimizer
    from openrl.optimizers import make_rule

    expected = {
        "open": (19, 3, 8, 16, False),
        "open_large": (19, 3, 16, 32, False),
        "open_separated": (19, 3, 8, 16, True),
        "no_features": (14, 2, 8, 16, False),
        "open_no_training_prop": (18, 3, 8, 16, False),
        "open_no_batch_prop": (18, 3, 8, 16, False),
        "open_no_dormancy": (18, 3, 8, 16, False),
        "open_no_layer_prop": (18, 3, 8, 16, False),
        "open_no_stochasticity": (19, 2, 8, 16, False),
    }
    for name, (n_in, n_out, f, h, sep) in expected.items():
        _, obj = load_config(["experiment=ppo", f"optimizer={name}"])
        rule = make_rule(resolve_optimizer(obj.optimizer, obj.env.name))
        assert (rule.num_inputs, rule.num_outputs, rule.gru_features, rule.hidden, rule.separated) == (
            n_in, n_out, f, h, sep,
        ), name  # fmt: skip
        assert rule.weights is None
    _, obj = load_config(
        ["experiment=ppo", "optimizer=open", "optimizer.use_dormancy=false", "optimizer.alpha3=0.002"]
    )
    rule = make_rule(resolve_optimizer(obj.optimizer, obj.env.name))
    assert "dormancy" not in rule.input_names and rule.alpha3 == 0.002


def test_config_validation_names_weights(tmp_path):
    from openrl.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"optimizer\.weights=.*does not exist"):
        load_config(["experiment=ppo", "optimizer=open", f"optimizer.weights={tmp_path / 'nope.npy'}"])
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros(10, np.float32))
    with pytest.raises(ConfigError, match=r"optimizer\.weights=.*10 values.*1211"):
        load_config(["experiment=ppo", "optimizer=open", f"optimizer.weights={wrong}"])
    with pytest.raises(ConfigError, match=r"optimizer\.anneal_lr"):
        load_config(["experiment=ppo", "optimizer=no_features", "optimizer.anneal_lr=true"])
    with pytest.raises(ConfigError, match=r"optimizer\.gru_features"):
        load_config(["experiment=ppo", "optimizer=open", "optimizer.gru_features=0"])
    good = tmp_path / "good.npy"
    save_flat(good, OpenRule().zero_meta_params())
    _, obj = load_config(["experiment=ppo", "optimizer=open", f"optimizer.weights={good}"])
    assert obj.optimizer.weights == str(good)


# -- inside PPO ---------------------------------------------------------------------------------------
@needs_ref
def test_tiny_ppo_with_released_breakout_weights():
    from openrl.envs.gymnax_env import GymnaxVecEnv
    from openrl.ppo.train import PPOHParams, PPOStatic, PPOTrainer

    rule = OpenRule(weights=str(PRETRAINED / "breakout_OPEN.npy"))
    trainer = PPOTrainer(
        PPOStatic(8, 16, 2, 2, 1, (64, 64), "relu"), GymnaxVecEnv("Breakout-MinAtar", 8), rule
    )
    rng = jax.random.PRNGKey(0)
    init = trainer.init(rng)
    state, metrics = _jit(lambda r, p: trainer.train(r, p, PPOHParams()))(rng, rule.default_params())
    for k in ("final_return", "value_loss", "actor_loss", "entropy"):
        assert np.all(np.isfinite(np.asarray(metrics[k]))), k
    assert int(state.opt_state["actor"].iteration) == 2 * 2 * 1  # updates x minibatches x epochs
    moved = [
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(init.params))
    ]
    assert max(moved) > 0 and all(np.isfinite(moved))


def test_vmap_over_meta_params_matches_single_calls():
    """ES evaluates a population: the update vmaps over meta-parameters without recompiling per member."""
    params, grads, ctx, rng = _tiny()
    rule = OpenRule()
    state = _state_with_momenta(rule, params, rng)
    metas = [_random_meta(rule, seed=s, scale=0.3) for s in range(3)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *metas)
    batched, _ = _jit(jax.vmap(lambda m: rule.update(m, state, grads, params, ctx)))(stacked)
    for i, m in enumerate(metas):
        single, _ = _jit(rule.update)(m, state, grads, params, ctx)
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single)):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b), rtol=1e-5, atol=1e-7)


# -- batching under vmap -------------------------------------------------------------------------------
def test_sequential_batching_equals_vectorised_under_nested_vmap():
    """``batching=sequential`` runs the meta-network member by member under vmap (a loop in the program);
    it is the same maths as the batched program, also under two nested vmaps (ES population x seeds),
    and without vmap both settings give bitwise the same update."""
    params, grads, ctx, rng = _tiny()
    flat = jax.random.normal(jax.random.PRNGKey(4), (OpenRule().num_meta_params,)) * 0.5
    meta = ravel_pytree(OpenRule().zero_meta_params())[1](flat)

    def stack(tree, shape, scale):
        k = jax.random.PRNGKey(int(np.prod(shape)))
        return jax.tree.map(lambda x: x + scale * jax.random.normal(k, shape + x.shape), tree)

    grads_b = stack(grads, (2, 3), 1e-2)  # population 2 x seeds 3
    state = _state_with_momenta(OpenRule(), params, rng)  # drawn once: rng is a stateful generator

    def program(batching):
        rule = OpenRule(batching=batching)

        def one(g):
            return rule.update(meta, state, g, params, ctx)

        return rule, state, jax.jit(jax.vmap(jax.vmap(one))), one

    outs, texts = {}, {}
    for b in ("vectorised", "sequential"):
        rule, state, batched, one = program(b)
        outs[b] = batched(grads_b)
        texts[b] = jax.jit(jax.vmap(one)).lower(jax.tree.map(lambda x: x[0], grads_b)).as_text()
        outs[b + "_single"] = jax.jit(one)(grads)  # no vmap: the same computation for both settings
    for a, b in zip(jax.tree.leaves(outs["vectorised"]), jax.tree.leaves(outs["sequential"])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    # and the members differ (the vmap really was over different gradients)
    u = jax.tree.leaves(outs["sequential"][0])[0]
    assert float(jnp.max(jnp.abs(u[0, 0] - u[1, 2]))) > 0
    loops = {b: texts[b].count("stablehlo.while") for b in ("vectorised", "sequential")}  # + threefry's
    assert loops["sequential"] > loops["vectorised"], loops
    for a, b in zip(jax.tree.leaves(outs["vectorised_single"]), jax.tree.leaves(outs["sequential_single"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_batching_value_rejected():
    with pytest.raises(ValueError, match="batching='loop'"):
        OpenRule(batching="loop")


def test_rule_stays_picklable_after_tracing():
    """Launchers (joblib, submitit) pickle what they ship; building the batched forward must not add an
    unpicklable closure to the rule."""
    import pickle

    rule = OpenRule(batching="sequential")
    params, grads, ctx, rng = _tiny()
    state = rule.init(params)
    jax.eval_shape(lambda g: rule.update(rule.zero_meta_params(), state, g, params, ctx), grads)
    assert pickle.loads(pickle.dumps(rule)) == rule
