"""The PPO inner loop: one pure, jittable function per training run."""

from openrl.ppo.train import PPOHParams, PPOStatic, PPOTrainer, RunnerState

__all__ = ["PPOHParams", "PPOStatic", "PPOTrainer", "RunnerState"]
