# Shared by benchmarks/fig2_ant_gpu.sh, benchmarks/fig4_gridworld_gpu.sh and benchmarks/fig3_multitask_cpu.sh (sourced, not run): one
# openrl-eval job per row entry, each in its own run directory $R/NAME (as `openrl-eval -m` lays them out),
# run LANES at a time side by side, a group's jobs all finished before the next group starts, so a deadline
# leaves whole rows.
#
# Resumable: a job whose directory holds a summary.json is skipped; a directory without one (a job stopped
# by the deadline, or one that failed) is removed and the job run again. A group starts only with at least
# `needed` seconds left: 1.1x the longest wall time of a job already finished in $R (this run or an
# earlier one), or MIN_START_S while none has. Running jobs are stopped at the deadline (no summary.json:
# openrl-report skips them).
#
# A job stopped by the deadline is lost, so a job that cannot finish inside one run of the script never will:
# SEED_GROUPS=G splits each job's SEEDS into G jobs of SEEDS/G seeds (seed=0..G-1, the same groups for
# every optimizer, so runs stay paired), which openrl-report pools into one row of SEEDS seeds.
#
# Expects R, DEADLINE (0 = none), START (epoch s), PY, SEEDS, SEED_GROUPS, LANES, MIN_START_S and EXTRA;
# the caller then fills JOBS ("NAME override ..." strings, in priority order) with add_block and calls
# run_groups.
set -f  # overrides such as eval.optimizers=[adam] are not file patterns
if [ $((SEEDS % SEED_GROUPS)) -ne 0 ]; then
    echo "SEEDS=$SEEDS is not a multiple of SEED_GROUPS=$SEED_GROUPS" >&2
    exit 2
fi
JOBS=()
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # jobs side by side allocate what they need, not 75% each
mkdir -p "$R/logs"

left() { echo $((DEADLINE - $(date +%s) + START)); }

add_block() {  # PREFIX "OPT ..." OVERRIDE...: appends one row block's jobs to JOBS, seed group by seed group
    local prefix=$1 opts=$2 g o n=$((SEEDS / SEED_GROUPS))
    shift 2
    for ((g = 0; g < SEED_GROUPS; g++)); do
        for o in $opts; do
            if [ "$SEED_GROUPS" -le 1 ]; then
                JOBS+=("${prefix}__$o $* eval.optimizers=[$o] num_seeds=$SEEDS")
            else
                JOBS+=("${prefix}__s${g}__$o $* eval.optimizers=[$o] num_seeds=$n seed=$g")
            fi
        done
    done
}

needed() {
    "$PY" - "$R" "$MIN_START_S" <<'EOF'
import glob, json, sys
walls = []
for f in glob.glob(sys.argv[1] + "/*/summary.json"):
    try:
        res = json.load(open(f))["results"]
    except (OSError, ValueError, KeyError):
        continue
    walls += [float(r.get("wall_s", 0)) for env in res.values() for r in env.values()]
print(int(max([float(sys.argv[2])] + [1.1 * w for w in walls])))
EOF
}

run_job() {  # NAME OVERRIDE...; the caller has checked the deadline
    local name=$1 limit="" rc
    shift
    local dir="$R/$name" log="$R/logs/$name.log"
    # --foreground: the job stays in this script's process group (stopping the script's group stops it)
    [ "$DEADLINE" -gt 0 ] && limit="timeout --foreground -k 20 $(left)"
    rm -rf "$dir"
    echo "== $(date -u +%FT%TZ) $name: $* $EXTRA" >>"$log"
    # num_chunks=10: one compilation, a progress line every 10%; figures come from openrl-report
    $limit "$PY" -m openrl.cli.eval "$@" num_chunks=10 progress=false logger=disabled eval.figures=false \
        "hydra.run.dir=$dir" $EXTRA >>"$log" 2>&1
    rc=$?
    case $rc in 124 | 137) rc="$rc (stopped at the deadline)" ;; esac
    echo "[$name] exit $rc at $(($(date +%s) - START)) s; $(grep -ho 'final returns.*' "$log" | tail -1)"
}

run_groups() {  # runs JOBS, LANES at a time; stops at the first group the deadline leaves no room for
    local i j n need spec todo
    n=${#JOBS[@]}
    for ((i = 0; i < n; i += LANES)); do
        todo=()
        for ((j = i; j < i + LANES && j < n; j++)); do
            spec=${JOBS[j]}
            if [ -f "$R/${spec%% *}/summary.json" ]; then
                echo "[${spec%% *}] finished earlier: skipped"
            else
                todo+=("$spec")
            fi
        done
        [ ${#todo[@]} -eq 0 ] && continue
        if [ "$DEADLINE" -gt 0 ]; then
            need=$(needed)
            if [ "$(left)" -lt "$need" ]; then
                for spec in "${todo[@]}"; do
                    echo "[${spec%% *}] deadline: not started ($(left) s left, a job needs ~$need s)"
                done
                return 0
            fi
        fi
        for spec in "${todo[@]}"; do
            # shellcheck disable=SC2086  # the spec is NAME followed by overrides, split on spaces
            run_job $spec &
        done
        wait
    done
}
