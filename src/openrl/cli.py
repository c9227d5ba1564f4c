"""Command-line entry points. ``openrl-train`` composes ``conf/`` with Hydra and runs the selected job.

Configuration is validated (schemas + cross-field rules) before anything is built or compiled; an
invalid config exits with status 2 and a message naming every offending field.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from openrl.config import CONF_DIR, ConfigError, register_configs, to_object

log = logging.getLogger("openrl")
logging.getLogger("absl").setLevel(logging.WARNING)  # Orbax logs every internal step at INFO
register_configs()


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _train(cfg: DictConfig) -> float:
    overrides = list(HydraConfig.get().overrides.task)
    try:
        obj = to_object(cfg, overrides)
    except ConfigError as e:
        print(f"openrl-train: {e}", file=sys.stderr)
        sys.exit(2)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    from openrl.config import apply_budget
    from openrl.runs import metadata
    from openrl.runs.checkpoint import CheckpointError

    resolved = OmegaConf.to_container(apply_budget(cfg, overrides), resolve=True)
    # A resumed run keeps the record of the run it continues (a refused resume must not overwrite it).
    if not (run_dir / "checkpoints").exists():
        metadata.write(run_dir, resolved)
    try:
        if obj.mode == "meta":
            from openrl.meta import setup

            return setup.run(obj, run_dir, resolved, overrides)
        from openrl.runs import ppo_job

        return ppo_job.run(obj, run_dir, resolved)
    except CheckpointError as e:
        print(f"openrl-train: {e}", file=sys.stderr)
        sys.exit(2)


def train_main() -> None:
    """Console script ``openrl-train``."""
    _train()


if __name__ == "__main__":
    train_main()
