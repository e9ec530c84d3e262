"""f16 inputs on AMX tiles, an opt-in (config dot = "amx"; README "bf16 on
AMX"): the kernel rounds Q, K and V to bf16 (nearest even) where it packs
its tiles, then computes as for bf16 inputs (f32 accumulators, the weights
rounded to bf16), and writes f16.

Two checks per drawn problem, both against the float64 numpy reference
(python/attn/reference.py, which shares no code with the compiler):

- against the reference of the inputs rounded to bf16 by numpy
  (ml_dtypes, nearest even), at the bf16 tolerance (8e-3): what the kernel
  computes once its inputs are rounded, held to the bf16 kernel's bound;
- against the reference of the f16 inputs themselves, O at TOL_F16_AMX =
  8e-3 + 2^-7: the bf16 kernel's 8e-3 (four times 2^-9, README
  "Tolerances") plus as much again, four times 2^-9, for the rounding of
  the inputs, which moves each element of Q, K and V by at most 2^-9 of
  its magnitude and which the reference of the f16 inputs does not see
  (it alone moves O by up to 7.2e-3 of max|O| on these problems); the
  LSE within bf16's tolerance plus the most that rounding Q and K can move
  a score of its row (_check_lse_shift). The f16 tolerance (1e-3) stays
  that of the default path.

The default f16 path does not round: `test_f16_rounding_is_nearest_even`
reads the rounding of V off O exactly on both paths. The backward takes
the same opt-in (bf16 copies of Q, K, V and dO) and is checked at twice
the forward's tolerances, as test_backward.py does.
"""

from __future__ import annotations

import copy

import ml_dtypes
import numpy as np
import pytest

import attn
import test_backward as TB
import test_differential as TD
from attn import reference

pytestmark = pytest.mark.skipif(not TD._amx_host(),
                                 reason="needs a host with AMX-BF16")

AMX = {"dot": "amx"}
F16 = ("float16",)
BF16_TOL = TD.TOL["bfloat16"]
TOL_F16_AMX = BF16_TOL + 2.0 ** -7
# Query lengths that decoding's row kernel takes (kRowKernelMaxQueries in
# CPUTiler.h), for head dims of at most 16 vectors: it keeps f16 exact.
ROW_KERNEL_MAX_SQ = 2


def _amx(spec) -> attn.Spec:
    """`spec` with config dot = "amx" added."""
    out = copy.copy(spec if isinstance(spec, attn.Spec) else attn.Spec(spec))
    out.config = {**out.config, **AMX}
    return out


VARIANTS = [
    # Random short shapes: batch, GQA / MQA, odd and unequal lengths below
    # and across one tile; fully masked rows from cache lengths of 0
    # (op_kv_len) and from causal rows before the first key.
    TD.V("causal", _amx(attn.causal()), D=64, dtypes=F16),
    TD.V("full_cross_d96_v64", _amx(attn.full()), D=96, Dv=64, dtypes=F16),
    TD.V("kv_len_streaming", _amx(attn.Spec(TD.STREAMING, kv_len=True)),
         TD.op_kv_len, dtypes=F16),
    TD.V("causal_q_ge_kv_tiles_32", attn.Spec(attn.causal(), config={
        **AMX, "block_q": 32, "block_kv": 32}), lengths="q_ge_kv",
         dtypes=F16),
    TD.V("bshd_sink_softmax", attn.Spec(TD.STREAMING, attn.sink_softmax(),
                                        layout="bshd", config=AMX),
         TD.op_sink, D=64, Dv=32, dtypes=F16),
    TD.V("document_causal", _amx(attn.document() & attn.causal()),
         TD.op_segments, lengths="self", dtypes=F16),
    TD.V("window_softcap_128", attn.Spec(attn.sliding_window(40), score_mod=[
        attn.softcap(5.0)], config={**AMX, "block_q": 128, "block_kv": 128,
                                    "unroll": 4}), dtypes=F16),
    # Long shapes: several kv tiles, full and partial ones, GQA, rows that
    # see no key.
    TD.LV("causal_d64", _amx(attn.causal()), D=64, dtypes=F16),
    TD.LV("window_gqa", _amx(attn.sliding_window(200)), D=64, heads=2,
          dtypes=F16),
    TD.LV("causal_q_ge_kv", _amx(attn.causal()), lengths="q_ge_kv",
          dtypes=F16),
    TD.LV("kv_len_window", _amx(attn.Spec(
        attn.sliding_window(256) & attn.causal(), kv_len=True)),
          TD.op_kv_len_long, D=64, dtypes=F16),
]

