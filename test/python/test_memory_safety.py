"""Memory safety where a user's index or size reaches memory: reads of
captured arrays in traced score_mod / mask_mod functions are bounds-checked
by the kernel (an out-of-range index is an IndexError naming the array, not
a read past its end), and large head dims run instead of overflowing the
stack. Results of the calls that succeed are checked against the float64
reference."""

import threading

import ml_dtypes
import numpy as np
import pytest

import attn
from attn import reference

LOWERINGS = ["fused", "reference"]


def qkv(B, H, Sq, Skv, D, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, H, Sq, D)).astype(dtype)
    k = rng.standard_normal((B, H, Skv, D)).astype(dtype)
    v = rng.standard_normal((B, H, Skv, D)).astype(dtype)
    return q, k, v


def check(out, spec, q, k, v, *captures, tol=2e-5, **operands):
    ref = reference.attention(spec, q.astype(np.float64),
                              k.astype(np.float64), v.astype(np.float64),
                              *captures, **operands)
    err = np.abs(np.asarray(out, dtype=np.float64) - ref).max()
    assert err <= tol * max(1.0, np.abs(ref).max()), err


def bias_by_key(stride):
    def mod(score, b, h, q_idx, kv_idx, t):
        return score + t[kv_idx * stride]
    return mod


@pytest.mark.parametrize("lowering", LOWERINGS)
@pytest.mark.parametrize("stride", [1000000, 1])
def test_capture_read_past_the_end_is_an_index_error(lowering, stride):
    # stride 1: t[kv_idx] with len(t) == 2 and Skv 64 reads just past the
    # end (it used to return garbage); a huge stride used to segfault.
    spec = attn.Spec(score_mod=bias_by_key(stride))
    fn = attn.compile(spec, dtype="float32", head_dim=16, lowering=lowering)
    q, k, v = qkv(1, 2, 64, 64, 16)
    t = np.array([0.5, -1.0], dtype=np.float32)
    with pytest.raises(IndexError, match="captured array 't'"):
        fn(q, k, v, t)


@pytest.mark.parametrize("lowering", LOWERINGS)
def test_negative_capture_index_is_an_index_error(lowering):
    def mod(score, b, h, q_idx, kv_idx, t):
        return score + t[q_idx - kv_idx]
    spec = attn.Spec(mask=attn.full(), score_mod=mod)
    fn = attn.compile(spec, dtype="float32", head_dim=16, lowering=lowering)
    q, k, v = qkv(1, 1, 40, 40, 16)
    with pytest.raises(IndexError, match="captured array 't'"):
        fn(q, k, v, np.ones(40, np.float32))


@pytest.mark.parametrize("lowering", LOWERINGS)
def test_capture_read_up_to_the_last_element_is_right(lowering):
    # Every index 0..Skv-1 is read, the last one at the array's end.
    spec = attn.Spec(mask=attn.causal(), score_mod=bias_by_key(1))
    fn = attn.compile(spec, dtype="float32", head_dim=16, lowering=lowering)
    q, k, v = qkv(2, 2, 33, 97, 16, seed=1)
    t = np.random.default_rng(2).standard_normal(97).astype(np.float32)
    check(fn(q, k, v, t), spec, q, k, v, t)


