"""The masks of the benchmark cases, in one place for every runner.

A mask is a dict: {"kind": "full" | "causal" | "window" | "sinks_window" |
"document", "window": L, "sinks": N, "docs": N}. Positions are bottom-right
aligned, p(i) = i + Skv - Sq, as in attn (README, VARIANTS.md):

    full          every key
    causal        j <= p
    window        p - L <= j <= p                 (#attn.sliding_window<left = L>)
    sinks_window  (j < N or p - L <= j) and j <= p  (StreamingLLM)
    document      doc(j) == doc(p) and j <= p, doc(x) = x * docs // Skv

Every one of them allows, in row i, the keys [0, sink_end) u [lo, hi]; the
row ranges give the exact count of allowed pairs (the FLOP count) without an
Sq x Skv matrix, and openblas_attn.c masks with the same ranges.
"""

import numpy as np


def spec(mask):
    """The MASK argument of openblas_attn."""
    kind = mask["kind"]
    if kind in ("full", "causal"):
        return kind
    if kind == "window":
        return f"window:{mask['window']}"
    if kind == "sinks_window":
        return f"sinks_window:{mask['sinks']}:{mask['window']}"
    if kind == "document":
        return f"document:{mask['docs']}"
    raise ValueError(f"unknown mask kind {kind!r}")


def doc_ids(mask, skv):
    """Document id of each key position: `docs` equal runs of Skv // docs."""
    return np.arange(skv, dtype=np.int64) * mask["docs"] // skv


def row_ranges(mask, sq, skv):
    """(sink_end, lo, hi) per query row; row i allows [0, sink_end) u [lo, hi]."""
    p = np.arange(sq, dtype=np.int64) + (skv - sq)
    kind = mask["kind"]
    sink_end = np.zeros(sq, dtype=np.int64)
    lo = np.zeros(sq, dtype=np.int64)
    hi = np.full(sq, skv - 1, dtype=np.int64)
    if kind == "causal":
        hi = p.copy()
    elif kind == "window":
        lo, hi = p - mask["window"], p.copy()
    elif kind == "sinks_window":
        lo, hi = p - mask["window"], p.copy()
        sink_end = np.minimum(mask["sinks"], p + 1)
    elif kind == "document":
        docs = mask["docs"]
        doc = np.where(p >= 0, p, 0) * docs // skv
        lo = (doc * skv + docs - 1) // docs  # first position of the document
        hi = p.copy()
    elif kind != "full":
        raise ValueError(f"unknown mask kind {kind!r}")
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, skv - 1)
    sink_end = np.clip(sink_end, 0, skv)
    return sink_end, lo, hi


def allowed_pairs(mask, sq, skv):
    """Number of allowed (i, j) pairs of one (batch, head)."""
    sink_end, lo, hi = row_ranges(mask, sq, skv)
    band = np.maximum(hi - lo + 1, 0)
    overlap = np.maximum(np.minimum(sink_end, hi + 1) - lo, 0)
    overlap = np.where(band > 0, overlap, 0)
    return int((sink_end + band - overlap).sum())


def dense(mask, sq, skv):
    """The boolean [Sq, Skv] mask, True where allowed (for SDPA's attn_mask)."""
    sink_end, lo, hi = row_ranges(mask, sq, skv)
    j = np.arange(skv, dtype=np.int64)[None, :]
    return (j < sink_end[:, None]) | ((j >= lo[:, None]) & (j <= hi[:, None]))
