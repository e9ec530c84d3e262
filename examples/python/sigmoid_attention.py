"""Sigmoid attention (FlashSigmoid): no softmax, no row normalisation.

"Theory, Analysis, and Best Practices for Sigmoid Self-Attention" replaces
the softmax by an element-wise sigmoid with a bias:

    P[i, j] = m(i, j) * sigmoid(s[i, j] + beta),   beta = -log(Skv) by default

so rows need not sum to 1 (and there is no log-sum-exp output). Here it is
combined with a causal mask, with fewer queries than keys: query i sits at
position p(i) = i + (Skv - Sq) (bottom-right alignment, as when a chunk of
new tokens attends to a cache). The kernel runs in bfloat16 (via ml_dtypes).

Run:  PYTHONPATH=build/python python examples/python/sigmoid_attention.py
"""
import ml_dtypes
import numpy as np

import attn

B, Hq, Hkv, Sq, Skv, D = 2, 6, 3, 129, 333, 64
TOL = 8e-3                                    # bfloat16 kernel
bf16 = ml_dtypes.bfloat16

spec = attn.Spec(mask=attn.causal(), normalizer=attn.sigmoid())
fn = attn.compile(spec, dtype="bfloat16", head_dim=D)

rng = np.random.default_rng(3)
q = rng.standard_normal((B, Hq, Sq, D)).astype(bf16)
k = rng.standard_normal((B, Hkv, Skv, D)).astype(bf16)
v = rng.standard_normal((B, Hkv, Skv, D)).astype(bf16)
out = fn(q, k, v)                             # bfloat16 [B, Hq, Sq, D]

# float64 numpy reference, from the same (bf16-rounded) inputs.
k64 = np.repeat(k.astype(np.float64), Hq // Hkv, axis=1)
v64 = np.repeat(v.astype(np.float64), Hq // Hkv, axis=1)
scores = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k64) / np.sqrt(D)
beta = -np.log(Skv)
pos_q = np.arange(Sq)[:, None] + (Skv - Sq)
causal = np.arange(Skv)[None, :] <= pos_q
weights = np.where(causal, 1.0 / (1.0 + np.exp(-(scores + beta))), 0.0)
ref = np.einsum("bhij,bhjd->bhid", weights, v64)

err = np.abs(out.astype(np.float64) - ref).max() / np.abs(ref).max()
status = "OK" if err <= TOL else "FAIL"
print(f"sigmoid_attention: max relative error {err:.1e} "
      f"(tolerance {TOL:.0e}) {status}")
if status != "OK":
    raise SystemExit(1)
