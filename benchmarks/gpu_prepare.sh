#!/usr/bin/env bash
# Prepares, on a machine with network access, what benchmarks/gpu_paper_items.sh needs on a GPU machine
# that has none: DIR/wheels (Python 3.12 x86-64 wheels of openrl's dependencies that a CUDA image with
# jax, flax, optax, numpy, scipy, matplotlib and statsmodels lacks, at the versions of constraints.txt) and
# DIR/weights (the released ant_OPEN.npy and gridworld_OPEN.npy, SHA-256-checked). DIR (default .gpu) is
# git-ignored; carry it to the GPU machine with the working tree.
#
#   benchmarks/gpu_prepare.sh [DIR]
#   OPENRL_PRETRAINED=<dir with the release> benchmarks/gpu_prepare.sh      (weights from a local copy)
#
# About 33 MB of wheels (mujoco-core 9.7 MB, mujoco-mjx 7.3 MB, pandas 12.4 MB: installed only where the
# image's pandas is 3.x, which arch 7, rliable's dependency, cannot import). Only what the Fig. 2 Ant and
# Fig. 4 gridworld evaluations and openrl-report import is fetched (no gymnax, evosax, wandb).
set -eu
cd "$(dirname "$0")/.."
D=${1:-.gpu}
PY=${PYTHON:-.venv/bin/python}
PYV=${PYV:-3.12}
mkdir -p "$D/wheels" "$D/weights"
pin() { grep -i "^$1==" constraints.txt | head -1; }
PLAT="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
# binary wheels (or pure-Python ones) for the target interpreter
for p in hydra-core omegaconf brax mujoco mujoco-core mujoco-mjx trimesh glfw jaxopt arch orbax-export \
    pooch platformdirs pandas pytz tzdata; do
    # shellcheck disable=SC2086
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
        $PLAT -d "$D/wheels" "$(pin "$p")"
done
# pure-Python packages published as source only: built into wheels here
for p in antlr4-python3-runtime rliable; do
    "$PY" -m pip wheel -q --no-deps -w "$D/wheels" "$(pin "$p")"
done
# released weights: from $OPENRL_PRETRAINED or the download cache (downloading if needed)
for n in ant_OPEN gridworld_OPEN; do
    "$PY" - "$n" "$D/weights" <<'EOF'
import shutil, sys
from openrl import pretrained
shutil.copy(pretrained.fetch(sys.argv[1]), sys.argv[2])
EOF
done
du -sh "$D/wheels" "$D/weights"
