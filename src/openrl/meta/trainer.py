"""One ES generation as one jitted program: ask -> evaluate every member on every task -> tell.

* Population members share PRNG seeds within a generation (common random numbers, as the authors do);
  the seeds change every generation (``fold_in(key, generation)`` on the host side). With antithetic
  task sampling (gridworld) each antithetic pair gets its own seeds -- its own sampled level -- and is
  ranked within the pair (sign of the difference, toward the better member).
* Fitness is the authors' final return, normalised per task by Adam's return and averaged over tasks.
* The population is sharded over devices with ``jax.sharding`` when a mesh is given, and evaluated in
  chunks of ``population_chunk`` members (``lax.map``) when it does not fit in memory; both give the same
  numbers as one ``vmap``.
* Nothing in here depends on the generation index as a Python value, and the ES state is kept free of
  weakly-typed leaves (:func:`_strong`), so generations never recompile and a state restored from a
  checkpoint compiles to the very same program as a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from openrl.config.registry import ES_STRATEGIES
from openrl.meta import fitness as F
from openrl.meta.strategies import ESAlgorithm
from openrl.ppo.train import PPOHParams, PPOTrainer, final_returns


def _strong(tree: Any) -> Any:
    """Every leaf as a strongly-typed array of its own dtype.

    evosax initialises some state fields from Python scalars (``generation_counter=0``,
    ``best_fitness=inf``), which JAX types weakly, while ``tell`` returns them strongly typed: without this
    the second generation would retrace and recompile, and a resumed run (Orbax restores strong types)
    would compile a different program than an uninterrupted one.
    """
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


@dataclass(frozen=True, eq=False)
class Task:
    name: str
    trainer: PPOTrainer
    hp: PPOHParams
    normaliser: float


def make_strategy(es_cfg: Any, solution: Any) -> ESAlgorithm:
    """The evosax algorithm (and its params) of ``es_cfg.strategy``, from :data:`ES_STRATEGIES`."""
    entry = ES_STRATEGIES.get(es_cfg.strategy)
    if entry is None:
        raise ValueError(
            f"es.strategy={es_cfg.strategy!r}: allowed values are {', '.join(ES_STRATEGIES.names())}"
        )
    return entry.builder()(es_cfg, solution)


class MetaTrainer:
    def __init__(
        self,
        tasks: list[Task],
        solution: Any,
        es_cfg: Any,
        num_rollouts: int = 1,
        population_chunk: int | None = None,
        mesh: Mesh | None = None,
        antithetic_task_sampling: bool = False,
    ):
        self.tasks = tasks
        self.solution = solution
        built = make_strategy(es_cfg, solution)
        self.es = built
        self.strategy = built.algorithm
        self.es_params = built.params
        # see fitness.to_minimise: rank-based shapings only need an order, identity needs finite values
        self.finite_fitness = getattr(es_cfg, "fitness_shaping", "centered_rank") == "identity"
        self.num_rollouts = num_rollouts
        self.population_chunk = population_chunk
        self.mesh = mesh
        self.antithetic_task_sampling = antithetic_task_sampling
        self.normalisers = jnp.asarray([t.normaliser for t in tasks], jnp.float32)

    # -- ES state -----------------------------------------------------------------------------------
    def init(self, key: jax.Array, mean: Any | None = None) -> Any:
        mean = jax.tree.map(jnp.zeros_like, self.solution) if mean is None else mean
        return _strong(self.strategy.init(key, mean, self.es_params))

    def mean_params(self, es_state: Any) -> Any:
        return self.strategy.get_mean(es_state)

    # -- evaluation ---------------------------------------------------------------------------------
    def _shard(self, tree: Any) -> Any:
        if self.mesh is None:
            return tree
        sharding = NamedSharding(self.mesh, PartitionSpec("pop"))
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)

    def _member_return(self, task: Task, rule_params: Any, keys: jax.Array) -> jax.Array:
        """Mean final return of ``rule_params`` over the rollouts ``keys``."""
        returns = final_returns(task.trainer, keys, rule_params, task.hp)
        return jnp.mean(returns)

    def pair_keys(self, key: jax.Array) -> jax.Array:
        """Antithetic task sampling: rollout keys per member, shape (population, rollouts, ...).

        evosax pairs member ``i`` with ``i + N/2`` (``z = [z+, -z+]``); each pair gets its own keys (so its
        own sampled gridworld level and PPO seeds), shared by both members, so the pair is compared on one
        task (``fitness.antithetic_pair_fitness``).
        """
        half = self.strategy.population_size // 2
        keys = jax.random.split(key, half * self.num_rollouts)
        keys = keys.reshape((half, self.num_rollouts) + keys.shape[1:])
        return jnp.concatenate([keys, keys])

    def evaluate(self, population: Any, key: jax.Array) -> jax.Array:
        """Raw final returns, shape (population, tasks). Every member sees the same seeds, or with
        antithetic task sampling the two members of each antithetic pair do (:meth:`pair_keys`)."""
        population = self._shard(population)
        out = []
        for i, task in enumerate(self.tasks):
            if self.antithetic_task_sampling:
                member_keys = self._shard(self.pair_keys(jax.random.fold_in(key, i)))
                paired = lambda a, task=task: self._member_return(task, *a)  # noqa: E731
                if self.population_chunk:
                    out.append(
                        jax.lax.map(paired, (population, member_keys), batch_size=self.population_chunk)
                    )
                else:
                    out.append(jax.vmap(paired)((population, member_keys)))
                continue
            keys = jax.random.split(jax.random.fold_in(key, i), self.num_rollouts)
            member = lambda rp, task=task, keys=keys: self._member_return(task, rp, keys)  # noqa: E731
            if self.population_chunk:
                out.append(jax.lax.map(member, population, batch_size=self.population_chunk))
            else:
                out.append(jax.vmap(member)(population))
        return self._shard(jnp.stack(out, axis=-1))

    def generation(self, es_state: Any, key: jax.Array) -> tuple[Any, dict[str, Any]]:
        k_ask, k_eval, k_tell = jax.random.split(key, 3)
        population, es_state = self.strategy.ask(k_ask, es_state, self.es_params)
        raw = self.evaluate(population, k_eval)
        normalised = F.normalise(raw, self.normalisers)
        fit = F.aggregate(normalised)
        # Non-finite members are counted here, before the pairwise comparison turns them into finite
        # wins/losses (where they lose to any finite partner).
        ranked = F.antithetic_pair_fitness(fit) if self.antithetic_task_sampling else fit
        minimised, _ = F.to_minimise(ranked, finite=self.finite_fitness)
        n_bad = jnp.sum(~jnp.isfinite(fit))
        lr = self.es.lr(es_state)
        sigma = self.es.sigma(es_state)
        es_state, _ = self.strategy.tell(k_tell, population, minimised, es_state, self.es_params)
        es_state = _strong(es_state)
        finite = jnp.isfinite(raw)
        metrics = {
            "raw": raw,
            "normalised": normalised,
            "fitness": fit,
            "nan_count": n_bad,
            "sigma": sigma,
            **({} if lr is None else {"lr": lr}),
            "finite_frac": jnp.mean(finite),
            "mean_abs": jnp.mean(jnp.abs(es_state.mean)),
        }
        return es_state, metrics

    def validate(self, rule_params: Any, key: jax.Array, num_seeds: int) -> jax.Array:
        """Final returns of one optimizer on held-out seeds: (seeds, tasks)."""
        out = []
        for i, task in enumerate(self.tasks):
            keys = jax.random.split(jax.random.fold_in(key, i), num_seeds)
            out.append(final_returns(task.trainer, keys, rule_params, task.hp))
        return jnp.stack(out, axis=-1)
