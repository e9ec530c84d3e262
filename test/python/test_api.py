"""Behaviour of the Python API: spec objects, IR text, compile options,
argument checks and their messages, tracing errors, and the kernel cache.
Numerical coverage of the variants is test_differential.py's job; the
numbers checked here (every call that computes something is checked, on
distinct random q, k and v) use a plain numpy softmax or the float64
reference, attn.reference, with the tolerances of the differential test:
float32 1e-4, float16 1e-3, bfloat16 8e-3."""

import glob
import math
import os
import subprocess
import sys
import threading
import warnings

import ml_dtypes
import numpy as np
import pytest

import attn


def softmax_ref(q, k, v, causal=False):
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    group = q.shape[1] // k.shape[1]
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
    if causal:
        sq, skv = s.shape[-2:]
        allowed = np.arange(skv)[None, :] <= (np.arange(sq) + skv - sq)[:, None]
        s = np.where(allowed, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    p = np.exp(s - m)
    den = p.sum(-1, keepdims=True)
    out = np.where(den > 0, (p @ v) / np.where(den > 0, den, 1), 0)
    return out


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def rel_err(out, ref):
    return np.max(np.abs(out.astype(np.float64) - ref)) / max(
        np.max(np.abs(ref)), 1e-30)


def qkv(B, Hq, Hkv, Sq, Skv, D, Dv=None, dtype=np.float32, seed=0):
    """Distinct random q [B, Hq, Sq, D], k [B, Hkv, Skv, D] and
    v [B, Hkv, Skv, Dv]: a kernel that mixes up its operands disagrees with
    the reference."""
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape).astype(dtype) for shape in (
        (B, Hq, Sq, D), (B, Hkv, Skv, D), (B, Hkv, Skv, Dv or D)))


def assert_matches_reference(spec, out, q, k, v, *captures, tol=1e-4,
                             lse=None, **operands):
    """O (and LSE, when given) against the float64 reference, as in
    test_differential: max|O - O_ref| <= tol max|O_ref| and
    |LSE - LSE_ref| <= tol max(1, |LSE_ref|), -inf exactly."""
    ref = attn.reference.attention(spec, q, k, v, *captures,
                                   return_lse=lse is not None, **operands)
    if lse is not None:
        ref, ref_lse = ref
    out = np.asarray(out).astype(np.float64)
    assert out.shape == ref.shape
    assert np.isfinite(out).all()
    assert np.abs(out - ref).max() <= tol * max(np.abs(ref).max(), 1e-30)
    if lse is not None:
        lse = np.asarray(lse).astype(np.float64)
        ninf = np.isneginf(ref_lse)
        assert lse.shape == ref_lse.shape
        assert (np.isneginf(lse) == ninf).all()
        err = np.abs(lse[~ninf] - ref_lse[~ninf]) / np.maximum(
            1.0, np.abs(ref_lse[~ninf]))
        assert err.size == 0 or err.max() <= tol


# -- spec objects ----------------------------------------------------------


def test_mask_algebra_prints_dialect_attributes():
    m = attn.causal() & attn.sliding_window(256) | attn.sinks(4)
    assert m.attr() == ("#attn.or<[#attn.and<[#attn.causal, "
                        "#attn.sliding_window<left = 256, right = 0>]>, "
                        "#attn.sinks<count = 4>]>")
    flat = attn.causal() & attn.chunked(8) & ~attn.prefix_lm(3)
    assert flat.attr() == ("#attn.and<[#attn.causal, #attn.chunked<size = 8>, "
                           "#attn.not<#attn.prefix_lm<prefix = 3>>]>")


def test_mask_has_no_truth_value():
    with pytest.raises(attn.SpecError, match="use|combine masks"):
        bool(attn.causal())
    with pytest.raises(attn.SpecError, match="'and'"):
        attn.causal() and attn.sinks(2)


@pytest.mark.parametrize("make, message", [
    (lambda: attn.sliding_window(-1), "sliding_window left must be >= 0"),
    (lambda: attn.chunked(0), "chunked size must be >= 1"),
    (lambda: attn.chunked(2.5), "chunked size must be an integer"),
    (lambda: attn.relu(power=3), "relu power must be 1 or 2"),
    (lambda: attn.relu(norm="max"), "relu norm must be one of"),
    (lambda: attn.softcap(0), "softcap cap must be positive"),
    (lambda: attn.softcap(float("inf")), "must be finite"),
    (lambda: attn.global_tokens(), "global needs first=N or positions"),
    (lambda: attn.directional_2d(4, 4, ["UP"]), "unknown direction 'UP'"),
    (lambda: attn.gaussian([1.0], [1.0, 2.0]), "one mu and one sigma"),
    (lambda: attn.Spec(layout="sbhd"), "layout must be 'bhsd' or 'bshd'"),
    (lambda: attn.Spec(normalizer=attn.causal()), "normalizer must be"),
    (lambda: attn.Spec(config={"tile": 4}), "unknown config key 'tile'"),
    (lambda: attn.Spec(score_mod=[lambda s, b, h, q, k: s,
                                  lambda s, b, h, q, k: s]),
     "at most one traced score_mod"),
    (lambda: attn.Spec(mask=attn.mask_mod(lambda b, h, q, k: q >= k)
                       & attn.mask_mod(lambda b, h, q, k: q <= k)),
     "at most one mask_mod"),
    (lambda: attn.Spec(mask=attn.dense() & attn.block_sparse(16, 16)),
     "dense\\(\\) and block_sparse\\(\\) leaves all read"),
    (lambda: attn.Spec(mask=attn.block_sparse(16, 16)
                       | attn.block_sparse(16, 32)),
     "not both or two block sizes"),
    (lambda: attn.Spec(score_mod=[attn.bias(), attn.bias()]),
     "bias may appear at most once"),
    (lambda: attn.Spec(score_mod=[attn.alibi(slopes=[1, 2]),
                                  attn.gaussian([0.0] * 3, [1.0] * 3)]),
     "disagree on the number of heads"),
    (lambda: attn.Spec(score_mod=3), "score_mod entries must be"),
])
def test_spec_errors(make, message):
    with pytest.raises(attn.SpecError, match=message):
        make()


