"""A custom score modifier that reads captured arrays (FlexAttention style).

Any Python function score_mod(score, b, h, q_idx, kv_idx, *captures) is
traced into the kernel: arithmetic on its arguments becomes MLIR ops, and
extra parameters are "captured" arrays passed at call time. Here each head
has a learned temperature and a table of biases indexed by a bucket of the
signed query-key distance (a simplified T5-style relative bias):

    s' = s * head_scale[h] + rel_table[h, bucket(p(i) - j)]

Branches must be written with attn.where (Python `if` cannot be traced), and
attn.position(b, q_idx) gives the query position p(i) = i + (Skv - Sq).

Run:  PYTHONPATH=build/python python examples/python/custom_score_mod.py
"""
import numpy as np

import attn

B, Hq, Hkv, Sq, Skv, D = 2, 4, 1, 123, 300, 64   # MQA: one shared kv head
HALF, WIDTH = 8, 16            # 8 buckets per direction, 16 positions each
TOL = 1e-4                                        # float32 kernel


def score_mod(score, b, h, q_idx, kv_idx, head_scale, rel_table):
    dist = attn.position(b, q_idx) - kv_idx       # integer, may be negative
    past = attn.minimum(dist // WIDTH, HALF - 1)          # keys behind: 0..7
    future = HALF + attn.minimum((-dist) // WIDTH, HALF - 1)  # ahead: 8..15
    bucket = attn.where(dist >= 0, past, future)
    return score * head_scale[h] + rel_table[h, bucket]


spec = attn.Spec(score_mod=score_mod)
# The IR attn builds: the function is now the op's score_mod region.
ir_lines = attn.to_mlir(spec, head_dim=D).splitlines()
end = next(n for n, line in enumerate(ir_lines) if "attn.yield" in line)
print("\n".join(ir_lines[:end + 1]) + "\n      ...")
fn = attn.compile(spec, dtype="float32", head_dim=D)

rng = np.random.default_rng(4)
q = rng.standard_normal((B, Hq, Sq, D), dtype=np.float32)
k = rng.standard_normal((B, Hkv, Skv, D), dtype=np.float32)
v = rng.standard_normal((B, Hkv, Skv, D), dtype=np.float32)
head_scale = rng.uniform(0.5, 2.0, Hq).astype(np.float32)
rel_table = rng.standard_normal((Hq, 2 * HALF)).astype(np.float32)
# Captures follow q, k, v in the function's parameter order.
out = fn(q, k, v, head_scale, rel_table)

# float64 numpy reference, with the buckets computed independently.
scores = np.einsum("bhid,bhjd->bhij", q.astype(np.float64),
                   np.repeat(k.astype(np.float64), Hq, axis=1)) / np.sqrt(D)
dist = (np.arange(Sq)[:, None] + (Skv - Sq)) - np.arange(Skv)[None, :]
bucket = np.where(dist >= 0, np.minimum(dist // WIDTH, HALF - 1),
                  HALF + np.minimum(-dist // WIDTH, HALF - 1))     # [Sq, Skv]
scores = scores * head_scale[None, :, None, None] \
    + rel_table[:, bucket][None].astype(np.float64)             # [1,Hq,Sq,Skv]
weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
weights /= weights.sum(axis=-1, keepdims=True)
ref = np.einsum("bhij,bhjd->bhid", weights,
                np.repeat(v.astype(np.float64), Hq, axis=1))

err = np.abs(out - ref).max() / np.abs(ref).max()
status = "OK" if err <= TOL else "FAIL"
print(f"custom_score_mod: max relative error {err:.1e} (tolerance {TOL:.0e}) "
      f"{status}")
if status != "OK":
    raise SystemExit(1)
