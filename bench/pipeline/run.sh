#!/usr/bin/env bash
# Issue 8: GPT sizes of Megatron-LM's weak-scaling table (Narayanan et al.,
# SC'21, Table 1: 1.7B on 32 GPUs .. 1T on 3,072) on DGX-A100 and DGX-H100
# nodes: soapc's searched strategy (SOAP configs, pipeline stages,
# micro-batches, ZeRO, offload, recomputation) against the `megatron`
# baseline with Megatron-LM's published (TP, PP), 1F1B and its fastest
# micro-batch size, both priced by the same simulator in the same run.
# Prints a Markdown table (ratio > 1: Soap is faster).
#
#   bash bench/pipeline/run.sh [BUILD_DIR] [BUDGET_SECONDS] [MACHINES] [SIZES]
#   e.g. bash bench/pipeline/run.sh build 60 "dgx-a100 dgx-h100" "1.7B 18.4B"
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BUDGET=${2:-60}
MACHINES=${3:-dgx-a100 dgx-h100}
SIZES=${4:-1.7B 3.6B 7.5B 18.4B 39.1B 76.1B 145.6B 310.1B 529.6B 1008.0B}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# size | layers | hidden | heads | GPUs | global batch (Table 1; seq 2048,
# vocabulary 51,200, bf16)
table=(
  "1.7B|24|2304|24|32|512"
  "3.6B|30|3072|32|64|512"
  "7.5B|36|4096|32|128|512"
  "18.4B|40|6144|48|256|1024"
  "39.1B|48|8192|64|512|1536"
  "76.1B|60|10240|80|1024|1792"
  "145.6B|80|12288|96|1536|2304"
  "310.1B|96|16384|128|1920|2160"
  "529.6B|105|20480|128|2520|2520"
  "1008.0B|128|25600|160|3072|3072"
)

printf '| model | machine | GPUs | megatron (TP, PP, m) | fits | Soap | fits | Soap choice | vs megatron | search s |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for row in "${table[@]}"; do
  IFS='|' read -r size layers hidden heads gpus batch <<< "$row"
  [[ " $SIZES " == *" $size "* ]] || continue
  model="$OUT/gpt-$size.mlir"
  "$BUILD/bin/soap-zoo" gpt --layers "$layers" --hidden "$hidden" \
    --heads "$heads" --seq 2048 --vocab 51200 --batch "$batch" \
    --dropout 0 --dtype bf16 -o "$model"
  for machine in $MACHINES; do
    nodes=$((gpus / 8))
    start=$(date +%s.%N)
    "$BUILD/bin/soapc" "$model" --machine "$machine" --nodes "$nodes" \
      --budget "$BUDGET" --seed 1 --emit summary -o "$OUT/summary.txt" \
      > "$OUT/summary.txt" 2>&1 || true
    end=$(date +%s.%N)
    python3 - "$OUT/summary.txt" "$size" "$machine" "$gpus" \
      "$(echo "$end - $start" | bc)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def grab(pattern, default="-"):
    m = re.search(pattern, text, re.M)
    return m.group(1) if m else default
soap = grab(r"^step time\s+(.*)$")
fits = "no" if "DOES NOT FIT" in text else ("yes" if soap != "-" else "-")
meg = re.search(r"^vs megatron\s+(\S+ \S+)\s+\(([\d.]+)x\)(.*)$", text, re.M)
meg_t, ratio, rest = (meg.group(1), meg.group(2) + "x", meg.group(3)) if meg else ("-", "-", "")
meg_fit = "no" if "does not fit" in rest else "yes"
meg_choice = grab(r"^vs megatron.*\[(.*)\]")
choice = grab(r"^pipeline\s+(.*?), bubble", grab(r"^options\s+(.*)$", "SOAP configs"))
if "error" in text and soap == "-":
    soap = "error: " + text.strip().splitlines()[-1][:60]
print("| GPT-%s | %s | %s | %s (%s) | %s | %s | %s | %s | %s | %.0f |" % (
    sys.argv[2], sys.argv[3], sys.argv[4], meg_t, meg_choice, meg_fit, soap,
    fits, choice, ratio, float(sys.argv[5])))
PY
  done
done
