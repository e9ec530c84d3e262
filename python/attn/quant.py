"""Quantized KV caches (Spec(quant=attn.Quant(...))): attn.quantize_kv packs
float caches into codes, scales and zeros as the kernels read them (the
packing is attn.Quant's docstring), and attn.append_kv adds decoded tokens
to one, KIVI's way: into the full precision residual, which is quantized R
tokens at a time once full.

    quant = attn.Quant(bits=4, group_size=32, residual=128)
    cache = attn.quantize_kv(k, v, quant, kv_len=lens, capacity=4096)
    fn = attn.compile(attn.Spec(quant=quant), dtype="float32", head_dim=128)
    out = fn(q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len)
    attn.append_kv(cache, k_new, v_new)     # [B, Hkv, 1, D] each
"""

from __future__ import annotations

import numpy as np

from . import memory
from . import spec as S

_FLOATS = ("float32", "float16", "bfloat16")


def _np_float(dtype: str):
    if dtype == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


class QuantizedKV:
    """A quantized cache, arrays in the layout it was made for.

    k, v:               uint8 codes [B, Hkv, capacity, D * bits // 8] (and
                        Dv for v); BSHD swaps axes 1 and 2 of every array.
    k_scale, k_zero:    [B, Hkv, capacity // group_size, D], scale_dtype.
    v_scale, v_zero:    [B, Hkv, capacity, Dv // group_size], scale_dtype.
    k_residual, v_residual: [B, Hkv, R, D] / [B, Hkv, R, Dv] in `dtype`
                        (None without a residual window).
    kv_len:             int32 [B], the tokens held.
    paged, page_table:  for a paged cache (to_pages), its attn.Paged and
                        int32 [B, max_pages] table; k, v and the scales and
                        zeros are then page pools (attn.Quant says how).
    """

    def __init__(self, quant, layout, dtype, arrays, kv_len, paged=None,
                 page_table=None):
        self.quant, self.layout, self.dtype = quant, layout, dtype
        (self.k, self.v, self.k_scale, self.k_zero, self.v_scale,
         self.v_zero, self.k_residual, self.v_residual) = arrays
        self.kv_len = kv_len
        self.paged, self.page_table = paged, page_table

    @property
    def capacity(self) -> int:
        if self.paged:
            return self.page_table.shape[1] * self.paged.page_size
        return self.k.shape[1 if self.layout == "bshd" else 2]

    def to_pages(self, paged: S.Paged, page_table, num_pages: int):
        """This (contiguous) cache as page pools of `num_pages` pages for
        Spec(paged=paged, quant=...): logical page i of row b (tokens
        [i * page_size, (i + 1) * page_size)) goes to pool page
        page_table[b, i]; page_table [B, capacity // page_size] int32
        names distinct pages of the pool. The residual rows stay per
        sequence. Returns a new QuantizedKV."""
        if not isinstance(paged, S.Paged):
            raise TypeError(f"paged must be an attn.Paged, got {paged!r}")
        if self.paged:
            raise ValueError("the cache is paged already")
        P, G = paged.page_size, self.quant.group_size
        if P % G or self.capacity % P:
            raise ValueError(f"page_size {P} must be a multiple of "
                             f"group_size {G} and divide the capacity "
                             f"{self.capacity}")
        B = self.kv_len.shape[0]
        table = np.asarray(page_table)
        n = self.capacity // P
        if table.shape != (B, n) or table.dtype.kind not in "iu":
            raise ValueError(f"page_table must be integer [B, capacity // "
                             f"page_size] = [{B}, {n}], got {table.dtype} "
                             f"{table.shape}")
        if table.size and (table.min() < 0 or table.max() >= num_pages or
                           np.unique(table).size != table.size):
            raise ValueError(f"page_table entries must be distinct pages "
                             f"of the pool, 0..{num_pages - 1}")
        pools = []
        for name, slots in (("k", P), ("v", P), ("k_scale", P // G),
                            ("k_zero", P // G), ("v_scale", P),
                            ("v_zero", P)):
            if self.quant.fp8 and name != "k" and name != "v":
                # Per-head scales are not paged.
                pools.append(None if name.endswith("zero") else
                             getattr(self, name).copy())
                continue
            x = _bhsd(getattr(self, name), self.layout)    # [B, H, S, last]
            H, last = x.shape[1], x.shape[3]
            pages = x.reshape(B, H, n, slots, last).transpose(0, 2, 1, 3, 4)
            # Pools in 2 MiB pages (attn.memory: an NHD pool's rows of a
            # head lie far apart, a 4 KiB page for every row or two).
            hnd = paged.layout == "hnd"
            pool = (memory.zeros if hnd else np.zeros)(
                (num_pages, H, slots, last), x.dtype)
            pool[table.reshape(-1)] = pages.reshape(B * n, H, slots, last)
            if not hnd:
                pool = memory.to_huge_pages(pool.transpose(0, 2, 1, 3))
            pools.append(pool)
        # The new cache owns its arrays (appends write them).
        residual = [None if r is None else r.copy()
                    for r in (self.k_residual, self.v_residual)]
        return QuantizedKV(self.quant, self.layout, self.dtype,
                           pools + residual,
                           self.kv_len.copy(), paged,
                           table.astype(np.int32))

    def operands(self) -> tuple:
        """The kernel's kv_quant operand: (k_scale, k_zero, v_scale,
        v_zero[, k_residual, v_residual]), for fp8 (k_scale, v_scale[,
        k_residual, v_residual])."""
        ops = (self.k_scale, self.k_zero, self.v_scale, self.v_zero)
        if self.quant.fp8:
            ops = (self.k_scale, self.v_scale)
        if self.quant.residual:
            ops += (self.k_residual, self.v_residual)
        return ops

    def __repr__(self):
        return (f"attn.QuantizedKV({self.quant!r}, layout={self.layout!r}, "
                f"k {tuple(self.k.shape)}, v {tuple(self.v.shape)}, "
                f"kv_len {self.kv_len.tolist()})")


def _bhsd(x, layout):
    """A BHSD view of a 4-D array in `layout` (writes go through)."""
    return x if layout == "bhsd" or x is None else x.swapaxes(1, 2)


def _quantize(x, valid, axis, quant, scale_dtype):
    """(codes uint8, scale, zero) of float64 `x` [..., n, G, ...] grouped
    along `axis` (the G axis, removed from scale and zero); entries where
    `valid` is False are ignored and get code 0. scale = (max - min) /
    (2^bits - 1), zero = min, both rounded to scale_dtype before the codes
    are rounded, so that the codes fit the stored scale."""
    top = (1 << quant.bits) - 1
    lo = np.where(valid, x, np.inf).min(axis=axis, keepdims=True)
    hi = np.where(valid, x, -np.inf).max(axis=axis, keepdims=True)
    empty = ~valid.any(axis=axis, keepdims=True)
    lo = np.where(empty, 0.0, lo)
    hi = np.where(empty, 0.0, hi)
    scale = ((hi - lo) / top).astype(scale_dtype)
    zero = lo.astype(scale_dtype)
    s, z = scale.astype(np.float64), zero.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        code = np.where(s > 0, np.rint((x - z) / s), 0.0)
    code = np.where(valid, np.clip(code, 0, top), 0).astype(np.uint8)
    return code, np.squeeze(scale, axis), np.squeeze(zero, axis)


def _pack(codes, quant):
    """Packs uint8 codes [..., D] into [..., D // per] bytes, channel d at
    bit (d % per) * bits of byte d // per."""
    per = quant.codes_per_byte
    c = codes.reshape(codes.shape[:-1] + (codes.shape[-1] // per, per))
    out = np.zeros(c.shape[:-1], np.uint8)
    for i in range(per):
        out |= (c[..., i] << (i * quant.bits)).astype(np.uint8)
    return out


def _fp8_dtype(quant):
    import ml_dtypes
    return np.dtype(ml_dtypes.float8_e4m3fn if quant.format == "e4m3"
                    else ml_dtypes.float8_e5m2)


def _fp8_max(quant) -> float:
    """The format's largest finite number (448 for e4m3, 57344 for e5m2)."""
    import ml_dtypes
    return float(ml_dtypes.finfo(_fp8_dtype(quant)).max)


def _fp8_encode(x, scale, quant):
    """uint8 fp8 codes of float64 BHSD `x` [N, H, T, D] divided by the
    per-head `scale` [H], rounded to nearest even and saturated to the
    format's largest finite number."""
    dt = _fp8_dtype(quant)
    top = _fp8_max(quant)
    s = np.asarray(scale, np.float64).reshape(1, -1, 1, 1)
    y = np.clip(x / np.where(s > 0, s, 1.0), -top, top)
    return y.astype(dt).view(np.uint8)


def _fp8_scales(x, valid, quant, scale_dtype):
    """Per-head scales [H] of float64 BHSD `x` [B, H, S, D]: max |x| over
    the valid tokens (`valid` [B, S]) / the format's largest number (1
    for a head of zeros)."""
    top = _fp8_max(quant)
    amax = np.where(valid[:, None, :, None], np.abs(x), 0.0).max(
        axis=(0, 2, 3))
    return np.where(amax > 0, amax / top, 1.0).astype(scale_dtype)


def _quantize_rows(cache, kf, vf, start, count, rows):
    """Writes the codes, scales and zeros of float64 BHSD keys and values
    kf [N, H, T, D], vf [N, H, T, Dv] into token slots start[i] ..
    start[i] + T - 1 of cache row rows[i]; only the first count[i] tokens
    are real. start[i] and T are multiples of group_size. fp8 caches
    encode with their per-head scales, which quantize_kv chose."""
    q = cache.quant
    if cache.paged:
        return _quantize_into_pages(cache, kf, vf, start, count, rows)
    if q.fp8:
        k, v = _bhsd(cache.k, cache.layout), _bhsd(cache.v, cache.layout)
        valid = (np.arange(kf.shape[2])[None, :] <
                 np.asarray(count)[:, None])[:, None, :, None]
        for x, dst, scale in ((kf, k, cache.k_scale), (vf, v, cache.v_scale)):
            codes = _fp8_encode(np.where(valid, x, 0.0), scale, q)
            for i, b in enumerate(rows):
                s = int(start[i])
                dst[b, :, s:s + x.shape[2]] = codes[i]
        return
    G = q.group_size
    B, H, T, D = kf.shape
    Dv = vf.shape[3]
    st = np.dtype(q.scale_dtype)
    valid = np.arange(T)[None, :] < np.asarray(count)[:, None]   # [B, T]
    kv = valid[:, None, :, None]
    # Keys: groups of G tokens per channel.
    kg = kf.reshape(B, H, T // G, G, D)
    kcode, ks, kz = _quantize(kg, np.broadcast_to(
        kv.reshape(B, 1, T // G, G, 1), kg.shape), 3, q, st)
    kcode = kcode.reshape(B, H, T, D)
    # Values: groups of G channels per token.
    vg = vf.reshape(B, H, T, Dv // G, G)
    vcode, vs, vz = _quantize(vg, np.broadcast_to(
        kv.reshape(B, 1, T, 1, 1), vg.shape), 4, q, st)
    vcode = vcode.reshape(B, H, T, Dv)
    k, v = _bhsd(cache.k, cache.layout), _bhsd(cache.v, cache.layout)
    k_scale = _bhsd(cache.k_scale, cache.layout)
    k_zero = _bhsd(cache.k_zero, cache.layout)
    v_scale = _bhsd(cache.v_scale, cache.layout)
    v_zero = _bhsd(cache.v_zero, cache.layout)
    kp, vp = _pack(kcode, q), _pack(vcode, q)
    for i, b in enumerate(rows):
        s = int(start[i])
        k[b, :, s:s + T] = kp[i]
        v[b, :, s:s + T] = vp[i]
        k_scale[b, :, s // G:(s + T) // G] = ks[i]
        k_zero[b, :, s // G:(s + T) // G] = kz[i]
        v_scale[b, :, s:s + T] = vs[i]
        v_zero[b, :, s:s + T] = vz[i]


def _quantize_into_pages(cache, kf, vf, start, count, rows):
    """_quantize_rows for a paged cache: the tokens are quantized into a
    contiguous scratch cache (fp8: with the cache's per-head scales), whose
    rows are then written into the pools through the page table."""
    q, paged, table = cache.quant, cache.paged, cache.page_table
    N, H, T, D = kf.shape
    tmp = quantize_kv(np.zeros((N, H, T, D)), np.zeros((N, H, T,
                                                        vf.shape[3])),
                      q, capacity=T, dtype=cache.dtype)
    if q.fp8:
        tmp.k_scale, tmp.v_scale = cache.k_scale, cache.v_scale
    _quantize_rows(tmp, kf, vf, np.zeros(N, np.int64), count, range(N))
    P, G = paged.page_size, q.group_size
    names = ("k", "v") if q.fp8 else ("k", "v", "k_scale", "k_zero",
                                      "v_scale", "v_zero")
    for i, b in enumerate(rows):
        for name in names:
            per_row = G if name in ("k_scale", "k_zero") else 1
            slots = P // per_row
            src = getattr(tmp, name)[i]                  # [H, n, last]
            pos = int(start[i]) // per_row + np.arange(src.shape[1])
            pages = table[b, pos // slots]
            if (pages < 0).any() or (pages >= cache.k.shape[0]).any():
                raise ValueError(f"page_table[{b}] names no page of the "
                                 f"pool for tokens {int(start[i])} and up")
            pool = getattr(cache, name)
            if paged.layout == "nhd":
                pool[pages, pos % slots] = src.transpose(1, 0, 2)
            else:
                pool[pages, :, pos % slots] = src.transpose(1, 0, 2)


def _as_float(x, name, layout):
    """`x` (numpy, torch) as a BHSD view of a float array."""
    a = np.asarray(x.detach().cpu().float().numpy()
                   if hasattr(x, "detach") else x)
    if a.ndim != 4 or not (a.dtype.kind == "f" or a.dtype.name in _FLOATS):
        axes = "[B, S, H, D]" if layout == "bshd" else "[B, H, S, D]"
        raise ValueError(f"{name} must be a 4-D float array {axes}, got "
                         f"shape {a.shape} dtype {a.dtype}")
    return _bhsd(a, layout)


def quantize_kv(k, v, quant: S.Quant, kv_len=None, *, capacity=None,
                layout: str = "bhsd", dtype=None) -> QuantizedKV:
    """Quantizes float caches k [B, Hkv, S, D] and v [B, Hkv, S, Dv] (BHSD,
    or BSHD with layout="bshd") into a QuantizedKV for `quant`, holding the
    first kv_len[b] tokens of each row (default S). capacity (a multiple of
    group_size, at least max(kv_len); default S rounded up) sizes the
    codes for later appends. With quant.residual = R the newest
    kv_len[b] % R tokens go to the residual in `dtype` (the kernel's;
    default k's dtype, float32 for other inputs). Groups hold only real
    tokens: a key group cut short by kv_len takes its scale from the tokens
    present; slots past kv_len hold code 0 with scale and zero 0."""
    if not isinstance(quant, S.Quant):
        raise TypeError(f"quant must be an attn.Quant, got {quant!r}")
    if layout not in ("bhsd", "bshd"):
        raise ValueError(f"layout must be 'bhsd' or 'bshd', got {layout!r}")
    if dtype is None:
        name = getattr(getattr(k, "dtype", None), "name", None)
        dtype = name if name in _FLOATS else "float32"
    if dtype not in _FLOATS:
        raise ValueError(f"dtype must be one of {', '.join(_FLOATS)}, got "
                         f"{dtype!r}")
    kf, vf = _as_float(k, "k", layout), _as_float(v, "v", layout)
    B, H, Skv, D = kf.shape
    if vf.shape[:3] != kf.shape[:3]:
        raise ValueError(f"k and v must agree on batch, heads and length: "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    Dv = vf.shape[3]
    G, per, R = quant.group_size, quant.codes_per_byte, quant.residual
    for what, n in (("D", D), ("Dv", Dv)):
        if n % per:
            raise ValueError(f"head dim {what} = {n} must be a multiple of "
                             f"{per} ({quant.bits}-bit codes, {per} to a "
                             f"byte)")
    if Dv % G:
        raise ValueError(f"value head dim {Dv} must be a multiple of "
                         f"group_size {G} (values are grouped along "
                         f"channels)")
    lens = np.full(B, Skv, np.int64) if kv_len is None else \
        np.asarray(kv_len).astype(np.int64)
    if lens.shape != (B,):
        raise ValueError(f"kv_len must have shape ({B},), got {lens.shape}")
    if lens.size and (lens.min() < 0 or lens.max() > Skv):
        raise ValueError(f"kv_len values must lie in [0, {Skv}], got "
                         f"{lens.min()}..{lens.max()}")
    if capacity is None:
        capacity = -(-Skv // G) * G
    capacity = S._int("capacity", capacity, 0)
    if capacity % G or (lens.size and capacity < lens.max()):
        raise ValueError(f"capacity {capacity} must be a multiple of "
                         f"group_size {G} and hold kv_len (up to "
                         f"{lens.max() if lens.size else 0})")
    st = np.dtype(quant.scale_dtype)

    def new(seq, last, dt):
        shape = (B, seq, H, last) if layout == "bshd" else (B, H, seq, last)
        return memory.zeros(shape, dt)

    et = _np_float(dtype)
    arrays = [new(capacity, D // per, np.uint8),
              new(capacity, Dv // per, np.uint8),
              new(capacity // G, D, st), new(capacity // G, D, st),
              new(capacity, Dv // G, st), new(capacity, Dv // G, st),
              new(R, D, et) if R else None, new(R, Dv, et) if R else None]
    n = lens - lens % R if R else lens
    if quant.fp8:
        # One scale per kv head for keys and one for values, from the
        # tokens that become codes.
        valid = np.arange(Skv)[None, :] < n[:, None]
        arrays[2] = _fp8_scales(np.asarray(kf, np.float64), valid, quant, st)
        arrays[4] = _fp8_scales(np.asarray(vf, np.float64), valid, quant, st)
        arrays[3] = arrays[5] = None
    cache = QuantizedKV(quant, layout, dtype, arrays, lens.astype(np.int32))
    # Row by row, to bound the float64 temporaries of long caches.
    for b in range(B):
        kb = np.zeros((1, H, capacity, D))
        vb = np.zeros((1, H, capacity, Dv))
        m = min(Skv, capacity)
        kb[0, :, :m] = kf[b, :, :m]
        vb[0, :, :m] = vf[b, :, :m]
        _quantize_rows(cache, kb, vb, [0], n[b:b + 1], [b])
    if R:
        kr = _bhsd(cache.k_residual, layout)
        vr = _bhsd(cache.v_residual, layout)
        for b in range(B):
            m = int(lens[b] - n[b])
            kr[b, :, :m] = kf[b, :, n[b]:lens[b]].astype(et)
            vr[b, :, :m] = vf[b, :, n[b]:lens[b]].astype(et)
    return cache


def append_kv(cache: QuantizedKV, k_new, v_new) -> QuantizedKV:
    """Appends T tokens to every row of `cache` (contiguous or paged: the
    pages its table lists must be there), in place: k_new
    [B, Hkv, T, D] and v_new [B, Hkv, T, Dv] (BSHD for a BSHD cache). Each
    token goes to the residual; when a row's residual holds R tokens they
    are quantized together into the codes (KIVI), so a cache built by
    appends equals quantize_kv of the whole sequence. Needs a residual
    window (quant.residual > 0): without one a key group would be
    quantized before all of its tokens are known."""
    if not isinstance(cache, QuantizedKV):
        raise TypeError(f"cache must be an attn.QuantizedKV, got "
                        f"{type(cache).__name__}")
    q, R = cache.quant, cache.quant.residual
    if not R and not q.fp8:
        raise ValueError("append_kv needs a cache with a residual window "
                         "(attn.Quant(residual=R > 0)): keys are quantized "
                         "in groups of group_size tokens, which a single "
                         "appended token cannot fill")
    kf = _as_float(k_new, "k_new", cache.layout)
    vf = _as_float(v_new, "v_new", cache.layout)
    kres = _bhsd(cache.k_residual, cache.layout)
    vres = _bhsd(cache.v_residual, cache.layout)
    B = cache.kv_len.shape[0]
    H = (cache.k.shape[cache.paged.head_axis] if cache.paged else
         _bhsd(cache.k, cache.layout).shape[1])
    D = cache.k.shape[3] * q.codes_per_byte
    Dv = cache.v.shape[3] * q.codes_per_byte
    if kf.shape[:2] != (B, H) or kf.shape[3] != D or \
            vf.shape[:3] != kf.shape[:3] or vf.shape[3] != Dv:
        raise ValueError(f"k_new and v_new must be [B, Hkv, T, D] and "
                         f"[B, Hkv, T, Dv] with (B, Hkv, D, Dv) = "
                         f"{(B, H, D, Dv)}; got "
                         f"{tuple(kf.shape)} and {tuple(vf.shape)} (BHSD)")
    T = kf.shape[2]
    lens = cache.kv_len.astype(np.int64)
    if lens.size and lens.max() + T > cache.capacity:
        b = int(np.argmax(lens))
        raise ValueError(f"cache row {b} holds {lens[b]} of "
                         f"{cache.capacity} tokens: no room for {T} more")
    et = _np_float(cache.dtype)
    if not R:
        # fp8 without a residual: each token is encoded with the per-head
        # scales as it arrives (it may saturate).
        for t in range(T):
            _quantize_rows(cache, kf[:, :, t:t + 1].astype(np.float64),
                           vf[:, :, t:t + 1].astype(np.float64), lens,
                           np.ones(B), range(B))
            lens = lens + 1
        cache.kv_len[:] = lens.astype(np.int32)
        return cache
    for t in range(T):
        slot = lens % R
        for b in range(B):
            kres[b, :, slot[b]] = kf[b, :, t].astype(et)
            vres[b, :, slot[b]] = vf[b, :, t].astype(et)
        lens = lens + 1
        full = lens % R == 0
        rows = np.flatnonzero(full)
        if rows.size:
            _quantize_rows(cache, kres[rows].astype(np.float64),
                           vres[rows].astype(np.float64), lens[rows] - R,
                           np.full(rows.size, R), rows)
            kres[rows] = 0
            vres[rows] = 0
    cache.kv_len[:] = lens.astype(np.int32)
    return cache