CASES = [pytest.param(v, s, id=f"{v.name}-{s}")
         for v in VARIANTS for s in range(v.seeds)]


def _to_bf16(x: np.ndarray) -> np.ndarray:
    """x rounded to bf16, nearest even (f16 -> f32 is exact)."""
    return x.astype(np.float32).astype(ml_dtypes.bfloat16)


def _ref(spec, q, k, v, captures, operands, with_lse):
    if with_lse:
        return reference.attention(spec, q, k, v, *captures,
                                   return_lse=True, **operands)
    return reference.attention(spec, q, k, v, *captures, **operands), None


def _check_lse_shift(name, spec, d, q, k, lse, ref_lse):
    """The LSE against the reference of the f16 inputs. The LSE is in the
    scores' units, so the rounding of the inputs moves it absolutely:
    rounding q and k to bf16 moves the score q.k scale by at most
    2^-8 scale sum_d |q_d k_d| (2^-9 for each factor, to first order), and
    the LSE, a weighted mean of the scores' moves (score modifiers here
    move no faster), by at most the largest of them in its row. So: bf16's
    tolerance, as for the LSE of rounded inputs, plus that bound."""
    lse = np.asarray(lse).astype(np.float64)
    if spec.layout == "bshd":
        q, k = np.swapaxes(q, 1, 2), np.swapaxes(k, 1, 2)
    aq = np.abs(q.astype(np.float64))
    ak = np.repeat(np.abs(k.astype(np.float64)), d.Hq // d.Hkv, axis=1)
    scale = spec.scale if spec.scale is not None else d.D ** -0.5
    move = 2.0 ** -8 * scale * np.einsum("bhid,bhjd->bhij", aq,
                                         ak).max(axis=-1, initial=0.0)
    ninf = np.isneginf(ref_lse)
    assert (np.isneginf(lse) == ninf).all(), f"{name}: LSE -inf mismatch"
    fin = ~ninf
    err = np.abs(lse[fin] - ref_lse[fin])
    bound = BF16_TOL * np.maximum(1.0, np.abs(ref_lse[fin])) + move[fin]
    assert (err <= bound).all(), (
        f"{name} vs f16 inputs: LSE err {err.max():.3g}, "
        f"bound {bound[np.argmax(err - bound)]:.3g}")


@pytest.mark.parametrize("variant,seed", CASES)
def test_f16_amx_differential(variant, seed):
    dtype, cases = TD._draw_cases(variant, seed)
    D, Dv = variant.D, variant.Dv or variant.D
    spec = variant.spec
    assert attn.tile_plan(spec, dtype=dtype, head_dim=D,
                          head_dim_v=Dv)["dot"] == "amx"
    fn = TD._kernel(variant, dtype)
    for d, q, k, v, captures, operands, with_lse in cases:
        name = f"{variant.name}[f16 on amx] {d}"
        if with_lse:
            out, lse = fn(q, k, v, *captures, return_lse=True, **operands)
        else:
            out, lse = fn(q, k, v, *captures, **operands), None
        assert np.asarray(out).dtype == np.float16
        exact = _ref(spec, q, k, v, captures, operands, with_lse)
        if d.Sq <= ROW_KERNEL_MAX_SQ:
            # Decoding's row kernel does not take the opt-in: f16 exactly.
            TD._check(name + " (row kernel)", d, out, exact[0], lse,
                      exact[1])
            continue
        rounded = _ref(spec, _to_bf16(q), _to_bf16(k), _to_bf16(v),
                       captures, operands, with_lse)
        TD._check(name + " vs rounded inputs", d, out, rounded[0], lse,
                  rounded[1], tol=BF16_TOL)
        TD._check(name + " vs f16 inputs", d, out, exact[0], tol=TOL_F16_AMX)
        if with_lse:
            _check_lse_shift(name, spec, d, q, k, lse, exact[1])


@pytest.mark.parametrize("layout", ["bhsd", "bshd"])
def test_f16_rounding_is_nearest_even(layout):
    """V constant along the keys makes O that constant whatever the
    weights: with Q = 0 every weight is the same (exp(0), within 2.6e-6 of
    1, so 1 after its bf16 rounding), and O = c (1 +- 3e-6), which f16
    rounds back to c. So O shows how the kernel rounded V, exactly: with
    the opt-in, c rounded to bf16 to nearest even (ties included: f16
    values whose last three significand bits are 100), elsewhere c itself,
    as also in decoding (Sq = 1: the row kernel, which the opt-in leaves
    as it is). Rounding towards zero, or no rounding at all, fails here."""
    rng = np.random.default_rng(5)
    B, Hq, Hkv, Skv, D = 2, 4, 2, 131, 64
    mant = rng.integers(1024, 2048, (B, Hkv, D))
    mant[:, :, :8] = (mant[:, :, :8] & ~7) | 4            # ties
    c = (mant / 1024.0 * 2.0 ** rng.integers(-3, 3, (B, Hkv, D))
         * rng.choice([-1.0, 1.0], (B, Hkv, D))).astype(np.float16)
    shape = (lambda H, S, X: (B, S, H, X)) if layout == "bshd" else \
        (lambda H, S, X: (B, H, S, X))
    k = rng.standard_normal(shape(Hkv, Skv, D)).astype(np.float16)
    if layout == "bshd":
        v = np.broadcast_to(c[:, None], (B, Skv, Hkv, D))
    else:
        v = np.broadcast_to(c[:, :, None], (B, Hkv, Skv, D))
    v = np.ascontiguousarray(v)
    want_amx = _to_bf16(c).astype(np.float16)
    assert (want_amx != c).mean() > 0.5
    group = Hq // Hkv
    # Sq = 1: decoding's row kernel, which keeps f16 as it is.
    for Sq, config, want in ((37, AMX, want_amx), (37, {}, c),
                             (1, AMX, c)):
        q = np.zeros(shape(Hq, Sq, D), np.float16)
        spec = attn.Spec(layout=layout, config=config)
        out = attn.compile(spec, dtype="float16", head_dim=D)(q, k, v)
        o = np.moveaxis(out, 1, 2) if layout == "bshd" else out
        for h in range(Hq):
            got = o[:, h]                                  # [B, Sq, D]
            exp = np.broadcast_to(want[:, h // group, None], got.shape)
            assert np.array_equal(got, exp), (
                f"{config or 'default'} {layout} Sq {Sq} head {h}: "
                f"{np.argwhere(got != exp)[:3].tolist()}")


def test_f16_plan_is_opt_in():
    """f16 takes AMX only where asked for; f32 never, with a clear error."""
    for dtype, want in (("float16", "fma"), ("bfloat16", "amx")):
        assert attn.tile_plan(attn.causal(), dtype=dtype)["dot"] == want
    assert attn.tile_plan(_amx(attn.causal()), dtype="float16")["dot"] == \
        "amx"
    with pytest.raises(attn.CompileError, match="needs bf16 or f16 inputs"):
        attn.tile_plan(_amx(attn.causal()), dtype="float32")


GRAD_CASES = [c for c in TB.AMX_CASES
              if c[0] in ("causal_gqa", "full_cross",
                          "window_softcap_masked_rows", "sink_softmax_bshd")]


@pytest.mark.parametrize("openmp", [False, True], ids=["1thread", "openmp"])
@pytest.mark.parametrize("case", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_f16_amx_backward(case, openmp):
    """The backward with the opt-in: plan dot = "amx" (without it "fma"),
    then dQ, dK and dV of both schedules against the float64 reference of
    the f16 inputs at twice TOL_F16_AMX, with the exact zeros of masked
    rows and unseen keys."""
    name, spec, ops, D, Dv, shapes = case
    opted = _amx(spec)
    fn = attn.compile(opted, dtype="float16", head_dim=D, head_dim_v=Dv,
                      openmp=openmp)
    assert fn.backward_lowering["config"]["dot"] == "amx"
    plain = attn.compile(spec, dtype="float16", head_dim=D, head_dim_v=Dv)
    assert plain.backward_lowering["config"]["dot"] == "fma"
    TB.check_fixed_shapes(fn, f"f16 amx {name} openmp={openmp}", name, opted,
                          ops, D, Dv, shapes, "float16", tol=2 * TOL_F16_AMX)
