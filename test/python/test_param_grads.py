"""Gradients of float operands: Kernel.backward(..., wrt=...).

The reference is test_backward.ref_grads with its `wrt` argument: each
operand's gradient written from the math in float64 (the sink: its weight
P_sink = exp(sink) / Z enters the weights through Z only, so dL/dsink =
-P_sink * sum_j P_j dP_j per row), checked against central finite
differences of the reference's own loss L = sum(O * dO). The kernels'
gradients are checked against it with test_backward's tolerances (relative
to max|ref|, per gradient), dQ, dK and dV alongside; they must be finite,
exactly 0 where no row contributes, and bitwise reproducible from call to
call (fixed-order sums, no atomics).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

import attn
import test_backward as TB
import test_differential as TD
from attn import reference

V, ALL = TD.V, TD.ALL_DTYPES

# ----------------------------------------------------------------------------
# The reference's operand gradients against finite differences
# ----------------------------------------------------------------------------

def _table_mod(s, b, h, q_idx, kv_idx, table):
    return s + table[h, attn.minimum(attn.abs(kv_idx - q_idx), 5)]


PARAM_FD_SPECS = [
    ("sink_causal_gqa", attn.Spec(attn.causal(), attn.sink_softmax()),
     {"sink": True}, 4, 2, "sink"),
    ("sink_bshd_document_masked_rows",
     attn.Spec(attn.document() & attn.causal(), attn.sink_softmax(),
               layout="bshd", score_mod=attn.softcap(2.0)),
     {"sink": True, "doc": True}, 2, 1, "sink"),
    ("mods_bias", attn.Spec(attn.sliding_window(3, 2), score_mod=[
        attn.temperature(), attn.alibi(), attn.softcap(2.0), attn.bias()]),
     {"mods": True}, 2, 1, "bias"),
    ("mods_temperature", attn.Spec(attn.sliding_window(3, 2), score_mod=[
        attn.temperature(), attn.alibi(), attn.softcap(2.0), attn.bias()]),
     {"mods": True}, 2, 1, "temperature"),
    ("sigmoid_rel_bias", attn.Spec(attn.causal(), attn.sigmoid(),
                                   attn.rel_bias(8, 20)), {"rel": True}, 2,
     1, "rel_bias_table"),
    ("table_capture_softcap_gqa",
     attn.Spec(attn.causal(), score_mod=[_table_mod, attn.softcap(2.0)]),
     {}, 4, 2, "table"),
]



def check_operand_grads(name, dtype, wrt, got_grads, pref):
    """Each operand gradient against the float64 reference's (`pref`,
    name -> array): f32, the operand's shape, finite, within GRAD_TOL.
    Shared with the GPU emulator's test."""
    for param, got in zip(wrt, got_grads):
        want = pref[param]
        assert got.dtype == np.float32, f"{name}: d{param} dtype"
        assert got.shape == want.shape, f"{name}: d{param} shape"
        assert np.isfinite(got).all(), f"{name}: d{param} not finite"
        err = TB._rel_err(got.astype(np.float64), want)
        assert err <= TB.GRAD_TOL[dtype], \
            f"{name}: d{param} rel err {err:.3g} > {TB.GRAD_TOL[dtype]}"


@pytest.mark.parametrize("name,spec,what,Hq,Hkv,param", PARAM_FD_SPECS,
                         ids=[c[0] for c in PARAM_FD_SPECS])
