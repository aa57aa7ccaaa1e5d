#!/usr/bin/env bash
# Installs Soap's build and test dependencies from Debian packages.
# Idempotent: packages already installed are skipped, and apt is not touched at
# all when nothing is missing.
#
#   scripts/install-deps.sh            # build + test dependencies
#   scripts/install-deps.sh --bench    # also python3-torch / python3-onnx for bench/
set -euo pipefail

pkgs=(
  # toolchain
  cmake ninja-build ccache g++ pkg-config
  # LLVM / MLIR 22 (FileCheck, not, lit come with llvm-22-tools; mlir-tblgen with mlir-22-tools)
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  # libraries
  libboost-graph-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libopenblas-dev libopenmpi-dev openmpi-bin
  # test data: ONNX's own backend node tests
  libonnx-testdata
  # lit runs on python3; tests validate JSON against the schemas with it
  python3 python3-jsonschema
)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(python3-torch python3-onnx python3-numpy)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
