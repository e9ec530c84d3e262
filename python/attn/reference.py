"""An independent float64 reference for attn specs, in numpy.

    out = attn.reference.attention(spec, q, k, v, *captures, **operands)
    out, lse = attn.reference.attention(spec, ..., return_lse=True)

takes the same arguments as calling `attn.compile(spec, ...)` and computes
the math of `shared/VARIANTS.md` in float64, from the inputs converted to
float64 (bf16/f16/f32 convert exactly). Nothing here is shared with the
compiler: masks, score modifiers and normalizers are re-derived from the
Spec objects, and traced score_mod / mask_mod functions are evaluated by
calling them on numpy arrays (score as float64 [B, Hq, Sq, Skv]; b, h,
q_idx, kv_idx as broadcastable int64 index arrays; captures as numpy
arrays). It is written for clarity, not speed: it materialises the whole
[B, Hq, Sq, Skv] score tensor.

Outputs are float64: O in the spec's layout ([B, Hq, Sq, Dv] or
[B, Sq, Hq, Dv]) and LSE [B, Hq, Sq].
"""

from __future__ import annotations

import inspect

import numpy as np

from . import spec as S
from . import closures as C
from . import trace as T

__all__ = ["attention", "t5_bucket"]


def _f64(x) -> np.ndarray:
    """Any numpy-convertible array (bf16 via ml_dtypes included) in float64."""
    return np.asarray(x).astype(np.float64)


def _broadcast4(a: np.ndarray, shape) -> np.ndarray:
    """A rank 2..4 array aligned with the trailing dims of [B, Hq, Sq, Skv]
    (numpy broadcasting), as a full 4-D view."""
    a = np.asarray(a)
    if not 2 <= a.ndim <= 4:
        raise ValueError(f"expected rank 2..4, got shape {a.shape}")
    return np.broadcast_to(a.reshape((1,) * (4 - a.ndim) + a.shape), shape)


def t5_bucket(rel, num_buckets: int, max_distance: int,
              bidirectional: bool) -> np.ndarray:
    """T5's relative position bucket of `rel = j - p` (memory - query),
    elementwise on an integer array (Mesh TensorFlow's
    _relative_position_bucket, the log part computed in float64)."""
    n = -np.asarray(rel, dtype=np.int64)
    if bidirectional:
        nb = num_buckets // 2
        ret = np.where(n < 0, nb, 0)
        n = np.abs(n)
    else:
        nb = num_buckets
        ret = np.zeros_like(n)
        n = np.maximum(n, 0)
    max_exact = nb // 2
    # Only n >= max_exact reaches the logarithm; clamp so that the others
    # do not take log(0).
    nl = np.maximum(n, max_exact).astype(np.float64)
    large = (np.log(nl / max_exact) / np.log(max_distance / max_exact)
             * (nb - max_exact))
    last = nb - 1 - max_exact
    log_bucket = np.where(large >= last, last,
                          np.trunc(np.minimum(large, last)).astype(np.int64))
    return ret + np.where(n < max_exact, n, max_exact + log_bucket)


def _params(fn) -> list:
    return list(inspect.signature(fn).parameters)


def _unpage(paged: S.Paged, pool: np.ndarray, table: np.ndarray,
            lens: np.ndarray):
    """The contiguous BHSD cache [B, Hkv, max_pages * page_size, D] that
    page `table` [B, max_pages] selects from `pool`; entries past each
    row's `lens` keys are never read (their keys are zeros)."""
    used = np.arange(table.shape[1])[None, :] * paged.page_size < \
        lens[:, None]
    bad = used & ((table < 0) | (table >= pool.shape[0]))
    if bad.any():
        raise IndexError(f"page_table entries {np.argwhere(bad).tolist()} "
                         f"name no page of the pool")
    if paged.layout == "nhd":
        pool = pool.transpose(0, 2, 1, 3)      # [pages, Hkv, page_size, D]
    pages = pool[np.where(used, table, 0)]     # [B, max_pages, Hkv, P, D]
    pages[~used] = 0.0
    B, n, H, P, D = pages.shape
    return pages.transpose(0, 2, 1, 3, 4).reshape(B, H, n * P, D)