def test_error_names_the_capture_that_was_out_of_range():
    # Two captured arrays, one per function: only `ids` is too short.
    def mask(b, h, q_idx, kv_idx, ids):
        return ids[kv_idx] == ids[q_idx]

    def mod(score, b, h, q_idx, kv_idx, scale):
        return score * scale[h]
    spec = attn.Spec(mask=attn.mask_mod(mask, dtypes={"ids": "int32"}),
                     score_mod=mod)
    fn = attn.compile(spec, dtype="bfloat16", head_dim=32)
    q, k, v = qkv(1, 2, 80, 80, 32, dtype=ml_dtypes.bfloat16, seed=3)
    ids = (np.arange(80) // 30).astype(np.int32)
    scale = np.array([1.0, 0.5], np.float32)
    out = fn(q, k, v, ids=ids, scale=scale)
    check(out, spec, q, k, v, tol=2e-2, ids=ids, scale=scale)
    with pytest.raises(IndexError, match="captured array 'ids'"):
        fn(q, k, v, ids=ids[:79], scale=scale)
    with pytest.raises(IndexError, match="captured array 'scale'"):
        fn(q, k, v, ids=ids, scale=scale[:1])


def test_kernel_is_right_again_after_an_out_of_range_call():
    spec = attn.Spec(score_mod=bias_by_key(1))
    fn = attn.compile(spec, dtype="float32", head_dim=16)
    q, k, v = qkv(1, 1, 50, 50, 16, seed=4)
    with pytest.raises(IndexError):
        fn(q, k, v, np.zeros(3, np.float32))
    t = np.linspace(-1, 1, 50).astype(np.float32)
    check(fn(q, k, v, t), spec, q, k, v, t)


def test_kernel_from_the_disk_cache_checks_its_captures():
    spec = attn.Spec(score_mod=bias_by_key(1))
    attn.compile(spec, dtype="float32", head_dim=16)
    attn.clear_cache()  # memory only: the next compile loads from disk
    fn = attn.compile(spec, dtype="float32", head_dim=16)
    assert attn.cache_info()["disk_hits"] == 1
    q, k, v = qkv(1, 1, 20, 20, 16, seed=5)
    with pytest.raises(IndexError, match="captured array 't'"):
        fn(q, k, v, np.zeros(19, np.float32))


def test_concurrent_calls_see_only_their_own_errors():
    spec = attn.Spec(score_mod=bias_by_key(1))
    fn = attn.compile(spec, dtype="float32", head_dim=16)
    q, k, v = qkv(1, 2, 64, 64, 16, seed=6)
    good = np.linspace(0, 1, 64).astype(np.float32)
    bad = good[:10]
    results = {}

    def run(name, t):
        try:
            for _ in range(20):
                results[name] = fn(q, k, v, t)
        except IndexError as e:
            results[name] = e

    threads = [threading.Thread(target=run, args=(n, t))
               for n, t in (("good", good), ("bad", bad))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(results["bad"], IndexError)
    check(results["good"], spec, q, k, v, good)


@pytest.mark.parametrize("D,Dv", [(16384, 16), (32, 20000)])
def test_large_head_dims_run_on_the_fused_path(D, Dv):
    # Scratch tiles of such head dims do not fit a thread's stack; they used
    # to overflow it (segfault from D = 16384 on).
    spec = attn.Spec(mask=attn.causal())
    fn = attn.compile(spec, dtype="float32", head_dim=D, head_dim_v=Dv)
    rng = np.random.default_rng(7)
    q = rng.standard_normal((1, 2, 70, D)).astype(np.float32) / 8
    k = rng.standard_normal((1, 2, 70, D)).astype(np.float32) / 8
    v = rng.standard_normal((1, 2, 70, Dv)).astype(np.float32)
    check(fn(q, k, v), spec, q, k, v, tol=1e-4)


@pytest.mark.parametrize("lowering", LOWERINGS)
def test_mask_mod_that_is_a_capture_read(lowering):
    # The region yields the (bounds-checked) read itself; ASan found the
    # first version of the check handing back the erased unchecked read.
    def mask(b, h, q_idx, kv_idx, m):
        return m[q_idx, kv_idx]
    spec = attn.Spec(mask=attn.mask_mod(mask, dtypes={"m": "bool"}))
    fn = attn.compile(spec, dtype="float32", head_dim=16, lowering=lowering)
    q, k, v = qkv(1, 2, 30, 45, 16, seed=8)
    m = np.random.default_rng(9).random((30, 45)) < 0.5
    check(fn(q, k, v, m), spec, q, k, v, m)
    with pytest.raises(IndexError, match="captured array 'm'"):
        fn(q, k, v, m[:, :44])


def test_captures_of_two_functions_must_be_passed_by_name():
    # Positionally, score_mod's captures come first; a caller used to the
    # other order would swap two same-shaped arrays without any error.
    def mask(b, h, q_idx, kv_idx, keep):
        return keep[kv_idx] > 0.5

    def mod(score, b, h, q_idx, kv_idx, bias):
        return score + bias[kv_idx]
    spec = attn.Spec(mask=attn.mask_mod(mask), score_mod=mod)
    fn = attn.compile(spec, dtype="float32", head_dim=16)
    q, k, v = qkv(1, 1, 20, 20, 16, seed=10)
    keep = (np.arange(20) % 3 != 0).astype(np.float32)
    bias = np.linspace(-1, 1, 20).astype(np.float32)
    with pytest.raises(TypeError, match=r"score_mod and mask_mod both take "
                       r"captured arrays .*pass them by name"):
        fn(q, k, v, keep, bias)
    check(fn(q, k, v, keep=keep, bias=bias), spec, q, k, v, keep=keep,
          bias=bias)
