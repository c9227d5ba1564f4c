"""Structured-config schemas (dataclasses) for every component, stored in Hydra's ConfigStore by
:func:`openrl.config.registry.register_configs`.

The YAML under ``conf/`` is validated against these at composition time: an unknown key or a value of
the wrong type fails before anything is compiled. Cross-field rules (allowed names, divisibility,
positivity) live in :mod:`openrl.config.validate` and run right after composition.

Per-optimizer schemas (``AdamConfig``, ``RMSpropConfig``, ``LionConfig``, ``OpenConfig``,
``NoFeaturesConfig``, ``Optim4RLConfig``; each named by its entry in :mod:`openrl.config.registry`)
are stored as ``schema/optimizer/<name>`` and extended by
``conf/optimizer/<name>.yaml`` (``defaults: [/schema/optimizer/<name>@_here_, _self_]``), so each optimizer
only accepts its own hyperparameters. Env presets extend their family's schema, ``schema/env/<family>``
(``EnvConfig`` or its family subclass), so each env only accepts its family's fields; the PPO and logger
presets extend ``schema/ppo`` and ``schema/logger`` the same way. The schemas live outside the selectable groups
(``optimizer``, ``env``, ``ppo``, ``logger``), so they are not offered as options there.

Tuned values: hyperparameters default to ``null`` ("use the value tuned for the selected env", paper
Tables 4-6, stored in the YAML's ``tuned`` table). Setting one on the command line wins.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING


@dataclass
class EnvConfig:
    """The fields every env family has. Each family subclasses it (below) with its own settings, and its
    schema is stored as ``schema/env/<family>`` (:mod:`openrl.config.registry`), so a key of another
    family is rejected at composition."""

    name: str = MISSING  # short name; key into the optimizers' tuned tables (breakout, ant, ...)
    family: str = MISSING  # minatar | gymnax | brax | bsuite | deepsea | probe | gridworld
    id: str = MISSING  # gymnax id, brax env name, or probe kind
    adam_return: Optional[float] = None  # authors' Adam-PPO return on this env (PPO_TEMP) for normalising
    # How a time-limit end is treated: "done" = as a terminal (the authors' code, default for
    # reproduction); "bootstrap" = bootstrap from the value of the final observation.
    truncation: str = "done"


# Families without settings of their own still get a class each: the error for another family's key
# names it ("Key 'level' not in 'MinAtarEnvConfig'"), and a preset cannot extend the wrong family's schema.
@dataclass
class MinAtarEnvConfig(EnvConfig):
    """Family ``minatar``: MinAtar games through gymnax (no settings beyond the common ones)."""


@dataclass
class GymnaxEnvConfig(EnvConfig):
    """Family ``gymnax``: any gymnax env with a discrete action space (no settings of its own)."""


@dataclass
class ProbeEnvConfig(EnvConfig):
    """Family ``probe``: the closed-form probe envs (no settings of its own)."""


@dataclass
class BsuiteEnvConfig(EnvConfig):
    """Family ``bsuite``: gymnax's Deep Sea, one fixed (static) size."""

    size: Optional[int] = None  # required: the observation is size x size
    # Deep Sea action map: false = action 1 is always 'right' (gymnax 0.0.6, which the authors pinned);
    # true = gymnax 1.0.1's fixed random per-cell map (drawn from key 0).
    randomize_actions: bool = False


@dataclass
class DeepSeaEnvConfig(EnvConfig):
    """Family ``deepsea``: openrl's Deep Sea, size traced (one program trains on many sizes)."""

    size: Optional[int] = None  # fixed size; null = sample per run from [size_low, size_high]
    size_low: int = 4  # sizes sampled per inner run, uniform in [size_low, size_high]
    size_high: int = 26  # (paper Sec. 7.2: trained on [4, 26])
    max_size: int = 50  # observation padded to max_size x max_size (paper tests up to 50)
    randomize_actions: bool = False  # as for bsuite, reproduced exactly for every size


@dataclass
class BraxEnvConfig(EnvConfig):
    """Family ``brax``: physics backend, episode length and the running normalisations."""

    backend: str = "positional"  # brax physics backend
    episode_length: int = 1000
    normalize_obs: bool = False  # running observation normalisation
    normalize_reward: bool = False  # running discounted-return reward scaling
    reward_gamma: float = 0.99  # reward normalisation discount


