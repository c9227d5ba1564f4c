"""openrl: meta-learned optimizers for reinforcement learning in JAX.

The package is organised by responsibility, and data flows one way:
config -> envs + agents + update rule -> inner PPO run (ppo) -> runs (logging, checkpoints) -> CLI.
"""

__version__ = "0.1.0"
