"""Decoding from bf16 caches with AVX512-BF16 dot products (config dot =
"bf16"; README "Decoding on the CPU"): the row kernel's Q K^T reads K's
rows as bf16 pairs, its P V multiplies V's rows interleaved in pairs of
keys by the weights rounded to bf16. Checked against the float64
reference at the bf16 tolerance over GQA and MHA, Sq 1 and 2, kv lengths
that are not multiples of 16 or of the 64-key span (an odd last pair, a
single key, an empty cache), fully masked rows, contiguous and paged
caches (which must give the contiguous cache's bits), D != Dv, and NaN
or inf in masked and unmasked keys' values (README "Masked keys")."""

import numpy as np
import pytest

import attn
from attn import _attn, reference

ml_dtypes = pytest.importorskip("ml_dtypes")

pytestmark = pytest.mark.skipif(
    "avx512bf16" not in _attn.host_cpu().split(","),
    reason="needs a host with AVX512-BF16")

BF16 = ml_dtypes.bfloat16
TOL = 8e-3
DOT = {"dot": "bf16"}


def rel_err(got, want):
    got = np.asarray(got, np.float64)
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)


def compile_pair(spec_args, D, Dv):
    """The kernel with dot = "bf16" and the same spec on the widened FMA
    products."""
    dims = dict(dtype="bfloat16", head_dim=D,
                head_dim_v=None if Dv == D else Dv)
    return (attn.compile(attn.Spec(**spec_args, config=DOT), **dims),
            attn.compile(attn.Spec(**spec_args, config={"dot": "fma"}),
                         **dims))


def page_out(rng, cache, page_size, layout):
    """`cache` [B, H, S, D] (S a multiple of page_size) as a pool of
    shuffled pages with spare pages of noise, and the page table."""
    B, H, S, D = cache.shape
    n = S // page_size
    pages = B * n + 2
    order = rng.permutation(pages)[:B * n].reshape(B, n)
    pool = rng.standard_normal((pages, H, page_size, D)).astype(cache.dtype)
    for b in range(B):
        for i in range(n):
            pool[order[b, i]] = cache[b, :, i * page_size:(i + 1) * page_size]
    if layout == "nhd":
        pool = pool.transpose(0, 2, 1, 3)
    return np.ascontiguousarray(pool), order.astype(np.int32)


def test_plan_says_bf16_decoding():
    spec = attn.Spec(mask=attn.causal(), kv_len=True, config=DOT)
    assert attn.tile_plan(spec, dtype="bfloat16", head_dim=128)["dot"] == \
        "bf16"
    paged = attn.Spec(mask=attn.causal(), paged=attn.Paged(16), config=DOT)
    assert attn.tile_plan(paged, dtype="bfloat16", head_dim=128)["dot"] == \
        "bf16"


@pytest.mark.parametrize("D,Dv", [(128, 128), (64, 64), (32, 48),
                                  (256, 256)])
@pytest.mark.parametrize("Hq,Hkv", [(8, 2), (3, 3)])
def test_decode_bf16_against_reference(D, Dv, Hq, Hkv):
    rng = np.random.default_rng(D + 7 * Hq + Dv)
    spec_args = dict(mask=attn.causal(), kv_len=True)
    fn, fma = compile_pair(spec_args, D, Dv)
    S = 301
    for Sq, lens in ((1, [77, 0, 1, 301, 64, 129]),
                     (2, [2, 1, 300, 33, 65, 16])):
        # Sq 2 with one key: the first query row masks it (a fully masked
        # row, O = 0 and LSE = -inf).
        lens = np.array(lens, np.int32)
        B = len(lens)
        q = rng.standard_normal((B, Hq, Sq, D)).astype(BF16)
        k = rng.standard_normal((B, Hkv, S, D)).astype(BF16)
        v = rng.standard_normal((B, Hkv, S, Dv)).astype(BF16)
        out, lse = fn(q, k, v, kv_len=lens, return_lse=True)
        want, want_lse = reference.attention(attn.Spec(**spec_args), q, k, v,
                                             kv_len=lens, return_lse=True)
        assert rel_err(out, want) <= TOL, (Sq, rel_err(out, want))
        finite = np.isfinite(want_lse)
        assert (np.isneginf(lse) == ~finite).all()
        assert np.abs(lse[finite] - want_lse[finite]).max() <= 1e-4 * \
            max(1.0, np.abs(want_lse[finite]).max())
        if Sq == 2:
            assert (~finite).any()
            assert (np.asarray(out, np.float64)[~finite] == 0).all()
        # The weights rounded to bf16 change the bits of some outputs: the
        # kernel did not take the FMA path.
        other = np.asarray(fma(q, k, v, kv_len=lens), np.float64)
        assert (np.asarray(out, np.float64) != other).any()


