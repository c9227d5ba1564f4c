#!/usr/bin/env bash
# The paper's Fig. 2 Ant row on ONE GPU at the paper budget: Brax Ant (positional backend), T = 5e7 env
# steps per seed (2,441 PPO updates of 2048 envs x 10 steps), 16 seeds vmapped per job, tuned Adam, the
# released ant_OPEN (optimizer=open_pretrained), tuned RMSprop and Lion; then `openrl-report RUN_DIR`.
#
#   benchmarks/fig2_ant_gpu.sh RUN_DIR [DEADLINE_S [START_EPOCH_S]]
#   OPTS="adam open_pretrained" SEED_GROUPS=2 benchmarks/fig2_ant_gpu.sh outputs/fig2_ant_gpu 540
#
# Order: Adam, ant_OPEN (the row's comparison; Adam should land near the authors' normaliser 6517), then
# RMSprop, Lion; one job at a time (LANES=1: each job's wall time is Table 11's runtime), LANES=2 runs them
# in pairs. One openrl-eval job per optimizer in RUN_DIR/ant__OPT (RUN_DIR/ant__sG__OPT with seed groups),
# through benchmarks/gpu_jobs.sh: resumable (a job with a summary.json is skipped, one stopped early is
# rerun), a job starts only with MIN_START_S (default 300) left, or 1.1x the longest finished job in RUN_DIR.
#
# Expected cost (not yet measured on a GPU): 3.2e9 env steps in all. The paper's Table 11 times 16 Ant
# seeds at 303-333 s (Adam, RMSprop, Lion) and 453 s (OPEN) on its L40 machine; openrl's MinAtar jobs on
# one H200 took 0.70-0.77x their Table 11 times, hence ~220-260 s per handcrafted job and ~330-350 s for
# OPEN (compilation included), ~17 min for the row: two or three 9-minute runs of this script with the
# same RUN_DIR. Ant's physics is heavier arithmetic than MinAtar, so a job could take up to ~1.5x that; if
# one job alone cannot finish inside a run (its log's progress lines give env-steps/s and an ETA), rerun with
# SEED_GROUPS=2 (two 8-seed jobs per optimizer, seed=0 and seed=1, pooled by openrl-report).
#
# Released weights: pretrained:ant_OPEN resolves through openrl.pretrained; on a machine without network
# set OPENRL_PRETRAINED=<dir holding ant_OPEN.npy> (benchmarks/gpu_paper_items.sh does).
set -u
R=${1:?usage: fig2_ant_gpu.sh RUN_DIR [DEADLINE_S [START_EPOCH_S]]}
DEADLINE=${2:-0}
START=${3:-$(date +%s)}
PY=${PYTHON:-python3}
OPTS=${OPTS:-"adam open_pretrained rmsprop lion"}
SEEDS=${SEEDS:-16}
SEED_GROUPS=${SEED_GROUPS:-1}
LANES=${LANES:-1}
MIN_START_S=${MIN_START_S:-300}
EXTRA=${EXTRA:-}  # more overrides for every job, e.g. EXTRA="budget=smoke"

# shellcheck source=benchmarks/gpu_jobs.sh
. "$(dirname "$0")/gpu_jobs.sh"
opts=($OPTS)
for ((i = 0; i < ${#opts[@]}; i += 2)); do  # blocks of two optimizers: seed groups of a pair together
    add_block ant "${opts[*]:i:2}" experiment=fig2_single_task eval.envs=[ant]
done
run_groups
