"""Structured-config schemas (dataclasses) for every component, registered in Hydra's ConfigStore.

The YAML under ``conf/`` is validated against these at composition time: an unknown key or a value of
the wrong type fails before anything is compiled. Cross-field rules (allowed names, divisibility,
positivity) live in :mod:`openrl.config.validate` and run right after composition.

Per-optimizer schemas (``AdamConfig``, ``RMSpropConfig``, ``LionConfig``) are stored in the
``optimizer`` group as ``<name>_schema`` and extended by ``conf/optimizer/<name>.yaml``, so each
optimizer only accepts its own hyperparameters.

Tuned values: hyperparameters default to ``null`` ("use the value tuned for the selected env", paper
Tables 4-6, stored in the YAML's ``tuned`` table). Setting one on the command line wins.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class EnvConfig:
    name: str = MISSING  # short name; key into the optimizers' tuned tables (breakout, ant, ...)
    family: str = MISSING  # minatar | brax | bsuite | probe
    id: str = MISSING  # gymnax id, brax env name, or probe kind
    adam_return: Optional[float] = None  # authors' Adam-PPO return on this env (PPO_TEMP) for normalising
    # How a time-limit end is treated: "done" = as a terminal (the authors' code, default for
    # reproduction); "bootstrap" = bootstrap from the value of the final observation.
    truncation: str = "done"
    size: Optional[int] = None  # bsuite Deep Sea size
    backend: str = "positional"  # brax physics backend
    episode_length: int = 1000  # brax episode length
    normalize_obs: bool = False  # brax: running observation normalisation
    normalize_reward: bool = False  # brax: running discounted-return reward scaling
    reward_gamma: float = 0.99  # brax reward normalisation discount


@dataclass
class PPOConfig:
    num_envs: int = MISSING
    num_steps: int = MISSING
    total_timesteps: int = MISSING
    num_minibatches: int = MISSING
    update_epochs: int = MISSING
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5
    width: int = 64
    hidden_layers: int = 2
    activation: str = "relu"
    shared_init_key: bool = True  # authors: actor and critic initialised from the same PRNG key
    clip_action: bool = True  # continuous control: clip actions to [-1, 1] before stepping


@dataclass
class OptimizerConfig:
    name: str = MISSING
    anneal_lr: Optional[bool] = None  # linear decay to 0 over training; null -> tuned value for the env
    tuned: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # env name -> tuned values


@dataclass
class AdamConfig(OptimizerConfig):
    name: str = "adam"
    lr: Optional[float] = None
    b1: Optional[float] = None
    b2: Optional[float] = None
    eps: float = 1e-8


@dataclass
class RMSpropConfig(OptimizerConfig):
    name: str = "rmsprop"
    lr: Optional[float] = None
    decay: Optional[float] = None
    eps: float = 1e-8


@dataclass
class LionConfig(OptimizerConfig):
    name: str = "lion"
    lr: Optional[float] = None
    b1: Optional[float] = None
    b2: Optional[float] = None
    weight_decay: float = 1e-3  # optax.lion's default, which the paper used


@dataclass
class LoggerConfig:
    # auto: online when a W&B API key is configured, else offline. W&B failures never stop a run.
    wandb_mode: str = "auto"
    project: str = "openrl"
    entity: Optional[str] = None
    group: Optional[str] = None  # default: the task name
    tags: List[str] = field(default_factory=list)
    jsonl: bool = True  # metrics.jsonl in the run directory (always the source of truth)


@dataclass
class Config:
    env: EnvConfig = MISSING
    ppo: PPOConfig = MISSING
    optimizer: Any = MISSING
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    task_name: str = "ppo"  # names the output folder and the W&B group
    seed: int = 0
    num_seeds: int = 1  # seeds trained together in one vmapped program
    num_chunks: int = 50  # host round-trips per run: progress, logging and checkpoint granularity
    progress: bool = True
    save_agent: bool = True  # Orbax checkpoint of the final agent and run state


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="env", name="env_schema", node=EnvConfig)
    cs.store(group="ppo", name="ppo_schema", node=PPOConfig)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)
    cs.store(group="optimizer", name="adam_schema", node=AdamConfig)
    cs.store(group="optimizer", name="rmsprop_schema", node=RMSpropConfig)
    cs.store(group="optimizer", name="lion_schema", node=LionConfig)
