#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds attn-opt, attn-run and the
# Python module, then compiles and runs one attention variant end to end:
# StreamingLLM (attention sinks + sliding window, causal) with soft-capping,
# on several sequence lengths with one compiled kernel, checked against the
# float64 reference; then a StreamingLLM variant written in Python, checked
# against numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${ATTN_BUILD_DIR:-build}"

bash scripts/install-deps.sh
bash scripts/build.sh attn-opt attn-run _attn

example=examples/demo_streaming_llm.mlir
echo "== $example"
sed -n '/^func.func/,$p' "$example"
echo "== lowered by attn-opt --attn-cpu-pipeline: $("$BUILD_DIR"/bin/attn-opt \
  "$example" --attn-cpu-pipeline | grep -c 'llvm\.') LLVM dialect ops"
echo "== attn-run --check (one compilation, three shapes)"
"$BUILD_DIR"/bin/attn-run "$example" --check --repeat 3 \
  --shape B=1,Hq=8,Hkv=2,Sq=300,Skv=300 \
  --shape B=2,Hq=8,Hkv=2,Sq=1,Skv=517 \
  --shape B=1,Hq=8,Hkv=2,Sq=64,Skv=1000

echo "== StreamingLLM from Python (examples/python/streaming_llm.py: f16, GQA, checked against numpy)"
PYTHONPATH="$PWD/$BUILD_DIR/python" ATTN_CACHE_DIR="${ATTN_CACHE_DIR:-$(mktemp -d)}" \
  .venv/bin/python examples/python/streaming_llm.py
