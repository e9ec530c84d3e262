"""Causal attention with ALiBi position biases, checked against numpy.

ALiBi ("Train Short, Test Long") adds no position embeddings; instead every
score is penalised in proportion to the distance between query and key:

    s'[h, i, j] = s[h, i, j] - slope[h] * (p(i) - j),   slope[h] = 2^(-8 (h+1) / Hq)

where p(i) = i + (Skv - Sq) is the query's position (bottom-right aligned).
Combined with a causal mask (j <= p(i)) this is the attention of BLOOM / MPT.

Run:  PYTHONPATH=build/python python examples/python/causal_alibi.py
"""
import numpy as np

import attn

B, Hq, Hkv, Sq, Skv, D = 2, 4, 4, 300, 300, 64
TOL = 1e-4                                    # float32 kernel

# 1. Describe the attention: a mask plus a list of score modifiers.
spec = attn.Spec(mask=attn.causal(), score_mod=attn.alibi())

# 2. Compile it. Shapes other than the head dim are not baked in.
fn = attn.compile(spec, dtype="float32", head_dim=D)

# 3. Run it on random inputs in [B, H, S, D] layout. return_lse=True also
#    returns the log-sum-exp of every softmax row, [B, Hq, Sq] float32.
rng = np.random.default_rng(0)
q = rng.standard_normal((B, Hq, Sq, D), dtype=np.float32)
k = rng.standard_normal((B, Hkv, Skv, D), dtype=np.float32)
v = rng.standard_normal((B, Hkv, Skv, D), dtype=np.float32)
out, lse = fn(q, k, v, return_lse=True)

# 4. The same computation written out in float64 numpy.
scores = np.einsum("bhid,bhjd->bhij", q.astype(np.float64),
                   k.astype(np.float64)) / np.sqrt(D)
pos_q = np.arange(Sq)[:, None] + (Skv - Sq)             # p(i), as a column
pos_k = np.arange(Skv)[None, :]                          # j, as a row
slopes = 2.0 ** (-8.0 * np.arange(1, Hq + 1) / Hq)       # one per head
scores = scores - slopes[None, :, None, None] * (pos_q - pos_k)
scores = np.where(pos_k <= pos_q, scores, -np.inf)       # causal mask
row_max = scores.max(axis=-1, keepdims=True)
weights = np.exp(scores - row_max)
ref_lse = (np.log(weights.sum(axis=-1, keepdims=True)) + row_max)[..., 0]
ref = np.einsum("bhij,bhjd->bhid", weights / weights.sum(-1, keepdims=True),
                v.astype(np.float64))

# 5. Compare, relative to the largest reference value.
err_o = np.abs(out - ref).max() / np.abs(ref).max()
err_lse = np.abs(lse - ref_lse).max() / np.abs(ref_lse).max()
err = max(err_o, err_lse)                     # the worse of O and LSE
status = "OK" if err <= TOL else "FAIL"
print(f"causal_alibi: max relative error {err:.1e} (tolerance {TOL:.0e}) "
      f"{status}")
if status != "OK":
    raise SystemExit(1)
