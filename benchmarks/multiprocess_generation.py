"""Seconds per ES generation with the population over 2 processes x 1 device, 1 process x 2 devices and
1 process x 1 device: what spreading one run over processes costs in communication on one machine.

Each layout runs in fresh processes on CPU devices (2 processes: ``jax.distributed`` over 127.0.0.1
with gloo collectives, ``meta.distributed=true`` as ``openrl-train`` sets it up; 2 devices:
``--xla_force_host_platform_device_count=2``). A generation is the jitted generation program that
``openrl-train`` runs (:mod:`openrl.meta.job`: replicated ES state, population sharded over the mesh,
replicated results), timed after a first generation that compiles.

    python -m benchmarks.multiprocess_generation                 # tiny Breakout program, 5 generations
    python -m benchmarks.multiprocess_generation --gens 1 --out /tmp/mp.json

Writes ``outputs/benchmarks/multiprocess_generation.json`` (``--publish``: ``benchmarks/results/``; or ``--out``): per layout the median wall seconds per
generation, and process 0's CPU seconds per generation.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

LAYOUTS = {"2 processes x 1 device": (2, 1), "1 process x 2 devices": (1, 2), "1 process x 1 device": (1, 1)}
# The tiny Breakout PPO + OPEN program of the multi-process tests (tests/tiny.py), population 4.
OVERRIDES = [
    "experiment=single_breakout",
    "es.population_size=4",
    "es.sigma_init=1.0",
    "optimizer.alpha1=1.0",
    "ppo.num_envs=8",
    "ppo.num_steps=16",
    "ppo.total_timesteps=384",
    "ppo.num_minibatches=2",
    "ppo.update_epochs=1",
    "ppo.width=8",
    "logger=disabled",
]


def child(processes: int, pid: int, port: int, gens: int, overrides: list[str]) -> dict:
    from types import SimpleNamespace

    from openrl.runs import distributed

    if processes > 1:
        distributed.initialize(
            SimpleNamespace(
                coordinator_address=f"127.0.0.1:{port}",
                num_processes=processes,
                process_id=pid,
                init_timeout_s=120,
                heartbeat_timeout_s=60,
            )
        )
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    from benchmarks.common import Timer, machine
    from openrl.config import load_config, meta_job
    from openrl.jobs.meta import build_meta, make_mesh

    _, cfg = load_config(overrides)
    mesh = make_mesh(cfg)
    meta = build_meta(meta_job(cfg, overrides), mesh)
    state = meta.init(jax.random.PRNGKey(0))
    if mesh is None:
        gen = jax.jit(meta.generation)
    else:
        state = distributed.replicate(state, mesh)
        gen = jax.jit(meta.generation, out_shardings=NamedSharding(mesh, PartitionSpec()))
    key = jax.random.PRNGKey(1)
    with Timer() as first:
        state, m = gen(state, jax.random.fold_in(key, 0))
        jax.device_get(m["fitness"])
    walls, cpus = [], []
    for g in range(1, gens + 1):
        with Timer() as t:
            state, m = gen(state, jax.random.fold_in(key, g))
            jax.device_get(m["fitness"])
        walls.append(t.wall)
        cpus.append(t.cpu)
    return {
        "process": jax.process_index(),
        "devices": len(jax.devices()),
        "first_generation_s": first.wall,
        "wall_s": walls,
        "cpu_s": cpus,
        "fitness": [float(x) for x in jax.device_get(m["fitness"])],
        "machine": machine(),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_layout(processes: int, devices: int, gens: int, timeout: float) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA_")}
    env["JAX_PLATFORMS"] = "cpu"
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    port = free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.multiprocess_generation",
                "--child",
                str(processes),
                str(pid),
                str(port),
                "--gens",
                str(gens),
            ],  # fmt: skip
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for pid in range(processes)
    ]
    outs = []
    try:
        for p in procs:
            stdout, _ = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise SystemExit(f"a {processes}-process layout failed (status {p.returncode})")
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outs


def main() -> None:
    from benchmarks.common import add_publish_flag

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gens", type=int, default=5, help="timed generations after the first (default 5)")
    ap.add_argument(
        "--out", type=Path, default=None, help="default: multiprocess_generation.json (see --publish)"
    )
    add_publish_flag(ap)
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per layout before giving up")
    ap.add_argument(
        "--child", nargs=3, type=int, metavar=("PROCESSES", "PID", "PORT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.gens, OVERRIDES)))
        return
    from benchmarks.common import write

    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_start = os.getloadavg()
    layouts = {}
    for name, (processes, devices) in LAYOUTS.items():
        outs = run_layout(processes, devices, args.gens, args.timeout)
        p0 = outs[0]
        layouts[name] = {
            "processes": processes,
            "devices_per_process": devices,
            "sec_per_generation": statistics.median(p0["wall_s"]),
            "cpu_s_per_generation_process0": statistics.median(p0["cpu_s"]),
            "first_generation_s": p0["first_generation_s"],
            "wall_s": p0["wall_s"],
            "fitness_last_generation": p0["fitness"],
            "processes_agree": all(o["fitness"] == p0["fitness"] for o in outs),
        }
        print(f"{name}: {layouts[name]['sec_per_generation']:.3f} s/generation (wall, median of {args.gens}), "
              f"process 0 CPU {layouts[name]['cpu_s_per_generation_process0']:.3f} s", flush=True)  # fmt: skip
    payload = {
        "benchmark": "multiprocess_generation",
        "date": started,
        "command": "python -m benchmarks.multiprocess_generation"
        + (f" --gens {args.gens}" if args.gens != 5 else ""),
        "overrides": OVERRIDES,
        "generations_timed": args.gens,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "machine": {k: v for k, v in outs[0]["machine"].items() if k != "loadavg_start"},
        "layouts": layouts,
    }
    if args.out is None:
        print("wrote", write("multiprocess_generation", payload, publish=args.publish))
    else:
        args.out.write_text(json.dumps(payload, indent=2))
        print("wrote", args.out)


if __name__ == "__main__":
    main()
