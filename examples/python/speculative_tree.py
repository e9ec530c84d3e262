"""Tree attention for speculative decoding (Medusa, SpecInfer, TriForce).

A draft model proposes a *tree* of T candidate tokens; the target model
verifies them all in one pass. Draft tokens are appended to the KV cache (the
last T keys) and are also the last T queries. parent[t] is the parent of
draft token t (-1 for a root; parents come before children). A draft query
sees the whole committed prefix plus its ancestors and itself - never its
siblings or cousins. Queries before the last T (tokens already accepted but
not yet cached) are plain causal. attn.tree() expresses all of this on its
own; the parent array is a call-time operand, so one kernel serves any tree.

Run:  PYTHONPATH=build/python python examples/python/speculative_tree.py
"""
import numpy as np

import attn

#        0          5        draft tokens 0..6 (two roots: 0 and 5)
#       / \         |
#      1   2        6
#     / \
#    3   4
PARENT = np.array([-1, 0, 0, 1, 1, -1, 5], np.int32)
T = len(PARENT)
B, Hq, Hkv, Sq, Skv, D = 2, 8, 2, 3 + T, 250 + T, 64  # 3 accepted + T draft
TOL = 1e-4                                            # float32 kernel

spec = attn.Spec(mask=attn.tree())
fn = attn.compile(spec, dtype="float32", head_dim=D)

rng = np.random.default_rng(5)
q = rng.standard_normal((B, Hq, Sq, D), dtype=np.float32)
k = rng.standard_normal((B, Hkv, Skv, D), dtype=np.float32)
v = rng.standard_normal((B, Hkv, Skv, D), dtype=np.float32)
out = fn(q, k, v, tree=PARENT)

# The mask, built explicitly. ancestor_or_self[t, u]: u is t or above t.
ancestor_or_self = np.eye(T, dtype=bool)
for t in range(T):
    u = PARENT[t]
    while u != -1:
        ancestor_or_self[t, u] = True
        u = PARENT[u]
pos_q = np.arange(Sq) + (Skv - Sq)                    # p(i), bottom-right
allowed = np.arange(Skv)[None, :] <= pos_q[:, None]   # causal for every row
allowed[Sq - T:, :Skv - T] = True                     # drafts see the prefix
allowed[Sq - T:, Skv - T:] = ancestor_or_self         # ...and their ancestry

# float64 numpy reference: masked softmax (GQA: 4 query heads per kv head).
k64 = np.repeat(k.astype(np.float64), Hq // Hkv, axis=1)
v64 = np.repeat(v.astype(np.float64), Hq // Hkv, axis=1)
scores = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k64) / np.sqrt(D)
scores = np.where(allowed, scores, -np.inf)
weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
weights /= weights.sum(axis=-1, keepdims=True)
ref = np.einsum("bhij,bhjd->bhid", weights, v64)

err = np.abs(out - ref).max() / np.abs(ref).max()
status = "OK" if err <= TOL else "FAIL"
print(f"speculative_tree: max relative error {err:.1e} (tolerance {TOL:.0e}) "
      f"{status}")
if status != "OK":
    raise SystemExit(1)
