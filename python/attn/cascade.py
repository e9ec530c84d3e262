"""Shared-prefix cascades (Hydragen): attention of a batch whose sequences
begin with one shared prefix.

    out = attn.cascade(q, k_prefix, v_prefix, k_suffix, v_suffix,
                       kv_len=suffix_lengths)

equals softmax attention of each sequence over its prefix and suffix
concatenated (causal by default, as in decoding and chunked prefill), but
reads the prefix once: all the batch's queries are stacked into one
[1, H, B * Sq] problem over the prefix (one matrix product, the prefix's
keys and values loaded once per tile instead of once per sequence), each
sequence's suffix is attended to on its own, and the two partial results
are merged by their log-sum-exp (out = (e^lse_p o_p + e^lse_s o_s) /
(e^lse_p + e^lse_s), in float64).

Supported: softmax, no score modifiers, masks "causal" (every prefix key
precedes every query, so the prefix part is unmasked; needs Sq <= each
suffix length) and "full". Both parts are attn kernels, compiled once and
cached like any other.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import spec as S
from .api import _to_numpy, compile as _compile


def _shape(name, a, rank):
    if a.ndim != rank:
        raise ValueError(f"{name} must have {rank} dims, got shape "
                         f"{tuple(a.shape)}")


def cascade(q, k_prefix, v_prefix, k_suffix, v_suffix, *,
            kv_len=None, causal: bool = True, scale: Optional[float] = None,
            return_lse: bool = False):
    """Attention of q [B, H, Sq, D] over a shared prefix (k_prefix, v_prefix:
    [Hkv, P, D] / [Hkv, P, Dv], or with a leading 1) followed by each
    sequence's suffix (k_suffix, v_suffix: [B, Hkv, Ls, D] / [B, Hkv, Ls,
    Dv], the first kv_len[b] keys valid). Returns out [B, H, Sq, Dv] in q's
    dtype (and the LSE [B, H, Sq], float32, with return_lse)."""
    qa, _ = _to_numpy(q, "q")
    arrays = []
    for name, x in (("k_prefix", k_prefix), ("v_prefix", v_prefix)):
        a, _ = _to_numpy(x, name)
        if a.ndim == 3:
            a = a[None]
        _shape(name, a, 4)
        if a.shape[0] != 1:
            raise ValueError(f"{name} is shared by the batch: [Hkv, P, D] "
                             f"or [1, Hkv, P, D], got {tuple(a.shape)}")
        arrays.append(a)
    kp, vp = arrays
    ks, _ = _to_numpy(k_suffix, "k_suffix")
    vs, _ = _to_numpy(v_suffix, "v_suffix")
    for name, a in (("q", qa), ("k_suffix", ks), ("v_suffix", vs)):
        _shape(name, a, 4)
    B, H, Sq, D = qa.shape
    Dv = vp.shape[3]
    if kp.shape[1:] != (vp.shape[1], vp.shape[2], D) or \
            ks.shape[0] != B or ks.shape[1] != kp.shape[1] or \
            ks.shape[3] != D or vs.shape[:3] != ks.shape[:3] or \
            vs.shape[3] != Dv:
        raise ValueError(
            f"inconsistent shapes: q {qa.shape}, k_prefix {kp.shape}, "
            f"v_prefix {vp.shape}, k_suffix {ks.shape}, v_suffix {vs.shape} "
            f"(want q [B, H, Sq, D], prefix [1, Hkv, P, D|Dv], suffix "
            f"[B, Hkv, Ls, D|Dv])")
    for name, a in (("k_prefix", kp), ("v_prefix", vp), ("k_suffix", ks),
                    ("v_suffix", vs)):
        if a.dtype != qa.dtype:
            raise TypeError(f"{name} must have q's dtype {qa.dtype}, got "
                            f"{a.dtype}")
    dtype = "bfloat16" if qa.dtype.name == "bfloat16" else qa.dtype.name
    lengths = np.full(B, ks.shape[2]) if kv_len is None else \
        np.asarray(_to_numpy(kv_len, "kv_len")[0])
    if causal and lengths.size and lengths.min() < Sq:
        raise ValueError(
            f"a causal cascade needs every suffix to hold its sequence's "
            f"{Sq} queries (kv_len >= Sq), got {int(lengths.min())}: a "
            f"query before the end of the prefix would not see all of it")

    # The prefix: every query of the batch at once, unmasked.
    prefix = _compile(S.Spec(scale=scale), dtype=dtype, head_dim=D,
                      head_dim_v=Dv)
    stacked = np.ascontiguousarray(
        qa.transpose(1, 0, 2, 3).reshape(1, H, B * Sq, D))
    o_p, l_p = prefix(stacked, kp, vp, return_lse=True)
    o_p = o_p.reshape(H, B, Sq, Dv).transpose(1, 0, 2, 3)
    l_p = l_p.reshape(H, B, Sq).transpose(1, 0, 2)

    # Each suffix on its own.
    suffix = _compile(S.Spec(S.Causal() if causal else None, scale=scale,
                             kv_len=kv_len is not None),
                      dtype=dtype, head_dim=D, head_dim_v=Dv)
    extra = {} if kv_len is None else {"kv_len": kv_len}
    o_s, l_s = suffix(qa, ks, vs, return_lse=True, **extra)

    # Merge by log-sum-exp; both empty: 0 and -inf.
    l_p, l_s = l_p.astype(np.float64), l_s.astype(np.float64)
    m = np.maximum(l_p, l_s)
    m = np.where(np.isfinite(m), m, 0.0)
    w_p, w_s = np.exp(l_p - m), np.exp(l_s - m)
    total = w_p + w_s
    out = (w_p[..., None] * o_p.astype(np.float64)
           + w_s[..., None] * o_s.astype(np.float64)) \
        / np.where(total > 0, total, 1.0)[..., None]
    out = out.astype(qa.dtype)
    if not return_lse:
        return out
    with np.errstate(divide="ignore"):
        lse = (np.log(total) + m).astype(np.float32)
    return out, lse