class _Problem:
    """The inputs of one call, in float64 and BHSD, plus index grids."""

    def __init__(self, spec: S.Spec, q, k, v, captures, operands):
        self.spec = spec
        q, k, v = _f64(q), _f64(k), _f64(v)
        operands = dict(operands)
        if spec.paged:
            table = np.asarray(operands.pop("page_table")).astype(np.int64)
            lens = np.asarray(operands["kv_len"]).astype(np.int64)
            k, v = (_unpage(spec.paged, x, table, lens) for x in (k, v))
        if spec.layout == "bshd":
            q = q.transpose(0, 2, 1, 3)
        if spec.layout == "bshd" and not spec.paged:
            k, v = (x.transpose(0, 2, 1, 3) for x in (k, v))
        self.q, self.k, self.v = q, k, v
        self.B, self.Hq, self.Sq, self.D = q.shape
        _, self.Hkv, self.Skv, _ = k.shape
        self.Dv = v.shape[3]
        if self.Hq % self.Hkv:
            raise ValueError(f"Hq = {self.Hq} is not a multiple of Hkv = "
                             f"{self.Hkv}")
        self.shape = (self.B, self.Hq, self.Sq, self.Skv)
        # Index grids, broadcastable against [B, Hq, Sq, Skv].
        self.b = np.arange(self.B).reshape(-1, 1, 1, 1)
        self.h = np.arange(self.Hq).reshape(1, -1, 1, 1)
        self.i = np.arange(self.Sq).reshape(1, 1, -1, 1)
        self.j = np.arange(self.Skv).reshape(1, 1, 1, -1)
        operands = dict(operands)
        if spec.kv_len:
            self.lens = np.asarray(operands.pop("kv_len")).astype(np.int64)
            assert self.lens.shape == (self.B,)
        else:
            operands.pop("kv_len", None)
            self.lens = np.full(self.B, self.Skv, np.int64)
        # p(i) = i + (kv_len[b] - Sq) + q_offset, as [B, 1, Sq, 1].
        self.pos = self.position(self.b, self.i)
        self.captures = self._bind_captures(captures, operands)
        self.operands = operands

    def position(self, b, i):
        b = np.asarray(b)
        return np.asarray(i) + (self.lens[b] - self.Sq) + self.spec.q_offset

    def _bind_captures(self, positional, operands) -> dict:
        """Captured arrays by parameter name: the score_mod function's extra
        parameters first, then the mask_mod's (shared names once)."""
        names = []
        for owner, fixed in ((self.spec.score_mod_fn, 5),
                             (self.spec.mask_mod, 4)):
            if owner is not None:
                for n in _params(owner.fn)[fixed:]:
                    if n not in names:
                        names.append(n)
        if len(positional) > len(names):
            raise TypeError(f"{len(positional)} captures given, the spec "
                            f"has {names}")
        values = dict(zip(names, positional))
        for n in names[len(positional):]:
            values[n] = operands.pop(n)
        # Arrays the functions close over: given by name, or their current
        # contents; the functions are called with these in their place.
        self.closures = {}
        for owner in (self.spec.score_mod_fn, self.spec.mask_mod):
            if owner is not None:
                self.closures.update(C.current_arrays(owner.fn, operands))
        values.update(self.closures)
        out = {}
        for n, a in values.items():
            a = np.asarray(a)
            if a.dtype.kind == "f" or a.dtype.name == "bfloat16":
                a = a.astype(np.float64)
            elif a.dtype.kind in "iu":
                a = a.astype(np.int64)
            out[n] = a
        return out

    def call(self, fn, *fixed):
        """Calls a user score_mod / mask_mod function on arrays, with
        attn.position bound to this problem's positions."""
        # Arrays that also answer the torch spellings (.long(), .clamp(),
        # torch.where, ...) that the tracer accepts.
        fixed = [T.torch_like(a) for a in fixed]
        caps = [T.torch_like(self.captures[n])
                for n in _params(fn)[len(fixed):]]
        if self.closures:
            fn = C.with_arrays(fn, {n: T.torch_like(self.captures[n])
                                    for n in self.closures})
        saved = T._Positions.fn
        T._Positions.fn = self.position
        try:
            with np.errstate(all="ignore"):
                return fn(*fixed, *caps)
        finally:
            T._Positions.fn = saved


# ----------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------


def _tree_allowed(P: _Problem, parent) -> np.ndarray:
    """The tree mask as [B, 1, Sq, Skv]."""
    parent = np.asarray(parent).astype(np.int64)
    per_batch = parent.ndim == 2
    Tn = parent.shape[-1]
    out = np.zeros((P.B, 1, P.Sq, P.Skv), bool)
    first_q = P.Sq - Tn
    for b in range(P.B):
        par = parent[b] if per_batch else parent
        # anc[t, u]: draft token u is an ancestor-or-self of draft token t.
        anc = np.zeros((Tn, Tn), bool)
        for t in range(Tn):
            x = t
            while x != -1:
                anc[t, x] = True
                x = par[x]
        pos = P.position(b, np.arange(P.Sq))
        j = np.arange(P.Skv)
        # Queries before the draft are causal.
        out[b, 0, :first_q] = j[None, :] <= pos[:first_q, None]
        # Draft queries: every key before the draft (the last Tn valid keys),
        # plus ancestors-or-self among the draft keys.
        first_k = P.lens[b] - Tn
        out[b, 0, first_q:, :max(first_k, 0)] = True
        for u in range(Tn):
            if 0 <= first_k + u < P.Skv:
                out[b, 0, first_q:, first_k + u] = anc[:, u]
    return out


