"""The GPU verification sweep (issue 15, item 4): the variants of
test_differential.py, run on the CUDA kernels through the GPU emulator
(target="cuda-emulator": the real host code and kernels, every thread
interpreted, races and the like reported as errors), against the same
float64 numpy reference and tolerances (its TOL: f16 1e-3, bf16 8e-3).

Four kernel configurations: sm_80 (mma.sync + cp.async; 32-key tiles at
head dim 128), sm_90a (wgmma + TMA + mbarriers, 64-key tiles), sm_90a with
32-key tiles (wgmma n32) and sm_90a with mma=sync. Head dims 64, and 128
for a third of the cases (the variant's own when it sets D or Dv). Shapes,
inputs and operands are drawn as the differential test draws them (random
B, GQA/MQA heads, odd and unequal lengths, BHSD/BSHD, kv_len, documents,
trees, block masks, captures), dtypes alternate between f16 and bf16.

A variant the GPU path does not support is skipped with the compiler's
reason (its target="cuda" refuses it at compile time).

By default a representative subset runs (the README's test command);
ATTN_EMULATOR_SWEEP=full runs every variant, long ones included, in every
configuration with two seeds:

    ATTN_EMULATOR_SWEEP=full PYTHONPATH=build/python \\
        .venv/bin/python -m pytest test/python/test_emulator_sweep.py -q
"""

from __future__ import annotations

import copy
import os
import zlib

import numpy as np
import pytest

import attn
import test_differential as TD
from attn.api import CompileError
from attn.spec import SpecError

FULL = os.environ.get("ATTN_EMULATOR_SWEEP") == "full"
# id: (chip, mma, config pinned into the spec)
CONFIGS = {
    "sm80": ("sm_80", "auto", {}),
    "sm90": ("sm_90a", "auto", {}),
    "sm90-kv32": ("sm_90a", "auto", {"block_kv": 32}),
    "sm90-sync": ("sm_90a", "sync", {}),
}

# The default run: one variant of each family the GPU path supports.
SUBSET = {
    "full", "causal", "sliding_window", "document_causal", "tree",
    "block_sparse", "kv_len_prefill", "bshd_dv", "decode", "sink_softmax",
    "sigmoid", "relu2_row_sum", "alibi", "softcap", "score_mod_table",
    "mask_mod_captures", "q_offset", "dense", "head_dim_128",
    "long_causal", "long_document", "blocks_over_causal",
    "long_blocks_64_over_window", "natten_even_q_ge_kv",
}

VARIANTS = {v.name: v for v in TD.VARIANTS + TD.LONG_VARIANTS}


def _cases():
    for name, v in sorted(VARIANTS.items()):
        if not FULL and name not in SUBSET:
            continue
        for cid in CONFIGS:
            for seed in range(2 if FULL else 1):
                if v.long and not FULL and cid != "sm90":
                    continue
                yield pytest.param(name, cid, seed, id=f"{name}-{cid}-{seed}")


def _dims_for(v, seed):
    """Head dims on the GPU: the variant's if it sets them, else 64, or 128
    for every third (variant, seed)."""
    if v.D != 32 or v.Dv is not None:
        return v.D, v.Dv or v.D
    h = zlib.crc32(f"{v.name}-{seed}".encode()) % 3
    return (128, 128) if h == 0 else (64, 64)


_KERNELS: dict = {}


def _kernel(v, cid, dtype, D, Dv):
    key = (v.name, cid, dtype, D, Dv)
    if key not in _KERNELS:
        chip, mma, config = CONFIGS[cid]
        spec = v.spec
        if config:
            spec = copy.copy(spec)
            spec.config = {**spec.config, **config}
        try:
            _KERNELS[key] = attn.compile(
                spec, target="cuda-emulator", chip=chip, mma=mma,
                dtype=dtype, head_dim=D, head_dim_v=Dv)
        except (SpecError, CompileError) as e:
            _KERNELS[key] = str(e).splitlines()[0]
    return _KERNELS[key]


