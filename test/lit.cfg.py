# -*- Python -*-
# lit configuration for attn: FileCheck tests of the dialect and passes,
# attn-run integration tests, and the GoogleTest unit tests (test/Unit).

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "ATTN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Unit", "Inputs"]

llvm_config.with_system_environment(["HOME", "TMPDIR", "ASAN_OPTIONS",
                                     "UBSAN_OPTIONS"])
llvm_config.use_default_substitutions()

config.substitutions.append(("%attn_src_root", config.attn_src_root))

tool_dirs = [config.attn_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(
    ["attn-opt", "attn-run", "attn-aot", "split-file", "not", "count",
     "llvm-readelf"], tool_dirs)

# The CUDA toolkit's ptxas, when present, assembles generated PTX (tests
# marked REQUIRES: ptxas); no GPU or driver is needed for that.
import shutil
import sys

# Under scripts/sanitize.sh, Python processes that load instrumented code
# (attn-aot libraries) need the shared ASan runtime preloaded.
preload = os.environ.get("ATTN_SANITIZER_PRELOAD")
config.substitutions = [(k, v) for k, v in config.substitutions
                        if k != "%python"]
config.substitutions.append(
    ("%python", f"env LD_PRELOAD={preload} {sys.executable}" if preload
     else sys.executable))
# The fake libcuda.so.1 built with the unit tests (test/Unit/FakeCuda.cpp).
config.substitutions.append(
    ("%fake_cuda_dir", os.path.join(config.attn_obj_root, "test", "Unit",
                                    "FakeCuda")))
ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
if os.access(ptxas, os.X_OK):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# Hosts with AVX512-BF16 run the bf16 dot-product path of the fused CPU
# kernels (tests marked REQUIRES: avx512bf16).
# Hosts with AMX-BF16 run bf16 through AMX tiles by default (tests marked
# REQUIRES: amx; with AMX-INT8 too, amx-int8), unless $ATTN_NO_AMX turns
# AMX off for the whole run.
try:
    with open("/proc/cpuinfo") as cpuinfo:
        flags = set(cpuinfo.read().split())
    if "avx512_bf16" in flags:
        config.available_features.add("avx512bf16")
    if {"amx_tile", "amx_bf16", "avx512_bf16"} <= flags and \
            os.environ.get("ATTN_NO_AMX", "0") in ("", "0"):
        config.available_features.add("amx")
        if "amx_int8" in flags:
            config.available_features.add("amx-int8")
except OSError:
    pass
if "ATTN_NO_AMX" in os.environ:
    config.environment["ATTN_NO_AMX"] = os.environ["ATTN_NO_AMX"]
