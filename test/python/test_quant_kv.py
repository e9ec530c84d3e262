"""Quantized KV caches (Spec(quant=attn.Quant(...))): the kernels, which
dequantise each kv tile as it is loaded, equal the float64 reference run on
a float cache that this file dequantises with its own code (bits split by
np.unpackbits, not the package's shifts), for int8, int4 and int2 codes,
f16 and f32 scales, residual windows, ragged kv_len, GQA, both layouts,
decoding (the row kernel) and prefill (the tile kernel) and the reference
lowering; attn.quantize_kv keeps each element within half a step of its
group; attn.append_kv builds the same cache as quantizing at once; bad
arguments raise before the kernel runs."""

import numpy as np
import pytest

import attn
from attn import reference

ml_dtypes = pytest.importorskip("ml_dtypes")

NP = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}
TOL = {"float32": 1e-4, "bfloat16": 8e-3}


def rel_err(got, want):
    got = np.asarray(got, np.float64)
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)


def my_dequantize(quant, codes, scale, zero, residual, lens, values, bshd):
    """This test's own reading of the documented packing: the bits of each
    byte, least significant first (np.unpackbits, bitorder="little"), taken
    `bits` at a time as the codes of consecutive channels; keys scaled per
    (token group, channel), values per (token, channel group); the newest
    lens % R tokens from the residual."""
    def bhsd(x):
        return np.asarray(x).swapaxes(1, 2) if bshd else np.asarray(x)
    codes = bhsd(codes)
    B, H, S, nb = codes.shape
    bits, G = quant.bits, quant.group_size
    allbits = np.unpackbits(codes.reshape(-1, 1).astype(np.uint8), axis=1,
                            bitorder="little").reshape(B, H, S, nb * 8)
    weights = 2 ** np.arange(bits)
    code = (allbits.reshape(B, H, S, nb * 8 // bits, bits) * weights).sum(-1)
    out = np.empty(code.shape)
    sc, ze = bhsd(scale).astype(np.float64), bhsd(zero).astype(np.float64)
    for b in range(B):
        for h in range(H):
            for j in range(S):
                for d in range(code.shape[3]):
                    at = (b, h, j, d // G) if values else (b, h, j // G, d)
                    out[b, h, j, d] = sc[at] * code[b, h, j, d] + ze[at]
    if quant.residual:
        res = bhsd(residual).astype(np.float64)
        for b in range(B):
            fresh = lens[b] % quant.residual
            out[b, :, lens[b] - fresh:lens[b]] = res[b, :, :fresh]
    return out


def float_cache(cache):
    """The float64 BHSD k and v that `cache` holds, by my_dequantize."""
    bshd = cache.layout == "bshd"
    k = my_dequantize(cache.quant, cache.k, cache.k_scale, cache.k_zero,
                      cache.k_residual, cache.kv_len, False, bshd)
    v = my_dequantize(cache.quant, cache.v, cache.v_scale, cache.v_zero,
                      cache.v_residual, cache.kv_len, True, bshd)
    return k, v


def random_cache(rng, quant, shape, lens, layout, dtype):
    """Gaussian keys (2 N(0, 1) + 0.5) and values of `shape` [B, Hkv, S, D]
    (in `layout`) quantized by attn.quantize_kv, and the float64 BHSD k
    and v that the cache holds as this file dequantises them."""
    et = NP[dtype]
    k = rng.standard_normal(shape) * 2 + 0.5
    v = rng.standard_normal(shape)
    if layout == "bshd":
        k, v = k.swapaxes(1, 2), v.swapaxes(1, 2)
    cache = attn.quantize_kv(k.astype(et), v.astype(et), quant,
                             kv_len=lens, layout=layout, dtype=dtype)
    kd, vd = fp8_float_cache(cache) if quant.fp8 else float_cache(cache)
    return cache, kd, vd


# (bits, group, scale dtype, residual, kernel dtype, layout, mask)
CASES = [
    (4, 32, "float16", 0, "float32", "bhsd", attn.full()),
    (8, 32, "float32", 0, "float32", "bshd", attn.causal()),
    (2, 32, "float16", 64, "float32", "bhsd", attn.causal()),
    (4, 16, "float16", 32, "bfloat16", "bhsd", attn.causal()),
    (8, 64, "float16", 64, "bfloat16", "bshd", attn.full()),
    (2, 16, "float32", 0, "float32", "bhsd", attn.sliding_window(40)),
]


@pytest.mark.parametrize("bits,G,st,R,dtype,layout,mask", CASES,
                         ids=[f"int{c[0]}-g{c[1]}-{c[2]}-r{c[3]}-{c[4]}-"
                              f"{c[5]}" for c in CASES])
def test_quantized_kernel_equals_float64_on_the_dequantised_cache(
        bits, G, st, R, dtype, layout, mask):
    rng = np.random.default_rng(bits * 100 + G + R)
    quant = attn.Quant(bits, G, st, R)
    D = 64
    B, Hq, Hkv, S = 4, 8, 2, 128
    spec = attn.Spec(mask=mask, layout=layout, quant=quant)
    flat = attn.Spec(mask=mask, kv_len=True)
    fn = attn.compile(spec, dtype=dtype, head_dim=D)
    et = NP[dtype]
    bshd = layout == "bshd"
    for Sq, lens in ((1, [77, 0, 128, 33]), (2, [2, 127, 64, 96]),
                     (9, [40, 128, 9, 100])):
        lens = np.array(lens, np.int32)
        cache, kd, vd = random_cache(rng, quant, (B, Hkv, S, D), lens,
                                     layout, dtype)
        q = rng.standard_normal((B, Hq, Sq, D))
        qi = q.astype(et)
        if bshd:
            qi = np.ascontiguousarray(qi.swapaxes(1, 2))
        out = np.asarray(fn(qi, cache.k, cache.v, kv_quant=cache,
                            kv_len=cache.kv_len), np.float64)
        if bshd:
            out = out.swapaxes(1, 2)
        # The reference's input is q rounded to the kernel's dtype, as the
        # kernel reads it.
        want = reference.attention(flat, qi.swapaxes(1, 2) if bshd else qi,
                                   kd, vd, kv_len=lens)
        assert rel_err(out, want) <= TOL[dtype], (Sq, rel_err(out, want))
        # The reference's own dequantisation agrees with this file's.
        ref_q = np.asarray(reference.attention(
            spec, qi, cache.k, cache.v, kv_quant=cache,
            kv_len=cache.kv_len), np.float64)
        if bshd:
            ref_q = ref_q.swapaxes(1, 2)
        np.testing.assert_allclose(ref_q, want, rtol=1e-12, atol=1e-12)


def test_quantized_reference_lowering():
    """The reference lowering dequantises the whole cache first."""
    rng = np.random.default_rng(5)
    quant = attn.Quant(4, 32, "float16", residual=32)
    spec = attn.Spec(mask=attn.causal(), quant=quant)
    flat = attn.Spec(mask=attn.causal(), kv_len=True)
    B, Hq, Hkv, S, D = 2, 4, 1, 96, 32
    lens = np.array([70, 96], np.int32)
    k = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
    v = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
    cache = attn.quantize_kv(k, v, quant, kv_len=lens)
    kd, vd = float_cache(cache)
    for Sq in (1, 5):
        q = rng.standard_normal((B, Hq, Sq, D)).astype(np.float32)
        want = reference.attention(flat, q, kd, vd, kv_len=lens)
        for lowering in ("fused", "reference"):
            fn = attn.compile(spec, head_dim=D, lowering=lowering)
            out = fn(q, cache.k, cache.v, kv_quant=cache, kv_len=lens)
            assert rel_err(out, want) <= 1e-4, (lowering, Sq)


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_quantize_kv_error_is_half_a_step(bits):
    """Each dequantised element lies within half a quantization step of
    the input (f32 scales), each group's largest element gets the largest
    code, and the residual rows are the input itself."""
    rng = np.random.default_rng(bits)
    quant = attn.Quant(bits, 16, "float32", residual=32)
    k = rng.standard_normal((2, 3, 64, 32)).astype(np.float32)
    v = rng.standard_normal((2, 3, 64, 32)).astype(np.float32)
    lens = np.array([50, 64], np.int32)
    cache = attn.quantize_kv(k, v, quant, kv_len=lens)
    assert cache.k.dtype == np.uint8 and cache.k.shape == (2, 3, 64,
                                                           32 * bits // 8)
    assert cache.k_scale.shape == (2, 3, 4, 32)
    assert cache.v_scale.shape == (2, 3, 64, 2)
    kd, vd = float_cache(cache)
    steps = (1 << bits) - 1
    for b, n in enumerate(lens):
        n = int(n)
        q_n = n - n % 32
        ks = np.repeat(cache.k_scale[b], 16, axis=1)[:, :q_n]
        vs = np.repeat(cache.v_scale[b], 16, axis=2)[:, :q_n]
        assert (np.abs(kd[b, :, :q_n] - k[b, :, :q_n])
                <= ks / 2 + 1e-6).all()
        assert (np.abs(vd[b, :, :q_n] - v[b, :, :q_n])
                <= vs / 2 + 1e-6).all()
        np.testing.assert_array_equal(kd[b, :, q_n:n], k[b, :, q_n:n])
        # A group's range spans its codes: the group's maximum gets the
        # largest code, 2^bits - 1.
        kz = np.repeat(cache.k_zero[b], 16, axis=1)[:, :q_n]
        top = ((kd[b, :, :q_n] - kz) / ks).reshape(3, q_n // 16, 16, 32)
        np.testing.assert_allclose(top.max(axis=2), steps, rtol=1e-6)


def test_append_equals_quantizing_at_once():
    """Tokens appended one at a time (the residual fills and is quantized
    R at a time) give the cache that quantize_kv makes of the whole
    sequence, bit for bit, and the kernel reads the appended cache."""
    rng = np.random.default_rng(11)
    quant = attn.Quant(4, 16, "float16", residual=32)
    B, H, S, D = 2, 2, 128, 32
    k = rng.standard_normal((B, H, S, D)).astype(np.float32)
    v = rng.standard_normal((B, H, S, D)).astype(np.float32)
    start = np.array([5, 40], np.int32)
    cache = attn.quantize_kv(k, v, quant, kv_len=start, capacity=S)
    for t in range(60):
        pos = start + t
        attn.append_kv(cache, k[np.arange(B), :, pos][:, :, None],
                       v[np.arange(B), :, pos][:, :, None])
    np.testing.assert_array_equal(cache.kv_len, start + 60)
    whole = attn.quantize_kv(k, v, quant, kv_len=start + 60, capacity=S)
    for name in ("k", "v", "k_scale", "k_zero", "v_scale", "v_zero",
                 "k_residual", "v_residual"):
        got, want = getattr(cache, name), getattr(whole, name)
        if name.endswith("residual"):
            # Rows past each row's fresh tokens are unused.
            for b in range(B):
                m = int(cache.kv_len[b]) % 32
                np.testing.assert_array_equal(got[b, :, :m], want[b, :, :m])
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
    fn = attn.compile(attn.Spec(quant=quant), head_dim=D)
    q = rng.standard_normal((B, 4, 1, D)).astype(np.float32)
    kd, vd = float_cache(cache)
    want = reference.attention(attn.Spec(kv_len=True), q, kd, vd,
                               kv_len=cache.kv_len)
    out = fn(q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len)
    assert rel_err(out, want) <= 1e-4


@pytest.fixture(scope="module")
def small():
    quant = attn.Quant(4, 16, "float16", residual=16)
    fn = attn.compile(attn.Spec(quant=quant), head_dim=32)
    rng = np.random.default_rng(2)
    k = rng.standard_normal((2, 2, 32, 32)).astype(np.float32)
    cache = attn.quantize_kv(k, k, quant, kv_len=np.array([20, 32]))
    q = rng.standard_normal((2, 4, 1, 32)).astype(np.float32)
    return fn, quant, cache, q


def test_bad_quantized_arguments(small):
    fn, quant, cache, q = small
    fn(q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len)  # good
    with pytest.raises(TypeError, match="needs the 'kv_quant' operand"):
        fn(q, cache.k, cache.v, kv_len=cache.kv_len)
    with pytest.raises(TypeError, match="k must be the 4-D uint8 codes"):
        fn(q, cache.k.astype(np.float32), cache.v, kv_quant=cache,
           kv_len=cache.kv_len)
    with pytest.raises(ValueError, match="k packs 8 bytes per token, but "
                       "head dim 32 in 4-bit codes takes 16"):
        fn(q, cache.k[..., :8], cache.v, kv_quant=cache,
           kv_len=cache.kv_len)
    with pytest.raises(ValueError, match="not a multiple of group_size 16"):
        fn(q, cache.k[:, :, :24], cache.v[:, :, :24], kv_quant=cache,
           kv_len=np.array([20, 24], np.int32))
    ops = list(cache.operands())
    with pytest.raises(TypeError, match=r"\(6 arrays\)"):
        fn(q, cache.k, cache.v, kv_quant=ops[:4], kv_len=cache.kv_len)
    bad = list(ops)
    bad[0] = bad[0].astype(np.float32)
    with pytest.raises(TypeError, match="kv_quant k_scale must be float16"):
        fn(q, cache.k, cache.v, kv_quant=bad, kv_len=cache.kv_len)
    bad = list(ops)
    bad[2] = bad[2][:, :, :16]
    with pytest.raises(ValueError, match=r"kv_quant v_scale must have shape "
                       r"\(2, 2, 32, 2\)"):
        fn(q, cache.k, cache.v, kv_quant=bad, kv_len=cache.kv_len)
    bad = list(ops)
    bad[4] = bad[4][:, :, :8]
    with pytest.raises(ValueError, match="kv_quant k_residual must have "
                       "shape"):
        fn(q, cache.k, cache.v, kv_quant=bad, kv_len=cache.kv_len)
    other = attn.quantize_kv(np.zeros((2, 2, 32, 32)), np.zeros((2, 2, 32,
                                                                  32)),
                             attn.Quant(4, 16, "float32", residual=16))
    with pytest.raises(ValueError, match="kv_quant is a cache for"):
        fn(q, cache.k, cache.v, kv_quant=other, kv_len=cache.kv_len)
    with pytest.raises(ValueError, match=r"kv_len values must lie in"):
        fn(q, cache.k, cache.v, kv_quant=cache,
           kv_len=np.array([20, 33], np.int32))
    with pytest.raises(attn.SpecError, match="no backward"):
        fn.backward(q, cache.k, cache.v, q, None, q, kv_quant=cache,
                    kv_len=cache.kv_len)


def test_bad_quant_specs_and_caches():
    with pytest.raises(attn.SpecError, match="bits must be 8, 4 or 2, got 3"):
        attn.Quant(3)
    with pytest.raises(attn.SpecError, match="group_size must be >= 1"):
        attn.Quant(4, 0)
    with pytest.raises(attn.SpecError, match="scale_dtype must be"):
        attn.Quant(4, 32, "bfloat16")
    with pytest.raises(attn.SpecError, match=r"residual \(48\) must be a "
                       r"multiple of group_size \(32\)"):
        attn.Quant(4, 32, residual=48)
    with pytest.raises(attn.SpecError, match="head_dim_v 48 must be a "
                       "multiple of group_size 32"):
        attn.compile(attn.Spec(quant=attn.Quant(4, 32)), head_dim=48)
    with pytest.raises(attn.SpecError, match="head_dim 6 must be a multiple "
                       "of 4"):
        attn.compile(attn.Spec(quant=attn.Quant(2, 2)), head_dim=6)
    z = np.zeros((1, 1, 32, 32), np.float32)
    with pytest.raises(ValueError, match="value head dim 32 must be a "
                       "multiple of group_size 64"):
        attn.quantize_kv(z, z, attn.Quant(4, 64))
    with pytest.raises(ValueError, match="capacity 40 must be a multiple"):
        attn.quantize_kv(z, z, attn.Quant(4, 16), capacity=40)
    with pytest.raises(ValueError, match=r"kv_len values must lie in"):
        attn.quantize_kv(z, z, attn.Quant(4, 16), kv_len=[33])
    with pytest.raises(ValueError, match="needs a cache with a residual"):
        attn.append_kv(attn.quantize_kv(z, z, attn.Quant(4, 16)),
                       z[:, :, :1], z[:, :, :1])
    full = attn.quantize_kv(z, z, attn.Quant(4, 16, residual=16))
    with pytest.raises(ValueError, match="holds 32 of 32 tokens: no room"):
        attn.append_kv(full, z[:, :, :1], z[:, :, :1])
    with pytest.raises(ValueError, match="k_new and v_new must be"):
        attn.append_kv(attn.quantize_kv(z, z, attn.Quant(4, 16, residual=16),
                                        kv_len=[3]),
                       z[:, :, :1, :16], z[:, :, :1])


def test_quantized_ir_form():
    text = attn.to_mlir(attn.Spec(quant=attn.Quant(2, 32, "float32",
                                                   residual=64)),
                        head_dim=128)
    assert "ins(%q, %k, %v : tensor<?x?x?x128xf32>, tensor<?x?x?x32xi8>, " \
        "tensor<?x?x?x32xi8>)" in text
    assert "kv_quant(%k_scale, %k_zero, %v_scale, %v_zero, %k_residual, " \
        "%v_residual : tensor<?x?x?x128xf32>, tensor<?x?x?x128xf32>, " \
        "tensor<?x?x?x4xf32>, tensor<?x?x?x4xf32>, tensor<?x?x64x128xf32>, " \
        "tensor<?x?x64x128xf32>)" in text
    assert "quant = #attn.quant<bits = 2, group = 32, scale = f32, " \
        "residual = 64>" in text


@pytest.mark.parametrize("pool_layout,bits,dtype", [("nhd", 4, "float32"),
                                                    ("hnd", 2, "float32"),
                                                    ("nhd", 8, "bfloat16")])
def test_paged_quantized_equals_contiguous_and_float64(pool_layout, bits,
                                                       dtype):
    """Codes, scales and zeros in page pools read through one page table
    (pages shuffled, spare pages of noise) give what the contiguous
    quantized cache gives, and the float64 computation on this file's
    dequantisation of the contiguous cache."""
    rng = np.random.default_rng(bits + 17)
    P, G, R, D = 32, 16, 32, 64
    quant = attn.Quant(bits, G, "float16", residual=R)
    paged = attn.Paged(P, pool_layout)
    spec = attn.Spec(mask=attn.causal(), quant=quant, paged=paged)
    contiguous = attn.Spec(mask=attn.causal(), quant=quant)
    flat = attn.Spec(mask=attn.causal(), kv_len=True)
    et = NP[dtype]
    B, Hq, Hkv, S = 3, 8, 2, 160
    for lowering in ("fused", "reference"):
        fn = attn.compile(spec, dtype=dtype, head_dim=D, lowering=lowering)
        fn_c = attn.compile(contiguous, dtype=dtype, head_dim=D,
                            lowering=lowering)
        for Sq, lens in ((1, [77, 0, 160]), (5, [40, 160, 100])):
            lens = np.array(lens, np.int32)
            k = rng.standard_normal((B, Hkv, S, D)).astype(et)
            v = rng.standard_normal((B, Hkv, S, D)).astype(et)
            cache = attn.quantize_kv(k, v, quant, kv_len=lens, dtype=dtype)
            pages = B * (S // P) + 4
            table = rng.permutation(pages)[:B * (S // P)].reshape(B, -1)
            pc = cache.to_pages(paged, table, pages)
            assert pc.k.shape == ((pages, P, Hkv, D * bits // 8)
                                  if pool_layout == "nhd" else
                                  (pages, Hkv, P, D * bits // 8))
            q = rng.standard_normal((B, Hq, Sq, D)).astype(et)
            out = fn(q, pc.k, pc.v, kv_quant=pc, page_table=pc.page_table,
                     kv_len=pc.kv_len)
            got_c = fn_c(q, cache.k, cache.v, kv_quant=cache,
                         kv_len=cache.kv_len)
            kd, vd = float_cache(cache)
            want = reference.attention(flat, q, kd, vd, kv_len=lens)
            assert rel_err(out, want) <= TOL[dtype], (lowering, Sq)
            assert rel_err(got_c, want) <= TOL[dtype], (lowering, Sq)
            ref_paged = reference.attention(spec, q, pc.k, pc.v,
                                            kv_quant=pc,
                                            page_table=pc.page_table,
                                            kv_len=pc.kv_len)
            np.testing.assert_allclose(ref_paged, want, rtol=1e-12,
                                       atol=1e-12)


@pytest.mark.parametrize("page_size,group,D,block_kv,bits,layout,R", [
    (16, 16, 64, None, 4, "nhd", 0),    # decode spans of 64 keys, 4 pages
    (64, 32, 64, None, 8, "hnd", 32),   # a page a span
    (128, 32, 128, None, 4, "nhd", 0),  # spans of 32 keys inside a page
    (32, 32, 64, 48, 2, "hnd", 0),      # kv tiles of 48 keys: mid-page starts
    (32, 16, 32, 80, 8, "nhd", 48),     # spans of 80 keys, 2.5 pages
])
def test_paged_quantized_bits_equal_contiguous(page_size, group, D, block_kv,
                                               bits, layout, R):
    # A quantized page pool is dequantised a page at a time (one table
    # lookup a page, DequantTile.cpp): pages shorter than the decoding
    # span, as long, longer, and tiles and spans that start and end
    # mid-page, with and without residual windows; the rows and the
    # arithmetic are those of the contiguous cache, so the bits are equal,
    # and both are the float64 computation on this file's dequantisation.
    # Ragged lengths (mid-page, an empty row), GQA 6/2, pages shuffled.
    rng = np.random.default_rng(page_size + bits)
    quant = attn.Quant(bits, group, "float16", residual=R)
    paged = attn.Paged(page_size, layout)
    config = {"block_kv": block_kv} if block_kv else {}
    spec = attn.Spec(mask=attn.causal(), quant=quant, paged=paged,
                     config=config)
    contiguous = attn.Spec(mask=attn.causal(), quant=quant, config=config)
    flat = attn.Spec(mask=attn.causal(), kv_len=True)
    fn = attn.compile(spec, head_dim=D)
    fn_c = attn.compile(contiguous, head_dim=D)
    B, Hq, Hkv = 5, 6, 2
    S = 6 * page_size if page_size >= 48 else 12 * page_size
    lens = np.array([S, S - 7, 0, page_size + 3, 33], np.int32)
    k = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
    v = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
    cache = attn.quantize_kv(k, v, quant, kv_len=lens)
    pages = B * (S // page_size) + 3
    table = rng.permutation(pages)[:B * (S // page_size)].reshape(B, -1)
    pc = cache.to_pages(paged, table, pages)
    kd, vd = float_cache(cache)
    for Sq in (1, 3):
        q = rng.standard_normal((B, Hq, Sq, D)).astype(np.float32)
        out = fn(q, pc.k, pc.v, kv_quant=pc, page_table=pc.page_table,
                 kv_len=pc.kv_len)
        got_c = fn_c(q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len)
        want = reference.attention(flat, q, kd, vd, kv_len=lens)
        assert rel_err(out, want) <= TOL["float32"], (Sq, rel_err(out, want))
        np.testing.assert_array_equal(out, got_c)


def test_bad_paged_quantized_arguments():
    quant = attn.Quant(4, 16, "float16")
    with pytest.raises(attn.SpecError, match=r"page_size \(8\) to be a "
                       r"multiple of group_size \(16\)"):
        attn.Spec(quant=quant, paged=attn.Paged(8))
    paged = attn.Paged(16)
    fn = attn.compile(attn.Spec(quant=quant, paged=paged), head_dim=32)
    z = np.zeros((2, 2, 32, 32), np.float32)
    cache = attn.quantize_kv(z, z, quant, kv_len=[20, 32])
    pc = cache.to_pages(paged, np.arange(4).reshape(2, 2), 5)
    q = np.zeros((2, 4, 1, 32), np.float32)
    fn(q, pc.k, pc.v, kv_quant=pc, page_table=pc.page_table,
       kv_len=pc.kv_len)                                        # good
    with pytest.raises(ValueError, match="kv_quant is a cache for"):
        fn(q, pc.k, pc.v, kv_quant=cache, page_table=pc.page_table,
           kv_len=pc.kv_len)
    ops = list(pc.operands())
    ops[0] = ops[0][:, :1].repeat(2, axis=1)     # 2 slots a page, not 1
    with pytest.raises(ValueError, match=r"kv_quant k_scale must have shape "
                       r"\(5, 1, 2, 32\)"):
        fn(q, pc.k, pc.v, kv_quant=ops, page_table=pc.page_table,
           kv_len=pc.kv_len)
    bad = pc.page_table.copy()
    bad[1, 1] = 7
    with pytest.raises(ValueError, match=r"page_table\[1, 1\] = 7 is not a "
                       r"page of the pool"):
        fn(q, pc.k, pc.v, kv_quant=pc, page_table=bad, kv_len=pc.kv_len)
    with pytest.raises(ValueError, match="distinct pages"):
        cache.to_pages(paged, np.zeros((2, 2), np.int32), 5)


def my_fp8(codes, fmt):
    """This test's own reading of an fp8 byte (OCP FP8): sign, exponent
    and mantissa fields, subnormals at exponent 0."""
    c = np.asarray(codes).astype(np.int64)
    mbits, bias = (3, 7) if fmt == "e4m3" else (2, 15)
    sign = np.where(c >> 7, -1.0, 1.0)
    e = (c >> mbits) & ((1 << (7 - mbits)) - 1)
    m = c & ((1 << mbits) - 1)
    frac = m / float(1 << mbits)
    mag = np.where(e == 0, frac * 2.0 ** (1 - bias),
                   (1 + frac) * 2.0 ** (e - bias))
    return sign * mag


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_every_fp8_code_decodes_exactly(fmt):
    # One key (kv_len 1, weight exactly 1) whose values are every finite
    # fp8 byte, scale 1: the output is the kernel's reading of each code,
    # which must equal this file's bit for bit: normals, subnormals (read
    # without f32 subnormals, Quant.h) and both zeros.
    quant = attn.Quant(format=fmt, scale_dtype="float32")
    D = 128
    k = np.zeros((1, 2, 16, D), np.float32)
    cache = attn.quantize_kv(k, k, quant, kv_len=np.array([1], np.int32))
    codes = np.arange(256).reshape(2, D)
    finite = np.isfinite(my_fp8(codes, fmt)) & ~(
        (fmt == "e4m3") & ((codes & 0x7F) == 0x7F))
    if fmt == "e5m2":
        finite &= (codes & 0x7C) != 0x7C        # inf and NaN codes
    codes = np.where(finite, codes, 0)
    cache.v[0, :, 0, :] = codes.astype(np.uint8)
    cache.v_scale[...] = 1.0
    fn = attn.compile(attn.Spec(quant=quant), dtype="float32", head_dim=D)
    q = np.zeros((1, 2, 1, D), np.float32)
    out = fn(q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len)
    np.testing.assert_array_equal(np.asarray(out[0, :, 0], np.float64),
                                  my_fp8(codes, fmt))


def fp8_float_cache(cache):
    """The float64 BHSD k and v of an fp8 cache, by my_fp8."""
    bshd = cache.layout == "bshd"
    out = []
    for codes, scale, res in ((cache.k, cache.k_scale, cache.k_residual),
                              (cache.v, cache.v_scale, cache.v_residual)):
        c = np.asarray(codes).swapaxes(1, 2) if bshd else np.asarray(codes)
        x = my_fp8(c, cache.quant.format) * \
            np.asarray(scale, np.float64)[None, :, None, None]
        R = cache.quant.residual
        if R:
            r = np.asarray(res, np.float64)
            r = r.swapaxes(1, 2) if bshd else r
            for b, n in enumerate(cache.kv_len):
                fresh = n % R
                x[b, :, n - fresh:n] = r[b, :, :fresh]
        out.append(x)
    return out


FP8_CASES = [("e4m3", "float32", 0, "bhsd"), ("e5m2", "float32", 32, "bshd"),
             ("e4m3", "bfloat16", 32, "bhsd"), ("e5m2", "bfloat16", 0,
                                                "bhsd")]


@pytest.mark.parametrize("fmt,dtype,R,layout", FP8_CASES,
                         ids=["-".join(map(str, c)) for c in FP8_CASES])
def test_fp8_kernel_equals_float64(fmt, dtype, R, layout):
    """fp8 codes with per-head scales: the kernels equal the float64
    computation on this file's decoding of the bytes; decoding and
    prefill, GQA, ragged kv_len, small values (fp8 subnormals)."""
    rng = np.random.default_rng(len(fmt) + R)
    quant = attn.Quant(format=fmt, scale_dtype="float32", residual=R)
    spec = attn.Spec(mask=attn.causal(), layout=layout, quant=quant)
    flat = attn.Spec(mask=attn.causal(), kv_len=True)
    fn = attn.compile(spec, dtype=dtype, head_dim=64)
    et = NP[dtype]
    B, Hq, Hkv, S, D = 3, 8, 2, 96, 64
    bshd = layout == "bshd"
    for Sq, lens in ((1, [50, 0, 96]), (6, [30, 96, 70])):
        lens = np.array(lens, np.int32)
        k = rng.standard_normal((B, Hkv, S, D)) * \
            np.exp(rng.uniform(-12, 0, (B, Hkv, S, 1)))
        v = rng.standard_normal((B, Hkv, S, D))
        if bshd:
            k, v = k.swapaxes(1, 2), v.swapaxes(1, 2)
        cache = attn.quantize_kv(k.astype(et), v.astype(et), quant,
                                 kv_len=lens, layout=layout, dtype=dtype)
        assert cache.k_scale.shape == (Hkv,) and cache.k_zero is None
        kd, vd = fp8_float_cache(cache)
        q = rng.standard_normal((B, Hq, Sq, D)).astype(et)
        qi = np.ascontiguousarray(q.swapaxes(1, 2)) if bshd else q
        out = np.asarray(fn(qi, cache.k, cache.v, kv_quant=cache,
                            kv_len=cache.kv_len), np.float64)
        out = out.swapaxes(1, 2) if bshd else out
        want = reference.attention(flat, q, kd, vd, kv_len=lens)
        assert rel_err(out, want) <= TOL[dtype], (Sq, rel_err(out, want))
        ref_q = np.asarray(reference.attention(
            spec, qi, cache.k, cache.v, kv_quant=cache, kv_len=lens),
            np.float64)
        ref_q = ref_q.swapaxes(1, 2) if bshd else ref_q
        np.testing.assert_allclose(ref_q, want, rtol=1e-12, atol=1e-12)


def test_fp8_quantize_append_and_paged():
    """quantize_kv's fp8 codes are the inputs rounded to fp8 (half an ulp,
    or half the smallest subnormal); appends without a residual encode
    with the cache's scales; a paged fp8 cache equals the contiguous one."""
    rng = np.random.default_rng(4)
    for fmt, mbits, sub in (("e4m3", 3, 2.0 ** -10), ("e5m2", 2, 2.0 ** -17)):
        quant = attn.Quant(format=fmt, scale_dtype="float32")
        k = rng.standard_normal((2, 2, 64, 32))
        v = rng.standard_normal((2, 2, 64, 32))
        cache = attn.quantize_kv(k, v, quant, kv_len=[40, 48])
        kd, _ = fp8_float_cache(cache)
        s = cache.k_scale[None, :, None, None].astype(np.float64)
        err = np.abs(kd - k)[0, :, :40]
        bound = np.maximum(np.abs(k[0, :, :40]) * 2.0 ** -(mbits + 1),
                           sub * s[0])
        assert (err <= bound * (1 + 1e-9)).all(), fmt
        new_k = 0.5 * rng.standard_normal((2, 2, 3, 32))
        attn.append_kv(cache, new_k, new_k)
        np.testing.assert_array_equal(cache.kv_len, [43, 51])
        kd, _ = fp8_float_cache(cache)
        got = np.stack([kd[0, :, 40:43], kd[1, :, 48:51]])
        assert (np.abs(got - new_k) <= np.maximum(
            np.abs(new_k) * 2.0 ** -(mbits + 1), sub * s[0])
            * (1 + 1e-9)).all()
    paged = attn.Paged(16, "hnd")
    spec = attn.Spec(quant=quant, paged=paged)
    fn = attn.compile(spec, head_dim=32)
    fn_c = attn.compile(attn.Spec(quant=quant), head_dim=32)
    pc = cache.to_pages(paged, rng.permutation(9)[:8].reshape(2, 4), 9)
    q = rng.standard_normal((2, 4, 1, 32)).astype(np.float32)
    out = fn(q, pc.k, pc.v, kv_quant=pc, page_table=pc.page_table,
             kv_len=pc.kv_len)
    want = fn_c(q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len)
    assert rel_err(out, np.asarray(want, np.float64)) <= 1e-6


def test_bad_fp8_arguments():
    with pytest.raises(attn.SpecError, match=r"fp8 codes \(format 'e4m3'\) "
                       r"have bits=8 and group_size=1"):
        attn.Quant(bits=4, format="e4m3")
    with pytest.raises(attn.SpecError, match="format must be one of"):
        attn.Quant(format="e3m4")
    quant = attn.Quant(format="e5m2", scale_dtype="float32")
    fn = attn.compile(attn.Spec(quant=quant), head_dim=32)
    z = np.ones((2, 2, 32, 32), np.float32)
    cache = attn.quantize_kv(z, z, quant)
    q = np.zeros((2, 4, 1, 32), np.float32)
    fn(q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len)  # good
    with pytest.raises(ValueError, match=r"kv_quant v_scale must have shape "
                       r"\(2,\)"):
        fn(q, cache.k, cache.v, kv_quant=(cache.k_scale,
                                          np.ones(3, np.float32)),
           kv_len=cache.kv_len)
    with pytest.raises(TypeError, match=r"\(2 arrays\)"):
        fn(q, cache.k, cache.v, kv_quant=(cache.k_scale,),
           kv_len=cache.kv_len)


@pytest.mark.parametrize("fmt,pool_layout", [("uint", "nhd"),
                                             ("uint", "hnd"),
                                             ("e4m3", "nhd")])
def test_append_to_a_paged_cache(fmt, pool_layout):
    """Appending to a paged cache writes the pools through the page table:
    the pools equal those of the contiguous cache given the same appends
    and then paged, and the kernel reads the result."""
    rng = np.random.default_rng(21)
    quant = (attn.Quant(4, 16, "float16", residual=32) if fmt == "uint"
             else attn.Quant(format=fmt, scale_dtype="float32"))
    paged = attn.Paged(32, pool_layout)
    B, H, S, D = 2, 2, 128, 32
    k = rng.standard_normal((B, H, S, D)).astype(np.float32)
    v = rng.standard_normal((B, H, S, D)).astype(np.float32)
    start = np.array([5, 40], np.int32)
    flat = attn.quantize_kv(k, v, quant, kv_len=start, capacity=S)
    table = rng.permutation(B * S // 32 + 2)[:B * S // 32].reshape(B, -1)
    pc = flat.to_pages(paged, table, B * S // 32 + 2)
    for t in range(70):
        pos = start + t
        kn = 0.5 * k[np.arange(B), :, pos][:, :, None]
        vn = 0.5 * v[np.arange(B), :, pos][:, :, None]
        attn.append_kv(flat, kn, vn)
        attn.append_kv(pc, kn, vn)
    want = flat.to_pages(paged, table, B * S // 32 + 2)
    np.testing.assert_array_equal(pc.kv_len, start + 70)
    for name in ("k", "v", "k_scale", "k_zero", "v_scale", "v_zero",
                 "k_residual", "v_residual"):
        got, exp = getattr(pc, name), getattr(want, name)
        if got is None:
            assert exp is None
        else:
            np.testing.assert_array_equal(got, exp, err_msg=name)
    fn = attn.compile(attn.Spec(quant=quant, paged=paged), head_dim=D)
    q = rng.standard_normal((B, 4, 1, D)).astype(np.float32)
    out = fn(q, pc.k, pc.v, kv_quant=pc, page_table=pc.page_table,
             kv_len=pc.kv_len)
    kd, vd = float_cache(flat) if fmt == "uint" else fp8_float_cache(flat)
    ref = reference.attention(attn.Spec(kv_len=True), q, kd, vd,
                              kv_len=flat.kv_len)
    assert rel_err(out, ref) <= 1e-4
