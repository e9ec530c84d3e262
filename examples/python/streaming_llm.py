"""StreamingLLM attention (sinks + sliding window) with a traced soft-cap.

"Efficient Streaming Language Models with Attention Sinks": each query sees
the first few tokens (the sinks) plus a window of recent tokens, never the
future. In attn's mask algebra that is

    (sinks(4) | sliding_window(64)) & causal()

(sinks(n) alone is just j < n, so the causal term is needed.) On top, the
scores are soft-capped as in Gemma-2, written as a plain Python function that
attn traces into the kernel: s' = CAP * tanh(s / CAP). The heads use GQA:
8 query heads share 2 key/value heads, and the kernel runs in float16.

Run:  PYTHONPATH=build/python python examples/python/streaming_llm.py
"""
import numpy as np

import attn

B, Hq, Hkv, S, D = 1, 8, 2, 257, 64
SINKS, WINDOW, CAP = 4, 64, 5.0
TOL = 1e-3                                    # float16 kernel


def softcap(score, b, h, q_idx, kv_idx):
    # Traced, not run per element: use attn.tanh (not math.tanh) so the call
    # becomes a math.tanh op in the generated code.
    return CAP * attn.tanh(score / CAP)


mask = (attn.sinks(SINKS) | attn.sliding_window(WINDOW)) & attn.causal()
spec = attn.Spec(mask=mask, score_mod=softcap)
fn = attn.compile(spec, dtype="float16", head_dim=D)

rng = np.random.default_rng(1)
q = (3 * rng.standard_normal((B, Hq, S, D))).astype(np.float16)
k = rng.standard_normal((B, Hkv, S, D)).astype(np.float16)
v = rng.standard_normal((B, Hkv, S, D)).astype(np.float16)
out = fn(q, k, v)                             # float16 [B, Hq, S, D]

# float64 numpy reference. GQA: query head h reads kv head h // (Hq // Hkv).
q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
k64 = np.repeat(k64, Hq // Hkv, axis=1)
v64 = np.repeat(v64, Hq // Hkv, axis=1)
scores = np.einsum("bhid,bhjd->bhij", q64, k64) / np.sqrt(D)
scores = CAP * np.tanh(scores / CAP)          # score modifier first...
i = np.arange(S)[:, None]                     # p(i) = i since Sq == Skv
j = np.arange(S)[None, :]
allowed = ((j < SINKS) | ((i - WINDOW <= j) & (j <= i))) & (j <= i)
scores = np.where(allowed, scores, -np.inf)   # ...then the mask
weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
weights /= weights.sum(axis=-1, keepdims=True)
ref = np.einsum("bhij,bhjd->bhid", weights, v64)

err = np.abs(out.astype(np.float64) - ref).max() / np.abs(ref).max()
status = "OK" if err <= TOL else "FAIL"
print(f"streaming_llm: max relative error {err:.1e} (tolerance {TOL:.0e}) "
      f"{status}")
if status != "OK":
    raise SystemExit(1)
