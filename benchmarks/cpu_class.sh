#!/usr/bin/env bash
# The speed preset's training rate on this CPU as it is, and with its instruction set held to
# AVX2 (oneDNN to AVX2 with no native bf16, ATen's kernels to AVX2, numba's to haswell): how
# the main job runs on a CPU without AVX-512, the common laptop and cloud case, measured on
# the same cores in the same run. Prints the CPU's model and flags, then one epoch line each.
#     bash benchmarks/cpu_class.sh DATA_DIR [EPOCHS]
set -euo pipefail
data=${1:?a folder with train/ and test/ class folders}
epochs=${2:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AUGTRAIN_CACHE=${AUGTRAIN_CACHE:-$work/cache}
python3 -c "import sys; sys.path.insert(0, 'benchmarks'); import _common; print(_common.machine())"
run() {
    augtrain train --preset speed --data "$data" --epochs "$epochs" --runs-dir "$work/runs" \
        --name "$1" 2>&1 | grep -E "^epoch|^test:" || true
    python3 -c "import json, sys; c = json.load(open(sys.argv[1])); print('amp:', c['config']['amp'])" \
        "$work/runs/$1/config.json"
}
run warm-up-cache >/dev/null  # decode once; both timed runs read the cache
echo "as it is:"
run native
echo "held to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 NUMBA_CPU_NAME=haswell):"
ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 NUMBA_CPU_NAME=haswell run avx2