@pytest.mark.parametrize("pool_layout", ["nhd", "hnd"])
def test_decode_bf16_paged_equals_contiguous(pool_layout):
    rng = np.random.default_rng(3)
    page_size, D, S = 16, 128, 320
    paged = attn.Paged(page_size, pool_layout)
    fn = attn.compile(attn.Spec(mask=attn.causal(), paged=paged, config=DOT),
                      dtype="bfloat16", head_dim=D)
    flat_spec = attn.Spec(mask=attn.causal(), kv_len=True)
    flat = attn.compile(attn.Spec(mask=attn.causal(), kv_len=True,
                                  config=DOT), dtype="bfloat16", head_dim=D)
    for Sq, lens in ((1, [77, 0, 1, 320, 161]), (2, [2, 319, 64, 17, 1])):
        lens = np.array(lens, np.int32)
        B = len(lens)
        q = rng.standard_normal((B, 8, Sq, D)).astype(BF16)
        k = rng.standard_normal((B, 2, S, D)).astype(BF16)
        v = rng.standard_normal((B, 2, S, D)).astype(BF16)
        kp, table = page_out(rng, k, page_size, pool_layout)
        vp = with_order(v, table, kp.shape[0], page_size, pool_layout)
        out = fn(q, kp, vp, page_table=table, kv_len=lens)
        got_flat = flat(q, k, v, kv_len=lens)
        want = reference.attention(flat_spec, q, k, v, kv_len=lens)
        assert rel_err(out, want) <= TOL
        np.testing.assert_array_equal(np.asarray(out, np.float64),
                                      np.asarray(got_flat, np.float64))


def with_order(cache, table, pages, page_size, layout):
    """`cache` scattered into a pool of `pages` pages by `table` (spare
    pages 0)."""
    B, H, S, D = cache.shape
    pool = np.zeros((pages, H, page_size, D), cache.dtype)
    for b in range(B):
        for i in range(S // page_size):
            pool[table[b, i]] = cache[b, :, i * page_size:(i + 1) * page_size]
    if layout == "nhd":
        pool = pool.transpose(0, 2, 1, 3)
    return np.ascontiguousarray(pool)


def test_decode_bf16_masked_values_add_nothing():
    """NaN and inf in V (and NaN in K) of keys that rows mask (past
    kv_len, and keys inside the spans that a sliding window leaves out,
    which the pair product would turn into 0 * NaN) leave those rows
    finite and equal to the reference; a NaN in an unmasked key's value
    is a NaN exactly in the rows that weigh it."""
    rng = np.random.default_rng(17)
    D, S = 64, 200
    spec = attn.Spec(mask=attn.sliding_window(40), kv_len=True)
    fn = attn.compile(attn.Spec(mask=attn.sliding_window(40), kv_len=True,
                                config=DOT), dtype="bfloat16", head_dim=D)
    lens = np.array([200, 131, 77, 1], np.int32)
    B = len(lens)
    for Sq in (1, 2):
        q = rng.standard_normal((B, 4, Sq, D)).astype(BF16)
        k = rng.standard_normal((B, 2, S, D)).astype(BF16)
        v = rng.standard_normal((B, 2, S, D)).astype(BF16)
        kp, vp = k.copy(), v.copy()
        for b, n in enumerate(lens):
            kp[b, :, n:] = np.nan
            vp[b, :, n:, ::3] = np.inf
            vp[b, :, n:, 1::3] = np.nan
            # Keys the window masks for every query row of the batch row,
            # in the spans that the rows visit.
            if n > 45:
                vp[b, :, n - 44, 5] = np.nan
                vp[b, :, n - 43, 7] = -np.inf
        out = np.asarray(fn(q, kp, vp, kv_len=lens), np.float64)
        want = reference.attention(spec, q, k, v, kv_len=lens)
        assert np.isfinite(out).all()
        assert rel_err(out, want) <= TOL
    # An unmasked key's NaN reaches exactly the rows that weigh it.
    Sq = 2
    q = rng.standard_normal((B, 4, Sq, D)).astype(BF16)
    k = rng.standard_normal((B, 2, S, D)).astype(BF16)
    v = rng.standard_normal((B, 2, S, D)).astype(BF16)
    v[0, 1, 199, 3] = np.nan
    out = np.asarray(fn(q, k, v, kv_len=lens), np.float64)
    want = reference.attention(spec, q.astype(np.float64),
                               k.astype(np.float64), v.astype(np.float64),
                               kv_len=lens)
    assert np.array_equal(np.isnan(out), np.isnan(want))
    assert np.isnan(out).any()
    fin = np.isfinite(want)
    assert rel_err(out[fin], want[fin]) <= TOL


def test_dot_bf16_where_it_cannot_run():
    """dot = "bf16" asked for where neither kernel takes it is an error
    that says why; a paged cache (the tile kernel's Q K^T cannot read it)
    keeps it for decoding."""
    with pytest.raises(Exception, match="bf16"):
        attn.compile(attn.Spec(kv_len=True, config=DOT), dtype="float32",
                     head_dim=64)
