#!/usr/bin/env bash
# The CPU benchmark in one command: installs the peers (OpenBLAS from apt,
# PyTorch into bench/.venv from PyPI), builds attn-run and the C probes,
# runs everything once, prints a markdown table and saves it to
# bench/results/<UTC date>-cpu.md (the raw output of every command goes to
# the .log beside it). Not part of the test suite.
#
#   bash bench/run.sh            # the full run (about 6 minutes once the peers are installed)
#   bash bench/run.sh --quick    # small shapes, to check the harness
#
# Environment: ATTN_BUILD_DIR (default build-b), BENCH_THREADS (2),
# BENCH_REPEAT (5), BENCH_REF_MAX_S (4096), BENCH_TIMEOUT (600 s per
# command), BENCH_SKIP (attn,ref,openblas,torch), CC (gcc, else clang-22).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=bench
BUILD_DIR="${ATTN_BUILD_DIR:-build-b}"
BIN="$BENCH/.build"
VENV="$BENCH/.venv"
QUICK=""
[ "${1:-}" = "--quick" ] && QUICK="--quick"

say() { echo "[bench] $*" >&2; }
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# --- attn's toolchain, the peers and tools from apt ---------------------------
bash scripts/install-deps.sh
need=()
for pkg in libopenblas-dev libopenblas0-pthread python3-venv python3-dev g++; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- PyTorch (CPU use; PyPI's wheel brings CUDA libraries too, ~5 GiB) -------
if ! "$VENV/bin/python" -c "import torch, numpy" 2>/dev/null; then
  say "creating $VENV and installing $(tr '\n' ' ' < "$BENCH/requirements.txt")(a few minutes)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$BENCH/requirements.txt"
fi

# --- attn-run -----------------------------------------------------------------
ATTN_RUN="$BUILD_DIR/bin/attn-run"
say "building attn-run in $BUILD_DIR"
mkdir -p "$BIN"
NOTES=()
if ! ATTN_BUILD_DIR="$BUILD_DIR" bash scripts/build.sh attn-run >"$BIN/build-attn.log" 2>&1; then
  NOTES=(--note "Building attn-run failed ($BIN/build-attn.log); the existing binary was used, if any.")
  say "warning: building attn-run failed (see $BIN/build-attn.log); using $ATTN_RUN if it exists"
fi

# --- the C probes and the OpenBLAS baseline -----------------------------------
CC="${CC:-$(command -v gcc || command -v clang-22)}"
CFLAGS=(-O2 -march=native -fopenmp -Wall)
"$CC" "${CFLAGS[@]}" "$BENCH/peak/fma_peak.c" -o "$BIN/fma_peak"
"$CC" "${CFLAGS[@]}" "$BENCH/peak/bandwidth.c" -o "$BIN/bandwidth"
# -O3 -ffast-math lets gcc call glibc's vector expf in the softmax.
"$CC" -O3 -march=native -ffast-math -fopenmp -Wall \
  -I/usr/include/x86_64-linux-gnu/openblas-pthread \
  "$BENCH/openblas_attn.c" -o "$BIN/openblas_attn" \
  -L/usr/lib/x86_64-linux-gnu/openblas-pthread \
  -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -lm

# --- the run --------------------------------------------------------------------
OUT="$BENCH/results/$(date -u +%Y-%m-%d)-cpu${QUICK:+-quick}.md"
BENCH_CC="$CC" "$VENV/bin/python" "$BENCH/bench.py" $QUICK "${NOTES[@]}" \
  --bin-dir "$BIN" --attn-run "$ATTN_RUN" --out "$OUT"