def test_ref_param_grads_finite_differences(name, spec, what, Hq, Hkv,
                                            param):
    """Every entry of the reference's operand gradient against the central
    difference of L = sum(O * dO) in float64 (step 1e-6)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()) + 2)
    q, k, v, do, ops = TB._fd_problem(name, spec, what, Hq, Hkv, rng)
    if param == "table":
        ops["table"] = rng.standard_normal((Hq, 6))
    grad = TB.ref_grads(spec, q, k, v, do, (), ops, wrt=(param,))[5][param]
    x = np.asarray(ops[param], np.float64)
    assert grad.shape == x.shape
    eps = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        for sign in (1, -1):
            xp = x.copy()
            xp[idx] += sign * eps
            o = TB.ref_grads(spec, q, k, v, do, (), {**ops, param: xp})[0]
            fd[idx] += sign * float((o * do).sum())
    fd /= 2 * eps
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7,
                               err_msg=f"{name}: d{param}")
    assert np.abs(grad).max() > 1e-3, f"{name}: d{param} is trivially 0"


# ----------------------------------------------------------------------------
# Kernel.backward(..., wrt=...) against the reference
# ----------------------------------------------------------------------------

def sm_two_reads(s, b, h, q_idx, kv_idx, table, gain):
    """Two reads of one table (one scaled by the score) and a per-head gain
    that multiplies the score: [Hq, 9] and [Hq] float32."""
    rel = attn.minimum(attn.maximum(kv_idx - q_idx + 4, 0), 8)
    return s * gain[h] + table[h, rel] + 0.1 * s * table[h, (q_idx + b) % 9]


def op_two_reads(rng, d):
    return (TD._f32(rng.standard_normal((d.Hq, 9))),
            TD._f32(rng.uniform(0.5, 1.5, d.Hq))), {}


def _padded_sink(rng, d):
    """Documents with padding (fully masked query rows) and sink logits."""
    caps, ops = TD.op_segments(rng, d)
    return caps, {**ops, **TD.op_sink(rng, d)[1]}


def _several_keys(d):
    """With one key every row's weights are constant (P = 1, or sigmoid's
    of a constant), so the captures' gradients are 0 up to rounding, which
    a check relative to max|ref| cannot measure."""
    return d.Skv > 1


PARAM_VARIANTS = [
    (V("sink_causal", attn.Spec(attn.causal(), attn.sink_softmax()),
       TD.op_sink, dtypes=ALL, seeds=4), ("sink",)),
    (V("sink_streaming_bshd_dv", attn.Spec(TD.STREAMING, attn.sink_softmax(),
                                           layout="bshd"),
       TD.op_sink, D=64, Dv=32, dtypes=ALL), ("sink",)),
    (V("sink_document_padding", attn.Spec(attn.document() & attn.causal(),
                                          attn.sink_softmax(),
                                          score_mod=attn.softcap(4.0)),
       _padded_sink, lengths="self", dtypes=TD.BF16), ("sink",)),
    (V("sink_reference_lowering", attn.Spec(attn.causal(),
                                            attn.sink_softmax()),
       TD.op_sink, compile_kw={"lowering": "reference"}, dtypes=TD.F16),
     ("sink",)),
    # Captured arrays read by a score_mod function.
    (V("table_capture", attn.Spec(attn.causal(), score_mod=TD.sm_table),
       TD.op_sm_table, dtypes=ALL, check=_several_keys), ("table",)),
    (V("table_capture_reference", attn.Spec(attn.causal(),
                                            score_mod=TD.sm_table),
       TD.op_sm_table, compile_kw={"lowering": "reference"},
       dtypes=TD.BF16, check=_several_keys), ("table",)),
    (V("alibi_slopes_capture_sigmoid", attn.Spec(
        attn.sliding_window(8, 3), attn.sigmoid(),
        score_mod=TD.sm_position), TD.op_slope, dtypes=TD.BF16,
       check=_several_keys), ("slope",)),
    (V("two_captures_softcap_after_sink", attn.Spec(
        attn.document() & attn.causal(), attn.sink_softmax(),
        score_mod=[sm_two_reads, attn.softcap(3.0)]),
       TD.both(op_two_reads, _padded_sink), lengths="self", dtypes=ALL,
       check=_several_keys),
     ("gain", "sink", "table")),
    # The builtin operands (the bias has the input's dtype, so f16 and
    # bf16 kernels differentiate a half-precision bias, into f32;
    # broadcast shapes drawn by op_bias).
    (V("bias_temperature_in_order", attn.Spec(TD.STREAMING, score_mod=[
        attn.temperature(), attn.alibi(), attn.softcap(4.0), attn.bias()]),
       TD.both(TD.op_temperature, TD.op_bias), dtypes=ALL,
       check=_several_keys),
     ("bias", "temperature")),
    (V("bias_reference_lowering", attn.Spec(attn.causal(), score_mod=[
        attn.softcap(4.0), attn.bias()]), TD.op_bias,
       compile_kw={"lowering": "reference"}, dtypes=TD.BF16,
       check=_several_keys), ("bias",)),
    (V("rel_bias_table", attn.Spec(attn.causal(),
                                   score_mod=attn.rel_bias(12, 50)),
       TD.op_rel_bias(12), dtypes=ALL, check=_several_keys),
     ("rel_bias_table",)),
    (V("rel_bias_temperature_reference_bshd", attn.Spec(
        attn.causal(), attn.softplus(), score_mod=[
            attn.rel_bias(10, 40, bidirectional=True), attn.temperature()],
        layout="bshd"), TD.both(TD.op_rel_bias(10), TD.op_temperature),
       compile_kw={"lowering": "reference"}, check=_several_keys),
     ("temperature", "rel_bias_table")),
    (V("two_captures_reference_bshd", attn.Spec(
        attn.causal(), score_mod=[sm_two_reads, attn.softcap(3.0)],
        layout="bshd"), op_two_reads, compile_kw={"lowering": "reference"},
       check=_several_keys),
     ("table", "gain")),
]

LONG_PARAM_VARIANTS = [
    (V("long_sink_window_gqa", attn.Spec(attn.sliding_window(90) &
                                         attn.causal(), attn.sink_softmax(),
                                         q_offset=-40),
       TD.op_sink, heads=4, dtypes=ALL), ("sink",)),
    (V("long_table_window_gqa", attn.Spec(attn.sliding_window(90) &
                                          attn.causal(), q_offset=-40,
                                          score_mod=TD.sm_table),
       TD.op_sm_table, heads=4, dtypes=ALL), ("table",)),
    (V("long_bias_rel_bias_gqa", attn.Spec(attn.causal(), score_mod=[
        attn.rel_bias(16, 128), attn.bias()]),
       TD.both(TD.op_rel_bias(16), TD.op_bias), heads=4, dtypes=ALL),
     ("bias", "rel_bias_table")),
]
for _v, _ in LONG_PARAM_VARIANTS:
    _v.long, _v.min_len, _v.max_len, _v.seeds, _v.shapes = True, 150, 400, \
        3, 1

PARAM_CASES = [pytest.param(v, wrt, s, id=f"{v.name}-{s}")
               for v, wrt in PARAM_VARIANTS + LONG_PARAM_VARIANTS
               for s in range(v.seeds)]


def _forward(fn, variant, q, k, v, captures, operands, dtype):
    """O and LSE as the forward hands them over: the fused kernel's own for
    long cases, else the float64 reference's rounded to the kernel's
    types."""
    spec = variant.spec
    has_lse = spec.normalizer.has_lse
    if variant.long:
        if not has_lse:
            return fn(q, k, v, *captures, **operands), None
        return fn(q, k, v, *captures, return_lse=True, **operands)
    if not has_lse:
        o = reference.attention(spec, q, k, v, *captures, **operands)
        return o.astype(TD.NP_DTYPE[dtype]), None
    o, lse = reference.attention(spec, q, k, v, *captures, return_lse=True,
                                 **operands)
    return o.astype(TD.NP_DTYPE[dtype]), lse.astype(np.float32)


@pytest.mark.parametrize("variant,wrt,seed", PARAM_CASES)
def test_param_grads_differential(variant, wrt, seed):
    dtype = variant.dtypes[seed % len(variant.dtypes)]
    rng = np.random.default_rng([zlib.crc32(variant.name.encode()), seed,
                                 13])
    fn = TB._kernel(variant, dtype)
    spec = variant.spec
    for _ in range(variant.shapes):
        d = TD._draw_dims(rng, variant, dtype)
        q, k, v, do, captures, operands = TB._grad_case(rng, variant, d)
        name = f"{variant.name}[{dtype}] {d}"
        o, lse = _forward(fn, variant, q, k, v, captures, operands, dtype)
        grads = fn.backward(q, k, v, o, lse, do, *captures, wrt=wrt,
                            **operands)
        assert len(grads) == 3 + len(wrt)
        # dQ, dK, dV are test_backward's: asking for more changes them by
        # no more than the summation order (the fused backward takes its
        # two-pass schedule for captures); exactly 0 where they must be.
        plain = fn.backward(q, k, v, o, lse, do, *captures, **operands)
        allowed = TD._allowed(spec, q, k, v, captures, operands)
        TB._check_grads(name, d, spec, allowed, grads[:3],
                        [np.asarray(x).astype(np.float64) for x in plain])
        pref = TB.ref_grads(spec, q, k, v, do, captures, operands, wrt=wrt,
                            o_given=o)[5]
        check_operand_grads(name, dtype, wrt, grads[3:], pref)
        # The same call again gives the same bits.
        again = fn.backward(q, k, v, o, lse, do, *captures, wrt=wrt,
                            **operands)
        for x, y in zip(grads, again):
            assert np.array_equal(x, y), f"{name}: not reproducible"


def fully_masked_sink_problem(dtype):
    """Sink softmax whose rows all see no key (q_offset -100 under a causal
    mask: row i sits at i - 110 < 0): the spec and q, k, v, dO and the
    sink logits in `dtype` (the logits f32). Used by the emulator test
    too."""
    spec = attn.Spec(attn.causal(), attn.sink_softmax(), q_offset=-100)
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 3, 50, 16)).astype(dtype)
    k = rng.standard_normal((2, 3, 40, 16)).astype(dtype)
    v = rng.standard_normal((2, 3, 40, 16)).astype(dtype)
    do = rng.standard_normal(q.shape).astype(dtype)
    sink = np.array([0.5, -30.0, 2.0], np.float32)
    return spec, q, k, v, do, sink


def test_sink_grad_of_fully_masked_heads_is_zero():
    """Heads whose rows are all fully masked (O = 0, LSE = sink) get a sink
    gradient of exactly 0."""
    for lowering in ("fused", "reference"):
        spec, q, k, v, do, sink = fully_masked_sink_problem(np.float32)
        fn = attn.compile(spec, dtype="float32", head_dim=16,
                          lowering=lowering)
        o, lse = fn(q, k, v, sink=sink, return_lse=True)
        *_, dsink = fn.backward(q, k, v, o, lse, do, sink=sink, wrt="sink")
        # Rows p(i) = i - 110 < 0 see no key: every row here.
        assert np.array_equal(dsink, np.zeros(3, np.float32)), dsink


def test_param_grads_deterministic_across_schedules():
    """Long GQA problems in both schedules of the fused backward (B * Hkv =
    2: two passes; 32: one pass on up to 16 threads): repeated calls give
    identical bits, the operand gradients included."""
    spec = attn.Spec(attn.causal(), attn.sink_softmax())
    fn = attn.compile(spec, dtype="float32", head_dim=32)
    rng = np.random.default_rng(11)
    sink = rng.standard_normal(8).astype(np.float32)
    for B, Hkv in ((1, 2), (4, 8)):
        Hq = 8
        q = rng.standard_normal((B, Hq, 333, 32)).astype(np.float32)
        k = rng.standard_normal((B, Hkv, 333, 32)).astype(np.float32)
        v = rng.standard_normal((B, Hkv, 333, 32)).astype(np.float32)
        do = rng.standard_normal(q.shape).astype(np.float32)
        o, lse = fn(q, k, v, sink=sink, return_lse=True)
        first = fn.backward(q, k, v, o, lse, do, sink=sink, wrt=("sink",))
        for _ in range(3):
            again = fn.backward(q, k, v, o, lse, do, sink=sink,
                                wrt=("sink",))
            for x, y in zip(first, again):
                assert np.array_equal(x, y)


def test_wrt_errors():
    fn = attn.compile(attn.Spec(attn.causal(), attn.sink_softmax()),
                      dtype="float32", head_dim=16)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 2, 5, 16)).astype(np.float32)
    sink = np.zeros(2, np.float32)
    o, lse = fn(q, q, q, sink=sink, return_lse=True)
    with pytest.raises(NotImplementedError, match="no gradient of 'kv_len'"):
        fn.backward(q, q, q, o, lse, o, sink=sink, wrt=("kv_len",))
    with pytest.raises(ValueError, match="wrt names 'bias', which this "
                                         "kernel does not take"):
        fn.backward(q, q, q, o, lse, o, sink=sink, wrt=("bias",))
    with pytest.raises(ValueError, match="names an operand twice"):
        fn.backward(q, q, q, o, lse, o, sink=sink, wrt=("sink", "sink"))
    plain = attn.compile(attn.causal(), dtype="float32", head_dim=16)
    o, lse = plain(q, q, q, return_lse=True)
    with pytest.raises(ValueError, match="does not take"):
        plain.backward(q, q, q, o, lse, o, wrt=("sink",))


_RUN_BACKWARD = """
import hashlib, sys
import numpy as np
import attn
sys.path.insert(0, {testdir!r})
import test_differential as TD
spec = attn.Spec(attn.causal(), attn.sink_softmax(), score_mod=TD.sm_table)
fn = attn.compile(spec, dtype="float32", head_dim=32)
rng = np.random.default_rng(21)
q = rng.standard_normal((2, 4, 211, 32)).astype(np.float32)
k, v = (rng.standard_normal((2, 2, 211, 32)).astype(np.float32)
        for _ in range(2))
