"""Learning diagnostics of a meta-training run: can this budget learn, and is it learning?

Three numbers answer it within minutes of a run's start:

* ``diag/theta_abs_mean``: mean |theta| of the ES mean, every generation. From the authors' zero start
  OPEN's update is exactly zero, and it stays negligible until |theta| grows towards the ~0.45 of the
  released optimizers.
* ``diag/update_ratio``: RMS of the ES mean's parameter updates divided by tuned Adam's, *on the same
  gradients*, at every validation. A probe trains PPO with the learned optimizer for
  ``meta.probe_updates`` updates on ``meta.probe_seeds`` fixed seeds and, at every minibatch step, also
  asks tuned Adam (carrying its own moments over the same gradient sequence) what it would have done.
  A ratio far below 1 means the learned optimizer barely moves the agent: returns cannot differ between
  members, and the ES is on the zero-start plateau.
* ``diag/fitness_spread``: the standard deviation of fitness within a generation. Zero spread means
  centred ranks are sorting noise.

The run's validation also evaluates tuned Adam once, on the very seeds the ES mean is validated on, so
``validation.png`` can draw Adam's level as a reference line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from openrl.optimizers.base import Params, UpdateContext
from openrl.ppo.train import PPOHParams, PPOTrainer, final_returns

log = logging.getLogger(__name__)

PLATEAU_CHECKS = 3  # consecutive validations below meta.plateau_ratio before the warning


def _sq_dist(a: Params, b: Params) -> jax.Array:
    return sum(jnp.sum(jnp.square(x - y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@dataclass(frozen=True)
class UpdateRatioProbe:
    """An :class:`UpdateRule` that trains with ``learned`` and measures ``reference`` alongside it.

    Both rules see the same gradients at every step; only the learned update is applied. The state
    carries ``[sum of squared learned updates, sum of squared reference updates]`` over all steps and
    parameters, so ``sqrt(ratio)`` is the ratio of the two update RMS values.
    """

    learned: Any
    reference: Any

    def default_params(self) -> tuple[Any, Any]:
        return self.learned.default_params(), self.reference.default_params()

    def init(self, params: Params) -> tuple[Any, Any, jax.Array]:
        return self.learned.init(params), self.reference.init(params), jnp.zeros(2, jnp.float32)

    def update(
        self, rule_params: Any, state: Any, grads: Params, params: Params, ctx: UpdateContext
    ) -> tuple[Params, Any]:
        learned_params, reference_params = rule_params
        learned_state, reference_state, sums = state
        new_params, learned_state = self.learned.update(learned_params, learned_state, grads, params, ctx)
        ref_params, reference_state = self.reference.update(
            reference_params, reference_state, grads, params, ctx
        )
        sums = sums + jnp.stack([_sq_dist(new_params, params), _sq_dist(ref_params, params)])
        return new_params, (learned_state, reference_state, sums)


@dataclass(frozen=True, eq=False)
class Baseline:
    """Tuned Adam on one task: the reference every learned optimizer faces."""

    trainer: PPOTrainer
    rule_params: Any
    hp: PPOHParams


@dataclass(eq=False)
class Diagnostics:
    """Probes and reference runs of a meta-training job (built by :func:`openrl.jobs.meta.build_meta`).

    Args:
        tasks: the meta-training tasks (their trainers hold the learned rule).
        baselines: tuned Adam per task, same env and PPO settings.
        probe_updates: PPO updates of the update-ratio probe (0: no probe).
        probe_seeds: seeds of the probe (fixed for the whole run, so ratios compare across generations).
        plateau_ratio: the warning threshold on ``diag/update_ratio``.
    """

    tasks: list[Any]
    baselines: list[Baseline]
    probe_updates: int = 4
    probe_seeds: int = 2
    plateau_ratio: float = 0.05
    _probe_fn: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.tasks) != len(self.baselines):
            raise ValueError("one baseline per task")
        if self.probe_updates:
            self.probe_updates = min(self.probe_updates, self.tasks[0].trainer.static.num_updates)
            self._probe_fn = jax.jit(self._probe)

    # -- tuned Adam on the validation seeds ---------------------------------------------------------
    def baseline_validation(self, key: jax.Array, num_seeds: int) -> np.ndarray:
        """Tuned Adam's final returns ``(seeds, tasks)`` on the keys :meth:`MetaTrainer.validate` uses."""
        out = []
        for i, b in enumerate(self.baselines):
            keys = jax.random.split(jax.random.fold_in(key, i), num_seeds)
            run = jax.jit(lambda ks, b=b: final_returns(b.trainer, ks, b.rule_params, b.hp))
            out.append(np.asarray(run(keys)))
        return np.stack(out, axis=-1)

    # -- update-ratio probe -------------------------------------------------------------------------
    def _probe(self, rule_params: Any, key: jax.Array) -> jax.Array:
        ratios = []
        for i, (task, b) in enumerate(zip(self.tasks, self.baselines)):
            probe = PPOTrainer(
                task.trainer.static, task.trainer.env, UpdateRatioProbe(task.trainer.rule, b.trainer.rule)
            )
            keys = jax.random.split(jax.random.fold_in(key, i), self.probe_seeds)

            def sums(k, probe=probe, task=task, b=b):
                state, _ = probe.run(probe.init(k), (rule_params, b.rule_params), task.hp, self.probe_updates)
                return state.opt_state[2]

            total = jnp.sum(jax.vmap(sums)(keys), axis=0)
            ratios.append(jnp.sqrt(total[0] / jnp.maximum(total[1], 1e-30)))
        return jnp.stack(ratios)

    def update_ratio(self, rule_params: Any, key: jax.Array) -> np.ndarray | None:
        """Per task, RMS(learned update) / RMS(tuned Adam update) on the same gradients; None if off."""
        if self._probe_fn is None:
            return None
        return np.asarray(self._probe_fn(rule_params, key))

    # -- the plateau warning ------------------------------------------------------------------------
    def on_plateau(self, history: list[dict[str, Any]]) -> bool:
        """True when the last :data:`PLATEAU_CHECKS` validations all had ``update_ratio`` below the
        threshold (a run that cannot tell, e.g. without a probe, never warns)."""
        ratios = [h.get("update_ratio") for h in history[-PLATEAU_CHECKS:]]
        return (
            len(ratios) == PLATEAU_CHECKS
            and all(r is not None for r in ratios)
            and all(r < self.plateau_ratio for r in ratios)
        )

    def plateau_message(self, history: list[dict[str, Any]]) -> str:
        last = history[-1]
        first = history[-PLATEAU_CHECKS]
        return (
            f"the ES is still on the zero-start plateau: from generation {first['generation']} to "
            f"{last['generation']} the ES mean's updates stayed below {self.plateau_ratio:g}x tuned Adam's "
            f"(diag/update_ratio {last['update_ratio']:.2g}, mean |theta| {last.get('theta_abs_mean', float('nan')):.3g}). "
            "Near-zero meta-parameters make OPEN's update ~0, so members' returns barely differ and the ES "
            "random-walks. To leave the plateau sooner: larger steps (es.sigma_init=0.1 es.lr=0.1, as in "
            "budget=cpu), meta.init=random, or meta.init_weights=<a released or earlier optimizer>; the "
            "paper crosses it with 64 members x 250-500 generations."
        )
