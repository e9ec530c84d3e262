"""Shared-prefix cascades and attn.merge on the GPU targets (issue 20,
items 3 and 5), run by the GPU emulator.

attn.cascade(..., target="cuda-emulator") runs the whole cascade function
as GPU code: the gathers that stack the batch's queries for the prefix, the
two tensor-core attention kernels, the gathers back and the merge, all on
device buffers (a kernel reading host memory is an emulator report, which
fails the call). Each case is checked against plain attention over the
concatenated cache, computed here in float64 (numpy only), with random
prefix and suffix lengths that are no tile multiples, ragged suffixes,
GQA, causal and not, f16 and bf16, sm_80 (mma.sync) and sm_90a (wgmma for
head dims 64). Fully masked parts (an empty suffix or prefix: LSE = -inf)
must give no NaN; rows with no key at all give O = 0 and LSE = -inf.
attn.merge alone is checked against a float64 merge of random partials.
"""

from __future__ import annotations

import zlib

import ml_dtypes
import numpy as np
import pytest

import attn
from attn import api

NP = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16)}
# test_differential.py's tolerances (relative to max|ref|).
TOL = {"float16": 1e-3, "bfloat16": 8e-3, "float32": 1e-4}


def attention64(q, k, v, lengths, causal, scale):
    """Softmax attention in float64: q [B, H, Sq, D] over the first
    lengths[b] keys of k, v [B, Hkv, S, D|Dv], query i at position
    lengths[b] - Sq + i. Returns O and the LSE (-inf, O = 0 where a row
    sees no key)."""
    B, H, Sq, _ = q.shape
    group = H // k.shape[1]
    out = np.zeros((B, H, Sq, v.shape[3]))
    lse = np.full((B, H, Sq), -np.inf)
    for b in range(B):
        n = int(lengths[b])
        allowed = np.ones((Sq, n), bool)
        if causal:
            allowed = np.arange(n)[None, :] <= (n - Sq + np.arange(Sq))[:, None]
        for h in range(H):
            kk = k[b, h // group, :n].astype(np.float64)
            vv = v[b, h // group, :n].astype(np.float64)
            s = scale * q[b, h].astype(np.float64) @ kk.T
            for i in range(Sq):
                row = s[i][allowed[i]]
                if row.size == 0:
                    continue
                m = row.max()
                w = np.exp(row - m)
                out[b, h, i] = w @ vv[allowed[i]] / w.sum()
                lse[b, h, i] = m + np.log(w.sum())
    return out, lse


def concatenated(kp, vp, ks, vs, lengths):
    """Each sequence's prefix then its first lengths[b] suffix keys, padded
    to one length, and the sequences' total lengths."""
    B, P = ks.shape[0], kp.shape[-2]
    k = np.concatenate([np.broadcast_to(kp, (B,) + kp.shape[-3:]), ks], 2)
    v = np.concatenate([np.broadcast_to(vp, (B,) + vp.shape[-3:]), vs], 2)
    return k, v, P + np.asarray(lengths)


def check(out, lse, want, want_lse, dtype):
    out = np.asarray(out, np.float64)
    assert not np.isnan(out).any() and not np.isnan(lse).any()
    empty = np.isneginf(want_lse)
    assert (np.isneginf(lse) == empty).all(), "-inf LSEs differ"
    assert (out[empty] == 0).all(), "rows that see no key must be 0"
    scale = max(np.abs(want).max(), 1e-30)
    err = np.abs(out - want).max() / scale
    assert err <= TOL[dtype], f"O rel err {err:.3g} > {TOL[dtype]}"
    if (~empty).any():
        lerr = np.abs(lse[~empty] - want_lse[~empty]).max() / max(
            1.0, np.abs(want_lse[~empty]).max())
        assert lerr <= TOL[dtype], f"LSE err {lerr:.3g}"


# chip, dtype, causal, (Hq, Hkv), D, Dv, Sq (None: random, 1 to 5). The
# last stacks 8 * 3 * 4 = 96 queries of its kv head: two CTAs of the
# prefix kernel, the second partly past the rows.
CASES = [
    ("sm_80", "float16", True, (4, 2), 32, 32, None),
    ("sm_80", "bfloat16", False, (4, 4), 64, 32, None),
    ("sm_90a", "bfloat16", True, (8, 2), 64, 64, None),
    ("sm_90a", "float16", False, (4, 1), 64, 64, None),
    ("sm_90a", "bfloat16", True, (8, 1), 64, 64, 4),
]


@pytest.mark.parametrize("chip,dtype,causal,heads,D,Dv,sq", CASES)
def test_cascade_equals_attention_over_the_concatenated_cache(
        chip, dtype, causal, heads, D, Dv, sq):
    rng = np.random.default_rng(
        zlib.crc32(f"{chip}-{dtype}-{causal}-{heads}".encode()))
    hq, hkv = heads
    B = 3
    Sq = int(rng.integers(1, 6)) if sq is None else sq
    P = int(rng.integers(70, 200))    # no multiple of the 32/64-key tiles
    Ls = int(rng.integers(Sq + 20, 90))
    # Ragged suffixes; without the causal mask one is empty (its part has
    # LSE = -inf for every row).
    lengths = rng.integers(Sq, Ls + 1, B).astype(np.int32)
    lengths[0] = Ls
    if not causal:
        lengths[1] = 0
    et = NP[dtype]
    q = rng.standard_normal((B, hq, Sq, D)).astype(et)
    kp = rng.standard_normal((hkv, P, D)).astype(et)
    vp = rng.standard_normal((hkv, P, Dv)).astype(et)
    ks = rng.standard_normal((B, hkv, Ls, D)).astype(et)
    vs = rng.standard_normal((B, hkv, Ls, Dv)).astype(et)
    out, lse = attn.cascade(q, kp, vp, ks, vs, kv_len=lengths, causal=causal,
                            return_lse=True, target="cuda-emulator",
                            chip=chip)
    assert out.dtype == et and out.shape == (B, hq, Sq, Dv)
    k, v, total = concatenated(kp, vp, ks, vs, lengths)
    want, want_lse = attention64(q, k, v, total, causal, 1 / np.sqrt(D))
    check(out, lse, want, want_lse, dtype)


@pytest.mark.parametrize("chip", ["sm_80", "sm_90a"])
def test_fully_masked_parts_give_no_nan(chip):
    """An empty prefix (its part is -inf everywhere) with full suffixes,
    then an empty prefix with empty suffixes too: rows that see no key at
    all are O = 0, LSE = -inf; an explicit scale; no kv_len."""
    rng = np.random.default_rng(5)
    B, H, Sq, D = 2, 2, 3, 64
    et = NP["bfloat16"]
    q = rng.standard_normal((B, H, Sq, D)).astype(et)
    kp = np.zeros((1, H, 0, D), et)
    ks = rng.standard_normal((B, H, 41, D)).astype(et)
    out, lse = attn.cascade(q, kp, kp, ks, ks, causal=True, scale=0.2,
                            return_lse=True, target="cuda-emulator",
                            chip=chip)
    want, want_lse = attention64(q, ks, ks, [41, 41], True, 0.2)
    check(out, lse, want, want_lse, "bfloat16")

    lengths = np.array([0, 17], np.int32)
    out, lse = attn.cascade(q, kp, kp, ks, ks, kv_len=lengths, causal=False,
                            return_lse=True, target="cuda-emulator",
                            chip=chip)
    want, want_lse = attention64(q, ks, ks, lengths, False, 1 / np.sqrt(D))
    assert np.isneginf(want_lse[0]).all()
    check(out, lse, want, want_lse, "bfloat16")


def merge_ir(elem, n, Dv, bshd):
    o = f"tensor<?x?x?x{Dv}x{elem}>"
    lt = "tensor<?x?x?xf32>"
    os_ = ", ".join(f"%o{i}: {o}" for i in range(n))
    ls = ", ".join(f"%l{i}: {lt}" for i in range(n))
    layout = " {layout = #attn.layout<bshd>}" if bshd else ""
    return f"""func.func @merge({os_}, {ls}, %o: {o}, %l: {lt}) -> ({o}, {lt}) {{
  %r:2 = attn.merge ins({", ".join(f"%o{i}" for i in range(n))} : {", ".join([o] * n)})
      lse({", ".join(f"%l{i}" for i in range(n))} : {", ".join([lt] * n)})
      outs(%o, %l : {o}, {lt}){layout} -> {o}, {lt}
  return %r#0, %r#1 : {o}, {lt}
}}
"""


@pytest.mark.parametrize("dtype,n,bshd,chip", [
    ("float16", 2, False, "sm_80"), ("bfloat16", 3, True, "sm_90a"),
    ("float32", 3, False, "sm_80")])
def test_merge_alone_matches_a_float64_merge(dtype, n, bshd, chip):
    rng = np.random.default_rng(n)
    B, H, S, Dv = 2, 3, 67, 16
    et = np.dtype(np.float32) if dtype == "float32" else NP[dtype]
    elem = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}[dtype]
    shape = (B, S, H, Dv) if bshd else (B, H, S, Dv)
    parts = [rng.standard_normal(shape).astype(et) for _ in range(n)]
    lses = [(3 * rng.standard_normal((B, H, S))).astype(np.float32)
            for _ in range(n)]
    # Some parts see no key (-inf), and in row (0, 0, 5) none does.
    for i, l in enumerate(lses):
        l[rng.random(l.shape) < 0.3] = -np.inf
        l[0, 0, 5] = -np.inf
        if i:   # only part 0 sees keys
            l[1, 2, :4] = -np.inf
    native = api._native_kernel(
        merge_ir(elem, n, Dv, bshd),
        f"chip={chip} mma=auto emulate=true", False, False, "cuda-emulator",
        entry="merge")
    out = np.empty(shape, et)
    lse = np.empty((B, H, S), np.float32)
    args = parts + lses + [out, lse]
    native.call_cuda([(a.ctypes.data, list(a.shape), a.nbytes,
                       a is out or a is lse) for a in args])

    # float64: LSE = log sum_k e^LSE_k; O = sum_k e^(LSE_k - LSE) O_k.
    L = np.stack(lses).astype(np.float64)
    m = L.max(0)
    safe = np.where(np.isneginf(m), 0.0, m)
    with np.errstate(divide="ignore"):
        want_lse = safe + np.log(np.exp(L - safe).sum(0))
    want_lse[np.isneginf(m)] = -np.inf
    w = np.exp(L - np.where(np.isneginf(want_lse), 0.0, want_lse))
    w[:, np.isneginf(want_lse)] = 0.0
    if bshd:
        w = w.transpose(0, 1, 3, 2)
    want = sum(w[k][..., None] * parts[k].astype(np.float64)
               for k in range(n))
    if bshd:
        check(out.transpose(0, 2, 1, 3), lse, want.transpose(0, 2, 1, 3),
              want_lse, dtype)
    else:
        check(out, lse, want, want_lse, dtype)
    row = out[0, 5, 0] if bshd else out[0, 0, 5]
    assert np.isneginf(lse[0, 0, 5]) and (row == 0).all()


def test_cascade_gpu_errors():
    q = np.zeros((1, 2, 1, 64), np.float32)
    kp = np.zeros((2, 8, 64), np.float32)
    ks = np.zeros((1, 2, 3, 64), np.float32)
    with pytest.raises(TypeError, match="float16 or bfloat16"):
        attn.cascade(q, kp, kp, ks, ks, target="cuda-emulator")
    with pytest.raises(ValueError, match="target must be one of"):
        attn.cascade(q, kp, kp, ks, ks, target="gpu")
    with pytest.raises(ValueError, match="chip must be"):
        attn.cascade(q, kp, kp, ks, ks, target="cuda-emulator",
                     chip="sm_70")
    # Head dims the tensor-core kernels cannot take: the compiler says so.
    h = NP["float16"]
    with pytest.raises(attn.CompileError, match="multiples of 16"):
        attn.cascade(np.zeros((1, 2, 1, 24), h), np.zeros((2, 8, 24), h),
                     np.zeros((2, 8, 24), h), np.zeros((1, 2, 3, 24), h),
                     np.zeros((1, 2, 3, 24), h), target="cuda-emulator")


def test_cascade_on_cuda_without_a_driver_says_so():
    ok, _ = api._attn.cuda_status()
    if ok:
        pytest.skip("a GPU is usable here")
    h = NP["bfloat16"]
    q = np.zeros((1, 2, 1, 64), h)
    with pytest.raises(RuntimeError, match="target='cuda': cannot run here"):
        attn.cascade(q, np.zeros((2, 8, 64), h), np.zeros((2, 8, 64), h),
                     np.zeros((1, 2, 3, 64), h), np.zeros((1, 2, 3, 64), h),
                     target="cuda")
