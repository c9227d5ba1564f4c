#!/usr/bin/env bash
# Fig. 2's Ant row and Fig. 4's gridworlds on one GPU machine without network access, as ONE command:
# sets up Python from carried wheels, checks the set-up in seconds, runs benchmarks/fig2_ant_gpu.sh then
# benchmarks/fig4_gridworld_gpu.sh under one deadline, runs openrl-report on each run directory and packs
# each into OUT: <item>_report.md to read at once, <item>.tar.gz (the run directory; split into
# <item>.tar.gz.partNN above 15 MB) and resume.tar.gz (what the next run needs to continue).
#
# ITEMS=race: meta-training on Fig. 5's task at the paper's population (64), the ES race's `fig5_gpu`
# track (`python -m benchmarks.es_race --track fig5_gpu`: open_es from a random start and pgpe, meta seeds
# RACE_SEEDS, default 0), the item's seconds shared equally by its runs; each run is stopped when its share
# is spent and resumes from its last checkpoint (every generation) in the next call. OUT gets
# es_race_fig5_gpu.json (generations, s/generation, validation against Adam so far) and its PNG.
#
#   benchmarks/gpu_prepare.sh                              # once, here, with network: .gpu/wheels, .gpu/weights
#   benchmarks/gpu_paper_items.sh OUT DEADLINE_S           # on the GPU machine, from the repository root
#
# Carry `.gpu` to the GPU machine, and to resume `outputs/gpu_paper_items` with OUT/resume.tar.gz of the
# last run unpacked into it (the run directories without curves and figures, a few hundred KB: finished
# jobs are skipped, stopped ones rerun). Keep each run's full <item>.tar.gz: unpacked in order into one
# directory they give the whole item, and `openrl-report` there redraws every figure.
#
# Set-up: python3 with its own jax (with CUDA), flax, optax, numpy, scipy, matplotlib, statsmodels; openrl
# from src/ on PYTHONPATH;
# what the image lacks (hydra, omegaconf, brax, mujoco, rliable, arch, ...) pip-installed from .gpu/wheels
# into a temporary directory (~15 s); pandas 2 too if the image's pandas cannot import arch (rliable).
# Released weights: OPENRL_PRETRAINED=.gpu/weights, OPENRL_OFFLINE=1.
#
# Cost: DEADLINE_S seconds at most (e.g. 540 where a run may last 600 s): set-up ~30 s, the items until
# DEADLINE_S - TAIL_S (default 60 s), then openrl-report and packing. The items' scripts give their
# expected costs; neither item fits one 9-minute run (Ant ~17 min, Fig. 4 at width 16 ~15-45 min, both
# estimated), so a run finishes whole jobs in priority order and the next run with the carried run
# directories continues.
#
# Environment: ITEMS (default "ant fig4": order and choice; or race), ANT_S (stop starting Ant jobs after
# this many seconds, leaving the rest to Fig. 4), RACE_SEEDS, RACE_EXTRA (overrides for every race run),
# RUNS (default outputs/gpu_paper_items), ASSETS (default .gpu), PYTHON (default python3), EXPECT_BACKEND
# (default gpu where nvidia-smi runs; "any" skips the check), and the items' own variables (SEEDS, LANES,
# OPTS, LEVELS, WIDTHS, EXTRA, ...), passed through.
set -u
OUT=${1:?usage: gpu_paper_items.sh OUT DEADLINE_S}
DEADLINE=${2:?usage: gpu_paper_items.sh OUT DEADLINE_S}
START=$(date +%s)
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
PY=${PYTHON:-python3}
ASSETS=${ASSETS:-.gpu}
RUNS=${RUNS:-outputs/gpu_paper_items}
ITEMS=${ITEMS:-"ant fig4"}
TAIL_S=${TAIL_S:-60}
ANT_S=${ANT_S:-$DEADLINE}
mkdir -p "$OUT" "$RUNS"

say() { echo "[gpu_paper_items $(($(date +%s) - START)) s] $*"; }

