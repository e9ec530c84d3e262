#!/usr/bin/env bash
# Configures and builds attn in ./build (or $ATTN_BUILD_DIR) with Debian's
# LLVM/MLIR 22, clang++-22, lld, ninja and ccache, including the Python
# package (native module built against ./.venv, see scripts/python-env.sh).
# Pass ninja targets as arguments (default: everything). ATTN_CMAKE_ARGS adds
# CMake arguments when the build directory is first configured.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${ATTN_BUILD_DIR:-build}"

bash scripts/python-env.sh
if [ ! -f "$BUILD_DIR/build.ninja" ] ||
   ! grep -q '^ATTN_ENABLE_PYTHON:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
  cmake -G Ninja -S . -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DATTN_ENABLE_PYTHON=ON -DPython_EXECUTABLE="$PWD/.venv/bin/python" \
    ${ATTN_CMAKE_ARGS:-} >/dev/null
fi
ninja -C "$BUILD_DIR" "$@"