def _mask(P: _Problem, m: S.Mask) -> np.ndarray:
    """Whether (b, h, i, j) is allowed, broadcastable to [B, Hq, Sq, Skv]."""
    pos, j, h = P.pos, P.j, P.h
    if isinstance(m, S.And):
        out = np.ones((1, 1, 1, 1), bool)
        for c in m.operands:
            out = out & _mask(P, c)
        return out
    if isinstance(m, S.Or):
        out = np.zeros((1, 1, 1, 1), bool)
        for c in m.operands:
            out = out | _mask(P, c)
        return out
    if isinstance(m, S.Not):
        return ~_mask(P, m.operand)
    if isinstance(m, S.Full):
        return np.ones((1, 1, 1, 1), bool)
    if isinstance(m, S.Causal):
        return j <= pos
    if isinstance(m, S.SlidingWindow):
        return (pos - m.left <= j) & (j <= pos + m.right)
    if isinstance(m, S.Chunked):
        return pos // m.size == j // m.size
    if isinstance(m, S.Halo):
        start = (pos // m.block) * m.block
        return (start - m.halo <= j) & (j <= start + m.block - 1 + m.halo)
    if isinstance(m, S.Dilated):
        w, r = m.segment, m.rate
        lane = h % r
        return ((pos // w == j // w) & ((j % w) % r == lane)
                & ((pos % w) % r == lane))
    if isinstance(m, S.Global):
        def is_global(x):
            g = (0 <= x) & (x < m.first)
            if m.positions:
                g = g | np.isin(x, np.array(m.positions))
            return g
        return is_global(pos) | is_global(j)
    if isinstance(m, S.Sinks):
        return j < m.count
    if isinstance(m, S.DilatedWindow):
        # Both sides of the query, up to `window` positions away, keeping
        # the keys whose distance is a multiple of the dilation.
        distance = pos - j
        return (np.abs(distance) <= m.window) & (distance % m.dilation == 0)
    if isinstance(m, S.AShape):
        # A-shape: nothing after the query; of the keys up to it, the first
        # `sinks` and the last `window + 1` positions (the query's own
        # included).
        up_to_query = j <= pos
        is_sink = j < m.sinks
        distance = pos - j
        return up_to_query & (is_sink | (distance <= m.window))
    if isinstance(m, S.PrefixLM):
        return (j < m.prefix) | (j <= pos)
    if isinstance(m, S.Natten):
        def axis(q, x, n, k, e):
            res = q % e
            size = (n - res + e - 1) // e
            centre = np.minimum(np.maximum(q // e, k // 2),
                                size - 1 - k // 2)
            return (x % e == res) & (np.abs(x // e - centre) <= k // 2)
        qr, qc = pos // m.cols, pos % m.cols
        kr, kc = j // m.cols, j % m.cols
        return (axis(qr, kr, m.rows, m.kernel_rows, m.dilation_rows)
                & axis(qc, kc, m.cols, m.kernel_cols, m.dilation_cols))
    if isinstance(m, (S.Neighborhood2D, S.Window2D, S.Directional2D)):
        qr, qc = pos // m.cols, pos % m.cols
        kr, kc = j // m.cols, j % m.cols
        if isinstance(m, S.Neighborhood2D):
            return ((np.abs(kr - qr) <= m.kernel_rows // 2)
                    & (np.abs(kc - qc) <= m.kernel_cols // 2))
        if isinstance(m, S.Window2D):
            return ((qr // m.window_rows == kr // m.window_rows)
                    & (qc // m.window_cols == kc // m.window_cols))
        dirs = np.array(m.directions, np.int64)          # [n, 2]
        u = dirs[np.arange(P.Hq) % len(dirs)]            # [Hq, 2]
        ur = u[:, 0].reshape(1, -1, 1, 1)
        uc = u[:, 1].reshape(1, -1, 1, 1)
        dr, dc = kr - qr, kc - qc
        dot = dr * ur + dc * uc
        cross = dr * uc - dc * ur
        ok = dot >= 0 if m.half_plane else dot >= np.abs(cross)
        return ok | ((dr == 0) & (dc == 0))
    if isinstance(m, S.Document):
        seg_q, seg_kv = P.operands["segments"]
        seg_q = np.asarray(seg_q).astype(np.int64)
        seg_kv = np.asarray(seg_kv).astype(np.int64)
        return seg_q[:, None, :, None] == seg_kv[:, None, None, :]
    if isinstance(m, S.Tree):
        return _tree_allowed(P, P.operands["tree"])
    if isinstance(m, S.Blocks):
        # Entry [b, h, i // block_q, j // block_kv]: 2 allows, 1 defers to
        # the inner mask, 0 masks.
        t = np.asarray(P.operands["block_table"]).astype(np.int64)
        t = np.broadcast_to(t, (P.B, P.Hq) + t.shape[2:])
        e = t[:, :, np.arange(P.Sq) // m.block_q][
            :, :, :, np.arange(P.Skv) // m.block_kv]
        return (e >= 2) | ((e == 1) & _mask(P, m.mask))
    if isinstance(m, S.BlockSparse):
        # Entry [b, h, i // block_q, j // block_kv]; size-1 b / h broadcast.
        bm = np.asarray(P.operands["block_mask"]) != 0
        bm = np.broadcast_to(bm, (P.B, P.Hq) + bm.shape[2:])
        rows = np.arange(P.Sq) // m.block_q
        cols = np.arange(P.Skv) // m.block_kv
        return bm[:, :, rows][:, :, :, cols]
    if isinstance(m, S.Dense):
        return _broadcast4(np.asarray(P.operands["dense_mask"]) != 0, P.shape)
    if isinstance(m, S.MaskMod):
        r = P.call(m.fn, P.b, P.h, P.i, P.j)
        r = np.asarray(r)
        if r.dtype != np.bool_:
            raise TypeError(f"mask_mod returned {r.dtype}, expected bool")
        return r
    raise TypeError(f"unknown mask {m!r}")


# ----------------------------------------------------------------------------
# Score modifiers
# ----------------------------------------------------------------------------


def _modify(P: _Problem, s: np.ndarray) -> np.ndarray:
    pos, j, h = P.pos, P.j, P.h
    for m in P.spec.score_mods:
        if isinstance(m, S.Alibi):
            if m.slopes:
                slope = np.array(m.slopes, np.float64)[h]
            else:
                slope = np.exp2(-8.0 * (h + 1) / P.Hq)
            dist = (pos - j).astype(np.float64)
            s = s - slope * (np.abs(dist) if m.symmetric else dist)
        elif isinstance(m, S.Softcap):
            s = m.cap * np.tanh(s / m.cap)
        elif isinstance(m, S.RelBias):
            table = _f64(P.operands["rel_bias_table"])      # [Hq, buckets]
            bucket = t5_bucket(j - pos, m.num_buckets, m.max_distance,
                               m.bidirectional)             # [B, 1, Sq, Skv]
            s = s + table[h, bucket]
        elif isinstance(m, S.Bias):
            s = s + _broadcast4(_f64(P.operands["bias"]), P.shape)
        elif isinstance(m, S.Temperature):
            s = s * _f64(P.operands["temperature"])[..., None]
        elif isinstance(m, S.Gaussian):
            mu = np.array(m.mu, np.float64)[h]
            sigma = np.array(m.sigma, np.float64)[h]
            delta = (pos - j) - mu
            s = s - delta * delta / (2.0 * sigma * sigma)
        elif isinstance(m, S.ScoreModFn):
            r = P.call(m.fn, s, P.b, P.h, P.i, P.j)
            s = np.broadcast_to(np.asarray(r, np.float64), P.shape)
        else:
            raise TypeError(f"unknown score modifier {m!r}")
    return np.broadcast_to(s, P.shape)


# ----------------------------------------------------------------------------
# Normalizers
# ----------------------------------------------------------------------------


def _softplus_scaled(x, shift):
    """softplus(x) * e^-shift for x <= shift <= 0 (shift = 0 when x > 0),
    without underflow for x far below 0."""
    pos_part = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    ex = np.exp(np.minimum(x, 0))
    g = np.where(x < -40, 1.0, np.log1p(ex) / np.where(ex > 0, ex, 1.0))
    return np.where(x >= 0, pos_part, np.exp(x - shift) * g)


def _normalize(P: _Problem, s: np.ndarray, allowed: np.ndarray):
    """Weights [B, Hq, Sq, Skv] (0 where not allowed) and LSE [B, Hq, Sq]
    (None when the normalizer has none)."""
    n = P.spec.normalizer
    neg = -np.inf
    sa = np.where(allowed, s, neg)
    row_max = sa.max(axis=-1, keepdims=True) if P.Skv else \
        np.full(P.shape[:3] + (1,), neg)
    lens = P.lens.reshape(-1, 1, 1, 1).astype(np.float64)
    if isinstance(n, (S.Softmax, S.SinkSoftmax)):
        if isinstance(n, S.SinkSoftmax):
            sink = _f64(P.operands["sink"]).reshape(1, -1, 1, 1)
            m = np.maximum(row_max, sink)
            z_sink = np.exp(sink - m)
        else:
            m = row_max
            z_sink = 0.0
        m_safe = np.where(np.isfinite(m), m, 0.0)
        w = np.where(allowed, np.exp(sa - m_safe), 0.0)
        z = w.sum(axis=-1, keepdims=True) + z_sink
        empty = m == neg
        w = np.where(empty, 0.0, w / np.where(empty, 1.0, z))
        lse = np.where(empty, neg, m_safe + np.log(np.where(empty, 1.0, z)))
        return w, lse[..., 0]
    if isinstance(n, S.Sigmoid):
        beta = n.beta if n.beta is not None else -np.log(lens)
        w = np.where(allowed, 1.0 / (1.0 + np.exp(-(sa + beta))), 0.0)
        return w, None
    if isinstance(n, (S.Softplus, S.Relu)):
        shift = 0.0
        if isinstance(n, S.Softplus):
            shift = np.where(row_max == neg, 0.0, np.minimum(row_max, 0.0))
            w = np.where(allowed, _softplus_scaled(sa, shift), 0.0)
        else:
            w = np.where(allowed, np.maximum(sa, 0.0) ** n.power, 0.0)
        z = w.sum(axis=-1, keepdims=True)
        if isinstance(n, S.Relu) and n.norm == "none":
            z = np.ones_like(z)
        elif isinstance(n, S.Relu) and n.norm == "seq_len":
            z = np.broadcast_to(lens, z.shape)
        zero = z == 0
        w = np.where(zero, 0.0, w / np.where(zero, 1.0, z))
        lse = np.where(zero, neg, np.log(np.where(zero, 1.0, z)) + shift)
        return w, (lse[..., 0] if n.has_lse else None)
    raise TypeError(f"unknown normalizer {n!r}")


# ----------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------


def _weighted_values(w, vv):
    """O[b,h,i,:] = sum of w[b,h,i,j] V[b,h,j,:] over the keys with a
    nonzero weight: a zero weight (a masked key) adds nothing, so a NaN or
    inf in its value never reaches the row (README, "Masked keys").
    The finite values go through one product; each non-finite entry then
    adds its own terms where the weight is nonzero."""
    finite = np.isfinite(vv)
    out = np.einsum("bhij,bhjd->bhid", w, np.where(finite, vv, 0.0))
    with np.errstate(all="ignore"):
        for b, h, j, d in zip(*np.nonzero(~finite)):
            wj = w[b, h, :, j]
            out[b, h, :, d] += np.where(wj != 0, wj * vv[b, h, j, d], 0.0)
    return out


def attention(spec, q, k, v, *captures, return_lse: bool = False,
              **operands):
    """The float64 result of `spec` on these inputs: O (in the spec's
    layout), or (O, LSE) with `return_lse=True`. Arguments as for a
    compiled `attn.Kernel`."""
    spec = S.as_spec(spec)
    if return_lse and not spec.normalizer.has_lse:
        raise ValueError(f"normalizer {spec.normalizer.attr()} has no LSE")
    P = _Problem(spec, q, k, v, captures, operands)
    group = P.Hq // P.Hkv
    kk = np.repeat(P.k, group, axis=1)   # head h reads kv head h // group
    vv = np.repeat(P.v, group, axis=1)
    scale = spec.scale if spec.scale is not None else 1.0 / np.sqrt(P.D)
    with np.errstate(all="ignore"):
        s = scale * np.einsum("bhid,bhjd->bhij", P.q, kk)
        s = _modify(P, s)
        allowed = np.broadcast_to(_mask(P, spec.mask), P.shape)
        allowed = allowed & (P.j < P.lens.reshape(-1, 1, 1, 1))
        w, lse = _normalize(P, s, allowed)
    out = _weighted_values(w, vv)
    if spec.layout == "bshd":
        out = out.transpose(0, 2, 1, 3)
    out = np.ascontiguousarray(out)
    if return_lse:
        return out, lse
    return out
