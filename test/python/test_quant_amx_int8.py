"""The opt-in dot = "amx_int8" (Spec(config={"dot": "amx_int8"})) on int8
quantized KV caches: Q K^T by AMX int8 tiles with the query rounded to int8
per (row, key group). Checked two ways on randomised shapes (ragged kv_len
with empty rows, Sq not a multiple of the tiles, GQA, both layouts, causal,
document and window masks, residual windows, f32 and bf16):

- against a float64 reference of the documented formula, whose query
  quantisation is this file's own numpy code (the rest, masks and softmax,
  attn.reference with the modelled scores as a bias on zero queries);
- against the exact attention on the dequantised cache, within the bound
  that the query's rounding allows: a softmax whose scores move by at most
  delta moves each weight by a factor within e^(+-2 delta), so each output
  by at most (e^(2 delta) - 1) max|V|, with delta this file's exact
  max |modelled - exact| score over the allowed keys.

With bf16 queries P V runs on AMX bf16 tiles (V and the weights rounded
to bf16), which the bf16 tolerance covers. Decoding (Sq <= 2, the row
kernel) is not routed to the int8 products and must equal the exact
attention. Where the opt-in cannot apply it is an
error that says why."""

import os
import subprocess
import sys

import numpy as np
import pytest

import attn
from attn import _attn, reference

import test_quant_kv as TQ

ml_dtypes = pytest.importorskip("ml_dtypes")

NP = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}
# Kernel against the modelled reference: f32 arithmetic, and for bf16 the
# output's rounding (test_quant_kv's tolerances).
TOL = {"float32": 1e-4, "bfloat16": 8e-3}
INT8 = {"dot": "amx_int8"}


def host_amx_int8():
    features = set(_attn.host_cpu().split(","))
    return "amx-int8" in features and "-amx-usable" not in features


needs_amx_int8 = pytest.mark.skipif(not host_amx_int8(),
                                    reason="the host cannot run AMX-INT8")


def bhsd(x, bshd):
    return np.asarray(x).swapaxes(1, 2) if bshd else np.asarray(x)


