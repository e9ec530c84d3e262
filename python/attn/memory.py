"""Arrays in 2 MiB pages, for KV caches and page pools.

Decoding reads every byte of its K and V once, so its speed is the read
bandwidth, and on this kind of machine the bandwidth that a kernel sees
depends on how the cache was allocated: with 4 KiB pages a 64 MiB cache
spans 16384 pages, more than the data TLB holds (about 2000 entries), and
every few rows cost a page walk. A paged cache in the NHD layout is the
worst case: one head's rows of a page lie Hkv * D * itemsize bytes apart,
a new 4 KiB page every row or two. Linux backs memory in 2 MiB pages
(transparent huge pages) where the allocation asks for it
(madvise(MADV_HUGEPAGE)); the kernels read the same bytes either way.
Measured (bench/results/2026-12-07-huge-pages.md): f32 decoding
B8 H32/8 Skv4096 D128 takes 0.8x the time from a huge-page cache; a bf16
NHD page pool 0.73x.

    k = attn.empty((B, Hkv, S, D), "bfloat16")      # in 2 MiB pages
    k[...] = ...
    pool = attn.to_huge_pages(pool)                  # a copy in 2 MiB pages

attn.quantize_kv and QuantizedKV.to_pages allocate their arrays this way.
Where the kernel offers no transparent huge pages (mode "never", or not
Linux), these are ordinary arrays: huge_pages() says which.
"""

from __future__ import annotations

import mmap
import sys

import numpy as np

_HUGE = 2 << 20
_MODE_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"


def huge_pages() -> str:
    """The kernel's transparent huge page mode: "always", "madvise" (what
    attn.empty asks for), "never", or "unavailable" (no such file, not
    Linux). attn.empty gets 2 MiB pages under "always" and "madvise"."""
    try:
        with open(_MODE_FILE) as f:
            text = f.read()
    except OSError:
        return "unavailable"
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else "unavailable"


def _dtype(dtype):
    if isinstance(dtype, str) and dtype == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


def empty(shape, dtype="float32") -> np.ndarray:
    """An uninitialised C-contiguous array (zero-filled in fact: fresh
    anonymous memory), 2 MiB aligned and advised into 2 MiB pages where
    the kernel allows (huge_pages()). dtype: a numpy dtype or "bfloat16".
    The memory is freed with the last array that views it."""
    dt = _dtype(dtype)
    shape = tuple(int(n) for n in np.atleast_1d(shape))
    if any(n < 0 for n in shape):
        raise ValueError(f"shape must not have negative sizes, got {shape}")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if nbytes < _HUGE or not sys.platform.startswith("linux"):
        return np.zeros(shape, dt)
    # Over-allocate by one huge page to align the start; private anonymous
    # memory (shared anonymous mappings are shmem, which THP's "madvise"
    # mode does not cover).
    size = nbytes + _HUGE
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    base = np.frombuffer(m, np.uint8)
    offset = (-base.ctypes.data) % _HUGE
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            m.madvise(mmap.MADV_HUGEPAGE, offset, size - offset)
        except OSError:
            pass  # "never": ordinary pages
    return base[offset:offset + nbytes].view(dt).reshape(shape)


def zeros(shape, dtype="float32") -> np.ndarray:
    """empty(), which is zero-filled (fresh anonymous memory is)."""
    return empty(shape, dtype)


def to_huge_pages(a) -> np.ndarray:
    """A C-contiguous copy of `a` (numpy, or anything np.asarray takes) in
    2 MiB pages (see empty())."""
    a = np.asarray(a)
    out = empty(a.shape, a.dtype)
    out[...] = a
    return out
