#!/usr/bin/env bash
# The paper's Fig. 2 rows for the MinAtar games on ONE GPU, at the paper budget (T = 1e7, 16 seeds vmapped
# per job), then `openrl-report RUN_DIR` for the table and the figures.
#
# One openrl-eval job per (game, optimizer), each in its own run directory (as `openrl-eval -m` would lay
# them out), the optimizers of a game side by side (one process each), games in turn, so a deadline leaves
# whole rows rather than four half rows. Measured on one H200 (2026-11-26): four SpaceInvaders jobs side by
# side ran at 1.6-1.7M env-steps/s each (GPU 99-100% busy); alone, Asterix ran at 2.7M (Adam) and 1.9M
# (OPEN). SEQUENTIAL=1 runs one job at a time instead (clean per-job wall times for Table 11).
#
#   benchmarks/fig2_minatar_gpu.sh RUN_DIR [DEADLINE_S [START_EPOCH_S]]
#   GAMES="asterix freeway" OPTS="adam open_pretrained" SEEDS=8 benchmarks/fig2_minatar_gpu.sh outputs/fig2_gpu
#
# DEADLINE_S (optional): seconds after START_EPOCH_S (default: now) at which running jobs are stopped and no
# new one starts (a job is not started with under 90 s left). Jobs stopped early leave no summary.json, so
# openrl-report skips them. On a cluster, use the Hydra multirun instead:
#   openrl-eval -m experiment=fig2_single_task hydra/launcher=slurm
set -u
R=${1:?usage: fig2_minatar_gpu.sh RUN_DIR [DEADLINE_S [START_EPOCH_S]]}
DEADLINE=${2:-0}
START=${3:-$(date +%s)}
PY=${PYTHON:-python3}
GAMES=${GAMES:-"spaceinvaders asterix freeway breakout"}
OPTS=${OPTS:-"adam rmsprop lion open_pretrained"}
SEEDS=${SEEDS:-16}
EXTRA=${EXTRA:-}  # more overrides for every job, e.g. EXTRA="budget=smoke"
# every job allocates what it needs instead of 75% of the card each
export XLA_PYTHON_CLIENT_PREALLOCATE=false
mkdir -p "$R/logs"

left() { echo $((DEADLINE - $(date +%s) + START)); }

run_optimizer() {
    local o=$1 g limit
    for g in $GAMES; do
        limit=""
        if [ "$DEADLINE" -gt 0 ]; then
            [ "$(left)" -lt 90 ] && { echo "[$o] deadline: $g not started"; break; }
            limit="timeout $(left)"
        fi
        # num_chunks=10: 1220 updates in 10 equal blocks -> one compilation, a log line every 10%
        $limit "$PY" -m openrl.cli.eval experiment=fig2_single_task "eval.envs=[$g]" "eval.optimizers=[$o]" \
            num_seeds="$SEEDS" num_chunks=10 progress=false logger=disabled "hydra.run.dir=$R/${g}__${o}" $EXTRA \
            >"$R/logs/${g}__${o}.log" 2>&1
        echo "[$o] $g: exit $? at $(( $(date +%s) - START )) s; $(grep -ho 'final returns.*' "$R/logs/${g}__${o}.log" | tail -1)"
    done
}

if [ "${SEQUENTIAL:-0}" = 1 ]; then
    for g0 in $GAMES; do for o in $OPTS; do GAMES=$g0 run_optimizer "$o"; done; done
else
    for o in $OPTS; do run_optimizer "$o" & done
    wait
fi