def modelled_scores(cache, q, scale, block_kv):
    """Float64 scores [B, Hq, Sq, S] (q BHSD) of the documented opt-in on
    the codes: per key group g, u = f32(f32(q * scale) * s[g]),
    iq = round_half_even(u * f32(127 / max|u|)) in f32 (0 where u is all
    0), r = f32(max|u| * f32(1 / 127)), score = r * iq . (code - 128) +
    qt . (z[g] + 128 s[g]); the keys of a kv tile (block_kv keys) that
    reaches the residual window: qt . k, exact. Keys past kv_len get
    whatever; the reference masks them."""
    bshd = cache.layout == "bshd"
    G = cache.quant.group_size
    codes = bhsd(cache.k, bshd).astype(np.float64) - 128.0
    ks = bhsd(cache.k_scale, bshd).astype(np.float32)
    kz = bhsd(cache.k_zero, bshd).astype(np.float64)
    B, Hkv, S, D = codes.shape
    rep = q.shape[1] // Hkv
    qt = q.astype(np.float32) * np.float32(scale)
    qt64 = qt.astype(np.float64)
    out = np.empty(q.shape[:3] + (S,))
    for g in range(S // G):
        s = np.repeat(ks[:, :, g], rep, axis=1)[:, :, None, :]
        u = qt * s
        top = np.abs(u).max(-1, keepdims=True)
        with np.errstate(divide="ignore"):
            inv = np.where(top > 0, np.float32(127) / top,
                           np.float32(0)).astype(np.float32)
        iq = np.rint(u * inv).astype(np.float64)
        r = (top * np.float32(1 / 127)).astype(np.float64)
        c = np.repeat(codes[:, :, g * G:(g + 1) * G], rep, axis=1)
        z = np.repeat(kz[:, :, g] + 128.0 * ks[:, :, g], rep, axis=1)
        out[..., g * G:(g + 1) * G] = (
            r * np.einsum("bhid,bhjd->bhij", iq, c) +
            np.einsum("bhid,bhd->bhi", qt64, z)[..., None])
    R = cache.quant.residual
    if R:
        kd, _ = TQ.float_cache(cache)
        exact = np.einsum("bhid,bhjd->bhij", qt64, np.repeat(kd, rep, 1))
        for b, n in enumerate(cache.kv_len):
            coded = n - n % R
            for j0 in range(0, n, block_kv):
                j1 = min(j0 + block_kv, n)
                if j1 > coded:
                    out[b, :, :, j0:j1] = exact[b, :, :, j0:j1]
    return out


def run_case(rng, mask, dtype, layout, G, R, Sq, lens, S=256, D=64, Hq=8,
             Hkv=2, segments=None):
    """(kernel out, modelled reference, exact reference, score bound
    delta), all BHSD float64."""
    B = len(lens)
    lens = np.array(lens, np.int32)
    et = NP[dtype]
    bshd = layout == "bshd"
    quant = attn.Quant(8, G, "float16", R)
    k = rng.standard_normal((B, Hkv, S, D)) * 2 + 0.5
    v = rng.standard_normal((B, Hkv, S, D))
    q = rng.standard_normal((B, Hq, Sq, D))
    if bshd:
        k, v = k.swapaxes(1, 2), v.swapaxes(1, 2)
    cache = attn.quantize_kv(k.astype(et), v.astype(et), quant, kv_len=lens,
                             layout=layout, dtype=dtype)
    qi = q.astype(et)
    extra = {} if segments is None else {"segments": segments}
    spec = attn.Spec(mask=mask, layout=layout, quant=quant, config=INT8)
    fn = attn.compile(spec, dtype=dtype, head_dim=D)
    block_kv = attn.tile_plan(spec, dtype=dtype, head_dim=D)["block_kv"]
    out = np.asarray(fn(np.ascontiguousarray(bhsd(qi, bshd)), cache.k,
                        cache.v, kv_quant=cache, kv_len=cache.kv_len,
                        **extra), np.float64)
    out = bhsd(out, bshd)
    kd, vd = TQ.float_cache(cache)
    q64 = qi.astype(np.float64)
    scale = 1.0 / np.sqrt(D)
    scores = modelled_scores(cache, q64, scale, block_kv)
    zeros_q, zeros_k = np.zeros_like(q64), np.zeros_like(kd)
    modelled = reference.attention(
        attn.Spec(mask=mask, score_mod=attn.bias(), kv_len=True), zeros_q,
        zeros_k, vd, bias=scores, kv_len=lens, **extra)
    flat = attn.Spec(mask=mask, kv_len=True)
    exact = reference.attention(flat, q64, kd, vd, kv_len=lens, **extra)
    # delta over the keys of each batch row (the mask only removes keys,
    # so this bounds the allowed ones).
    exact_s = scale * np.einsum("bhid,bhjd->bhij", q64,
                                np.repeat(kd, Hq // Hkv, 1))
    delta = max((np.abs(scores[b, ..., :n] - exact_s[b, ..., :n]).max()
                 for b, n in enumerate(lens) if n), default=0.0)
    return out, modelled, exact, delta, np.abs(vd).max()


CASES = [
    # mask, dtype, layout, G, R, Sq, lens, D (G = 128: groups span kv tiles)
    (attn.full(), "float32", "bhsd", 32, 0, 100, [77, 0, 256], 64),
    (attn.causal(), "float32", "bshd", 64, 0, 37, [256, 130, 37], 64),
    (attn.causal(), "bfloat16", "bhsd", 32, 64, 70, [200, 255, 96], 64),
    (attn.sliding_window(40), "float32", "bhsd", 128, 128, 64, [250, 129],
     128),
    (attn.full(), "bfloat16", "bshd", 32, 32, 33, [33, 5, 160], 64),
]


@needs_amx_int8
@pytest.mark.parametrize("mask,dtype,layout,G,R,Sq,lens,D", CASES,
                         ids=[f"{i}-{c[1]}-{c[2]}-g{c[3]}-r{c[4]}-sq{c[5]}"
                              for i, c in enumerate(CASES)])
def test_int8_products_equal_the_modelled_and_bounded_exact_reference(
        mask, dtype, layout, G, R, Sq, lens, D):
    rng = np.random.default_rng(G + R + Sq)
    out, modelled, exact, delta, vmax = run_case(rng, mask, dtype, layout,
                                                 G, R, Sq, lens, D=D)
    assert TQ.rel_err(out, modelled) <= TOL[dtype], TQ.rel_err(out, modelled)
    bound = (np.expm1(2 * delta) * vmax +
             TOL[dtype] * np.abs(exact).max())
    assert np.abs(out - exact).max() <= bound, (np.abs(out - exact).max(),
                                                bound, delta)
    # Rows with no visible key are 0, as without the opt-in.
    for b, n in enumerate(lens):
        if n == 0:
            assert not out[b].any()


@needs_amx_int8
def test_document_mask_and_gqa_groups():
    rng = np.random.default_rng(7)
    Sq, S, lens = 90, 192, [192, 150]
    seg_q = np.sort(rng.integers(0, 3, (2, Sq))).astype(np.int32)
    seg_kv = np.sort(rng.integers(0, 3, (2, S))).astype(np.int32)
    out, modelled, exact, delta, vmax = run_case(
        rng, attn.document() & attn.causal(), "float32", "bhsd", 32, 32, Sq,
        lens, S=S, D=128, Hq=6, Hkv=3, segments=(seg_q, seg_kv))
    assert TQ.rel_err(out, modelled) <= TOL["float32"]
    assert np.abs(out - exact).max() <= (np.expm1(2 * delta) * vmax +
                                         1e-4 * np.abs(exact).max())


@needs_amx_int8
@pytest.mark.parametrize("Sq", [1, 2])
def test_decoding_is_not_quantised(Sq):
    # The row kernel (Sq <= 2) does not take the opt-in: it equals the
    # exact attention on the dequantised cache at f32 accuracy.
    rng = np.random.default_rng(Sq)
    out, _, exact, _, _ = run_case(rng, attn.causal(), "float32", "bhsd", 32,
                                   64, Sq, [200, 0, 75])
    assert TQ.rel_err(out, exact) <= TOL["float32"]


def compile_error(spec, **kw):
    with pytest.raises(attn.CompileError) as e:
        attn.compile(spec, cache=False, **kw)
    return str(e.value)


def test_rejected_where_it_does_not_apply():
    q8 = attn.Quant(8, 32, "float16")
    need = 'dot = "amx_int8" needs an int8 quantized cache'
    assert need in compile_error(attn.Spec(config=INT8), head_dim=64)
    assert need in compile_error(
        attn.Spec(quant=attn.Quant(4, 32), config=INT8), head_dim=64)
    assert need in compile_error(
        attn.Spec(quant=attn.Quant(format="e4m3"), config=INT8),
        head_dim=64)
    assert "key groups of a multiple of 32 tokens, not 16" in compile_error(
        attn.Spec(quant=attn.Quant(8, 16), config=INT8), head_dim=64)
    assert "static head dim that is a multiple of 64" in compile_error(
        attn.Spec(quant=q8, config=INT8), head_dim=96)
    assert "does not read a paged cache yet" in compile_error(
        attn.Spec(quant=q8, paged=attn.Paged(64), config=INT8), head_dim=64)
    assert "needs vector_width = 16" in compile_error(
        attn.Spec(quant=q8, config=INT8), head_dim=64, vector_width=8)
    with pytest.raises(attn.CompileError,
                       match="'block_kv' to be a multiple of 32, got 48"):
        attn.tile_plan(attn.Spec(quant=q8, config=dict(INT8, block_kv=48)))


def test_host_without_amx_is_told_why(tmp_path):
    code = (
        "import attn\n"
        "q8 = attn.Quant(8, 32, 'float16')\n"
        "try:\n"
        "    attn.compile(attn.Spec(quant=q8, config={'dot': 'amx_int8'}),"
        " head_dim=64, cache=False)\n"
        "except attn.CompileError as e:\n"
        "    print(e)\n")
    env = dict(os.environ, ATTN_NO_AMX="1", ATTN_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert ('dot = "amx_int8" needs AMX: AMX is turned off by $ATTN_NO_AMX'
            in out)


@needs_amx_int8
def test_plan_names_the_opt_in_and_never_defaults_to_it():
    q8 = attn.Quant(8, 32, "float16")
    assert attn.tile_plan(attn.Spec(quant=q8, config=INT8))["dot"] == \
        "amx_int8"
    assert attn.tile_plan(attn.Spec(quant=q8))["dot"] != "amx_int8"
    assert attn.tile_plan(attn.Spec(quant=q8),
                          dtype="bfloat16")["dot"] != "amx_int8"