@pytest.mark.parametrize("name,cid,seed", list(_cases()))
def test_emulated_gpu_kernel(name, cid, seed):
    v = VARIANTS[name]
    # f16 and bf16 alternate over seeds and configurations.
    dtype = ("float16", "bfloat16")[(seed + list(CONFIGS).index(cid)) % 2]
    D, Dv = _dims_for(v, seed)
    fn = _kernel(v, cid, dtype, D, Dv)
    if isinstance(fn, str):
        pytest.skip(f"not on the GPU path: {fn}")
    gv = copy.copy(v)
    gv.D, gv.Dv = D, Dv
    rng = np.random.default_rng([zlib.crc32(f"{name}-{cid}".encode()), seed])
    for _ in range(v.shapes):
        d = TD._draw_dims(rng, gv, dtype)
        q, k, vv = TD._qkv(rng, d, v.spec.layout)
        captures, operands = (v.operands(rng, d) if v.operands
                              else ((), {}))
        with_lse = v.spec.normalizer.has_lse and rng.random() < 0.75
        TD._run_and_check(fn, v.spec, f"{name}[{cid} {dtype}] {d}", d,
                          q, k, vv, captures, operands, with_lse)


# -- bench/gpu: the GPU checks and the benchmark's cases ----------------------

_BENCH_GPU = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          os.pardir, os.pardir, "bench", "gpu")


def _bench_checks():
    import importlib.util
    path = os.path.join(_BENCH_GPU, "prepare_checks.py")
    spec = importlib.util.spec_from_file_location("prepare_checks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECKS = _bench_checks()


@pytest.mark.parametrize("chip,mma", [("sm_80", "auto"), ("sm_90a", "auto"),
                                      ("sm_90a", "sync")] if FULL else
                         [("sm_90a", "auto")])
@pytest.mark.parametrize("name", [c["name"] for c in CHECKS.CASES])
def test_bench_gpu_check(name, chip, mma):
    """bench/gpu/prepare_checks.py's cases (what bench/gpu/check.py runs on
    a GPU), with the same inputs, on the emulator (sm_90a by default)."""
    c = next(c for c in CHECKS.CASES if c["name"] == name)
    s, dt = c["shape"], c["dtype"]
    q, k, v, operands, captures = CHECKS.inputs(c)
    fn = attn.compile(c["spec"], target="cuda-emulator", chip=chip, mma=mma,
                      dtype=dt, head_dim=c["d"], head_dim_v=c["dv"])
    d = TD.Dims(s["B"], s["Hq"], s["Hkv"], s["Sq"], s["Skv"], c["d"],
                c["dv"], dt)
    TD._run_and_check(fn, c["spec"], f"{name}[{chip} {mma}]", d, q, k, v,
                      captures, operands, c["spec"].normalizer.has_lse)


@pytest.mark.parametrize("chip", ["sm_80", "sm_90a"] if FULL else ["sm_90a"])
@pytest.mark.parametrize("case", sorted(
    f for f in os.listdir(os.path.join(_BENCH_GPU, "cases"))
    if f.endswith(".mlir")))
def test_bench_gpu_case(case, chip):
    """The GPU benchmark's kernels (bench/gpu/cases) on the emulator, through
    attn-run --check at a small shape that is no tile multiple."""
    import subprocess
    attn_run = os.path.join(os.path.dirname(attn.__file__), os.pardir,
                            os.pardir, "bin", "attn-run")
    if not os.path.exists(attn_run):
        pytest.skip("attn-run not built")
    p = subprocess.run(
        [attn_run, os.path.join(_BENCH_GPU, "cases", case),
         "--target=cuda-emulator", f"--chip={chip}", "--check",
         "--shape=B=1,Hq=4,Hkv=2,Sq=150,Skv=150"],
        capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and "check=ok" in p.stdout, p.stdout + p.stderr
