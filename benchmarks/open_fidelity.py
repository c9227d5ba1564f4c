"""Fidelity benchmark: the authors' released OPEN weights driving openrl's PPO, next to Adam, same run.

Each optimizer trains the same seeds (keys ``split(PRNGKey(key_seed), seeds)``) on the same env and PPO
settings; final returns per seed, mean and IQM go to ``results/open_fidelity.json``.

    # authors' HEAD Breakout budget (5e5 steps); their code, run separately on a CPU, gave 8.64 (4 seeds)
    python -m benchmarks.open_fidelity --game breakout --timesteps 500000 --seeds 8
    # paper budget (1e7): authors' code (run separately) gave 54.8, 53.7, 82.1, 62.1; Adam 54.5 (one seed)
    python -m benchmarks.open_fidelity --game breakout --seeds 8
    # multi-task weights on every game
    python -m benchmarks.open_fidelity --game asterix --weights multi_OPEN.npy --arch open_large
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.adam_returns import run_one
from benchmarks.common import add_publish_flag, machine, out_dir, write
from openrl import pretrained


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--game", default="breakout")
    ap.add_argument(
        "--weights",
        default=None,
        help="a weights file, or a released name (multi_OPEN, pretrained:NAME); default: the released <game>_OPEN",
    )
    ap.add_argument("--arch", default="open", choices=["open", "open_large"])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--timesteps", type=int, default=None)
    ap.add_argument("--key-seed", type=int, default=0)
    ap.add_argument("--no-adam", action="store_true", help="skip the Adam baseline")
    ap.add_argument("--out", default="open_fidelity")
    add_publish_flag(ap)
    args = ap.parse_args()

    weights = args.weights or f"{args.game}_OPEN"
    if pretrained.is_pretrained(weights) or not Path(weights).exists():
        # a released optimizer: resolved (and downloaded on first use) from openrl's weights cache
        released = pretrained.lookup(weights)
        weights, file_name = pretrained.PREFIX + released.name, released.file
    else:
        file_name = Path(weights).name
    common = [f"env={args.game}"] + ([f"ppo.total_timesteps={args.timesteps}"] if args.timesteps else [])
    runs = {f"{args.arch}:{file_name}": [*common, f"optimizer={args.arch}", f"optimizer.weights={weights}"]}
    if not args.no_adam:
        runs["adam"] = [*common, "optimizer=adam"]

    path = out_dir(args.publish) / f"{args.out}.json"
    results = json.loads(path.read_text()) if path.exists() else {"machine": machine(), "runs": {}}
    for label, ov in runs.items():
        key = f"{args.game}/T={args.timesteps or 'paper'}/{label}"
        r = results["runs"][key] = run_one(ov, args.seeds, args.key_seed)
        write(args.out, results, publish=args.publish)
        final = np.asarray(r["final_return"])
        print(
            f"{key}: final {np.round(final, 2).tolist()} mean {final.mean():.2f} iqm {r['final_return_iqm']:.2f} "
            f"wall {r['run_wall_s']:.0f}s cpu {r['run_cpu_s']:.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
