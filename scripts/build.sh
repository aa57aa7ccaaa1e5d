#!/usr/bin/env bash
# Configures and builds Soap in BUILD_DIR (default: build) with Ninja and
# ccache, against Debian's LLVM/MLIR 22. Installs missing packages first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
LLVM_CONFIG=$(command -v llvm-config-22 || echo /usr/lib/llvm-22/bin/llvm-config)
MLIR_DIR=$("$LLVM_CONFIG" --cmakedir)/../mlir

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR="$MLIR_DIR"
fi
start=$(date +%s)
cmake --build "$BUILD_DIR"
echo "build: $(( $(date +%s) - start )) s"
