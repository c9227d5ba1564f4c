"""``openrl-dashboard``: create openrl's W&B workspace in a project (:mod:`openrl.runs.dashboard`)."""

from __future__ import annotations

import argparse
import sys

from openrl.runs.dashboard import DashboardError, build_workspace, describe, save


def parser() -> argparse.ArgumentParser:
    """``openrl-dashboard``'s arguments (also parsed by the documented-commands test)."""
    ap = argparse.ArgumentParser(
        prog="openrl-dashboard",
        description="Create openrl's W&B workspace (meta-training, PPO and evaluation sections) in a project.",
    )
    ap.add_argument("--project", required=True, help="W&B project (logger.project of the runs)")
    ap.add_argument("--entity", default=None, help="W&B entity (default: your default entity)")
    ap.add_argument("--group", default=None, help="show only runs of this group (default: the task_name)")
    ap.add_argument("--name", default="openrl", help="name of the workspace view (default: openrl)")
    ap.add_argument(
        "--dry-run", action="store_true", help="print the sections and panels; no network, no API key"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    workspace = build_workspace(args.project, args.entity, args.group, args.name)
    if args.dry_run:
        print(describe(workspace, args.group))
        return 0
    try:
        url = save(workspace)
    except DashboardError as e:
        print(f"openrl-dashboard: {e}", file=sys.stderr)
        return 1
    print(f"workspace saved: {url}")
    return 0


def dashboard_main() -> None:
    """Console script ``openrl-dashboard``."""
    sys.exit(main())
