"""Masked keys contribute nothing, even when their values are NaN or inf.

README "Masked keys": a key that a row masks (mask, kv_len, a score_mod
that gives -inf) adds nothing to that row, whatever its V (and K) holds;
0 * NaN never reaches the row. This is what a padding token with garbage
in its V needs: before, one NaN there poisoned every row of its tile.

Each case puts NaN and inf into V (and K) at keys that some rows mask, and
checks:
- the forward against attn.reference.attention (float64, which has its own
  definition of the rule: the finite part in one product, then each
  non-finite entry's terms where the weight is nonzero): the same rows are
  NaN / inf, the others within the dtype's tolerance;
- the rows that mask every poisoned key against a run whose poisoned
  entries are replaced by finite noise: identical up to rounding (they
  must not depend on those values at all);
- the backward: the gradients at positions that never see a poisoned key
  are finite and equal to those of the clean run.
The paths: the fused tile kernel (AVX-512; full and partial tiles; with
a score modifier, every tile), AMX bf16 (its guarded tile product), the
decoding kernel, the reference lowering, and the fused backward.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import attn
from attn import reference

NP = {"float32": np.float32, "float16": np.float16,
      "bfloat16": ml_dtypes.bfloat16}
TOL = {"float32": 1e-4, "float16": 1e-3, "bfloat16": 8e-3}


def _inputs(rng, B, Hq, Hkv, Sq, Skv, D, dtype):
    q = rng.standard_normal((B, Hq, Sq, D))
    k = rng.standard_normal((B, Hkv, Skv, D))
    v = rng.standard_normal((B, Hkv, Skv, D))
    return [x.astype(NP[dtype]) for x in (q, k, v)]


def _poison(x, keys, rng, values=(np.nan, np.inf, -np.inf)):
    """x with entries of the given keys (axis 2) set to NaN / +-inf."""
    x = np.array(x, copy=True)
    for j in keys:
        cols = rng.choice(x.shape[3], size=3, replace=False)
        for c, val in zip(cols, values):
            x[:, :, j, c] = val
    return x


def _allowed(spec, q, k, v):
    """The reference's mask [B, Hq, Sq, Skv] (as test_differential's)."""
    P = reference._Problem(spec, q, k, v, (), {})
    return np.broadcast_to(reference._mask(P, spec.mask), P.shape)


def _rel(got, want):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)


def _check_forward(spec, fn, q, k, v, dtype, operands, sees_poison):
    """Kernel vs float64 reference on poisoned inputs; rows that see no
    poisoned key must be finite. `sees_poison` [B, Hq, Sq] bool."""
    out = np.asarray(fn(q, k, v, **operands)).astype(np.float64)
    want = reference.attention(spec, q.astype(np.float64),
                               k.astype(np.float64), v.astype(np.float64),
                               **operands)
    assert np.array_equal(np.isnan(out), np.isnan(want))
    assert np.array_equal(np.isposinf(out), np.isposinf(want))
    assert np.array_equal(np.isneginf(out), np.isneginf(want))
    clean = ~sees_poison
    assert np.isfinite(out[clean]).all()
    fin = np.isfinite(want)
    assert _rel(out[fin], want[fin]) <= TOL[dtype]
    return out


CASES = [
    # name, spec, (B, Hq, Hkv, Sq, Skv), poisoned keys
    ("causal", attn.Spec(mask=attn.causal()), (1, 2, 2, 150, 150),
     [149, 70]),
    ("window", attn.Spec(mask=attn.sliding_window(16)), (1, 2, 1, 200, 200),
     [0, 100, 199]),
    ("causal+alibi", attn.Spec(mask=attn.causal(), score_mod=attn.alibi()),
     (1, 2, 2, 70, 70), [69]),
    ("decode window", attn.Spec(mask=attn.sliding_window(32)),
     (2, 4, 2, 2, 300), [0, 10, 299]),
]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_masked_nan(case, dtype):
    name, spec, (B, Hq, Hkv, Sq, Skv), keys = case
    rng = np.random.default_rng(len(name) * 7 + len(dtype))
    fn = attn.compile(spec, dtype=dtype, head_dim=64)
    q, k, v = _inputs(rng, B, Hq, Hkv, Sq, Skv, 64, dtype)
    sees = _allowed(spec, q, k, v)[..., keys].any(-1)
    assert (~sees).any() and sees.any()   # the case tests both kinds of row
    vp = _poison(v, keys, rng)
    out = _check_forward(spec, fn, q, k, vp, dtype, {}, sees)
    # Rows that mask every poisoned key do not depend on those values.
    noise = np.array(v, copy=True)
    noise[:, :, keys] = rng.standard_normal(noise[:, :, keys].shape) * 100
    clean = np.asarray(fn(q, k, noise.astype(NP[dtype]))).astype(np.float64)
    assert _rel(out[~sees], clean[~sees]) <= TOL[dtype]
    # NaN in K too: masked scores become -inf whatever the product gave.
    kp = _poison(k, keys, rng, values=(np.nan, np.nan, np.inf))
    _check_forward(spec, fn, q, kp, vp, dtype, {}, sees)


def test_reference_lowering_masked_nan():
    spec = attn.Spec(mask=attn.causal())
    rng = np.random.default_rng(5)
    fn = attn.compile(spec, head_dim=64, lowering="reference")
    q, k, v = _inputs(rng, 1, 2, 2, 40, 40, 64, "float32")
    keys = [39, 20]
    sees = _allowed(spec, q, k, v)[..., keys].any(-1)
    _check_forward(spec, fn, q, k, _poison(v, keys, rng), "float32", {},
                   sees)


def check_kv_len_garbage(fn, dtype, Skv):
    """A decode cache (and a 33-query chunk) whose rows past kv_len hold
    NaN in K and inf in V, never written: the output is finite and matches
    the float64 reference on the clean cache. Shared with the GPU
    emulator's test."""
    spec = attn.Spec(kv_len=True)
    rng = np.random.default_rng(11)
    B, H = 3, 4
    for sq in (1, 33):
        q, k, v = _inputs(rng, B, H, H, sq, Skv, 64, dtype)
        lens = np.array([Skv, 100, 31], np.int32)
        kp, vp = np.array(k, copy=True), np.array(v, copy=True)
        for b, n in enumerate(lens):
            kp[b, :, n:] = np.nan
            vp[b, :, n:] = np.inf
        out = np.asarray(fn(q, kp, vp, kv_len=lens)).astype(np.float64)
        want = reference.attention(spec, q.astype(np.float64),
                                   k.astype(np.float64),
                                   v.astype(np.float64), kv_len=lens)
        assert np.isfinite(out).all()
        assert _rel(out, want) <= TOL[dtype]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_kv_len_garbage_past_the_end(dtype):
    fn = attn.compile(attn.Spec(kv_len=True), dtype=dtype, head_dim=64)
    check_kv_len_garbage(fn, dtype, 257)


