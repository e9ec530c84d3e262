#!/usr/bin/env bash
# Builds attn with AddressSanitizer + UndefinedBehaviorSanitizer in
# ./build-asan (ATTN_ASAN_BUILD_DIR overrides) and runs the lit suite and
# the pytest suite under them. Ends with "N passed, M failed"; any sanitizer
# report fails the run (UBSan halts on the first error).
#
#   bash scripts/sanitize.sh            # everything (about 40 min on 2 cores)
#   bash scripts/sanitize.sh --quick    # lit and a pytest subset
#
# What it checks: attn's own C++ (dialect, passes, code generators, JIT
# driver, runtime, Python bindings) and the tools. Not instrumented: the
# JIT-compiled kernels (generated at run time; their memory safety is the
# generated bounds checks' job, tested by test_memory_safety.py) and
# Debian's libMLIR/libLLVM.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${ATTN_ASAN_BUILD_DIR:-build-asan}"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash scripts/install-deps.sh
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! dpkg-query -W -f='${Status}' libclang-rt-22-dev 2>/dev/null |
    grep -q "install ok installed"; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends libclang-rt-22-dev >/dev/null
fi
# Debian installs the runtimes as lib/linux/libclang_rt.<name>-x86_64.*,
# while clang 22 looks for lib/x86_64-pc-linux-gnu/libclang_rt.<name>.*.
rt=/usr/lib/llvm-22/lib/clang/22/lib
if [ ! -e "$rt/x86_64-pc-linux-gnu/libclang_rt.asan.so" ]; then
  $SUDO mkdir -p "$rt/x86_64-pc-linux-gnu"
  for f in "$rt"/linux/libclang_rt.*-x86_64.*; do
    base=$(basename "$f")
    $SUDO ln -sf "$f" "$rt/x86_64-pc-linux-gnu/${base/-x86_64/}"
  done
fi

ATTN_BUILD_DIR="$BUILD_DIR" \
  ATTN_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTN_SANITIZE=ON" \
  bash scripts/build.sh

# allow_user_poisoning=0: inline LLVM allocator code in instrumented files
# poisons memory that the uninstrumented libMLIR.so then uses (false
# use-after-poison). Leaks are not checked: LLVM and the JIT keep
# process-lifetime allocations on purpose.
export ASAN_OPTIONS="allow_user_poisoning=0:detect_leaks=0:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
log="$BUILD_DIR/sanitize.log"
status=0
asan_rt=$rt/linux/libclang_rt.asan-x86_64.so
ATTN_SANITIZER_PRELOAD="$asan_rt" /usr/lib/llvm-22/bin/lit -sv "$BUILD_DIR/test" "$BUILD_DIR/test/Unit" \
  2>&1 | tee "$log" || status=$?
passed=$(sed -n 's/^ *Passed *: *\([0-9]*\).*/\1/p' "$log" | tail -1)
failed=$(sed -n 's/^ *Failed *: *\([0-9]*\).*/\1/p' "$log" | tail -1)

# Python: the interpreter is not instrumented, so the shared ASan runtime
# is preloaded for the instrumented native module.
tests=(test/python)
[ $quick = 1 ] && tests=(test/python/test_memory_safety.py test/python/test_api.py
  test/python/test_fuzz.py)
pylog="$BUILD_DIR/sanitize-python.log"
cache=$(mktemp -d)
LD_PRELOAD="$asan_rt" PYTHONPATH="$PWD/$BUILD_DIR/python" \
  ATTN_CACHE_DIR="$cache" \
  .venv/bin/python -m pytest "${tests[@]}" -q -p no:cacheprovider \
  2>&1 | tee "$pylog" || status=$?
rm -rf "$cache"
summary=$(tail -1 "$pylog")
count() { echo "$summary" | awk -v w="$1" '{for (i = 2; i <= NF; i++) { t = $i; sub(/,$/, "", t); if (t == w) s += $(i-1) }} END {print s + 0}'; }
passed=$(( ${passed:-0} + $(count passed) ))
failed=$(( ${failed:-0} + $(count failed) + $(count error) + $(count errors) ))
reports=$({ grep -c -E "ERROR: AddressSanitizer|runtime error:" "$log" "$pylog" ||
  true; } | awk -F: '{s += $2} END {print s + 0}')
echo "sanitizer reports: $reports"
failed=$((failed + reports))
echo "${passed} passed, ${failed} failed"
if [ "$failed" -ne 0 ]; then status=1; fi
exit $status
