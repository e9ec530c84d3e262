"""attn-run on quantized KV caches made by attn.quantize_kv: the arrays
saved with numpy.save (uint8 codes, scales, zeros, residual rows, page
table) and read back with --input ROLE=FILE run the kernel that
attn.ir.build gives for the spec; attn-run's --check passes (its reference
dequantises the cache with its own C++ code) and its output equals the
float64 attention on the cache as test_quant_kv.py dequantises it
(np.unpackbits, the fp8 fields by hand), so attn-run reads the files as
Python writes them: int4 and int2 codes with residual windows, both
layouts, GQA, fp8 e5m2, and a paged int8 cache."""

import os
import re
import subprocess

import numpy as np
import pytest

import attn
from attn import ir, reference
from test_quant_kv import random_cache

ml_dtypes = pytest.importorskip("ml_dtypes")

NP = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}
TOL = {"float32": 1e-4, "bfloat16": 8e-3}

ATTN_RUN = os.path.join(os.path.dirname(attn.__file__), os.pardir, os.pardir,
                        "bin", "attn-run")


def run_attn_run(tmp_path, spec, dtype, D, arrays):
    """Runs attn-run --check on `spec`'s kernel with `arrays` (role ->
    array) as --input files; returns the output O."""
    if not os.path.exists(ATTN_RUN):
        pytest.skip("attn-run not built")
    text, _ = ir.build(spec, dtype, D, D)
    mlir = tmp_path / "kernel.mlir"
    mlir.write_text(text)
    cmd = [ATTN_RUN, str(mlir), "--check", "--output-dir", str(tmp_path)]
    for role, a in arrays.items():
        path = tmp_path / f"{role}.npy"
        np.save(path, np.ascontiguousarray(a))
        cmd.append(f"--input={role}={path}")
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"check=ok", run.stdout), run.stdout
    assert re.search(r"gbps=[0-9.]+", run.stdout), run.stdout
    out = np.load(tmp_path / "o.npy")
    if out.dtype.kind == "V":  # bfloat16, which .npy stores as 'V2'
        out = out.view(ml_dtypes.bfloat16)
    return out.astype(np.float64)


CASES = [  # (quant, dtype, layout, paged)
    (attn.Quant(4, 16, "float16", 32), "float32", "bhsd", None),
    (attn.Quant(2, 32, "float32", 64), "bfloat16", "bshd", None),
    (attn.Quant(format="e5m2", scale_dtype="float32", residual=32),
     "float32", "bhsd", None),
    (attn.Quant(8, 32, "float16"), "float32", "bhsd", attn.Paged(64)),
]


@pytest.mark.parametrize("quant,dtype,layout,paged", CASES,
                         ids=["int4-r32", "int2-r64-bf16-bshd", "e5m2-r32",
                              "int8-paged"])
def test_attn_run_reads_quantize_kv_caches(tmp_path, quant, dtype, layout,
                                           paged):
    rng = np.random.default_rng(quant.bits + quant.residual)
    B, Hq, Hkv, S, D = 3, 4, 2, 128, 64
    et = NP[dtype]
    bshd = layout == "bshd"
    mask = attn.causal()
    spec = attn.Spec(mask=mask, layout=layout, quant=quant, paged=paged)
    flat = attn.Spec(mask=mask, kv_len=True)
    for Sq, lens in ((1, [77, 0, 128]), (19, [40, 128, 19])):
        lens = np.array(lens, np.int32)
        cache, kd, vd = random_cache(rng, quant, (B, Hkv, S, D), lens,
                                     layout, dtype)
        q = rng.standard_normal((B, Hq, Sq, D)).astype(et)
        arrays = {"q": q.swapaxes(1, 2) if bshd else q,
                  "k": cache.k, "v": cache.v, "kv_len": lens}
        if paged:
            pages = B * S // paged.page_size + 1
            table = rng.permutation(pages)[:B * S // paged.page_size]
            cache = cache.to_pages(paged, table.reshape(B, -1).astype(
                np.int32), pages)
            arrays.update(k=cache.k, v=cache.v, page_table=cache.page_table)
        names = ["k_scale", "v_scale"] if quant.fp8 else \
            ["k_scale", "k_zero", "v_scale", "v_zero"]
        if quant.residual:
            names += ["k_residual", "v_residual"]
        arrays.update({n: getattr(cache, n) for n in names})
        assert arrays["k"].dtype == np.uint8
        out = run_attn_run(tmp_path, spec, dtype, D, arrays)
        if bshd:
            out = out.swapaxes(1, 2)
        want = reference.attention(flat, q, kd, vd, kv_len=lens)
        err = np.abs(out - want).max() / np.abs(want).max()
        assert err <= TOL[dtype], (Sq, err)