def test_spec_operands_follow_the_op_order():
    spec = attn.Spec(mask=attn.document() & attn.dense(),
                     normalizer=attn.sink_softmax(),
                     score_mod=[attn.temperature(), attn.bias()], kv_len=True)
    assert spec.operands() == ["sink", "kv_len", "segments", "dense_mask",
                               "bias", "temperature"]


# -- IR --------------------------------------------------------------------


def test_to_mlir_shows_the_op_and_the_traced_region():
    def score_mod(score, b, h, q_idx, kv_idx, table):
        return score + table[h, q_idx - kv_idx + 8]

    spec = attn.Spec(mask=attn.causal(), score_mod=[attn.softcap(30.0),
                                                    score_mod])
    text = attn.to_mlir(spec, dtype="bfloat16", head_dim=128, head_dim_v=64)
    assert "tensor<?x?x?x128xbf16>" in text and "tensor<?x?x?x64xbf16>" in text
    assert "captures(%cap_table : tensor<?x?xf32>)" in text
    assert "tensor.extract %c0[" in text
    assert ("score_mods = [#attn.softcap<cap = 30.0>, #attn.score_mod]"
            in text)
    assert "mask = #attn.causal" in text


def test_static_heads_from_per_head_parameters():
    text = attn.to_mlir(attn.Spec(score_mod=attn.alibi(slopes=[0.5, 0.25])))
    assert "tensor<?x2x?x64xf32>" in text


def test_lower_runs_a_pipeline():
    tiled = attn.lower(attn.causal(), "attn-tile-cpu")
    assert "scf.parallel" in tiled and "attn.attention" not in tiled
    llvm = attn.lower(attn.causal())
    assert "llvm.func" in llvm
    ref = attn.lower(attn.causal(), "attn-cpu-pipeline{lowering=reference}")
    assert "llvm.func" in ref


def test_lower_to_gpu_kernels():
    spec = attn.Spec(mask=attn.causal(), score_mod=attn.softcap(30.0))
    ir = attn.lower(spec, "attn-cuda-pipeline{chip=sm_90a}", dtype="bfloat16",
                    head_dim=128)
    assert "gpu.binary @attention_kernel" in ir
    # sm_90a: the warpgroup kernel; mma=sync keeps mma.sync.
    assert "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16" in ir
    assert "cp.async.bulk.tensor.4d" in ir
    ir = attn.lower(spec, "attn-cuda-pipeline{chip=sm_90a mma=sync}",
                    dtype="bfloat16", head_dim=128)
    assert "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32" in ir
    assert "wgmma" not in ir
    with pytest.raises(attn.CompileError,
                       match="tensor cores need f16 or bf16 inputs"):
        attn.lower(spec, "attn-cuda-pipeline", dtype="float32")


def test_lower_reports_bad_pipelines_and_bad_ir():
    with pytest.raises(attn.CompileError, match="'no-such-pass' does not "
                                                "refer to a registered pass"):
        attn.lower(attn.causal(), "no-such-pass")
    bad = attn.to_mlir(attn.causal()).replace("#attn.causal",
                                              "#attn.chunked<size = 0>")
    with pytest.raises(attn.CompileError, match=r"attn.mlir:\d+:\d+: error"):
        attn.lower(bad, "canonicalize")


# -- compile options ---------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, message", [
    ({"target": "cuda"}, attn.SpecError,
     "dtype must be 'float16' or 'bfloat16', got 'float32'"),
    ({"target": "cuda", "dtype": "float16", "chip": "sm_70"}, attn.SpecError,
     "chip must be one of sm_80, sm_90a, got 'sm_70'"),
    ({"target": "cuda", "dtype": "float16", "mma": "fast"}, attn.SpecError,
     "mma must be 'auto', 'sync' or 'wgmma'"),
    ({"target": "cuda", "dtype": "float16", "chip": "sm_80", "mma": "wgmma"},
     attn.CompileError, "mma=wgmma needs chip=sm_90a"),
    ({"target": "cuda", "dtype": "float16", "head_dim": 256},
     attn.CompileError, "head dims must be static multiples of 16 up to 128"),
    ({"target": "tpu"}, attn.SpecError, "unknown target 'tpu'"),
    ({"dtype": "float64"}, attn.SpecError, "dtype must be one of"),
    ({"lowering": "fast"}, attn.SpecError, "lowering must be"),
    ({"vector_width": 12}, attn.SpecError, r"vector_width must be one of \[0, 4, 8, 16\]"),
    ({"head_dim": 0}, attn.SpecError, "head dims must be positive"),
])
def test_compile_option_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        attn.compile(attn.causal(), **kwargs)


