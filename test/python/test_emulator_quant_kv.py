"""Quantized KV caches on the GPU code generators (issue 20, item 5), on
the GPU emulator.

The mma.sync kernel (sm_80, and sm_90a, which runs it for quantized
caches) dequantises each K and V tile in registers on its way to shared
memory: codes times scale plus zero in f32, rounded to the kernel's f16 or
bf16. These tests run it on the emulator (any emulator report fails the
call) against the float64 reference on the cache as test_quant_kv.py's
own code dequantises it (np.unpackbits for the codes, the fp8 fields by
hand), rounded to the kernel's dtype as documented: int8, int4 and int2
codes, value groups larger than, equal to and smaller than the kernel's
8-channel chunks and groups straddling them, f16 and f32 scales, fp8 e4m3
and e5m2, residual windows, paged caches (both pool layouts), decoding and
prefill, GQA, ragged kv_len (empty rows, lengths mid-group and
mid-residual), fully masked rows, both layouts and both chips. A kernel
with a dropped zero point or swapped nibbles (the emulator's mutation
hook, in a subprocess) must fail the same comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import attn
from attn import reference
from test_quant_kv import float_cache, fp8_float_cache

ml_dtypes = pytest.importorskip("ml_dtypes")

NP = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
TOL = 8e-3
# The LSE depends on the cache only through K, which the reference rounds
# as the kernel does, and the emulator's products are exact: it agrees to
# about 1e-7 (a key dequantised wrongly moves it far more).
LSE_TOL = 1e-5


def rel_err(got, want):
    got = np.asarray(got, np.float64)
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)


def run_case(chip, dtype, quant, layout, mask, D, paged, seed, config=None):
    """Runs the quantized kernel on the emulator for decoding and prefill
    and returns, per call, (error of O, error of the LSE, whether the
    -inf LSEs match) against the float64 reference."""
    rng = np.random.default_rng(seed)
    et = NP[dtype]
    bshd = layout == "bshd"
    B, Hq, Hkv = 3, 4, 2
    S = 96 if quant.group_size in (12, 16, 32) else 64
    spec = attn.Spec(mask=mask, layout=layout, quant=quant, paged=paged,
                     config=config)
    flat = attn.Spec(mask=mask, kv_len=True)
    fn = attn.compile(spec, target="cuda-emulator", chip=chip, dtype=dtype,
                      head_dim=D)
    results = []
    # Decoding with an empty row and lengths mid-group; prefill with a
    # row shorter than the queries (under a causal mask its first rows see
    # no key).
    for Sq, lens in ((1, [0, 37, S]), (21, [21, S, 9])):
        lens = np.array(lens, np.int32)
        k = rng.standard_normal((B, Hkv, S, D)) * 2 + 0.5
        v = rng.standard_normal((B, Hkv, S, D))
        if quant.fp8:
            # Small keys too: fp8 subnormals.
            k *= np.exp(rng.uniform(-12, 0, (B, Hkv, S, 1)))
        if bshd:
            k, v = k.swapaxes(1, 2), v.swapaxes(1, 2)
        cache = attn.quantize_kv(k.astype(et), v.astype(et), quant,
                                 kv_len=lens, layout=layout, dtype=dtype)
        kd, vd = fp8_float_cache(cache) if quant.fp8 else float_cache(cache)
        # The kernel rounds each dequantised element to its dtype.
        kd = kd.astype(et).astype(np.float64)
        vd = vd.astype(et).astype(np.float64)
        q = rng.standard_normal((B, Hq, Sq, D)).astype(et)
        qi = np.ascontiguousarray(q.swapaxes(1, 2)) if bshd else q
        operands = dict(kv_quant=cache, kv_len=cache.kv_len)
        kc, vc = cache.k, cache.v
        if paged:
            pages = B * (S // paged.page_size) + 3
            table = rng.permutation(pages)[:B * (S // paged.page_size)]
            pc = cache.to_pages(paged, table.reshape(B, -1), pages)
            operands = dict(kv_quant=pc, page_table=pc.page_table,
                            kv_len=pc.kv_len)
            kc, vc = pc.k, pc.v
        out, lse = fn(qi, kc, vc, return_lse=True, **operands)
        out = np.asarray(out, np.float64)
        out = out.swapaxes(1, 2) if bshd else out
        want, want_lse = reference.attention(flat, q, kd, vd, kv_len=lens,
                                             return_lse=True)
        finite = np.isfinite(want_lse)
        lse_err = np.abs(lse[finite] - want_lse[finite]).max() / max(
            1.0, np.abs(want_lse[finite]).max())
        results.append((rel_err(out, want), lse_err,
                        bool((np.isneginf(lse) == ~finite).all())))
    return results


Q = attn.Quant
# (chip, dtype, quant, layout, mask, D, paged[, config])
CASES = [
    ("sm_80", "float16", Q(4, 32, "float16"), "bhsd", attn.causal(), 64,
     None),
    ("sm_80", "bfloat16", Q(8, 16, "float32", residual=32), "bshd",
     attn.full(), 32, None),
    ("sm_80", "float16", Q(2, 16, "float16", residual=64), "bhsd",
     attn.causal() & attn.sliding_window(40), 64, None),
    # Value groups straddling the 8-channel chunks (and, with 8 warps, a
    # last round of chunks for part of the threads), and smaller than them.
    ("sm_80", "bfloat16", Q(4, 12, "float32", residual=24), "bhsd",
     attn.causal(), 48, None, {"warps": 8}),
    ("sm_80", "float16", Q(2, 4, "float16", residual=8), "bshd",
     attn.causal(), 32, None),
    ("sm_90a", "bfloat16", Q(4, 32, "float16", residual=64), "bhsd",
     attn.causal(), 64, None),
    ("sm_80", "float16", Q(format="e4m3", scale_dtype="float32"), "bhsd",
     attn.causal(), 64, None),
    ("sm_90a", "bfloat16", Q(format="e5m2", scale_dtype="float32",
                             residual=32), "bshd", attn.full(), 64, None),
    ("sm_80", "bfloat16", Q(4, 16, "float16", residual=32), "bhsd",
     attn.causal(), 64, attn.Paged(32, "nhd")),
    ("sm_90a", "float16", Q(8, 8, "float16"), "bhsd", attn.causal(), 32,
     attn.Paged(16, "hnd")),
    ("sm_80", "float16", Q(format="e4m3", scale_dtype="float32",
                           residual=16), "bhsd", attn.causal(), 32,
     attn.Paged(16, "hnd")),
]


def _id(c):
    chip, dtype, quant, layout, _, D, paged = c[:7]
    form = quant.format if quant.fp8 else \
        f"int{quant.bits}-g{quant.group_size}-{quant.scale_dtype}"
    return (f"{chip}-{dtype}-{form}-r{quant.residual}-{layout}-d{D}"
            + (f"-paged-{paged.layout}" if paged else "")
            + "".join(f"-{k}{v}" for k, v in (c[7] if len(c) > 7 else {})
                      .items()))


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_quantized_on_the_gpu_emulator(case):
    for (err, lse_err, inf_ok), Sq in zip(
            run_case(*case[:7], seed=case[5], config=(case[7] if len(case) > 7
                                                      else None)),
            (1, 21)):
        assert err <= TOL, (Sq, err)
        assert lse_err <= LSE_TOL, (Sq, lse_err)
        assert inf_ok, Sq


def test_quantized_rejects_wgmma():
    spec = attn.Spec(mask=attn.causal(), quant=Q(4, 32),
                     config={"mma": "wgmma"})
    with pytest.raises(attn.CompileError,
                       match="cannot read a quantized cache"):
        attn.compile(spec, target="cuda", chip="sm_90a", dtype="bfloat16",
                     head_dim=64)


_MUTATION_CASE = ("sm_80", "float16", Q(4, 16, "float16", residual=16),
                  "bhsd", attn.causal(), 32, None)


def _run_mutated(tmp_path, mutations):
    """run_case on _MUTATION_CASE in a fresh process whose emulator edits
    the kernel module by `mutations` ($ATTN_EMULATOR_MUTATION; a pattern
    that matches nothing fails the run); its results, or the error."""
    env = dict(os.environ, ATTN_CACHE_DIR=str(tmp_path),
               ATTN_EMULATOR_MUTATION=json.dumps(mutations))
    env.pop("ATTN_TUNING_DB", None)
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join(
        [here] + [p for p in sys.path if p and os.path.isdir(p)])
    script = ("import json, test_emulator_quant_kv as T\n"
              "try:\n"
              "    r = T.run_case(*T._MUTATION_CASE, seed=3)\n"
              "except Exception as e:\n"
              "    r = str(e)\n"
              "print(json.dumps(r))\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=here,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# Regex edits of the kernel module as $ATTN_EMULATOR_DUMP writes it: the
# zero points replaced by the scales (x = s * code + s), and the two
# nibbles of each byte swapped (the shifts 0, 4 of the even and odd
# channels exchanged).
MUTATIONS = {
    "zero_point_wrong": [{
        "pattern": r"(%\w+) = llvm\.fmul (%\w+), (%\w+) : vector<8xf32>"
                   r"([^\n]*\n\s*%\w+ = llvm\.fadd \1, )%\w+",
        "replace": "$1 = llvm.fmul $2, $3 : vector<8xf32>$4$2"}],
    "nibbles_swapped": [{
        "pattern": r"dense<\[0, 4, 0, 4, 0, 4, 0, 4\]>",
        "replace": "dense<[4, 0, 4, 0, 4, 0, 4, 0]>"}],
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_broken_dequantisation_fails(tmp_path, name):
    """The unbroken kernel passes in the same harness; the broken one
    leaves the tolerance by far."""
    if name == sorted(MUTATIONS)[0]:
        good = _run_mutated(tmp_path / "none", [])
        assert all(e <= TOL for e, _, _ in good), good
    bad = _run_mutated(tmp_path / name, MUTATIONS[name])
    assert not isinstance(bad, str), bad
    assert max(e for e, _, _ in bad) > 10 * TOL, bad
