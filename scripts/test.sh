#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (apt packages), builds attn and runs the
# whole test suite: lit/FileCheck tests of the dialect and passes, attn-run
# integration tests against the float64 reference, and the GoogleTest unit
# tests (run through lit). Ends with a line "N passed, M failed".
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
failed=0
for kind in Failed "Unresolved" "Timed Out" "Unexpectedly Passed"; do
  n=$(sed -n "s/^ *$kind *: *\([0-9]*\).*/\1/p" "$log" | tail -1)
  failed=$((failed + ${n:-0}))
done
echo "${passed:-0} passed, ${failed} failed"
if [ "${passed:-0}" -eq 0 ] || [ "$failed" -ne 0 ]; then
  status=1
fi
exit $status
