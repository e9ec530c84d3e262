"""Property-based fuzzing of the Python API (hypothesis): random specs,
shapes, dtypes, captures and bad arguments. Every call either returns the
float64 reference's answer within the dtype's tolerance or raises one of
attn's documented exceptions; nothing crashes, hangs or returns garbage.

The example counts are small because each example compiles a kernel (the
disk cache of the test session makes repeats cheap); the fixed seed keeps CI
reproducible. `ATTN_FUZZ_EXAMPLES=N` runs more.
"""

import os

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import attn
from attn import reference

EXAMPLES = int(os.environ.get("ATTN_FUZZ_EXAMPLES", "25"))
TOL = {"float32": 1e-4, "float16": 1e-3, "bfloat16": 8e-3}
NP = {"float32": np.float32, "float16": np.float16,
      "bfloat16": ml_dtypes.bfloat16}
# What bad input may raise: attn's documented errors, never anything else.
CLEAN_ERRORS = (TypeError, ValueError, IndexError, attn.SpecError,
                attn.CompileError, attn.TraceError)

masks = st.one_of(
    st.just(attn.full()), st.just(attn.causal()),
    st.builds(attn.sliding_window, st.integers(0, 300), st.integers(0, 40)),
    st.builds(attn.chunked, st.integers(1, 200)),
    st.builds(attn.sinks, st.integers(0, 8)),
    st.builds(attn.prefix_lm, st.integers(0, 150)),
    st.builds(attn.halo, st.integers(1, 64), st.integers(0, 64)),
    st.builds(attn.dilated, st.integers(1, 64), st.integers(1, 4)),
)


@st.composite
def mask_exprs(draw):
    m = draw(masks)
    for _ in range(draw(st.integers(0, 2))):
        other = draw(masks)
        m = m & other if draw(st.booleans()) else m | other
    if draw(st.integers(0, 5)) == 0:
        m = ~m
    return m


normalizers = st.one_of(
    st.just(attn.softmax()), st.just(attn.softplus()),
    st.builds(attn.sigmoid, st.one_of(st.none(), st.floats(-8.0, 0.0))),
    st.builds(attn.relu, st.sampled_from([1, 2]),
              st.sampled_from(["none", "seq_len", "row_sum"])),
)

score_mods = st.lists(st.one_of(
    st.builds(attn.softcap, st.floats(5.0, 50.0)),
    st.builds(attn.alibi, st.none(), st.booleans()),
), max_size=2)


@st.composite
def problems(draw):
    spec = attn.Spec(mask=draw(mask_exprs()), normalizer=draw(normalizers),
                     score_mod=draw(score_mods),
                     layout=draw(st.sampled_from(["bhsd", "bshd"])))
    hkv = draw(st.integers(1, 2))
    return dict(spec=spec, dtype=draw(st.sampled_from(list(TOL))),
                B=draw(st.integers(1, 2)), Hq=hkv * draw(st.integers(1, 2)),
                Hkv=hkv, Sq=draw(st.integers(1, 150)),
                Skv=draw(st.integers(1, 350)),
                D=draw(st.sampled_from([16, 32, 48])),
                seed=draw(st.integers(0, 2**31 - 1)))


def tensors(p, rng):
    def shape(h, s, d):
        return ((p["B"], h, s, d) if p["spec"].layout == "bhsd"
                else (p["B"], s, h, d))
    t = NP[p["dtype"]]
    return (rng.standard_normal(shape(p["Hq"], p["Sq"], p["D"])).astype(t),
            rng.standard_normal(shape(p["Hkv"], p["Skv"], p["D"])).astype(t),
            rng.standard_normal(shape(p["Hkv"], p["Skv"], p["D"])).astype(t))


@seed(20261206)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_random_specs_match_the_reference(p):
    fn = attn.compile(p["spec"], dtype=p["dtype"], head_dim=p["D"])
    q, k, v = tensors(p, np.random.default_rng(p["seed"]))
    out = fn(q, k, v)
    ref = reference.attention(p["spec"], q.astype(np.float64),
                              k.astype(np.float64), v.astype(np.float64))
    assert np.isfinite(out.astype(np.float64)).all()
    err = np.abs(out.astype(np.float64) - ref).max()
    assert err <= TOL[p["dtype"]] * max(1.0, np.abs(ref).max()), err