setup() {
    if ! "$PY" -c "import hydra, omegaconf, brax, mujoco, rliable" 2>/dev/null; then
        [ -d "$ASSETS/wheels" ] || { say "no $ASSETS/wheels here: run benchmarks/gpu_prepare.sh and carry $ASSETS"; return 3; }
        local site=${SITE:-/tmp/openrl_site} w
        w=$(ls "$ASSETS"/wheels/*.whl | grep -v -E '/(pandas|pytz|tzdata)-')
        # shellcheck disable=SC2086
        "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$site" $w || return 3
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
        if ! "$PY" -c "import arch.bootstrap" 2>/dev/null; then
            say "this pandas cannot import arch 7 (rliable): pandas 2 from $ASSETS/wheels"
            "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$site" \
                "$ASSETS"/wheels/pandas-*.whl "$ASSETS"/wheels/pytz-*.whl "$ASSETS"/wheels/tzdata-*.whl || return 3
        fi
    fi
    "$PY" -c "import openrl" 2>/dev/null || export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
    if [ -z "${OPENRL_PRETRAINED:-}" ] && [ -d "$ASSETS/weights" ]; then
        export OPENRL_PRETRAINED="$ROOT/$ASSETS/weights"
    fi
    export OPENRL_OFFLINE=1
    local expect=${EXPECT_BACKEND:-}
    if [ -z "$expect" ]; then
        if nvidia-smi -L >/dev/null 2>&1; then expect=gpu; else expect=any; fi
    fi
    nvidia-smi --query-gpu=name,memory.used,memory.total,driver_version --format=csv,noheader 2>/dev/null
    # the released weights the items will read (with the released OPEN among OPTS, as by default)
    local names=""
    case " ${OPTS:-open_pretrained} " in *" open_pretrained "*)
        case " $ITEMS " in *" ant "*) names="ant_OPEN" ;; esac
        case " $ITEMS " in *" fig4 "*) names="$names gridworld_OPEN" ;; esac ;;
    esac
    # every import the jobs and the report need, the Ant model, the weights, the backend: seconds, not a
    # failed job after minutes
    # shellcheck disable=SC2086
    "$PY" - "$expect" "$ITEMS" $names <<'EOF'
import sys
import brax, flax, jax, numpy, optax, pandas, rliable.library  # noqa: F401
from brax import envs
from openrl import pretrained
from openrl.cli import eval as cli_eval  # noqa: F401
from openrl.eval import report  # noqa: F401
from openrl.jobs import evaluate  # noqa: F401
if "ant" in sys.argv[2].split():
    envs.get_environment("ant", backend="positional")
if "race" in sys.argv[2].split():
    import benchmarks.es_race  # noqa: F401
for name in sys.argv[3:]:
    print(name, pretrained.fetch(name))
print(f"jax {jax.__version__} on {jax.devices()}; flax {flax.__version__}, optax {optax.__version__}, "
      f"numpy {numpy.__version__}, pandas {pandas.__version__}, brax {brax.__version__}")
if sys.argv[1] != "any" and jax.default_backend() != sys.argv[1]:
    sys.exit(f"jax runs on {jax.default_backend()}, not {sys.argv[1]} (EXPECT_BACKEND=any to run anyway)")
EOF
}

pack() {  # NAME: openrl-report on RUNS/NAME, then its report.md and a .tar.gz of the directory into OUT
    local d="$RUNS/$1" f
    [ -d "$d" ] || return 0
    if ls "$d"/*/summary.json >/dev/null 2>&1; then
        timeout 300 "$PY" -c 'import sys; from openrl.cli.eval import report_main; report_main(sys.argv[1:])' "$d"
        [ -f "$d/report.md" ] && cp "$d/report.md" "$OUT/$1_report.md"
    else
        say "$1: no finished job"
    fi
    tar -czf "$OUT/$1.tar.gz" -C "$RUNS" "$1"
    # at most 16 MiB per file comes back from the device machine: split larger archives
    if [ "$(stat -c %s "$OUT/$1.tar.gz")" -gt 15000000 ]; then
        split -b 15000000 -d "$OUT/$1.tar.gz" "$OUT/$1.tar.gz.part" && rm "$OUT/$1.tar.gz"
    fi
    for f in "$OUT/$1".tar.gz*; do say "$f: $(stat -c %s "$f") bytes"; done
}

pack_race() {  # the race's JSON and PNG to read at once, its run directories (checkpoints: a few MB)
    local d="$RUNS/fig5_race" f
    [ -d "$d" ] || return 0
    for f in "$d"/es_race_fig5_gpu.json "$d"/es_race_fig5_gpu.png; do [ -f "$f" ] && cp "$f" "$OUT/"; done
    tar -czf "$OUT/fig5_race.tar.gz" -C "$RUNS" fig5_race
    say "$OUT/fig5_race.tar.gz: $(stat -c %s "$OUT/fig5_race.tar.gz") bytes"
}

pack_resume() {  # OUT/resume.tar.gz: the run directories without curves and figures, for the next run
    local have=() d
    for d in fig2_ant fig4_gridworld fig5_race; do [ -d "$RUNS/$d" ] && have+=("$d"); done
    [ ${#have[@]} -gt 0 ] && tar -czf "$OUT/resume.tar.gz" --exclude='*.npz' --exclude='*.png' -C "$RUNS" "${have[@]}"
}

main() {
    say "set-up"
    setup || { say "set-up failed: nothing run"; return 3; }
    say "set-up done"
    local until=$((DEADLINE - TAIL_S)) it
    for it in $ITEMS; do
        case $it in
        ant) PYTHON=$PY bash benchmarks/fig2_ant_gpu.sh "$RUNS/fig2_ant" $((ANT_S < until ? ANT_S : until)) "$START" ;;
        fig4) PYTHON=$PY bash benchmarks/fig4_gridworld_gpu.sh "$RUNS/fig4_gridworld" "$until" "$START" ;;
        race)
            # shellcheck disable=SC2086
            "$PY" -m benchmarks.es_race --track fig5_gpu --seeds ${RACE_SEEDS:-0} --out "$RUNS/fig5_race" \
                --deadline $((until - $(date +%s) + START)) ${RACE_EXTRA:+--extra $RACE_EXTRA} ;;
        *) say "unknown item $it (ant, fig4, race)" ;;
        esac
        say "$it done"
    done
    for it in fig2_ant fig4_gridworld; do pack "$it"; done
    pack_race
    pack_resume
    say "done"
}

main 2>&1 | tee -a "$OUT/gpu_paper_items.log"
exit "${PIPESTATUS[0]}"