@dataclass
class GridworldEnvConfig(EnvConfig):
    """Family ``gridworld``: the level type, sampled once per training run from the run's key."""

    level: Optional[str] = None  # rand_all | rand_dense | rand_sparse | rand_long | standard_maze | ...
    faithful_sampling: bool = True  # authors' object-spawn rule: docs/faithfulness.md
    inclusive_ranges: bool = False  # rand_all: {1..5} objects, side {4..10} (code); True: {1..6}, {4..11}


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
    # Minibatch shuffle: packed_sort (uniform, 2.5x cheaper on CPU) | jax_permutation (jax.random.permutation,
    # the draws PureJaxRL and the authors' code make). Same distribution; see openrl.ppo.train.
    shuffle: str = "packed_sort"


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
class LearnedOptimizerConfig(OptimizerConfig):
    """Shared fields of the learned optimizers (OPEN and its No Features baseline).

    ``anneal_lr`` must stay null/false and ``tuned`` is ignored: a learned optimizer has no learning rate.
    """

    gru_features: int = 8  # GRU width F (paper: 8 single-task, 16 multi-task)
    hidden: int = 16  # MLP width Hd (paper: 16 single-task, 32 multi-task)
    alpha1: float = 1e-3  # step multiplier: u = alpha1 * o0 * exp(alpha2 * o1)
    alpha2: float = 1e-3  # exponent multiplier
    weights: Optional[str] = None  # flat float32 .npy of meta-parameters; null = zeros (the ES start)
    separated: bool = False  # actor and critic get their own meta-parameters (paper Sec. 7.2)
    # Record the optimizer's App. F statistics per PPO update (cosine of the update with g and each
    # momentum, |u_hat/p|, |a3*delta/p|) as metrics["analysis"]; off = nothing extra is compiled.
    analysis: bool = False
    # How the meta-network runs when the PPO loop is vmapped (seeds, ES population): vectorised = one
    # batched program (best on GPU/TPU, and with the population sharded over devices); sequential = one
    # seed/member at a time inside the step (jax.custom_batching.sequential_vmap; PPO+OPEN with 16
    # vmapped seeds 6-22% faster on a 2-core CPU, two runs); auto = sequential on CPU, vectorised elsewhere.
    # Same maths either way (float32 rounding differs).
    batching: str = "auto"


@dataclass
class OpenConfig(LearnedOptimizerConfig):
    """OPEN (paper Sec. 5). Each ``use_*`` switch removes one ingredient (paper Fig. 5): the input column
    is dropped (the GRU input shrinks), ``use_stochasticity=false`` drops the third output and the noise.
    Released weights fit only the full architecture."""

    name: str = "open"
    alpha3: float = 1e-3  # noise multiplier (actor only): u += alpha3 * o2 * eps
    use_training_prop: bool = True
    use_batch_prop: bool = True
    use_dormancy: bool = True
    use_layer_prop: bool = True
    use_stochasticity: bool = True


@dataclass
class NoFeaturesConfig(LearnedOptimizerConfig):
    """'No Features' baseline (paper App. B.4): 14 gradient/momentum inputs, 2 outputs, no noise."""

    name: str = "no_features"


@dataclass
class Optim4RLConfig(OptimizerConfig):
    """Optim4RL baseline (Lan et al. 2024; OPEN paper App. B.4-B.5): two GRU + MLP networks producing an
    Adam-like m and v, update ``lr * m / sqrt(v)``. ``lr`` null -> the env's tuned value (0.1 x Adam's,
    paper Tables 4-5). ``anneal_lr`` must stay null/false."""

    name: str = "optim4rl"
    gru_features: int = 8  # GRU width of each network (paper: 8 single-task, 16 multi-task)
    hidden: int = 16  # width of the two hidden dense layers (paper: 16 single-task, 32 multi-task)
    lr: Optional[float] = None
    weights: Optional[str] = None  # flat float32 .npy (or optimizer directory); null = zeros (ES start)
    # vectorised | sequential | auto (= vectorised: unlike OPEN's, these small networks measured slower
    # member by member on CPU, 16 vmapped seeds 15.2k vs 22.4k env-steps/s); same maths
    batching: str = "auto"


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
class ESConfig:
    """Fields every evolution strategy has (``conf/es/<strategy>.yaml``, group ``es``).

    Each strategy subclasses it with its own settings; an experiment's per-strategy values live in its
    ``es_settings`` table (like an optimizer's per-env ``tuned`` table), so ``es=<strategy>`` composes
    with any experiment. ask/tell minimise; openrl hands them the negated fitness.
    """

    strategy: str = MISSING
    population_size: int = 64
    num_generations: int = 500
    sigma_init: float = 0.03  # initial search scale: the std of the perturbations


