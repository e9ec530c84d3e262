"""Document packing: several sequences in one batch row, kept apart.

Training often packs variable-length documents into fixed-length rows. Tokens
must attend only within their own document, causally. attn.document() reads
per-token document ids at call time and allows (i, j) when
seg_q[i] == seg_kv[j]; & attn.causal() adds j <= i.

The unused tail of a row (padding) gets id -1 on the query side and -2 on the
key side: padded queries then match no key at all, and a fully masked row is
defined to output exactly 0 (never NaN).

Run:  PYTHONPATH=build/python python examples/python/document_packed.py
"""
import numpy as np

import attn

S, Hq, Hkv, D = 300, 4, 2, 32
DOC_LENGTHS = [[100, 57, 120], [31, 200]]     # per batch row; rest is padding
B = len(DOC_LENGTHS)
TOL = 1e-4                                    # float32 kernel

# Document ids per token: 0, 0, ..., 1, 1, ..., then -1 (queries) / -2 (keys).
seg_q = np.full((B, S), -1, np.int32)
seg_kv = np.full((B, S), -2, np.int32)
for b, lengths in enumerate(DOC_LENGTHS):
    ids = np.repeat(np.arange(len(lengths)), lengths)
    seg_q[b, :len(ids)] = ids
    seg_kv[b, :len(ids)] = ids

spec = attn.Spec(mask=attn.document() & attn.causal())
fn = attn.compile(spec, dtype="float32", head_dim=D)

rng = np.random.default_rng(2)
q = rng.standard_normal((B, Hq, S, D), dtype=np.float32)
k = rng.standard_normal((B, Hkv, S, D), dtype=np.float32)
v = rng.standard_normal((B, Hkv, S, D), dtype=np.float32)
out = fn(q, k, v, segments=(seg_q, seg_kv))   # the ids are call-time operands

# float64 numpy reference (GQA: query head h uses kv head h // 2).
k64 = np.repeat(k.astype(np.float64), Hq // Hkv, axis=1)
v64 = np.repeat(v.astype(np.float64), Hq // Hkv, axis=1)
scores = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k64) / np.sqrt(D)
same_doc = seg_q[:, None, :, None] == seg_kv[:, None, None, :]   # [B,1,S,S]
causal = np.tril(np.ones((S, S), bool))
allowed = same_doc & causal
scores = np.where(allowed, scores, -np.inf)
row_max = scores.max(axis=-1, keepdims=True)
row_max = np.where(np.isfinite(row_max), row_max, 0.0)   # empty (padded) rows
weights = np.where(allowed, np.exp(scores - row_max), 0.0)
denom = weights.sum(axis=-1, keepdims=True)
weights = weights / np.where(denom > 0, denom, 1.0)      # empty row -> all 0
ref = np.einsum("bhij,bhjd->bhid", weights, v64)

# Padded query rows must come out exactly 0, not merely close to it.
padded = seg_q < 0                                       # [B, S]
padding_zero = bool(np.all(out.transpose(0, 2, 1, 3)[padded] == 0))
err = np.abs(out - ref).max() / np.abs(ref).max()
status = "OK" if err <= TOL and padding_zero else "FAIL"
print(f"document_packed: max relative error {err:.1e} (tolerance {TOL:.0e}), "
      f"{padded.sum()} padded rows {'all 0' if padding_zero else 'NOT 0'} "
      f"{status}")
if status != "OK":
    raise SystemExit(1)
