#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds Soap
# from scratch or incrementally, and runs every test (lit + GoogleTest) with
# ctest. Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
