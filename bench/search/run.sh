#!/usr/bin/env bash
# Searched strategies against the baselines, FlexFlow-style: for each model
# and machine, soapc's predicted step time next to data parallelism's and the
# expert baseline's, measured by the same simulator in the same run, and the
# search time. Prints a Markdown table (ratios > 1: Soap is faster).
#
#   bash bench/search/run.sh [BUILD_DIR] [BUDGET_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BUDGET=${2:-30}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# model-spec | machine | nodes
cases=(
  "alexnet|p100|4"
  "inception-v3|p100|4"
  "resnet101|p100|4"
  "rnntc|p100|4"
  "rnnlm|p100|4"
  "nmt|p100|4"
  "alexnet|k80|16"
  "resnet101|k80|16"
  "rnnlm|k80|16"
  "resnet50 --batch 256|dgx-a100|2"
  "bert-base --batch 64|dgx-a100|2"
  "gpt --layers 24 --hidden 2304 --heads 24 --seq 1024 --batch 16|dgx-a100|2"
  "dlrm|dgx-a100|1"
  "moe-transformer|dgx-a100|1"
)

printf '| model | machine | data-parallel | expert | Soap | vs DP | vs expert | search s |\n'
printf '|---|---|---|---|---|---|---|---|\n'
i=0
for c in "${cases[@]}"; do
  IFS='|' read -r spec machine nodes <<< "$c"
  i=$((i + 1))
  read -r -a args <<< "$spec"
  "$BUILD/bin/soap-zoo" "${args[@]}" -o "$OUT/m$i.mlir"
  "$BUILD/bin/soapc" "$OUT/m$i.mlir" --machine "$machine" --nodes "$nodes" \
    --budget "$BUDGET" --seed 1 -q -o "$OUT/s$i.json"
  python3 - "$OUT/s$i.json" "$spec" "$machine x $nodes" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["predicted"]["step_time_s"]
b = {k: v["step_time_s"] for k, v in s["baselines"].items()}
dp = b.get("data-parallel")
expert = [k for k in b if k != "data-parallel"]
e = b[expert[0]] if expert else None
ms = lambda x: "%.2f ms" % (x * 1e3) if x is not None else "-"
ratio = lambda x: "%.2fx" % (x / t) if x else "-"
name = ("%s (%s)" % (expert[0], ms(e))) if expert else "-"
print("| %s | %s | %s | %s | %s | %s | %s | %.1f |" % (
    sys.argv[2], sys.argv[3], ms(dp), name, ms(t), ratio(dp), ratio(e),
    s["search"]["wall_time_s"]))
PY
done
