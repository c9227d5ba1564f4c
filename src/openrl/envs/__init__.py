"""Environment adapters behind one batched contract (:mod:`openrl.envs.base`) and one factory."""

from openrl.envs.base import StepOut, VecEnv
from openrl.envs.factory import make_env

__all__ = ["StepOut", "VecEnv", "make_env"]
