"""Paged KV caches (Spec(paged=attn.Paged(...))): the kernel reading K and V
through a page table equals the same kernel on the contiguous cache and
the float64 reference (which gathers the pages with its own numpy code),
for random page tables, ragged kv_len, GQA, both pool layouts, f32 and
bf16, decoding (the row kernel) and chunked prefill (the tile kernel),
masks and score modifiers; bad tables raise before the kernel runs."""

import numpy as np
import pytest

import attn
from attn import reference

ml_dtypes = pytest.importorskip("ml_dtypes")

TOL = {"float32": 1e-4, "bfloat16": 8e-3}
NP = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}


def rel_err(got, want):
    got = np.asarray(got, np.float64)
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)


def page_out(rng, k, v, lens, page_size, layout, garbage=True):
    """Scatters the contiguous BHSD caches `k` and `v` [B, Hkv, Skv, D]
    (Skv a multiple of page_size) into pools of shuffled pages with spare
    pages of noise; returns (k pool, v pool, table). Table entries past
    each row's kv_len are garbage that must never be read."""
    B, H, S, _ = k.shape
    n = S // page_size
    pages = B * n + 3
    order = rng.permutation(pages)[:B * n].reshape(B, n)
    pools = []
    for cache in (k, v):
        pool = rng.standard_normal((pages, H, page_size, cache.shape[3]))
        pool = pool.astype(cache.dtype)
        for b in range(B):
            for i in range(n):
                pool[order[b, i]] = cache[b, :, i * page_size:
                                          (i + 1) * page_size]
        if layout == "nhd":
            pool = pool.transpose(0, 2, 1, 3)
        pools.append(np.ascontiguousarray(pool))
    table = order.astype(np.int32)
    if garbage:
        unused = np.arange(n)[None, :] * page_size >= lens[:, None]
        table[unused] = rng.choice([-1, pages, 1 << 30], unused.sum())
    return pools[0], pools[1], table


def paged_problem(rng, sizes, Sq, D, et, lens, page_size, layout):
    """Random q [B, Hq, Sq, D], contiguous k, v [B, Hkv, S, D] and their
    page pools and table (page_out), for sizes (B, Hq, Hkv, S)."""
    B, Hq, Hkv, S = sizes
    k = rng.standard_normal((B, Hkv, S, D)).astype(et)
    v = rng.standard_normal((B, Hkv, S, D)).astype(et)
    q = rng.standard_normal((B, Hq, Sq, D)).astype(et)
    return (q, k, v) + page_out(rng, k, v, lens, page_size, layout)


# (pool layout, dtype, Q layout, mask, score modifiers)
CASES = [
    ("nhd", "float32", "bhsd", attn.causal(),
     [attn.alibi(), attn.softcap(20.0)]),
    ("hnd", "float32", "bshd",
     attn.causal() & attn.sliding_window(48), []),
    ("nhd", "bfloat16", "bhsd", attn.causal(), [attn.softcap(20.0)]),
    ("hnd", "bfloat16", "bhsd", attn.full(), []),
]


