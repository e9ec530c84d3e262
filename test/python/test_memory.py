"""attn.empty / attn.to_huge_pages: arrays for KV caches in 2 MiB pages
(python/attn/memory.py). The kernels read them as any other array; what
changes is that the mapping is advised into transparent huge pages, which
/proc/self/smaps shows as the VMA flag "hg"."""

import numpy as np
import pytest

import attn

ml_dtypes = pytest.importorskip("ml_dtypes")

MB = 1 << 20


def vma_flags(a):
    """The VmFlags of the mapping that holds a's first byte (Linux)."""
    addr = a.ctypes.data
    try:
        lines = open("/proc/self/smaps").read().splitlines()
    except OSError:
        pytest.skip("no /proc/self/smaps")
    inside = False
    for line in lines:
        head = line.split()[0] if line else ""
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= addr < hi
        elif inside and line.startswith("VmFlags:"):
            return line.split()[1:]
    raise AssertionError(f"no mapping holds {addr:#x}")


advised = pytest.mark.skipif(attn.huge_pages() not in ("always", "madvise"),
                             reason="no transparent huge pages here")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", np.uint8])
def test_empty_is_zeroed_contiguous_and_aligned(dtype):
    shape = (3, 4, 1500, 128)              # over 2 MiB in every dtype
    a = attn.empty(shape, dtype)
    assert a.shape == shape and a.flags.c_contiguous and a.flags.writeable
    want = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else \
        np.dtype(dtype)
    assert a.dtype == want
    assert not np.asarray(a, np.float32).any()
    assert a.ctypes.data % (2 * MB) == 0
    a[...] = 1
    assert np.asarray(a, np.float32).sum() == a.size


@advised
def test_large_arrays_are_advised_into_huge_pages():
    a = attn.empty((8, 1 << 20), np.float32)           # 32 MiB
    assert "hg" in vma_flags(a)
    b = attn.to_huge_pages(np.arange(3 * MB, dtype=np.int32)[::2])
    assert "hg" in vma_flags(b)
    np.testing.assert_array_equal(b, np.arange(3 * MB, dtype=np.int32)[::2])
    # Small arrays are ordinary ones (a 2 MiB page would waste memory).
    assert attn.empty((16,), np.float32).shape == (16,)


@advised
def test_caches_are_allocated_in_huge_pages():
    rng = np.random.default_rng(0)
    B, H, S, D = 2, 8, 2048, 128
    k = rng.standard_normal((B, H, S, D), dtype=np.float32)
    quant = attn.Quant(8, 32, "float16")
    cache = attn.quantize_kv(k, k, quant)
    assert "hg" in vma_flags(cache.k) and "hg" in vma_flags(cache.v)
    n = S // 32
    table = rng.permutation(B * n).reshape(B, n).astype(np.int32)
    for layout in ("nhd", "hnd"):
        paged = cache.to_pages(attn.Paged(32, layout), table, B * n)
        assert paged.k.flags.c_contiguous
        assert "hg" in vma_flags(paged.k), layout


def test_kernels_read_huge_page_arrays():
    # The same decoding call on ordinary and on huge-page copies of the
    # cache gives the same bits (the kernel does not care where they lie).
    rng = np.random.default_rng(1)
    B, Hq, Hkv, S, D = 2, 8, 2, 3000, 64
    q = rng.standard_normal((B, Hq, 1, D), dtype=np.float32)
    k, v = (rng.standard_normal((B, Hkv, S, D), dtype=np.float32)
            for _ in range(2))
    fn = attn.compile(attn.Spec(mask=attn.causal()), dtype="float32",
                      head_dim=D)
    want = fn(q, k, v)
    got = fn(q, attn.to_huge_pages(k), attn.to_huge_pages(v))
    np.testing.assert_array_equal(got, want)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="negative"):
        attn.empty((4, -1), np.float32)
    with pytest.raises(TypeError):
        attn.empty((4, 4), "not a dtype")