def _has_gpu():
    return attn._attn.cuda_status()[0]


@pytest.mark.skipif(_has_gpu(), reason="a CUDA GPU is present")
def test_cuda_kernel_compiles_and_says_why_it_cannot_run():
    spec = attn.Spec(mask=attn.sliding_window(64) & attn.causal(),
                     score_mod=attn.softcap(30.0))
    q = np.zeros((1, 2, 10, 64), np.float16)
    for chip in ("sm_80", "sm_90a"):
        fn = attn.compile(spec, target="cuda", dtype="float16", head_dim=64,
                          chip=chip)
        assert fn.target == "cuda"
        # Arguments are checked before the GPU is looked for.
        with pytest.raises(TypeError, match="compiled for float16"):
            fn(q.astype(np.float32), q, q)
        with pytest.raises(RuntimeError, match="target='cuda': cannot run "
                                               "here: no CUDA driver"):
            fn(q, q, q)


@pytest.mark.skipif(_has_gpu(), reason="a CUDA GPU is present")
def test_device_arrays_say_why_without_a_gpu():
    with pytest.raises(RuntimeError, match="CUDA: no CUDA driver"):
        attn.to_device(np.zeros(4, np.float32))
    # Empty arrays need no memory, and so no driver.
    assert attn.to_device(np.zeros((0, 3))).numpy().shape == (0, 3)


@pytest.mark.skipif(not _has_gpu(), reason="needs a CUDA GPU")
def test_cuda_kernel_on_device_arrays_matches_the_reference():
    spec = attn.Spec(mask=attn.document() & attn.causal())
    rng = np.random.default_rng(6)
    q = rng.standard_normal((2, 4, 150, 64)).astype(np.float16)
    k = rng.standard_normal((2, 2, 170, 64)).astype(np.float16)
    v = rng.standard_normal((2, 2, 170, 64)).astype(np.float16)
    seg_q = np.sort(rng.integers(0, 4, (2, 150))).astype(np.int32)
    seg_kv = np.sort(rng.integers(0, 4, (2, 170))).astype(np.int32)
    fn = attn.compile(spec, target="cuda", dtype="float16", head_dim=64)
    out, lse = fn(*(attn.to_device(x) for x in (q, k, v)),
                  segments=(seg_q, attn.to_device(seg_kv)), return_lse=True)
    assert isinstance(out, attn.DeviceArray)
    ref = attn.reference.attention(spec, q, k, v, segments=(seg_q, seg_kv))
    got = out.numpy().astype(np.float64)
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-3
    host_out, host_lse = fn(q, k, v, segments=(seg_q, seg_kv),
                            return_lse=True)
    assert np.array_equal(np.nan_to_num(lse.numpy()),
                          np.nan_to_num(host_lse))


