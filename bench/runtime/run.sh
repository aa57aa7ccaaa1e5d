#!/usr/bin/env bash
# CPU step time of Soap's runtime against PyTorch DistributedDataParallel
# over gloo: the same model, global batch and optimizer (SGD, momentum), 2
# ranks with one thread each, measured in the same run, alternating, the
# median of REPEATS runs of STEPS timed steps each. Prints a Markdown table;
# a ratio below 1 means Soap is faster.
#
#   bash bench/runtime/run.sh [BUILD_DIR] [STEPS] [REPEATS]
#
# Needs python3-torch (scripts/install-deps.sh --bench); TORCH_PYTHON names
# the Python that has it (default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
STEPS=${2:-30}
REPEATS=${3:-3}
PY=${TORCH_PYTHON:-/usr/bin/python3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

models=(cnn mlp)
declare -A source=([cnn]=docs/examples/cnn.mlir [mlp]=bench/runtime/mlp.mlir)
declare -A what=([cnn]="CNN (docs/examples/cnn.mlir: 2 conv+BN+pool blocks, fc), batch 32"
                 [mlp]="MLP 784-1024-1024-10, batch 128")

for m in "${models[@]}"; do
  "$BUILD/bin/soapc" "${source[$m]}" --machine cpu-host --nodes 1 \
    --devices-per-node 2 --baseline data-parallel --emit plan -o "$OUT/$m.json" > /dev/null 2>&1
done

# mean step time in ms from a "mean step time S s ..." line
ms() { awk '/mean step time/ { printf "%.3f", $4 * 1000 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf '| model | Soap, threads (ms) | Soap, MPI (ms) | PyTorch DDP gloo (ms) | threads / PyTorch | MPI / PyTorch |\n'
printf '|---|---|---|---|---|---|\n'
for m in "${models[@]}"; do
  : > "$OUT/$m.thr"; : > "$OUT/$m.mpi"; : > "$OUT/$m.torch"
  for ((r = 0; r < REPEATS; r++)); do
    "$BUILD/bin/soap-run" "$OUT/$m.json" --steps $((STEPS + 1)) --time | ms >> "$OUT/$m.thr"; echo >> "$OUT/$m.thr"
    mpirun --oversubscribe -np 2 "$BUILD/bin/soap-run" "$OUT/$m.json" --steps $((STEPS + 1)) --time 2> /dev/null \
      | ms >> "$OUT/$m.mpi"; echo >> "$OUT/$m.mpi"
    "$PY" bench/runtime/ddp.py "$m" 2 "$STEPS" 3 2> /dev/null | ms >> "$OUT/$m.torch"; echo >> "$OUT/$m.torch"
  done
  thr=$(median < "$OUT/$m.thr"); mpi=$(median < "$OUT/$m.mpi"); torch=$(median < "$OUT/$m.torch")
  printf '| %s | %s | %s | %s | %.2f | %.2f |\n' "${what[$m]}" "$thr" "$mpi" "$torch" \
    "$(echo "$thr / $torch" | bc -l)" "$(echo "$mpi / $torch" | bc -l)"
done
echo
echo "2 ranks x 1 thread on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
