#!/usr/bin/env bash
# The simulator's predicted step time against the step time Soap's runtime
# measures, for several strategies of the same models on this CPU (issue 7's
# "predicted vs measured" goal: within 10 %, same order).
#
#   bash bench/runtime/predict.sh [BUILD_DIR] [STEPS] [REPEATS]
#
# For each model: soap-calibrate measures its shard kernels and their
# optimizer updates on this CPU into a ProfileDB (one core per device, one
# BLAS thread; a shard of a 2-way split next to its sibling on the other
# core) and writes the cpu-host machine with this host's figures (its
# shared-memory link fitted to the runtime's all-reduce); soapc predicts each
# strategy's step on that machine with 2 devices (one per core) using that
# ProfileDB, for the plan's optimizer (SGD with momentum 0.9), and writes the
# plan; soap-run trains the plan (2 ranks as threads, one OpenMP thread
# each) and reports the mean step time after the first step.
# The median of REPEATS runs is kept. Strategies: one device, data-parallel,
# the model's expert baseline (megatron for the MLP and the transformer
# block, owt for the CNN) and the searched one.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
STEPS=${2:-20}
REPEATS=${3:-3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

models=(mlp cnn block)
declare -A source=([mlp]=bench/runtime/mlp.mlir [cnn]=docs/examples/cnn.mlir
                   [block]=docs/examples/transformer_block.mlir)
declare -A expert=([mlp]=megatron [cnn]=owt [block]=megatron)

ms() { awk '/mean step time/ { printf "%.3f", $4 * 1000 }'; }
median() { sort -n | awk 'NF { a[++n] = $1 } END { print a[int((n + 1) / 2)] }'; }
# "step time  12.345 ms" from soapc's summary
predicted() { awk '/^step time/ { print $3 }'; }

printf '| model | strategy | predicted (ms) | measured (ms) | predicted / measured |\n'
printf '|---|---|---|---|---|\n'
for m in "${models[@]}"; do
  "$BUILD/bin/soap-calibrate" --device cpu --model "${source[$m]}" --machine cpu-host \
    --nodes 1 --max-devices 2 --repeats 5 --warmup 2 --quiet -o "$OUT/$m.profile.json" \
    --emit-machine "$OUT/$m.machine.json"
  for s in single data-parallel "${expert[$m]}" search; do
    args=(--machine "$OUT/$m.machine.json" --nodes 1 --profile "$OUT/$m.profile.json"
          --optimizer sgd)
    case $s in
      single) args+=(--devices-per-node 1 --baseline data-parallel) ;;
      search) args+=(--devices-per-node 2 --seed 1 --budget 20) ;;
      *) args+=(--devices-per-node 2 --baseline "$s") ;;
    esac
    "$BUILD/bin/soapc" "${source[$m]}" "${args[@]}" --emit summary > "$OUT/$m.$s.summary" 2>&1
    "$BUILD/bin/soapc" "${source[$m]}" "${args[@]}" --emit plan -o "$OUT/$m.$s.plan.json" > /dev/null 2>&1
    pred=$(predicted < "$OUT/$m.$s.summary")
    : > "$OUT/$m.$s.measured"
    for ((r = 0; r < REPEATS; r++)); do
      "$BUILD/bin/soap-run" "$OUT/$m.$s.plan.json" --steps $((STEPS + 1)) --time \
        --threads-per-rank 1 | ms >> "$OUT/$m.$s.measured"
      echo >> "$OUT/$m.$s.measured"
    done
    meas=$(median < "$OUT/$m.$s.measured")
    printf '| %s | %s | %s | %s | %.2f |\n' "$m" "$s" "$pred" "$meas" \
      "$(echo "$pred / $meas" | bc -l)"
  done
done
echo
echo "cpu-host, 2 devices (one per core) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
