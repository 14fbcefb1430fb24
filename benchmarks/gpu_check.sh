#!/usr/bin/env bash
# The prepared GPU check: every GPU figure of augtrain in ONE command of at most
# 8 minutes (stages and time plan: benchmarks/gpu_check.py). Not yet run on a GPU.
#
# 1. Here, in the repository root of the checkout the session was started in (registry
#    reachable), once per session:
#        bash benchmarks/gpu_check_prepare.sh
#    It fills the git-ignored .whl/ (Kornia's wheels: the machine lacks Kornia) and .peer/
#    (the airbench wheel, peer_airbench.py, the CIFAR-10 JPEG tree), and prints what will
#    travel (it must stay under 64 MiB).
# 2. The device call (the `run` tool), exactly:
#        command:   bash benchmarks/gpu_check.sh
#        carry:     [".whl", ".peer"]
#        timeout_s: 570
#    It installs the carried wheels into /tmp/gpu-check-site and augtrain from the tree
#    (no network), then runs the stages under a 465 s deadline. Results come back from $OUT:
#    results.json (every stage with a status), results.txt (a summary with Markdown tables
#    for BENCHMARKS.md), gpu_check.log (every stage's whole output) and install.log; the
#    end of results.txt is also the end of the command's output. Call give_back after it,
#    unless you rerun at once; a rerun of some stages in the time left, e.g.
#        bash benchmarks/gpu_check.sh --only smoke,ddp --deadline 200
#    The photo stage (last) runs only when the others leave it 120 s; else, the second call
#    (timeout_s 260, same carry):
#        bash benchmarks/gpu_check.sh --only photo --deadline 200
#
# Dry run (CI: .ci/smoke; no wheels, no GPU needed; about a minute on 2 CPU cores):
#        bash benchmarks/gpu_check.sh --dry-run [--out DIR]
# Results go to --out, else $OUT, else .bench/gpu_check/.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

dry=0
out=${OUT:-.bench/gpu_check}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --dry-run) dry=1 ;;
        --out) out=${args[i + 1]:-$out} ;;
        --out=*) out=${args[i]#--out=} ;;
    esac
done
mkdir -p "$out"
log=$out/install.log
: >"$log"

install=""
if [[ $dry == 0 ]]; then
    # Wheels carried for what the machine lacks (Kornia, airbench): one pip call, no index.
    shopt -s nullglob
    wheels=(.whl/*.whl .peer/wheels/*.whl)
    shopt -u nullglob
    if ((${#wheels[@]})); then
        if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/gpu-check-site "${wheels[@]}" >>"$log" 2>&1; then
            export PYTHONPATH=/tmp/gpu-check-site${PYTHONPATH:+:$PYTHONPATH}
            install="wheels: ${wheels[*]##*/}; "
        else
            install="wheels FAILED to install (see install.log); "
        fi
    else
        install="no wheels carried; "
    fi
fi

# augtrain itself: already importable (CI's venv), else an editable install without network
# or build isolation, else straight from the tree.
if "$PY" -c "import augtrain" >>"$log" 2>&1; then
    install+="augtrain already importable"
elif "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . >>"$log" 2>&1 &&
    "$PY" -c "import augtrain" >>"$log" 2>&1; then
    install+="augtrain: pip install --no-deps --no-build-isolation -e ."
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    install+="augtrain: PYTHONPATH (pip install -e failed, see install.log)"
fi
echo "gpu_check: $install"
export GPU_CHECK_INSTALL=$install

exec "$PY" benchmarks/gpu_check.py "$@"
