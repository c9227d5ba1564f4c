"""openrl: meta-learned optimizers for reinforcement learning in JAX.

The package is organised by responsibility, and data flows one way:
config -> envs + agents + update rule -> inner PPO run (ppo) -> runs (logging, checkpoints) -> CLI.

``openrl.learned_optimizer(weights)`` wraps a learned optimizer as an optax transformation for any JAX
training loop (:mod:`openrl.optimizers.dropin`); it is imported lazily, so ``import openrl`` stays light.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "learned_optimizer"]


def __getattr__(name: str):
    if name == "learned_optimizer":
        from openrl.optimizers.dropin import learned_optimizer  # jax/flax/optax: only when asked for

        return learned_optimizer
    raise AttributeError(f"module 'openrl' has no attribute {name!r}")
