"""The PPO inner loop (one pure, jittable function per training run) and the seed runner around it."""

from openrl.ppo.runner import SeedRun, chunk_plan, run_seeds
from openrl.ppo.train import PPOHParams, PPOStatic, PPOTrainer, RunnerState

__all__ = ["PPOHParams", "PPOStatic", "PPOTrainer", "RunnerState", "SeedRun", "chunk_plan", "run_seeds"]