@seed(20261209)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.lists(st.integers(0, 349), min_size=1, max_size=4))
def test_masked_nan_values_never_reach_a_row(p, keys):
    # README "Masked keys": NaN / inf in the V of keys a row masks leave
    # that row finite and equal to the reference's (rows that allow a
    # poisoned key are not compared: where its weight underflows in f32
    # but not in float64 the two may differ).
    fn = attn.compile(p["spec"], dtype=p["dtype"], head_dim=p["D"])
    rng = np.random.default_rng(p["seed"])
    q, k, v = tensors(p, rng)
    keys = sorted({j % p["Skv"] for j in keys})
    kv_axis = 2 if p["spec"].layout == "bhsd" else 1
    v = v.copy()
    for j, val in zip(keys, [np.nan, np.inf, -np.inf, np.nan]):
        np.moveaxis(v, kv_axis, 0)[j, ..., int(rng.integers(p["D"]))] = val
    P = reference._Problem(p["spec"], q, k, v, (), {})
    sees = np.broadcast_to(reference._mask(P, p["spec"].mask),
                           P.shape)[..., keys].any(-1)    # [B, Hq, Sq]
    out = np.asarray(fn(q, k, v)).astype(np.float64)
    ref = reference.attention(p["spec"], q.astype(np.float64),
                              k.astype(np.float64), v.astype(np.float64))
    if p["spec"].layout == "bshd":
        out, ref = out.transpose(0, 2, 1, 3), ref.transpose(0, 2, 1, 3)
    clean = ~sees
    assert np.isfinite(out[clean]).all()
    err = np.abs(out[clean] - ref[clean]).max(initial=0.0)
    assert err <= TOL[p["dtype"]] * max(1.0, np.abs(ref[clean]).max(
        initial=0.0)), err


# Bad arguments: each mutation of a good call must raise a clean error.
MUTATIONS = [
    ("q_rank", lambda a: (a[0][0], *a[1:])),
    ("k_dtype", lambda a: (a[0], a[1].astype(np.float64), a[2])),
    ("v_head_dim", lambda a: (a[0], a[1], a[2][..., :-1])),
    ("kv_lengths", lambda a: (a[0], a[1], a[2][:, :, :-1])),
    ("gqa", lambda a: (a[0][:, :1], a[1], a[2])),
    ("batch", lambda a: (a[0], a[1][:1], a[2][:1]) if a[0].shape[0] > 1
     else (a[0], np.concatenate([a[1], a[1]]), np.concatenate([a[2], a[2]]))),
    ("not_an_array", lambda a: (a[0], "k", a[2])),
    ("list_input", lambda a: (a[0].tolist(), a[1], a[2])),
    ("zero_dim", lambda a: (np.float32(1.0), a[1], a[2])),
]


@seed(20261207)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MUTATIONS), st.integers(1, 3), st.integers(1, 90),
       st.integers(0, 2**31 - 1))
def test_bad_arguments_raise_clean_errors(mutation, B, S, rng_seed):
    name, mutate = mutation
    spec = attn.Spec(mask=attn.causal())
    fn = attn.compile(spec, dtype="float32", head_dim=16)
    rng = np.random.default_rng(rng_seed)
    q, k, v = (rng.standard_normal((B, 2, S, 16)).astype(np.float32)
               for _ in range(3))
    with pytest.raises(CLEAN_ERRORS):
        fn(*mutate((q, k, v)))


@st.composite
def capture_calls(draw):
    n = draw(st.integers(0, 80))
    stride = draw(st.integers(-3, 3))
    offset = draw(st.integers(-5, 5))
    S = draw(st.integers(1, 70))
    return n, stride, offset, S


@seed(20261208)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(capture_calls())
def test_random_capture_indices_are_checked(call):
    # t[stride * kv_idx + offset] with len(t) = n: in range for every key it
    # must match the reference, else it must be an IndexError naming t.
    n, stride, offset, S = call

    def mod(score, b, h, q_idx, kv_idx, t):
        return score + t[kv_idx * stride + offset]
    spec = attn.Spec(score_mod=mod)
    fn = attn.compile(spec, dtype="float32", head_dim=16)
    rng = np.random.default_rng(n * 1000 + S)
    q, k, v = (rng.standard_normal((1, 1, S, 16)).astype(np.float32)
               for _ in range(3))
    t = rng.standard_normal(n).astype(np.float32)
    idx = np.arange(S) * stride + offset
    if n and idx.min() >= 0 and idx.max() < n:
        ref = reference.attention(spec, q, k, v, t)
        assert np.abs(fn(q, k, v, t) - ref).max() <= 1e-4 * max(
            1.0, np.abs(ref).max())
    else:
        with pytest.raises(IndexError, match="captured array 't'"):
            fn(q, k, v, t)