@pytest.mark.parametrize("pool_layout,dtype,layout,mask,mods", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_paged_equals_contiguous_and_reference(pool_layout, dtype, layout,
                                               mask, mods):
    rng = np.random.default_rng(7)
    page_size, D = 16, 64
    paged = attn.Paged(page_size, pool_layout)
    spec = attn.Spec(mask=mask, score_mod=mods, layout=layout, paged=paged)
    flat = attn.Spec(mask=mask, score_mod=mods, layout=layout, kv_len=True)
    fn = attn.compile(spec, dtype=dtype, head_dim=D)
    fn_flat = attn.compile(flat, dtype=dtype, head_dim=D)
    et = NP[dtype]
    # Decoding (Sq 1 and 2: the row kernel) and chunked prefill (the tile
    # kernel); GQA 8/2; ragged lengths that end mid-page, an empty cache,
    # and for prefill a row shorter than its queries (fully masked rows
    # under the causal masks).
    for Sq, lens in ((1, [77, 0, 1, 160, 33]), (2, [2, 159, 64, 17, 100]),
                     (37, [37, 160, 90, 20, 128])):
        lens = np.array(lens, np.int32)
        q, k, v, kp, vp, table = paged_problem(rng, (5, 8, 2, 160), Sq, D, et,
                                               lens, page_size, pool_layout)
        if layout == "bshd":
            q, k, v = (np.ascontiguousarray(x.transpose(0, 2, 1, 3))
                       for x in (q, k, v))
        out, lse = fn(q, kp, vp, page_table=table, kv_len=lens,
                      return_lse=True)
        want, want_lse = reference.attention(flat, q, k, v, kv_len=lens,
                                             return_lse=True)
        got_flat = fn_flat(q, k, v, kv_len=lens)
        assert rel_err(out, want) <= TOL[dtype], (Sq, rel_err(out, want))
        assert rel_err(got_flat, want) <= TOL[dtype]
        finite = np.isfinite(want_lse)
        assert (np.isneginf(lse) == ~finite).all()
        assert np.abs(lse[finite] - want_lse[finite]).max() <= TOL[dtype] * \
            max(1.0, np.abs(want_lse[finite]).max())
        if Sq <= 2:
            # The row kernel reads the same rows in the same order.
            np.testing.assert_array_equal(np.asarray(out, np.float64),
                                          np.asarray(got_flat, np.float64))
        # The reference's own gather of the pages agrees with the
        # contiguous reference.
        ref_paged = reference.attention(spec, q, kp, vp, page_table=table,
                                        kv_len=lens)
        np.testing.assert_allclose(ref_paged, want, rtol=1e-12, atol=1e-12)


def test_paged_reference_lowering_and_page_sizes():
    """The reference lowering gathers the pages itself; page sizes that do
    not divide the lengths or the kv tiles."""
    rng = np.random.default_rng(3)
    for page_size, pool_layout in ((5, "hnd"), (32, "nhd")):
        spec = attn.Spec(mask=attn.causal(),
                         paged=attn.Paged(page_size, pool_layout))
        flat = attn.Spec(mask=attn.causal(), kv_len=True)
        B, Hq, Hkv, D, n = 3, 4, 1, 32, 7
        S = n * page_size
        lens = np.array([S, S - 3, page_size + 1], np.int32)
        k = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
        v = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
        kp, vp, table = page_out(rng, k, v, lens, page_size, pool_layout,
                                 garbage=False)
        for Sq in (1, 9):
            q = rng.standard_normal((B, Hq, Sq, D)).astype(np.float32)
            want = reference.attention(flat, q, k, v, kv_len=lens)
            for lowering in ("fused", "reference"):
                fn = attn.compile(spec, head_dim=D, lowering=lowering)
                out = fn(q, kp, vp, page_table=table, kv_len=lens)
                assert rel_err(out, want) <= 1e-4, (lowering, page_size, Sq)


@pytest.mark.parametrize("page_size,D,block_kv", [
    (16, 128, None),   # spans of 32 keys hold 2 pages (read in place)
    (64, 128, 128),    # pages of 2 spans (in place)
    (16, 64, 48),      # spans of 48 keys, 3 pages (in place)
    (48, 32, 96),      # spans of 96 keys, 2 pages (in place)
    (128, 64, 48),     # block_kv not a multiple of the page: gathered
    (32, 80, 96),      # pages of 32 and spans of 48 keys: gathered
])
def test_f32_hnd_decoding_reads_pages_in_place(page_size, D, block_kv):
    # f32 decoding reads hnd pools in place a span at a time (one table
    # lookup a page, DecodeKernel.cpp) where spans and pages nest, else
    # gathers the rows: either way the same rows in the same order as a
    # contiguous cache (equal bits) and the float64 reference; ragged
    # lengths that end mid-page and mid-span, an empty row, GQA 6/2,
    # garbage table entries past kv_len.
    rng = np.random.default_rng(11)
    config = {"block_kv": block_kv} if block_kv else {}
    spec = attn.Spec(mask=attn.causal(), paged=attn.Paged(page_size, "hnd"),
                     config=config)
    flat = attn.Spec(mask=attn.causal(), kv_len=True, config=config)
    fn = attn.compile(spec, head_dim=D)
    fn_flat = attn.compile(flat, head_dim=D)
    S = 6 * page_size if page_size >= 48 else 24 * page_size
    lens = np.array([S, S - 7, 0, page_size + 3, 33], np.int32)
    for Sq in (1, 2):
        q, k, v, kp, vp, table = paged_problem(rng, (5, 6, 2, S), Sq, D,
                                               np.float32, lens, page_size,
                                               "hnd")
        out = fn(q, kp, vp, page_table=table, kv_len=lens)
        want = reference.attention(flat, q, k, v, kv_len=lens)
        assert rel_err(out, want) <= 1e-5, (Sq, rel_err(out, want))
        np.testing.assert_array_equal(out, fn_flat(q, k, v, kv_len=lens))


@pytest.fixture(scope="module")
def small():
    spec = attn.Spec(mask=attn.causal(), paged=attn.Paged(4))
    fn = attn.compile(spec, head_dim=16)
    rng = np.random.default_rng(1)
    pool = rng.standard_normal((10, 4, 2, 16)).astype(np.float32)
    q = rng.standard_normal((2, 4, 1, 16)).astype(np.float32)
    table = np.array([[3, 1, 7, -1], [0, 9, 2, 5]], np.int32)
    lens = np.array([9, 16], np.int32)
    return fn, q, pool, table, lens


def test_bad_tables_raise_before_the_kernel(small):
    fn, q, pool, table, lens = small
    fn(q, pool, pool, page_table=table, kv_len=lens)   # the good call
    bad = table.copy()
    bad[1, 2] = 10
    with pytest.raises(ValueError, match=r"page_table\[1, 2\] = 10 is not a "
                       r"page of the pool \(pages 0\.\.9\), and batch row 1 "
                       r"reads it"):
        fn(q, pool, pool, page_table=bad, kv_len=lens)
    bad = table.copy()
    bad[0, 1] = -2
    with pytest.raises(ValueError, match=r"page_table\[0, 1\] = -2"):
        fn(q, pool, pool, page_table=bad, kv_len=lens)
    # Entry [0, 3] is -1 but row 0 reads 9 keys, 3 pages: not an error;
    # with 13 keys it is.
    with pytest.raises(ValueError, match=r"page_table\[0, 3\] = -1"):
        fn(q, pool, pool, page_table=table, kv_len=np.array([13, 16],
                                                             np.int32))
    with pytest.raises(ValueError, match=r"kv_len\[1\] = 17 is beyond the "
                       r"page table's capacity: max_pages 4 x page_size 4 "
                       r"= 16 keys"):
        fn(q, pool, pool, page_table=table,
           kv_len=np.array([9, 17], np.int32))
    with pytest.raises(ValueError, match=r"kv_len\[0\] = -1 is negative"):
        fn(q, pool, pool, page_table=table,
           kv_len=np.array([-1, 16], np.int32))


def test_bad_paged_arguments(small):
    fn, q, pool, table, lens = small
    with pytest.raises(TypeError, match="needs the 'page_table' operand"):
        fn(q, pool, pool, kv_len=lens)
    with pytest.raises(TypeError, match="page_table must be int32"):
        fn(q, pool, pool, page_table=table.astype(np.float32), kv_len=lens)
    with pytest.raises(ValueError, match=r"page_table must have shape "
                       r"\(2, 4\), got \(3, 4\)"):
        fn(q, pool, pool, page_table=np.zeros((3, 4), np.int32),
           kv_len=lens)
    with pytest.raises(ValueError, match=r"k must be a page pool \[pages, "
                       r"page_size, Hkv, D\] with page_size = 4"):
        fn(q, pool[:, :3], pool, page_table=table, kv_len=lens)
    with pytest.raises(ValueError, match="k and v page pools must agree"):
        fn(q, pool, pool[:9], page_table=table, kv_len=lens)
    with pytest.raises(attn.SpecError, match="no backward"):
        fn.backward(q, pool, pool, q, None, q, page_table=table, kv_len=lens)
    with pytest.raises(attn.SpecError, match="page_size"):
        attn.Paged(0)
    with pytest.raises(attn.SpecError, match="'nhd'"):
        attn.Paged(16, "bhsd")


@pytest.mark.parametrize("chip,pool_layout,dtype", [
    ("sm_80", "nhd", "bfloat16"), ("sm_80", "hnd", "float16"),
    ("sm_90a", "hnd", "bfloat16")])
def test_paged_on_the_gpu_emulator(chip, pool_layout, dtype):
    """The mma.sync kernel's cp.async copies read rows through the page
    table (sm_90a runs that kernel for paged caches), on the GPU emulator:
    decoding and chunked prefill, GQA, ragged lengths ending mid-page, an
    empty row, garbage table entries past kv_len."""
    rng = np.random.default_rng(11)
    page_size, D = 16, 32
    spec = attn.Spec(mask=attn.causal(), score_mod=[attn.softcap(20.0)],
                     paged=attn.Paged(page_size, pool_layout))
    flat = attn.Spec(mask=attn.causal(), score_mod=[attn.softcap(20.0)],
                     kv_len=True)
    fn = attn.compile(spec, target="cuda-emulator", chip=chip, dtype=dtype,
                      head_dim=D)
    et = np.float16 if dtype == "float16" else NP[dtype]
    for Sq, lens in ((1, [0, 37, 96]), (21, [21, 96, 50])):
        lens = np.array(lens, np.int32)
        q, k, v, kp, vp, table = paged_problem(rng, (3, 4, 2, 96), Sq, D, et,
                                               lens, page_size, pool_layout)
        out, lse = fn(q, kp, vp, page_table=table, kv_len=lens,
                      return_lse=True)
        want, want_lse = reference.attention(flat, q, k, v, kv_len=lens,
                                             return_lse=True)
        assert rel_err(out, want) <= 8e-3, (Sq, rel_err(out, want))
        finite = np.isfinite(want_lse)
        assert (np.isneginf(lse) == ~finite).all()
        assert np.abs(lse[finite] - want_lse[finite]).max() <= 8e-3 * \
            max(1.0, np.abs(want_lse[finite]).max())


def test_paged_rejects_wgmma():
    spec = attn.Spec(mask=attn.causal(), paged=attn.Paged(16),
                     config={"mma": "wgmma"})
    with pytest.raises(attn.CompileError,
                       match="cannot read a paged cache"):
        attn.compile(spec, target="cuda", chip="sm_90a", dtype="bfloat16",
                     head_dim=64)


def test_paged_ir_form():
    text = attn.to_mlir(attn.Spec(paged=attn.Paged(8, "hnd")), head_dim=32)
    assert "page_table(%page_table : tensor<?x?xi32>)" in text
    assert "kv_len(%kv_len : tensor<?xi32>)" in text
    assert "tensor<?x?x8x32xf32>" in text
    assert "paged = #attn.paged<page_size = 8, layout = hnd>" in text


def test_the_kernel_clamps_bad_entries_it_is_given(small):
    """Past the Python checks (the native entry point called directly),
    page ids out of range read a page of the pool, never past it: the
    output stays finite (the ASan build of scripts/sanitize.sh would
    report an out-of-bounds read)."""
    fn, q, pool, table, lens = small
    args, _ = fn.arguments(q, pool, pool, page_table=table, kv_len=lens)
    tables = [a for a in args if a.dtype == np.int32 and a.ndim == 2]
    assert len(tables) == 1
    tables[0][:] = [[1 << 30, -(1 << 30), 10, 11], [-1, 99, 1 << 20, 10]]
    fn._native.call([(a.ctypes.data, list(a.shape)) for a in args])
    assert np.isfinite(args[-2]).all() and np.isfinite(args[-1]).all()
