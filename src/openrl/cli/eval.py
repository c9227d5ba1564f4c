"""Console scripts ``openrl-eval`` (Hydra app over the ``conf/`` tree) and ``openrl-report``.

Both exit with status 2 and a message naming the offending field or file when the input is unusable
(an invalid config, a missing, corrupt or wrong-size weights file, a directory with no results), the
same contract as ``openrl-train``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from openrl.config import CONF_DIR, ConfigError, apply_budget, register_configs
from openrl.config.compose import record_effective
from openrl.runs import metadata

log = logging.getLogger("openrl")
logging.getLogger("absl").setLevel(logging.WARNING)
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # as in openrl.cli: no backend-probe INFO
register_configs()


@hydra.main(config_path=str(CONF_DIR), config_name="eval", version_base="1.3")
def _eval(cfg: DictConfig) -> float:
    from openrl.jobs import evaluate as eval_run  # jax: loaded once Hydra has a config, not for --help

    hc = HydraConfig.get()
    overrides = list(hc.overrides.task)
    run_dir = Path(hc.runtime.output_dir)
    try:
        # structured types checked here; every (env, optimizer) pair is composed and validated by plan()
        eval_cfg = OmegaConf.to_object(cfg)
        resolved = OmegaConf.to_container(apply_budget(cfg, overrides), resolve=True)
        pairs = eval_run.plan(eval_cfg, overrides, hc.runtime.choices.get("optimizer", "adam"))
    except ConfigError as e:
        print(f"openrl-eval: {e}", file=sys.stderr)
        sys.exit(2)
    # what each pair ran with (tuned values filled in per env), beside the top-level composition
    resolved["pairs"] = [
        {"env": p.env, "label": p.spec.label, "optimizer": record_effective({}, p.cfg)["optimizer"]}
        for p in pairs
    ]
    metadata.write(run_dir, resolved)
    summary = eval_run.run(eval_cfg, pairs, run_dir)
    first = next(iter(summary["results"].values()))
    return float(next(iter(first.values()))["iqm"]["value"])


def eval_main() -> None:
    """Console script ``openrl-eval`` (``dry_run=true``: :mod:`openrl.cli.dry_run`, no job is started)."""
    from openrl.cli import dry_run

    if dry_run.requested(sys.argv[1:]):
        dry_run.main("openrl-eval", sys.argv[1:])
    _eval()


def report_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``openrl-report``'s arguments, checked before anything is read: exits 2 with one line when a
    path is neither a directory nor a results JSON, or when several inputs (or a JSON) lack ``--out``.
    The documented-commands test runs this on every ``openrl-report`` line of the docs."""
    ap = argparse.ArgumentParser(
        prog="openrl-report",
        description="Aggregate a finished Hydra multirun (openrl-eval or openrl-train jobs) into report.md, "
        "report_summary.json and paper-style figures.",
    )
    ap.add_argument(
        "sweep_dir",
        type=Path,
        nargs="+",
        help="the multirun directory (holds one directory per job), or a results JSON in the summary "
        "schema (report_summary.json, benchmarks/results/*.json); several are pooled into one report",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write (default: the sweep directory; required with several or with a JSON)",
    )
    ap.add_argument("--baseline", default="adam", help="optimizer label that normalises (default: adam)")
    ap.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default: 2000)")
    ap.add_argument("--confidence", type=float, default=0.95)
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed (same seed, same CIs)")
    ap.add_argument(
        "--only", default=None, help="comma-separated optimizer labels to keep (default: every optimizer)"
    )
    args = ap.parse_args(argv)
    for d in args.sweep_dir:
        if not (d.is_dir() or (d.is_file() and d.suffix == ".json")):
            print(f"openrl-report: {d} is not a directory (nor a results .json file)", file=sys.stderr)
            sys.exit(2)
    if (len(args.sweep_dir) > 1 or args.sweep_dir[0].is_file()) and args.out is None:
        print(
            "openrl-report: several sweep directories or a results file: name the report's directory "
            "with --out",
            file=sys.stderr,
        )
        sys.exit(2)
    return args


def report_main(argv: list[str] | None = None) -> None:
    """Console script ``openrl-report SWEEP_DIR [SWEEP_DIR ...]``: report.md + figures for a finished
    multirun, or for several pooled into one table (e.g. rows run on a GPU and on a CPU; ``--out``)."""
    args = report_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # matplotlib, jax and orbax load only now: --help and a bad directory answer at once
    from openrl.eval import report

    try:
        summary = report.report_sweep(
            args.sweep_dir,
            args.out,
            args.baseline,
            args.reps,
            args.confidence,
            args.seed,
            only=args.only.split(",") if args.only else None,
        )
    except (FileNotFoundError, ValueError) as e:
        print(f"openrl-report: {e}", file=sys.stderr)
        sys.exit(2)
    out = args.out or args.sweep_dir[0]
    print(f"openrl-report: {out / 'report.md'} ({len(summary['files']['figures'])} figures)")


if __name__ == "__main__":
    eval_main()
