"""Actor and critic networks (separate, as in the authors' PPO)."""

from openrl.agents.networks import (
    Actor,
    Critic,
    categorical_entropy,
    categorical_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
)

__all__ = [
    "Actor",
    "Critic",
    "categorical_entropy",
    "categorical_log_prob",
    "gaussian_entropy",
    "gaussian_log_prob",
]