do = rng.standard_normal(q.shape).astype(np.float32)
table = rng.standard_normal((4, 8)).astype(np.float32)
sink = rng.standard_normal(4).astype(np.float32)
o, lse = fn(q, k, v, table, sink=sink, return_lse=True)
grads = fn.backward(q, k, v, o, lse, do, table, sink=sink,
                    wrt=("table", "sink"))
print(hashlib.sha256(b"".join(g.tobytes() for g in grads)).hexdigest())
"""


def test_param_grads_same_bits_across_processes_and_threads(tmp_path):
    """The same backward in separate processes on 1 and 2 OpenMP threads
    gives the same bits: no sum depends on the thread count or on which
    thread ran what."""
    script = tmp_path / "run.py"
    script.write_text(_RUN_BACKWARD.format(
        testdir=os.path.dirname(os.path.abspath(__file__))))
    digests = []
    for threads in ("1", "2", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads,
                   ATTN_CACHE_DIR=str(tmp_path / "cache"))
        env["PYTHONPATH"] = os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.abspath(
                attn.__file__)))] + [env.get("PYTHONPATH", "")])
        out = subprocess.run([sys.executable, str(script)], env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        digests.append(out.stdout.strip().splitlines()[-1])
    assert len(set(digests)) == 1, digests