def _document_problem(rng, dtype, Hq=2, Hkv=1):
    """Two documents and a padding segment whose K and V are NaN / inf;
    dO is 0 on the padding rows, as a loss that ignores them gives."""
    S = 90
    seg = np.zeros((1, S), np.int32)
    seg[0, 37:70] = 1
    seg[0, 70:] = 2
    pad = np.arange(70, S)
    q, k, v = _inputs(rng, 1, Hq, Hkv, S, S, 64, dtype)
    kp = _poison(k, pad, rng, values=(np.nan, np.inf, np.nan))
    vp = _poison(v, pad, rng)
    do = rng.standard_normal((1, Hq, S, 64))
    do[:, :, pad] = 0
    return (seg, seg), q, k, v, kp, vp, do.astype(NP[dtype]), pad


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_backward_masked_nan(dtype):
    spec = attn.Spec(mask=attn.document() & attn.causal())
    rng = np.random.default_rng(3)
    segs, q, k, v, kp, vp, do, pad = _document_problem(rng, dtype)
    fn = attn.compile(spec, dtype=dtype, head_dim=64)
    real = np.setdiff1d(np.arange(q.shape[2]), pad)

    def grads(kk, vv):
        out, lse = fn(q, kk, vv, segments=segs, return_lse=True)
        out = np.asarray(out)
        g = fn.backward(q, kk, vv, out, np.asarray(lse), do, segments=segs)
        return out, [np.asarray(x).astype(np.float64) for x in g]

    out_p, (dq_p, dk_p, dv_p) = grads(kp, vp)
    out_c, (dq_c, dk_c, dv_c) = grads(k, v)
    out_p = np.asarray(out_p).astype(np.float64)
    assert np.isfinite(out_p[:, :, real]).all()
    assert _rel(out_p[:, :, real], np.asarray(out_c)[:, :, real]) <= \
        TOL[dtype]
    for got, want in ((dq_p, dq_c), (dk_p, dk_c), (dv_p, dv_c)):
        assert np.isfinite(got[:, :, real]).all()
        assert _rel(got[:, :, real], want[:, :, real]) <= 2 * TOL[dtype]


