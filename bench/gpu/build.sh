#!/usr/bin/env bash
# Builds the GPU benchmark's kernels on this (CPU) machine: one library per
# case in bench/gpu/cases, written by attn-aot for $CHIP (default sm_90a,
# H100/H200) into bench/gpu/lib. The libraries need only the CUDA driver, so
# they travel to the GPU machine with the harness (bench/gpu/run.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
CHIP="${CHIP:-sm_90a}"
FORMAT="${FORMAT:-bin}"   # cubin via ptxas; FORMAT=isa embeds PTX instead
BUILD_DIR="${ATTN_BUILD_DIR:-build}"
bash scripts/build.sh attn-aot >/dev/null
mkdir -p bench/gpu/lib
for f in bench/gpu/cases/*.mlir; do
  name=$(basename "$f" .mlir)
  "$BUILD_DIR/bin/attn-aot" "$f" --chip="$CHIP" --format="$FORMAT" \
    -o "bench/gpu/lib/$name.so"
  echo "bench/gpu/lib/$name.so"
done