@dataclass
class OpenESConfig(ESConfig):
    """OpenAI-ES, the authors' strategy (paper Sec. 5.2, Table 7): Adam(b1) on the mean with
    exponentially decaying lr and sigma, antithetic sampling, centred ranks."""

    strategy: str = "open_es"
    sigma_decay: float = 0.999
    lr: float = 0.03
    lr_decay: float = 0.999
    adam_b1: float = 0.99  # the authors' meta-optimizer: Adam(b1=0.99)
    antithetic: bool = True
    fitness_shaping: str = "centered_rank"  # centered_rank | identity


@dataclass
class PGPEConfig(ESConfig):
    """PGPE (Sehnke et al. 2010): antithetic pairs, a per-parameter sigma adapted by its own gradient.

    The mean moves by Adam(lr, b1) with exponential lr decay: evosax's default ClipUp caps every step at
    ~0.02 in total norm (max_velocity), far below the |theta| ~0.45 OPEN needs from a zero start."""

    strategy: str = "pgpe"
    lr: float = 0.03
    lr_decay: float = 0.999
    adam_b1: float = 0.9
    std_lr: float = 0.1  # learning rate of the per-parameter sigma
    std_max_change: float = 0.2  # sigma moves at most this fraction per generation
    fitness_shaping: str = "centered_rank"  # centered_rank | identity


@dataclass
class SNESConfig(ESConfig):
    """Separable NES (Schaul et al. 2011): rank-weighted natural gradients of the mean and of a
    per-parameter sigma. ``lr`` scales the mean's natural-gradient step (evosax: 1.0)."""

    strategy: str = "snes"
    lr: float = 1.0
    lr_decay: float = 1.0
    lr_std: Optional[float] = None  # sigma's learning rate; null = (3 + ln d) / (5 sqrt d) (evosax)


@dataclass
class SepCMAESConfig(ESConfig):
    """Separable CMA-ES (Ros & Hansen 2008): diagonal covariance, cumulative step-size adaptation.

    Its adaptation rates follow the dimension d: at d ~ 1,200 meta-parameters and a population of 8 the
    diagonal and the step size move by well under 1% per generation, so sigma stays near ``sigma_init``
    for a CPU-sized run."""

    strategy: str = "sep_cma_es"
    elite_ratio: float = 0.5  # fraction of the population that moves the mean (evosax: 0.5)
    c_mean: float = 1.0  # learning rate of the mean (1 = move to the weighted elite mean)


