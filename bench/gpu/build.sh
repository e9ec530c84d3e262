#!/usr/bin/env bash
# Builds the GPU benchmark's kernels on this (CPU) machine: one library per
# case in bench/gpu/cases, written by attn-aot for $CHIP (default sm_90a,
# H100/H200) with tensor-core instructions $MMA (auto: wgmma + TMA on
# sm_90a; sync: mma.sync) into $LIB_DIR (default bench/gpu/lib). The
# libraries need only the CUDA driver, so they travel to the GPU machine
# with the harness (bench/gpu/run.py --lib-dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
CHIP="${CHIP:-sm_90a}"
FORMAT="${FORMAT:-bin}"   # cubin via ptxas; FORMAT=isa embeds PTX instead
MMA="${MMA:-auto}"
LIB_DIR="${LIB_DIR:-bench/gpu/lib}"
BUILD_DIR="${ATTN_BUILD_DIR:-build}"
bash scripts/build.sh attn-aot >/dev/null
mkdir -p "$LIB_DIR"
for f in bench/gpu/cases/*.mlir; do
  name=$(basename "$f" .mlir)
  "$BUILD_DIR/bin/attn-aot" "$f" --chip="$CHIP" --format="$FORMAT" \
    --mma="$MMA" -o "$LIB_DIR/$name.so"
  echo "$LIB_DIR/$name.so"
done
