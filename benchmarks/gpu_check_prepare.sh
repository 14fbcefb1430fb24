#!/usr/bin/env bash
# Run here (registry reachable), in the checkout the session was started in, before the
# device call of benchmarks/gpu_check.sh (its top says how). Fills two git-ignored folders
# that the call carries:
#   .whl/   Kornia and kornia_rs wheels for the machine's CPython 3.12 (x86-64 manylinux):
#           its image lacks Kornia (/work/.library/device/KINDS.md's package list). It has
#           numba and llvmlite; tbb (augtrain's CPU kernels' parallel loops, serial without
#           it) is left out: the GPU path does not use it, and its 9.7 MB would not fit.
#   .peer/  the airbench wheel (.peer/wheels), peer_airbench.py and the CIFAR-10 JPEG tree,
#           as ../shared/bench/README.md says.
# Then prints the size of what travels: the device tool takes 64 MiB at most.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
if [[ -z ${PYTHON:-} ]]; then
    PYTHON=python3
    [[ -x .venv/bin/python ]] && PYTHON=.venv/bin/python
fi
KORNIA=(kornia==0.9.0 kornia_rs==0.2.0) # the versions of the CPU figures in BENCHMARKS.md
AIRBENCH=airbench==0.1.8

for folder in .whl .peer; do # ignored: they travel only when `carry` names them
    if ! git check-ignore -q "$folder"; then
        echo "/$folder/" >>"$(git rev-parse --git-path info/exclude)"
    fi
done

rm -rf .whl .peer/wheels
mkdir -p .whl .peer/wheels
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
    manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d .whl "${KORNIA[@]}"
"$PYTHON" -m pip wheel -q --no-deps "$AIRBENCH" -w .peer/wheels
for wheel in .whl/*.whl .peer/wheels/*.whl; do # what each needs beyond these wheels
    needs=$(unzip -p "$wheel" '*/METADATA' | grep '^Requires-Dist' | grep -v 'extra ==' |
        sed 's/Requires-Dist: //' | paste -sd, -) || true
    echo "${wheel##*/}: needs ${needs:-nothing}"
done

cp -f "$SHARED/bench/peer_airbench.py" .peer/
if [[ ! -d .peer/cifar10-jpeg ]] ||
    [[ $(find .peer/cifar10-jpeg -type f | wc -l) != $(find "$SHARED/data/cifar10-jpeg" -type f | wc -l) ]]; then
    rm -rf .peer/cifar10-jpeg
    cp -r "$SHARED/data/cifar10-jpeg" .peer/cifar10-jpeg
    chmod -R u+w .peer/cifar10-jpeg # the shared copy is read-only; a rerun replaces this one
fi
chmod u+w .peer/peer_airbench.py

# What travels: tracked and untracked-not-ignored files, plus the carried folders.
tree=$(git ls-files -z --cached --others --exclude-standard |
    xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
carried=$(find .whl .peer -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
awk -v t="$tree" -v c="$carried" 'BEGIN {
    printf "travels: tree %.1f MiB + .whl/.peer %.1f MiB = %.1f MiB (limit 64 MiB)\n",
        t / 2^20, c / 2^20, (t + c) / 2^20
    exit (t + c > 64 * 2^20) }' || {
    echo "too large for the device tool: leave something out" >&2
    exit 1
}
