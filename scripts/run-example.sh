#!/usr/bin/env bash
# The main job on a bundled example: installs what is missing, builds Soap,
# and searches a strategy for docs/examples/transformer_block.mlir on two
# DGX-A100 nodes. Writes the strategy to build/transformer_block.strategy.json
# and prints the summary (step time, speedups over the baselines, memory,
# MFU, search time).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh >&2
BUILD_DIR=${BUILD_DIR:-build}
"$BUILD_DIR/bin/soapc" docs/examples/transformer_block.mlir \
  --machine dgx-a100 --nodes 2 --seed 1 \
  -o "$BUILD_DIR/transformer_block.strategy.json"
echo "strategy: $BUILD_DIR/transformer_block.strategy.json"
