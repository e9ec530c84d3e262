#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (apt packages, ./.venv from PyPI),
# builds attn and runs the whole test suite: lit/FileCheck tests of the
# dialect and passes, attn-run integration tests against the float64
# reference, the GoogleTest unit tests (run through lit), and the Python
# package's pytest suite (test/python). Ends with "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${ATTN_BUILD_DIR:-build}"

bash scripts/install-deps.sh
bash scripts/build.sh

log="$BUILD_DIR/check-attn.log"
status=0
/usr/lib/llvm-22/bin/lit -sv "$BUILD_DIR/test" "$BUILD_DIR/test/Unit" \
  2>&1 | tee "$log" || status=$?

passed=$(sed -n 's/^ *Passed *: *\([0-9]*\).*/\1/p' "$log" | tail -1)
passed=${passed:-0}
failed=0
for kind in Failed "Unresolved" "Timed Out" "Unexpectedly Passed"; do
  n=$(sed -n "s/^ *$kind *: *\([0-9]*\).*/\1/p" "$log" | tail -1)
  failed=$((failed + ${n:-0}))
done

# The Python package from the build tree; kernels cached in a fresh
# directory so that every run compiles from scratch.
pylog="$BUILD_DIR/check-python.log"
cache=$(mktemp -d)
# PyTorch was installed (scripts/python-env.sh) unless ATTN_WITH_TORCH=0:
# its tests must then run, not skip.
if [ "${ATTN_WITH_TORCH:-1}" != 0 ]; then export ATTN_REQUIRE_TORCH=1; fi
PYTHONPATH="$PWD/$BUILD_DIR/python" ATTN_CACHE_DIR="$cache" \
  .venv/bin/python -m pytest test/python -q -rfE -p no:cacheprovider \
  2>&1 | tee "$pylog" || status=$?
rm -rf "$cache"
# pytest -q ends with e.g. "3 failed, 200 passed, 1 skipped in 30.0s".
summary=$(tail -1 "$pylog")
count() { echo "$summary" | awk -v w="$1" '{for (i = 2; i <= NF; i++) { t = $i; sub(/,$/, "", t); if (t == w) s += $(i-1) }} END {print s + 0}'; }
pypassed=$(count passed)
pyfailed=$(( $(count failed) + $(count error) + $(count errors) ))
if [ "$pypassed" -eq 0 ]; then pyfailed=$((pyfailed + 1)); fi
passed=$((passed + ${pypassed:-0}))
failed=$((failed + pyfailed))

echo "${passed} passed, ${failed} failed"
if [ "$passed" -eq 0 ] || [ "$failed" -ne 0 ]; then
  status=1
fi
exit $status
