"""target="cuda-emulator": the CUDA kernels and their host code, run on the
CPU by the GPU emulator, against the float64 numpy reference.

Both kernels of each chip's default (sm_80: mma.sync + cp.async; sm_90a:
wgmma + TMA), f16 and bf16, on small problems: causal self-attention at a
length that is no tile multiple, GQA cross-attention (bottom-right aligned
causal mask), MQA decoding (one query) with LSE, and a sliding window in
BSHD. Tolerances as in test_differential.py. A launch with an emulator
report (race, out-of-bounds access, ...) fails the call with RuntimeError,
checked on a kernel broken on purpose.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

import attn
import test_differential as TD
from attn import reference

# The differential test's tolerances and dtypes, for the tensor-core ones.
TOL = {t: TD.TOL[t] for t in ("float16", "bfloat16")}
NP_DTYPE = {t: TD.NP_DTYPE[t] for t in TOL}

# name: (spec, B, Hq, Hkv, Sq, Skv, with LSE)
CASES = {
    "causal-odd": (attn.Spec(mask=attn.causal()), 1, 2, 2, 67, 67, False),
    "gqa-cross-causal": (attn.Spec(mask=attn.causal()), 2, 4, 2, 33, 129,
                         False),
    "mqa-decode-lse": (attn.Spec(), 1, 4, 1, 1, 129, True),
    "window-bshd": (attn.Spec(mask=attn.sliding_window(40), layout="bshd"),
                    1, 2, 1, 100, 100, False),
}
D = 64


def _inputs(name, dtype, spec, b, hq, hkv, sq, skv):
    rng = np.random.default_rng(zlib.crc32(f"{name}-{dtype}".encode()))

    def arr(h, s):
        shape = (b, s, h, D) if spec.layout == "bshd" else (b, h, s, D)
        return rng.standard_normal(shape).astype(NP_DTYPE[dtype])
    return arr(hq, sq), arr(hkv, skv), arr(hkv, skv)


@pytest.mark.parametrize("dtype", sorted(TOL))
@pytest.mark.parametrize("chip", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_emulator_matches_reference(name, chip, dtype):
    spec, b, hq, hkv, sq, skv, with_lse = CASES[name]
    fn = attn.compile(spec, target="cuda-emulator", chip=chip, dtype=dtype,
                      head_dim=D)
    q, k, v = _inputs(name, dtype, spec, b, hq, hkv, sq, skv)
    if with_lse:
        out, lse = fn(q, k, v, return_lse=True)
        ref, ref_lse = reference.attention(spec, q, k, v, return_lse=True)
    else:
        out, lse = fn(q, k, v), None
        ref, ref_lse = reference.attention(spec, q, k, v), None
    assert isinstance(out, np.ndarray) and out.dtype == NP_DTYPE[dtype]
    out = out.astype(np.float64)
    assert np.isfinite(out).all(), "O has non-finite values"
    err = np.abs(out - ref).max() / np.abs(ref).max()
    assert err <= TOL[dtype], f"O rel err {err:.3g} > {TOL[dtype]}"
    if with_lse:
        lerr = np.abs(lse - ref_lse) / np.maximum(1.0, np.abs(ref_lse))
        assert lerr.max() <= TOL[dtype], f"LSE err {lerr.max():.3g}"


def test_emulator_compiles_without_a_gpu():
    fn = attn.compile(attn.causal(), target="cuda-emulator",
                      dtype="bfloat16", head_dim=D)
    assert "target=cuda-emulator" in repr(fn)


def test_emulator_takes_tensor_core_dtypes_only():
    with pytest.raises(attn.SpecError,
                       match="target='cuda-emulator' runs on tensor cores"):
        attn.compile(attn.causal(), target="cuda-emulator")


def test_emulator_report_fails_the_call(monkeypatch):
    # The last barrier removed by the emulator's mutation hook, which edits
    # the kernel text when the module is parsed (at its first launch): a
    # spec and head dim no other test compiles, so no cached kernel is
    # reused or left broken.
    monkeypatch.setenv("ATTN_EMULATOR_MUTATION", json.dumps([{
        "pattern": r"nvvm\.barrier0[^\n]*", "replace": "", "nth": -1}]))
    fn = attn.compile(attn.Spec(mask=attn.causal(), scale=0.3),
                      target="cuda-emulator", chip="sm_80", dtype="float16",
                      head_dim=48)
    q = np.ones((1, 2, 67, 48), np.float16)
    with pytest.raises(RuntimeError) as e:
        fn(q, q, q)
    assert str(e.value).startswith(
        "target='cuda-emulator': kernel 'attention_kernel' (grid 2x2x1, "
        "block 128x1x1"), str(e.value)
    assert "emulator reports\n  race at " in str(e.value), str(e.value)


@pytest.mark.parametrize("chip", ["sm_80", "sm_90a"])
def test_capture_read_out_of_range_is_an_index_error_on_the_gpu(chip):
    """The GPU kernels raise a device error word (atomic max, no race for
    the emulator to report) that the host copies back after the launch:
    the same IndexError as on the CPU, naming the capture, and right
    results before and after."""
    def mod(score, b, h, q_idx, kv_idx, bias, scale):
        return score * scale[h] + bias[kv_idx]

    spec = attn.Spec(score_mod=attn.score_mod(mod))
    kernel = attn.compile(spec, dtype="float16", head_dim=64,
                          target="cuda-emulator", chip=chip)
    rng = np.random.default_rng(5)
    q = rng.standard_normal((1, 2, 40, 64)).astype(np.float16)
    bias = rng.standard_normal(40).astype(np.float32)
    scale = np.array([0.5, 2.0], np.float32)
    want = reference.attention(spec, q, q, q, bias, scale)
    np.testing.assert_allclose(kernel(q, q, q, bias, scale), want, atol=2e-3,
                               rtol=2e-3)
    with pytest.raises(IndexError, match="captured array 'bias'"):
        kernel(q, q, q, bias[:7], scale)
    with pytest.raises(IndexError, match="captured array 'scale'"):
        kernel(q, q, q, bias, scale[:1])
    np.testing.assert_allclose(kernel(q, q, q, bias, scale), want, atol=2e-3,
                               rtol=2e-3)
