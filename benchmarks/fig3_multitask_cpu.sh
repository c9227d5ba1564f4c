#!/usr/bin/env bash
# The paper's Fig. 3 on the CPU, built up run by run: every cell (game x optimizer) to at least 8 seeds at
# T = 1e7, from the seeds already measured (benchmarks/results/fig2_minatar_1e7.json: Adam, RMSprop, Lion;
# benchmarks/results/multi_open_1e7.json: multi_OPEN seeds 0-1) plus the jobs below, then one report:
#
#   OPENRL_PRETRAINED=<dir with multi_OPEN.npy> benchmarks/fig3_multitask_cpu.sh RUN_DIR [DEADLINE_S]
#   openrl-report RUN_DIR benchmarks/results/fig2_minatar_1e7.json benchmarks/results/multi_open_1e7.json \
#       --only adam,rmsprop,lion,open_multi_pretrained --out RUN_DIR/report
#
# Jobs, cheapest first (one openrl-eval job each, in RUN_DIR/NAME, through benchmarks/gpu_jobs.sh: a job
# with a summary.json is skipped, a stopped one is rerun, so the script picks up where it was stopped):
#   - the handcrafted cells that have 4 seeds: Asterix RMSprop and Lion, Freeway Adam, RMSprop and Lion,
#     4 more seeds each (seed=1 num_seeds=4: split(PRNGKey(1), 4), disjoint from the first 4);
#   - multi_OPEN one game-seed per job (seed=k num_seeds=1, the scheme of seeds 0 and 1), seeds
#     2..MULTI_SEEDS-1 game by game (MULTI_SEEDS=8 by default; 16 adds seeds 8-15), so a stop loses at
#     most one game-seed (8-15 min on 2 cores).
# Cost measured on 2 cores (2026-11-30): ~2.2 h for the handcrafted jobs, 4.4 h for multi_OPEN seeds 2-7
# (430-500 s per game-seed on Asterix and Breakout, 650-830 s on Freeway and SpaceInvaders).
set -u
R=${1:?usage: fig3_multitask_cpu.sh RUN_DIR [DEADLINE_S]}
DEADLINE=${2:-0}
START=$(date +%s)
PY=${PYTHON:-python3}
MULTI_SEEDS=${MULTI_SEEDS:-8}
# LANES=2 runs two jobs side by side; on 2 cores it measured no faster than one at a time (Asterix beside
# SpaceInvaders: 0.51 + 0.51 of their speeds alone), so the default is 1
SEEDS=1 SEED_GROUPS=1 LANES=${LANES:-1} MIN_START_S=${MIN_START_S:-600}
EXTRA=${EXTRA:-}  # more overrides for every job, e.g. EXTRA="budget=smoke"

# shellcheck source=benchmarks/gpu_jobs.sh
. "$(dirname "$0")/gpu_jobs.sh"
for cell in asterix:rmsprop asterix:lion freeway:adam freeway:rmsprop freeway:lion; do
    JOBS+=("${cell%%:*}__${cell##*:}__s1x4 experiment=fig3_multitask eval.envs=[${cell%%:*}] eval.optimizers=[${cell##*:}] seed=1 num_seeds=4")
done
for ((k = 2; k < MULTI_SEEDS; k++)); do
    for g in asterix breakout freeway spaceinvaders; do
        JOBS+=("${g}__multi__s$k experiment=fig3_multitask eval.envs=[$g] eval.optimizers=[open_multi_pretrained] seed=$k num_seeds=1")
    done
done
run_groups