def test_backward_reference_lowering_masked_nan():
    spec = attn.Spec(mask=attn.document() & attn.causal())
    rng = np.random.default_rng(4)
    segs, q, k, v, kp, vp, do, pad = _document_problem(rng, "float32")
    real = np.setdiff1d(np.arange(q.shape[2]), pad)
    fn = attn.compile(spec, head_dim=64, lowering="reference")
    out, lse = fn(q, kp, vp, segments=segs, return_lse=True)
    dq, dk, dv = fn.backward(q, kp, vp, np.asarray(out), np.asarray(lse), do,
                             segments=segs)
    fused = attn.compile(spec, head_dim=64)
    out_c, lse_c = fused(q, k, v, segments=segs, return_lse=True)
    want = fused.backward(q, k, v, np.asarray(out_c), np.asarray(lse_c), do,
                          segments=segs)
    for got, w in zip((dq, dk, dv), want):
        got, w = np.asarray(got), np.asarray(w)
        assert np.isfinite(got[:, :, real]).all()
        assert _rel(got[:, :, real], w[:, :, real]) <= 2 * TOL["float32"]


def test_relu_zero_weights_add_nothing():
    # relu weighs negative scores 0 on full tiles too: a NaN value there
    # reaches exactly the rows that give its key a positive weight, as in
    # the reference (every tile runs the guarded product).
    spec = attn.Spec(normalizer=attn.relu(1, "row_sum"))
    rng = np.random.default_rng(1)
    fn = attn.compile(spec, head_dim=64)
    q, k, v = _inputs(rng, 1, 2, 2, 130, 130, 64, "float32")
    v[:, :, 5, 3] = np.nan
    out = np.asarray(fn(q, k, v))
    want = reference.attention(spec, q, k, v)
    assert 0 < np.isnan(want).sum() < want.size
    assert np.array_equal(np.isnan(out), np.isnan(want))
    fin = np.isfinite(want)
    assert _rel(out[fin], want[fin]) <= TOL["float32"]


@pytest.mark.parametrize("lowering", ["fused", "reference"])
def test_operand_gradient_masked_nan(lowering):
    # A key every row masks (its score_mod gives -inf) whose V is NaN: the
    # gradient of a captured table (wrt) stays finite and equals the one
    # with that V replaced by finite values.
    def mod(score, b, h, q_idx, kv_idx, t):
        return attn.where(kv_idx == 5, -np.inf, score + t[h])

    spec = attn.Spec(mask=attn.causal(), score_mod=mod)
    rng = np.random.default_rng(9)
    fn = attn.compile(spec, head_dim=64, lowering=lowering)
    q, k, v = _inputs(rng, 1, 2, 2, 40, 40, 64, "float32")
    t = rng.standard_normal(2).astype(np.float32)
    do = rng.standard_normal(q.shape).astype(np.float32)

    def table_grad(vv):
        out, lse = fn(q, k, vv, t, return_lse=True)
        grads = fn.backward(q, k, vv, np.asarray(out), np.asarray(lse), do,
                            t, wrt=("t",))
        return np.asarray(grads[3], np.float64)

    vp = np.array(v, copy=True)
    vp[:, :, 5] = np.nan
    got, want = table_grad(vp), table_grad(v)
    assert np.isfinite(got).all()
    assert _rel(got, want) <= 2 * TOL["float32"]
