"""Metric logging that never stops a run.

``metrics.jsonl`` in the run directory is always written and is the source of truth. Weights & Biases
is optional: mode ``auto`` goes online when an API key is configured and offline otherwise; if W&B
cannot start (no network, bad key, service error) the run falls back to offline, then to no W&B, with a
warning. Every W&B call is guarded, and ``finish`` is always called (multirun jobs continue).
"""

from __future__ import annotations

import json
import logging
import math
import os
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def resolve_mode(mode: str) -> str:
    if os.environ.get("WANDB_MODE") in ("offline", "disabled", "online"):
        return os.environ["WANDB_MODE"]
    if mode == "auto":
        return "online" if _has_api_key() else "offline"
    return mode


# The x-axis of each kind of job's W&B charts: the counter that job passes as ``log(..., step=...)``
# (ES generations, environment steps, evaluated pairs), logged under this name and declared with
# ``define_metric``, so runs of one kind share a meaningful axis and ``openrl-dashboard`` can name it
# (W&B's own ``_step`` is only "the step of the last log call").
STEP_METRICS = {"meta_train": "generation", "train": "env_steps", "eval": "pair"}


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class RunLogger:
    """JSONL + optional W&B. Use as a context manager."""

    def __init__(
        self, run_dir: Path, cfg: Any, resolved_config: dict[str, Any], name: str, job_type: str = "train"
    ):
        import jax

        self.run_dir = Path(run_dir)
        # In a multi-host run (jax.distributed) every process runs this loop; only process 0 logs.
        primary = jax.process_index() == 0
        self.jsonl = (self.run_dir / "metrics.jsonl").open("a") if (cfg.jsonl and primary) else None
        self.wandb_run = None
        self.step_metric = STEP_METRICS.get(job_type)
        self.mode = resolve_mode(cfg.wandb_mode) if primary else "disabled"
        if self.mode != "disabled":
            self._start_wandb(cfg, resolved_config, name, job_type)

    def _start_wandb(self, cfg: Any, resolved_config: dict[str, Any], name: str, job_type: str) -> None:
        id_file = self.run_dir / "wandb_id.txt"
        try:
            import wandb

            run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:8]
            id_file.write_text(run_id)
            for mode in dict.fromkeys([self.mode, "offline"]):
                try:
                    self.wandb_run = wandb.init(
                        project=cfg.project,
                        entity=cfg.entity,
                        group=cfg.group or resolved_config.get("task_name"),
                        name=name,
                        job_type=job_type,
                        tags=list(cfg.tags),
                        config=resolved_config,
                        dir=str(self.run_dir),
                        id=run_id,
                        resume="allow",
                        mode=mode,
                        settings=wandb.Settings(init_timeout=60, silent=True),
                    )
                    self.mode = mode
                    self._define_step_metric()
                    return
                except Exception as e:  # noqa: BLE001 - W&B must never stop training
                    log.warning("W&B %s mode failed (%s); falling back", mode, e)
        except Exception as e:  # noqa: BLE001
            log.warning("W&B unavailable (%s); logging to metrics.jsonl only", e)
        self.mode = "disabled"

    def _define_step_metric(self) -> None:
        if self.step_metric is None:
            return
        try:
            self.wandb_run.define_metric(self.step_metric)
            self.wandb_run.define_metric("*", step_metric=self.step_metric)
        except Exception as e:  # noqa: BLE001 - charts fall back to W&B's step; training goes on
            log.warning("W&B define_metric failed (%s); charts use W&B's step", e)

    def _with_step(self, values: dict[str, Any], step: int) -> dict[str, Any]:
        return {**values, self.step_metric: int(step)} if self.step_metric else values

    def log(self, metrics: dict[str, Any], step: int) -> None:
        row = {"step": int(step), **{k: _clean(v) for k, v in metrics.items()}}
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(row) + "\n")
            self.jsonl.flush()  # a killed run keeps every line it logged
        if self.wandb_run is not None:
            try:
                self.wandb_run.log(
                    self._with_step({k: v for k, v in row.items() if v is not None and k != "step"}, step),
                    step=int(step),
                )
            except Exception as e:  # noqa: BLE001
                log.warning("W&B log failed (%s); continuing without W&B", e)
                self.wandb_run = None

    def log_image(self, key: str, path: Path, step: int) -> None:
        if self.wandb_run is None:
            return
        try:
            import wandb

            self.wandb_run.log(self._with_step({key: wandb.Image(str(path))}, step), step=int(step))
        except Exception as e:  # noqa: BLE001
            log.warning("W&B image upload failed (%s)", e)

    def summary(self, values: dict[str, Any]) -> None:
        if self.wandb_run is None:
            return
        try:
            self.wandb_run.summary.update(values)
        except Exception as e:  # noqa: BLE001
            log.warning("W&B summary failed (%s)", e)

    def close(self) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
            self.jsonl = None
        if self.wandb_run is not None:
            try:
                self.wandb_run.finish()
            except Exception as e:  # noqa: BLE001
                log.warning("W&B finish failed (%s)", e)
            self.wandb_run = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
