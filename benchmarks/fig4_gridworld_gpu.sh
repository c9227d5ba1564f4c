#!/usr/bin/env bash
# The paper's Fig. 4 on ONE GPU at the paper budget: the released gridworld_OPEN (optimizer=open_pretrained)
# against tuned Adam on the 7 gridworld level types, T = 3e7 env steps per seed (1,464 PPO updates of 1024
# envs x 20 steps), 64 seeds vmapped per job (each seed trains on its own sampled level; seed i of both
# optimizers on the same level), agent width 16 first, then the width axis; then `openrl-report RUN_DIR`
# (a table per level and width, Adam-normalised; fig4_gridworld_width.png once two widths have finished).
#
#   benchmarks/fig4_gridworld_gpu.sh RUN_DIR [DEADLINE_S [START_EPOCH_S]]
#   LEVELS="rand_all labyrinth" WIDTHS=16 benchmarks/fig4_gridworld_gpu.sh outputs/fig4_gridworld_gpu 540
#
# Order: width 16 level by level (rand_all, rand_dense, rand_sparse, rand_long, standard_maze,
# sixteen_rooms, labyrinth), Adam then OPEN of a level (LANES=2: side by side); then widths 8, 32, 64 and
# 128 the same way. One openrl-eval job per (level, width, optimizer) in RUN_DIR/LEVEL__wWIDTH__OPT
# (LEVEL__wWIDTH__sG__OPT with seed groups), through benchmarks/gpu_jobs.sh: resumable (a job with a
# summary.json is skipped, one stopped early is rerun), a job starts only with MIN_START_S (default 150)
# left, or 1.1x the longest finished job in RUN_DIR.
#
# Expected cost (not yet measured on a GPU): 1.9e9 env steps per job, 2.7e10 for the 14 width-16 jobs,
# 1.3e11 with the width axis. PPO at these settings on the 2-core CPU ran 27-49k env-steps/s with one seed
# (docs/benchmarks.md); one H200 ran MinAtar PPO 104x faster than that CPU with 16 seeds x 64 envs, and
# 64 seeds x 1024 envs fill it further: expect ~10-30M env-steps/s, i.e. 1-3 min per job at width 16 and
# 15-45 min for the 14 width-16 jobs (several 9-minute runs with the same RUN_DIR); the tabular mazes
# (1353 inputs) and wider agents cost more per step. If one job alone cannot finish inside a run (its
# log's progress lines give env-steps/s and an ETA), rerun with SEED_GROUPS=2 or 4 (seed groups of 32 or
# 16, seed=0.., pooled by openrl-report).
#
# Released weights: as in fig2_ant_gpu.sh (OPENRL_PRETRAINED=<dir holding gridworld_OPEN.npy> offline).
set -u
R=${1:?usage: fig4_gridworld_gpu.sh RUN_DIR [DEADLINE_S [START_EPOCH_S]]}
DEADLINE=${2:-0}
START=${3:-$(date +%s)}
PY=${PYTHON:-python3}
LEVELS=${LEVELS:-"rand_all rand_dense rand_sparse rand_long standard_maze sixteen_rooms labyrinth"}
WIDTHS=${WIDTHS:-"16 8 32 64 128"}
OPTS=${OPTS:-"adam open_pretrained"}
SEEDS=${SEEDS:-64}
SEED_GROUPS=${SEED_GROUPS:-1}
LANES=${LANES:-1}
MIN_START_S=${MIN_START_S:-150}
EXTRA=${EXTRA:-}  # more overrides for every job, e.g. EXTRA="budget=smoke"

# shellcheck source=benchmarks/gpu_jobs.sh
. "$(dirname "$0")/gpu_jobs.sh"
for w in $WIDTHS; do
    for l in $LEVELS; do
        add_block "${l}__w$w" "$OPTS" experiment=gridworld_generalisation env.level="$l" ppo.width="$w"
    done
done
run_groups