@dataclass
class MetaConfig:
    """What the meta-training job evaluates and how it runs."""

    envs: List[str] = field(default_factory=list)  # multi-task env names; empty = the single `env`
    num_rollouts: int = 1  # inner runs per member per task (averaged)
    eval_every: int = 24  # validate the ES mean every k generations (Table 7)
    validation_seeds: int = 8
    final_eval_seeds: int = 16  # the finished optimizer against tuned Adam
    # Which validated ES mean becomes the finished optimizer (best/). best_validated: the best score on
    # the validation_seeds (the authors' rule). top_k: the selection_top_k best validated means are
    # re-run on selection_seeds fresh seeds (disjoint from every other key) and the best mean over their
    # validation and fresh seeds wins (benchmarks/selection.py measures what each rule picks).
    selection: str = "best_validated"
    selection_top_k: int = 3
    selection_seeds: int = 16
    population_chunk: Optional[int] = None  # evaluate the population in chunks of this many members
    shard: bool = True  # shard the population over all devices with jax.sharding
    # One run over several processes (one per host or per GPU): jax.distributed connects them and the
    # population is sharded over all their devices. Unset launch settings fall back to the environment
    # (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID), then to JAX's cluster detection (SLURM,
    # Open MPI, TPU pods). A launch that cannot connect fails after init_timeout_s; a process that stops
    # sending heartbeats for heartbeat_timeout_s ends the others (docs/scaling.md).
    distributed: bool = False
    coordinator_address: Optional[str] = None  # host:port of process 0
    num_processes: Optional[int] = None
    process_id: Optional[int] = None
    init_timeout_s: int = 300
    heartbeat_timeout_s: int = 100
    antithetic_task_sampling: bool = False  # gridworld: pairs share a level, ranked within the pair
    checkpoint_every: int = 1
    keep_checkpoints: int = 3
    resume: bool = True  # re-running in the same run directory continues from the latest checkpoint
    # Where the ES mean starts. zeros: all-zero meta-parameters (the authors' start, the default);
    # random: the meta-network's own flax initialisation (seeded by `seed`) times init_scale; weights:
    # init_weights (a flat .npy, an optimizer directory or a meta-training run directory). null = weights
    # when init_weights is set, else zeros.
    init: Optional[str] = None
    init_weights: Optional[str] = None
    init_scale: float = 1.0
    # Learning diagnostics at every validation: the ES mean's update RMS over tuned Adam's on the same
    # gradients (diag/update_ratio), measured by a probe of probe_updates PPO updates x probe_seeds seeds
    # (0 = off), plus tuned Adam's validation return as a reference. A warning is logged once when the
    # ratio stays below plateau_ratio at 3 consecutive validations (the zero-start plateau).
    probe_updates: int = 4
    probe_seeds: int = 2
    plateau_ratio: float = 0.05


@dataclass
class EvalConfig:
    """``openrl-eval``: which optimizers run on which envs, and how results are summarised.

    ``envs`` empty: the composed ``env``. ``optimizers`` empty: the composed ``optimizer`` (with its
    command-line overrides). An optimizer entry is ``[label=]preset[@weights]``: a ``conf/optimizer``
    preset, optionally with a weights file, optimizer directory or meta-training run directory; ``{env}``
    in the weights path is replaced by each env's name (per-env released weights). Seeds: ``num_seeds``
    seeds from ``seed``, the same for every optimizer on an env (paired comparisons).
    """

    envs: List[str] = field(default_factory=list)
    optimizers: List[str] = field(default_factory=list)
    # replaces {root} in weights paths (e.g. a finished meta-training sweep)
    weights_root: Optional[str] = None
    baseline: str = "adam"  # label that normalises returns and that probability of improvement compares to
    bootstrap_reps: int = 2000  # rliable stratified-bootstrap replications
    confidence: float = 0.95  # CI coverage
    stats_seed: int = 0  # seeds the bootstrap: same data + same seed = same CIs
    figures: bool = True  # write the paper-style PNGs (and log them to W&B when a logger is on)


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
    mode: str = "ppo"  # ppo: train an agent | meta: meta-train a learned optimizer with ES
    # Validate and print the plan (jobs, seeds, budgets, projected CPU time), then exit without running
    # (openrl.cli.dry_run; the console scripts act on `dry_run=true` before Hydra starts a job).
    dry_run: bool = False
    es: Any = MISSING  # group es: open_es (default) | pgpe | snes | sep_cma_es
    # strategy name -> this experiment's values for it (paper Table 7 for open_es); precedence:
    # conf/es/<strategy>.yaml < es_settings[strategy] < budget preset < command line.
    es_settings: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    meta: MetaConfig = field(default_factory=MetaConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)  # openrl-eval / openrl-report
    # Budget presets: budgets[budget] may name the ES strategy it runs (es: <name>) and overrides that
    # strategy's es.<field>s, ppo.total_timesteps and meta settings (openrl.config.compose.BUDGET_KEYS).
    budget: str = "paper"
    budgets: Dict[str, Dict[str, Any]] = field(default_factory=dict)
