#!/usr/bin/env bash
# The main job on a bundled example: installs what is missing, builds Soap,
# and runs it on docs/examples/transformer_block.mlir.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh >&2
BUILD_DIR=${BUILD_DIR:-build}
"$BUILD_DIR/bin/soap-opt" docs/examples/transformer_block.mlir
