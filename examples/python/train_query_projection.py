"""Training through attn: gradient descent on a query projection.

A student learns the query projection W of one causal attention layer
with GQA, out = attention(x W, K, V), to reproduce a teacher's output
(same K, V; a hidden W*) under the mean squared error. Each step runs the
compiled forward (`return_lse=True`), then `Kernel.backward` for dQ, and
chains dW = x^T dQ by hand. The first step's gradient is checked against
a central finite difference of the loss computed with the float64
reference, and the loss must fall at least tenfold. float32.

Run:  PYTHONPATH=build/python python examples/python/train_query_projection.py
"""
import numpy as np

import attn

B, Hq, Hkv, S, D, DM = 2, 4, 2, 48, 16, 24
STEPS, LR = 200, 20.0

spec = attn.Spec(mask=attn.causal())
fn = attn.compile(spec, dtype="float32", head_dim=D)

rng = np.random.default_rng(0)
x = rng.standard_normal((B, S, DM)).astype(np.float32)
k = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
v = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
w_star = (rng.standard_normal((DM, Hq * D)) / np.sqrt(DM)).astype(np.float32)
w = (rng.standard_normal((DM, Hq * D)) / np.sqrt(DM)).astype(np.float32)


def project(x, w):
    """[B, S, DM] x [DM, Hq*D] -> q [B, Hq, S, D]."""
    return np.ascontiguousarray(
        (x @ w).reshape(B, S, Hq, D).transpose(0, 2, 1, 3))


target = fn(project(x, w_star), k, v)


def loss_and_grad(w):
    q = project(x, w)
    out, lse = fn(q, k, v, return_lse=True)
    diff = out - target
    loss = float((diff.astype(np.float64) ** 2).mean())
    grad_out = (2.0 / diff.size * diff).astype(np.float32)
    dq, _, _ = fn.backward(q, k, v, out, lse, grad_out)
    dq = dq.transpose(0, 2, 1, 3).reshape(B * S, Hq * D)
    return loss, x.reshape(B * S, DM).T @ dq


def loss64(w):
    q = project(x.astype(np.float64), w)
    out = attn.reference.attention(spec, q, k, v)
    return float(((out - target) ** 2).mean())


loss0, grad = loss_and_grad(w)
# Finite differences of the float64 loss along a few coordinates.
eps, fd_err = 1e-4, 0.0
w64 = w.astype(np.float64)
for idx in [(0, 0), (3, 17), (DM - 1, Hq * D - 1), (11, 40)]:
    wp, wm = w64.copy(), w64.copy()
    wp[idx] += eps
    wm[idx] -= eps
    fd = (loss64(wp) - loss64(wm)) / (2 * eps)
    fd_err = max(fd_err, abs(fd - grad[idx]) / np.abs(grad).max())

loss = loss0
for _ in range(STEPS):
    loss, grad = loss_and_grad(w)
    w -= LR * grad

ok = fd_err <= 1e-3 and loss <= loss0 / 10
print(f"train_query_projection: loss {loss0:.3g} -> {loss:.3g} in {STEPS} "
      f"steps, gradient vs finite differences {fd_err:.1e} "
      f"{'OK' if ok else 'FAIL'}")
if not ok:
    raise SystemExit(1)