@pytest.mark.skipif(not _has_gpu(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("mma", ["auto", "sync"])
def test_cuda_kernel_matches_the_reference(mma):
    spec = attn.Spec(mask=attn.causal(), score_mod=attn.softcap(30.0))
    rng = np.random.default_rng(5)
    q = rng.standard_normal((2, 8, 300, 128)).astype(np.float16)
    k = rng.standard_normal((2, 2, 300, 128)).astype(np.float16)
    v = rng.standard_normal((2, 2, 300, 128)).astype(np.float16)
    fn = attn.compile(spec, target="cuda", dtype="float16", head_dim=128,
                      mma=mma)
    out = fn(q, k, v).astype(np.float64)
    ref = attn.reference.attention(spec, q, k, v)
    assert np.abs(out - ref).max() / np.abs(ref).max() < 1e-3


def test_reference_lowering_and_avx2_agree_with_numpy():
    q, k, v = rand(1, 4, 37, 32, seed=1), rand(1, 2, 37, 32, seed=2), \
        rand(1, 2, 37, 32, seed=3)
    ref = softmax_ref(q, k, v, causal=True)
    for kw in ({"lowering": "reference"}, {"vector_width": 8},
               {"openmp": False}):
        fn = attn.compile(attn.causal(), head_dim=32, **kw)
        assert rel_err(fn(q, k, v), ref) < 1e-4, kw


# -- argument checks -----------------------------------------------------------


@pytest.fixture(scope="module")
def causal64():
    return attn.compile(attn.causal(), head_dim=64)


def test_call_matches_numpy(causal64):
    q, k, v = rand(2, 4, 67, 64, seed=1), rand(2, 2, 67, 64, seed=2), \
        rand(2, 2, 67, 64, seed=3)
    out, lse = causal64(q, k, v, return_lse=True)
    assert out.dtype == np.float32 and out.shape == (2, 4, 67, 64)
    assert lse.shape == (2, 4, 67) and lse.dtype == np.float32
    assert rel_err(out, softmax_ref(q, k, v, causal=True)) < 1e-4
    assert_matches_reference(attn.causal(), out, q, k, v, lse=lse)


def test_non_contiguous_inputs_are_accepted(causal64):
    q = rand(2, 40, 4, 64, seed=4).transpose(0, 2, 1, 3)
    k = rand(2, 40, 2, 64, seed=5).transpose(0, 2, 1, 3)
    v = rand(2, 64, 40, 2, seed=6).transpose(0, 3, 2, 1)
    assert not (q.flags.c_contiguous or k.flags.c_contiguous
                or v.flags.c_contiguous)
    out = causal64(q, k, v)
    assert rel_err(out, softmax_ref(q, k, v, causal=True)) < 1e-4
    same = causal64(np.ascontiguousarray(q), np.ascontiguousarray(k),
                    np.ascontiguousarray(v))
    np.testing.assert_array_equal(out, same)


def test_empty_batch_and_queries(causal64):
    assert causal64(rand(0, 2, 5, 64), rand(0, 2, 5, 64),
                    rand(0, 2, 5, 64)).shape == (0, 2, 5, 64)
    assert causal64(rand(1, 2, 0, 64), rand(1, 2, 5, 64),
                    rand(1, 2, 5, 64)).shape == (1, 2, 0, 64)


@pytest.mark.parametrize("args, error, message", [
    (lambda: (rand(1, 2, 8, 64).astype(np.float64), rand(1, 2, 8, 64),
              rand(1, 2, 8, 64)), TypeError,
     "q has dtype float64, but the kernel was compiled for float32"),
    (lambda: (rand(2, 8, 64), rand(1, 2, 8, 64), rand(1, 2, 8, 64)),
     ValueError, r"q must be a 4-D BHSD array, got shape \(2, 8, 64\)"),
    (lambda: (rand(1, 2, 8, 32), rand(1, 2, 8, 64), rand(1, 2, 8, 64)),
     ValueError, "q has head dim 32, but the kernel was compiled for 64"),
    (lambda: (rand(1, 2, 8, 64), rand(2, 2, 8, 64), rand(2, 2, 8, 64)),
     ValueError, "batch sizes differ: q 1, k 2"),
    (lambda: (rand(1, 3, 8, 64), rand(1, 2, 8, 64), rand(1, 2, 8, 64)),
     ValueError, r"query heads \(3\) must be a multiple of key/value heads "
                 r"\(2\)"),
    (lambda: (rand(1, 2, 8, 64), rand(1, 2, 8, 64), rand(1, 2, 9, 64)),
     ValueError, "k and v must agree on batch, heads and length"),
    (lambda: (rand(1, 2, 8, 64), rand(1, 2, 8, 64), rand(1, 2, 8, 64),
              rand(3)), TypeError, "1 captured arrays given, but the spec "
                                   "captures 0"),
])
def test_call_argument_errors(causal64, args, error, message):
    with pytest.raises(error, match=message):
        causal64(*args())


def test_unexpected_and_missing_operands(causal64):
    x = rand(1, 2, 8, 64)
    with pytest.raises(TypeError, match=r"unexpected operand\(s\) \['bias'\]"):
        causal64(x, x, x, bias=rand(8, 8))
    doc = attn.compile(attn.document() & attn.causal(), head_dim=64)
    with pytest.raises(TypeError, match="needs the 'segments' operand"):
        doc(x, x, x)
    with pytest.raises(ValueError, match=r"segments\[1\] \(key ids\) must "
                                         r"have shape \(1, 8\)"):
        doc(x, x, x, segments=(np.zeros((1, 8), np.int32),
                               np.zeros((1, 7), np.int32)))


def test_operand_checks():
    x = rand(2, 2, 8, 64)
    dec = attn.compile(attn.Spec(mask=attn.causal(), kv_len=True),
                       head_dim=64)
    with pytest.raises(ValueError, match=r"kv_len values must lie in "
                                         r"\[0, Skv = 8\]"):
        dec(x, x, x, kv_len=[3, 9])
    # int64 cache lengths are converted; the output follows them.
    q, k, v = qkv(2, 2, 2, 8, 8, 64, seed=21)
    lens = np.array([3, 8], np.int64)
    out = dec(q, k, v, kv_len=lens)
    assert_matches_reference(dec.spec, out, q, k, v, kv_len=lens)
    assert not np.allclose(out[0], dec(q, k, v, kv_len=[8, 8])[0],
                           atol=1e-3)
    sig = attn.compile(attn.Spec(normalizer=attn.sigmoid()), head_dim=64)
    with pytest.raises(ValueError, match="has no LSE output"):
        sig(x, x, x, return_lse=True)
    sink = attn.compile(attn.Spec(normalizer=attn.sink_softmax()),
                        head_dim=64)
    with pytest.raises(ValueError, match=r"sink must have shape \(2,\)"):
        sink(x, x, x, sink=np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="sink must be float32"):
        sink(x, x, x, sink=np.zeros(2, np.float64))
    dense = attn.compile(attn.dense(), head_dim=64)
    with pytest.raises(ValueError, match="does not broadcast"):
        dense(x, x, x, dense_mask=np.ones((3, 8, 8), bool))
    # A 2-D [Sq, Skv] mask broadcasts over batch and heads.
    q, k, v = qkv(2, 2, 2, 8, 8, 64, seed=22)
    m = np.random.default_rng(23).random((8, 8)) < 0.5
    m[:, 0] = True
    out = dense(q, k, v, dense_mask=m)
    assert out.shape == q.shape
    assert_matches_reference(attn.dense(), out, q, k, v, dense_mask=m)
    alibi = attn.compile(attn.Spec(score_mod=attn.alibi(slopes=[.5, .25,
                                                                .125])),
                         head_dim=64)
    with pytest.raises(ValueError, match="fix Hq = 3"):
        alibi(x, x, x)
    tree = attn.compile(attn.tree(), head_dim=64)
    with pytest.raises(ValueError, match="earlier draft token"):
        tree(x, x, x, tree=np.array([-1, 1, 0]))


def test_bfloat16_and_float16():
    for dtype, np_dtype, tol in (("bfloat16", ml_dtypes.bfloat16, 8e-3),
                                 ("float16", np.float16, 1e-3)):
        fn = attn.compile(attn.causal(), dtype=dtype, head_dim=32)
        q, k, v = (rand(1, 2, 45, 32, seed=s).astype(np_dtype)
                   for s in (7, 8, 9))
        out = fn(q, k, v)
        assert out.dtype == np.dtype(np_dtype)
        assert rel_err(out, softmax_ref(q, k, v, causal=True)) < tol
        with pytest.raises(TypeError, match=f"compiled for {dtype}"):
            fn(*(x.astype(np.float32) for x in (q, k, v)))


def test_bshd_layout():
    fn = attn.compile(attn.Spec(mask=attn.causal(), layout="bshd"),
                      head_dim=16)
    q, k, v = rand(2, 30, 4, 16, seed=1), rand(2, 30, 2, 16, seed=2), \
        rand(2, 30, 2, 16, seed=3)
    out = fn(q, k, v)
    assert out.shape == (2, 30, 4, 16)
    ref = softmax_ref(q.transpose(0, 2, 1, 3), k.transpose(0, 2, 1, 3),
                      v.transpose(0, 2, 1, 3), causal=True)
    assert rel_err(out.transpose(0, 2, 1, 3), ref) < 1e-4


def test_concurrent_calls_share_one_kernel(causal64):
    q, k, v = qkv(1, 4, 2, 50, 70, 64, seed=11)
    expected = causal64(q, k, v)
    assert rel_err(expected, softmax_ref(q, k, v, causal=True)) < 1e-4
    results = [None] * 4

    def run(i):
        results[i] = causal64(q, k, v)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)


# -- tracing -----------------------------------------------------------------


def _compile_mod(fn, kind="score_mod", **kw):
    if kind == "score_mod":
        return attn.compile(attn.Spec(score_mod=fn), head_dim=16, **kw)
    return attn.compile(attn.Spec(mask=attn.mask_mod(fn)), head_dim=16, **kw)


@pytest.mark.parametrize("fn, kind, message", [
    (lambda s, b, h, q, kv: s if q > kv else 0.0, "score_mod",
     "Python control flow on a traced value"),
    (lambda b, h, q, kv: q >= kv and kv >= 0, "mask_mod",
     "Python control flow"),
    (lambda b, h, q, kv: 0 <= kv <= q, "mask_mod", "chained comparison"),
    (lambda s, b, h, q, kv: math.exp(s), "score_mod",
     "math-module function"),
    (lambda s, b, h, q, kv: s * [1.0, 2.0][h], "score_mod",
     "as a Python index"),
    (lambda s, b, h, q, kv: "s", "score_mod", "returned str"),
    (lambda s, b, h, q: s, "score_mod",
     r"takes 4 parameters; expected \(score, b, h, q_idx, kv_idx, ...\)"),
    (lambda s, b, h, q, kv, *rest: s, "score_mod", "VAR_POSITIONAL"),
    (lambda s, b, h, q, kv, t: s, "score_mod",
     "captured array 't' is never indexed"),
    (lambda s, b, h, q, kv, t: s + t[h] + t[h, q], "score_mod",
     "indexed with 2 indices here and 1 elsewhere"),
    (lambda s, b, h, q, kv, t: s + t[0:h], "score_mod",
     "slicing captured array 't'"),
    (lambda s, b, h, q, kv: s % 2.0, "score_mod", "'%' on floats"),
    (lambda s, b, h, q, kv: s * np.sinh(s), "score_mod", "numpy.sinh"),
    (lambda b, h, q, kv: q - kv, "mask_mod", "returning a number"),
])
def test_trace_errors_name_the_construct(fn, kind, message):
    with pytest.raises(attn.TraceError, match=message):
        _compile_mod(fn, kind)


def test_traced_integer_semantics_follow_python():
    # floor division and modulo of negative numbers, as Python defines them
    def mask(b, h, q_idx, kv_idx):
        d = kv_idx - q_idx
        return ((d // 3) % 2 == 0) | (d % 5 == 4)

    fn = _compile_mod(mask, "mask_mod")
    q, k, v = rand(1, 1, 20, 16, seed=1), rand(1, 1, 20, 16, seed=2), \
        rand(1, 1, 20, 16, seed=3)
    i = np.arange(20)[:, None]
    j = np.arange(20)[None, :]
    d = j - i
    allowed = ((d // 3) % 2 == 0) | (d % 5 == 4)
    s = (q[0, 0].astype(np.float64) @ k[0, 0].T.astype(np.float64)) / 4.0
    s = np.where(allowed, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    ref = (p / p.sum(-1, keepdims=True)) @ v[0, 0]
    assert rel_err(fn(q, k, v)[0, 0], ref) < 1e-4


def test_numpy_ufuncs_trace():
    fn = _compile_mod(lambda s, b, h, q, kv: np.maximum(np.tanh(s), -0.5))
    assert "math.tanh" in fn.ir and "arith.maximumf" in fn.ir


def test_capture_checks():
    def mod(score, b, h, q_idx, kv_idx, scale, offset):
        return score * scale[h] + attn.where(offset[b] > q_idx, 1.0, 0.0)

    spec = attn.Spec(score_mod=attn.score_mod(mod,
                                              dtypes={"offset": "int32"}))
    fn = attn.compile(spec, head_dim=16)
    x = rand(2, 2, 9, 16)
    q, k, v = qkv(2, 2, 2, 9, 9, 16, seed=12)
    scale = np.array([0.5, 1.5], np.float32)
    offset = np.array([3, 4], np.int32)
    by_position = fn(q, k, v, scale, offset)
    assert_matches_reference(spec, by_position, q, k, v, scale, offset)
    by_name = fn(q, k, v, scale=scale, offset=offset)
    np.testing.assert_array_equal(by_position, by_name)
    with pytest.raises(TypeError, match="'offset' must be int32, got int64"):
        fn(x, x, x, scale, offset.astype(np.int64))
    with pytest.raises(ValueError, match="'scale' is indexed with 1 indices"):
        fn(x, x, x, np.ones((2, 2), np.float32), offset)
    with pytest.raises(TypeError, match="missing captured array 'offset'"):
        fn(x, x, x, scale)
    with pytest.raises(attn.SpecError, match="dtypes names 'nope'"):
        attn.compile(attn.Spec(score_mod=attn.score_mod(
            mod, dtypes={"nope": "int32"})), head_dim=16)


def test_block_mask_from_lists():
    counts = np.array([[[1, 2]]])
    idx = np.array([[[[0, 0], [1, 2]]]])
    m = attn.block_mask_from_lists(counts, idx, 3)
    assert m.tolist() == [[[[True, False, False], [False, True, True]]]]
    with pytest.raises(ValueError, match="kv block id out of range"):
        attn.block_mask_from_lists(counts, np.array([[[[0, 0], [1, 3]]]]), 3)


# -- caching -------------------------------------------------------------------


def test_new_shapes_never_recompile(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    attn.clear_cache()
    spec = attn.Spec(mask=attn.sliding_window(5) & attn.causal())
    fn = attn.compile(spec, head_dim=16)
    assert attn.cache_info()["compiles"] == 1
    for n, (b, hq, hkv, sq, skv) in enumerate([
            (1, 2, 1, 7, 7), (3, 4, 4, 100, 130), (2, 6, 2, 1, 513),
            (1, 1, 1, 64, 64)]):
        q, k, v = qkv(b, hq, hkv, sq, skv, 16, seed=30 + n)
        out = fn(q, k, v)
        assert out.shape == (b, hq, sq, 16)
        assert_matches_reference(spec, out, q, k, v)
    again = attn.compile(spec, head_dim=16)
    info = attn.cache_info()
    assert info["compiles"] == 1 and info["memory_hits"] == 1
    assert again._native is fn._native
    attn.compile(spec, head_dim=32)
    assert attn.cache_info()["compiles"] == 2


def test_disk_cache_roundtrip_and_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    attn.clear_cache()
    spec = attn.Spec(mask=attn.chunked(16) & attn.causal())
    q, k, v = qkv(1, 2, 1, 50, 50, 32, seed=5)
    first = attn.compile(spec, head_dim=32)(q, k, v)
    assert_matches_reference(spec, first, q, k, v)
    entries = glob.glob(str(tmp_path / "*.attnobj"))
    assert len(entries) == 1 and attn.cache_info()["disk_writes"] == 1
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]

    attn.clear_cache()  # a new process, as far as the cache can tell
    np.testing.assert_array_equal(attn.compile(spec, head_dim=32)(q, k, v),
                                  first)
    assert attn.cache_info() == {"compiles": 0, "memory_hits": 0,
                                 "disk_hits": 1, "disk_writes": 0,
                                 "corrupt": 0}

    data = bytearray(open(entries[0], "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(entries[0], "wb").write(bytes(data))
    attn.clear_cache()
    with pytest.warns(UserWarning, match="corrupt .*checksum mismatch"):
        rebuilt = attn.compile(spec, head_dim=32)
    np.testing.assert_array_equal(rebuilt(q, k, v), first)
    info = attn.cache_info()
    assert info["corrupt"] == 1 and info["compiles"] == 1
    open(entries[0], "wb").write(b"short")
    attn.clear_cache()
    with pytest.warns(UserWarning, match="bad header"):
        attn.compile(spec, head_dim=32)
    attn.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attn.compile(spec, head_dim=32)
    assert attn.cache_info()["disk_hits"] == 1


def test_cache_false_skips_the_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "c"))
    attn.clear_cache()
    attn.compile(attn.sinks(3), head_dim=16, cache=False)
    assert not os.path.exists(tmp_path / "c")


def test_unwritable_cache_dir_warns_and_still_runs(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(blocker / "sub"))
    attn.clear_cache()
    with pytest.warns(UserWarning, match="cannot write the kernel cache"):
        fn = attn.compile(attn.sinks(2), head_dim=16)
    q, k, v = qkv(1, 2, 1, 4, 6, 16, seed=13)
    assert_matches_reference(attn.sinks(2), fn(q, k, v), q, k, v)


# -- DLPack / PyTorch ----------------------------------------------------------


def test_torch_tensors_round_trip():
    torch = pytest.importorskip("torch")
    fn = attn.compile(attn.causal(), head_dim=32)
    q, k, v = (torch.from_numpy(x) for x in qkv(1, 2, 1, 33, 40, 32,
                                                seed=14))
    out = fn(q, k, v)
    assert isinstance(out, torch.Tensor)
    ref = softmax_ref(q.numpy(), k.numpy(), v.numpy(), causal=True)
    assert rel_err(out.numpy(), ref) < 1e-4
    fb = attn.compile(attn.causal(), dtype="bfloat16", head_dim=32)
    qb, kb, vb = (x.to(torch.bfloat16) for x in (q, k, v))
    outb = fb(qb, kb, vb)
    assert outb.dtype == torch.bfloat16
    assert rel_err(outb.float().numpy(), softmax_ref(
        qb.float().numpy(), kb.float().numpy(), vb.float().numpy(),
        causal=True)) < 8e-3


def test_config_is_the_tile_plan():
    # Every CPU field of #attn.config is honoured (results checked against
    # the reference) and a value the target cannot honour is an error.
    spec = attn.Spec(mask=attn.causal(),
                     config={"block_q": 32, "block_kv": 48, "unroll": 3,
                             "vector_width": 8, "dot": "fma"})
    assert 'dot = "fma"' in attn.to_mlir(spec)
    fn = attn.compile(spec, dtype="float32", head_dim=32)
    rng = np.random.default_rng(11)
    q, k, v = (rng.standard_normal((1, 2, 100, 32)).astype(np.float32)
               for _ in range(3))
    assert rel_err(fn(q, k, v), attn.reference.attention(spec, q, k, v)) < 1e-4
    with pytest.raises(attn.CompileError, match='dot = "bf16" needs bf16'):
        attn.compile(attn.Spec(config={"dot": "bf16"}), dtype="float32",
                     head_dim=32)
    with pytest.raises(attn.CompileError, match="block_q = 24 must be a "
                       "multiple of the vector width 16"):
        attn.compile(attn.Spec(config={"block_q": 24, "vector_width": 16}),
                     dtype="float32", head_dim=32)
    with pytest.raises(attn.SpecError, match="config mma must be one of"):
        attn.Spec(config={"mma": "wmma"})
    with pytest.raises(attn.SpecError, match="config vector_width must be"):
        attn.Spec(config={"vector_width": 12})
    # q_blocks: q-tiles per work item, kept by the plan (test_differential
    # checks the results); unset, the kernel chooses per call.
    assert attn.tile_plan(attn.Spec(config={"q_blocks": 4}))["q_blocks"] == 4
    assert "q_blocks" not in attn.tile_plan(attn.Spec())
    with pytest.raises(attn.SpecError, match="config q_blocks"):
        attn.Spec(config={"q_blocks": -1})


def test_amx_config_and_fallback(tmp_path):
    # dot = "amx" is a config word; what it needs of the op is checked on
    # every host. With AMX unusable ($ATTN_NO_AMX stands for a host without
    # AMX-BF16 or a kernel that refuses tile-data permission), bf16 keeps
    # the AVX-512 plan and an explicit request says why it cannot run.
    with pytest.raises(attn.CompileError, match='dot = "amx" needs bf16'):
        attn.compile(attn.Spec(config={"dot": "amx"}), dtype="float32",
                     head_dim=32, cache=False)
    with pytest.raises(attn.CompileError, match="multiples of 32"):
        attn.compile(attn.Spec(config={"dot": "amx"}), dtype="bfloat16",
                     head_dim=48, cache=False)
    with pytest.raises(attn.CompileError, match="'block_kv' to be a multiple"
                       " of 32, got 48"):
        attn.tile_plan(attn.Spec(config={"dot": "amx", "block_kv": 48}),
                       dtype="bfloat16")
    code = (
        "import attn\n"
        "print(attn.tile_plan(attn.causal(), dtype='bfloat16')['dot'])\n"
        "try:\n"
        "    attn.compile(attn.Spec(config={'dot': 'amx'}), "
        "dtype='bfloat16', cache=False)\n"
        "except attn.CompileError as e:\n"
        "    print(e)\n")
    env = dict(os.environ, ATTN_NO_AMX="1", ATTN_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "fma"
    assert 'dot = "amx" needs AMX: AMX is turned off by $ATTN_NO_AMX' in out


class _GradTensor:
    """Stands in for a torch tensor that requires grad (torch is not a test
    dependency); attn must refuse it before touching torch."""
    requires_grad = True
    shape = (1, 1, 4, 16)


_GradTensor.__module__ = "torch"


@pytest.mark.parametrize("target", ["cpu", "cuda"])
def test_tensors_that_require_grad_are_refused(target):
    spec = attn.Spec(mask=attn.causal())
    fn = attn.compile(spec, target=target,
                      dtype="float32" if target == "cpu" else "float16",
                      head_dim=16)
    q = np.zeros((1, 1, 4, 16), np.float32 if target == "cpu" else np.float16)
    with pytest.raises(TypeError, match=r"k requires grad, but a kernel call "
                       r"is not recorded by autograd.*attn\.torch\.attention"
                       r".*k\.detach\(\)"):
        fn(q, _GradTensor(), q)


@pytest.mark.parametrize("target,dtype", [("cpu", "float32"),
                                          ("sm_80", "float16"),
                                          ("sm_90a", "bfloat16")])
def test_tile_plan_resolves_and_pins(target, dtype):
    # The resolved plan fills every field the target reads; pinned as the
    # spec's config it resolves to itself.
    spec = attn.Spec(attn.sliding_window(100), config={"block_kv": 32})
    plan = attn.tile_plan(spec, target, dtype=dtype)
    assert plan["block_kv"] == 32
    wanted = ({"block_q", "vector_width", "unroll", "dot"} if target == "cpu"
              else {"block_q", "warps", "stages", "mma"})
    assert wanted <= set(plan)
    pinned = attn.Spec(attn.sliding_window(100), config=plan)
    assert attn.tile_plan(pinned, target, dtype=dtype) == plan
    if target == "cpu":
        fn = attn.compile(pinned, dtype=dtype, head_dim=64)
        rng = np.random.default_rng(12)
        q, k, v = (rng.standard_normal((1, 2, 150, 64)).astype(np.float32)
                   for _ in range(3))
        assert rel_err(fn(q, k, v),
                       attn.reference.attention(pinned, q, k, v)) < 1e-4
    with pytest.raises(attn.SpecError, match="target must be"):
        attn.tile_plan(spec, "tpu")


def test_dilated_sliding_window_is_the_gyms():
    # attention-gym's definition, written here from its mask_mod:
    # diff = abs(q_idx - kv_idx); diff <= window and diff % dilation == 0.
    W, D, S = 40, 3, 200
    i = np.arange(S)[:, None]
    j = np.arange(S)[None, :]
    diff = np.abs(i - j)
    allowed = (diff <= W) & (diff % D == 0)
    rng = np.random.default_rng(13)
    q, k, v = (rng.standard_normal((1, 1, S, 32)).astype(np.float32)
               for _ in range(3))
    s = (q[0, 0].astype(np.float64) @ k[0, 0].T.astype(np.float64)) / np.sqrt(32)
    s = np.where(allowed, s, -np.inf)
    w = np.exp(s - s.max(axis=1, keepdims=True))
    expect = (w / w.sum(axis=1, keepdims=True)) @ v[0, 0].astype(np.float64)
    fn = attn.compile(attn.dilated_sliding_window(W, D), dtype="float32",
                      head_dim=32)
    assert rel_err(fn(q, k, v)[0, 0], expect) < 1e-4
    # Not LongNet's segment dilation of the same numbers.
    other = attn.compile(attn.dilated(W, D), dtype="float32", head_dim=32)
    assert rel_err(other(q, k, v)[0, 0], expect) > 1e-2


def test_float_parameters_without_a_dot_compile():
    # repr(-1e-300) has no '.', which MLIR's float literals need: the
    # fuzz test's sigmoid beta found it. Each value must print and compile.
    for beta in (-1e-300, -1e20, -5e-324, -0.0):
        spec = attn.Spec(normalizer=attn.sigmoid(beta), scale=1e-5)
        fn = attn.compile(spec, head_dim=16)
        q = np.ones((1, 1, 3, 16), np.float32)
        out = fn(q, q, q)
        want = attn.reference.attention(spec, q, q, q)
        assert np.abs(out - want).max() <= 1e-4


@pytest.mark.parametrize("target,dtype,sq",
                         [("cpu", "float32", 3), ("cpu", "float32", 1),
                          ("cpu", "bfloat16", 3),
                          ("cuda-emulator", "float16", 3)])
def test_sink_minus_inf_on_fully_masked_rows(target, dtype, sq):
    # A sink logit of -inf is no sink: a fully masked row then has O = 0
    # and LSE = -inf, as attn.reference says, not NaN (exp(-inf - -inf)).
    # Positions p = i + (5 - sq) + q_offset: row 0 sees no key.
    spec = attn.Spec(mask=attn.causal(), normalizer=attn.sink_softmax(),
                     q_offset=sq - 6)
    fn = attn.compile(spec, head_dim=16, target=target, dtype=dtype)
    np_dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" \
        else np.dtype(dtype)
    rng = np.random.default_rng(sq)
    q = rng.standard_normal((1, 2, sq, 16)).astype(np_dtype)
    k = rng.standard_normal((1, 2, 5, 16)).astype(np_dtype)
    sink = np.array([-np.inf, 0.5], np.float32)
    out, lse = fn(q, k, k, sink=sink, return_lse=True)
    want, want_lse = attn.reference.attention(spec, q, k, k, sink=sink,
                                              return_lse=True)
    out = np.asarray(out).astype(np.float64)
    assert np.isfinite(out).all()
    assert np.abs(out - want).max() <= 1e-2
    assert np.array_equal(np.isneginf(lse), np.isneginf(want_lse))
    assert np.isneginf(want_lse).any()
