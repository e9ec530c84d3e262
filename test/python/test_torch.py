"""attn.torch.attention: attn kernels as a torch.autograd.Function.

scripts/python-env.sh installs PyTorch unless ATTN_WITH_TORCH=0; the
README's test command then sets ATTN_REQUIRE_TORCH=1, so a missing torch
fails these tests there instead of skipping them. The gradients are checked against
test_backward's float64 backward reference and, for plain causal
attention, against PyTorch's own scaled_dot_product_attention backward.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("ATTN_REQUIRE_TORCH") == "1":
    import torch
else:
    torch = pytest.importorskip("torch")

import attn  # noqa: E402
import attn.torch as AT  # noqa: E402
import test_backward as TB  # noqa: E402

TORCH_DTYPE = {"float32": torch.float32, "float16": torch.float16,
               "bfloat16": torch.bfloat16}


def _tensors(rng, shapes, dtype, requires_grad=True):
    out = []
    for shape in shapes:
        t = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
        t = t.to(TORCH_DTYPE[dtype]).requires_grad_(requires_grad)
        out.append(t)
    return out


def _f64(t):
    return t.detach().to(torch.float32).numpy().astype(np.float64)


@pytest.mark.parametrize("name,spec,ops,dtype", [
    ("causal_gqa", attn.Spec(attn.causal()), {}, "float32"),
    ("sink_softcap_bshd", attn.Spec(attn.sliding_window(5) & attn.causal(),
                                    attn.sink_softmax(), attn.softcap(4.0),
                                    layout="bshd"), {"sink": True},
     "bfloat16"),
    ("sigmoid_alibi", attn.Spec(None, attn.sigmoid(), attn.alibi()), {},
     "float16"),
])
def test_autograd_against_reference(name, spec, ops, dtype):
    rng = np.random.default_rng(3)
    B, Hq, Hkv, Sq, Skv, D, Dv = 2, 4, 2, 13, 29, 32, 16
    bshd = spec.layout == "bshd"

    def shape(H, S, X):
        return (B, S, H, X) if bshd else (B, H, S, X)
    q, k, v = _tensors(rng, [shape(Hq, Sq, D), shape(Hkv, Skv, D),
                             shape(Hkv, Skv, Dv)], dtype)
    operands = {}
    if ops.get("sink"):
        operands["sink"] = torch.from_numpy(
            rng.standard_normal(Hq).astype(np.float32))
    out = AT.attention(spec, q, k, v, **operands)
    assert out.dtype == q.dtype and out.requires_grad
    do = torch.from_numpy(rng.standard_normal(tuple(out.shape)).astype(
        np.float32)).to(out.dtype)
    (out.float() * do.float()).sum().backward()
    np_ops = {n: x.numpy() for n, x in operands.items()}
    ref_o, _, *refs = TB.ref_grads(spec, *(x.detach().to(torch.float32)
                                           .numpy() for x in (q, k, v)),
                                   _f64(do), (), np_ops)
    tol = TB.GRAD_TOL[dtype]
    assert TB._rel_err(_f64(out), ref_o) <= tol
    for what, x, ref in zip("qkv", (q, k, v), refs):
        assert x.grad is not None and x.grad.dtype == x.dtype
        err = TB._rel_err(_f64(x.grad), ref)
        assert err <= tol, f"{name}: d{what} rel err {err:.3g} > {tol}"


def test_against_torch_sdpa():
    """Self-attention (Sq == Skv, where the two causal alignments agree)
    with MHA: attn's gradients and PyTorch's SDPA backward, in float32."""
    rng = np.random.default_rng(4)
    shape = (2, 3, 37, 16)
    q, k, v = _tensors(rng, [shape] * 3, "float32")
    q2, k2, v2 = (x.detach().clone().requires_grad_(True) for x in (q, k, v))
    do = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    out = AT.attention(attn.causal(), q, k, v)
    out.backward(do)
    ref = torch.nn.functional.scaled_dot_product_attention(q2, k2, v2,
                                                           is_causal=True)
    ref.backward(do)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    for x, y in ((q, q2), (k, k2), (v, v2)):
        torch.testing.assert_close(x.grad, y.grad, rtol=2e-4, atol=2e-4)


def test_operand_without_gradient_requiring_grad_is_an_error():
    rng = np.random.default_rng(5)
    q, k, v = _tensors(rng, [(1, 2, 4, 8)] * 3, "float32")

    def keep(b, h, q_idx, kv_idx, gate):
        return gate[h] > 0.0
    gate = torch.ones(2, requires_grad=True)
    with pytest.raises(NotImplementedError, match="operand 'gate' requires "
                                                  "grad"):
        AT.attention(attn.Spec(attn.mask_mod(keep)), q, k, v, gate)
    table = torch.zeros(2, 9, dtype=torch.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="'table' requires grad but "
                                                  "is torch.float64"):
        AT.attention(attn.Spec(None, score_mod=_rel_table_mod), q, k, v,
                     table, torch.zeros(2))


def _rel_table_mod(s, b, h, q_idx, kv_idx, table, slope):
    """A learned relative-position bias (clamped to +-4) and learned ALiBi
    slopes per head."""
    rel = attn.minimum(attn.maximum(kv_idx - q_idx, -4), 4) + 4
    return s + table[h, rel] - slope[h] * attn.abs(q_idx - kv_idx)


def test_captured_and_sink_gradients_match_eager_torch():
    """A table and slopes captured by the score_mod and sink logits, all
    requiring grad, receive the gradients autograd gives the same
    computation in eager PyTorch (GQA, a fully masked row, float32)."""
    rng = np.random.default_rng(8)
    Hq, Hkv, Sq, Skv, D = 4, 2, 10, 13, 8
    q, k, v = _tensors(rng, [(2, Hq, Sq, D), (2, Hkv, Skv, D),
                             (2, Hkv, Skv, D)], "float32")
    table, slope, sink = (
        torch.tensor(x, dtype=torch.float32, requires_grad=True)
        for x in (rng.standard_normal((Hq, 9)), rng.uniform(0, 0.5, Hq),
                  rng.standard_normal(Hq)))
    spec = attn.Spec(attn.causal(), attn.sink_softmax(),
                     score_mod=_rel_table_mod, q_offset=-4)
    w = torch.tensor(rng.standard_normal((2, Hq, Sq, D)),
                     dtype=torch.float32)
    out = AT.attention(spec, q, k, v, table, slope, sink=sink)
    params = (q, k, v, table, slope, sink)
    grads = torch.autograd.grad((out * w).sum(), params)

    i = torch.arange(Sq).reshape(-1, 1)
    j = torch.arange(Skv).reshape(1, -1)
    kk, vv = (x.repeat_interleave(Hq // Hkv, dim=1) for x in (k, v))
    s = (q @ kk.transpose(-1, -2)) / np.sqrt(D)
    rel = (j - i).clamp(-4, 4) + 4
    s = s + table[:, rel] - slope.reshape(-1, 1, 1) * (i - j).abs()
    pos = i + (Skv - Sq) - 4
    s = s.masked_fill(j > pos, -float("inf"))
    sinks = sink.reshape(1, -1, 1, 1).expand(2, Hq, Sq, 1)
    p = torch.softmax(torch.cat([s, sinks], dim=-1), dim=-1)[..., :Skv]
    ref = p @ vv
    want = torch.autograd.grad((ref * w).sum(), params)
    assert not (j <= pos)[0].any()      # row 0 sees no key
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)
    for name, g, r in zip(("q", "k", "v", "table", "slope", "sink"), grads,
                          want):
        assert torch.isfinite(g).all(), name
        torch.testing.assert_close(g, r, atol=2e-4, rtol=2e-4,
                                   msg=lambda m: f"d{name}: {m}")


def test_bias_and_temperature_gradients_match_eager_torch():
    """A broadcast bias [Hq, Sq, Skv] and a temperature [B, Hq, Sq] that
    require grad (float32) receive the gradients of the same computation in
    eager PyTorch."""
    rng = np.random.default_rng(9)
    B, Hq, Hkv, Sq, Skv, D = 2, 4, 2, 7, 11, 8
    q, k, v = _tensors(rng, [(B, Hq, Sq, D), (B, Hkv, Skv, D),
                             (B, Hkv, Skv, D)], "float32")
    bias, tau = (torch.tensor(x, dtype=torch.float32, requires_grad=True)
                 for x in (rng.standard_normal((Hq, Sq, Skv)),
                           rng.uniform(0.5, 2.0, (B, Hq, Sq))))
    spec = attn.Spec(attn.causal(), score_mod=[attn.temperature(),
                                               attn.softcap(3.0),
                                               attn.bias()])
    w = torch.tensor(rng.standard_normal((B, Hq, Sq, D)),
                     dtype=torch.float32)
    out = AT.attention(spec, q, k, v, bias=bias, temperature=tau)
    params = (q, k, v, bias, tau)
    grads = torch.autograd.grad((out * w).sum(), params)
    kk, vv = (x.repeat_interleave(Hq // Hkv, dim=1) for x in (k, v))
    s = (q @ kk.transpose(-1, -2)) / np.sqrt(D) * tau[..., None]
    s = 3.0 * torch.tanh(s / 3.0) + bias
    i = torch.arange(Sq).reshape(-1, 1)
    j = torch.arange(Skv).reshape(1, -1)
    s = s.masked_fill(j > i + (Skv - Sq), -float("inf"))
    ref = torch.softmax(s, dim=-1) @ vv
    want = torch.autograd.grad((ref * w).sum(), params)
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)
    for name, g, r in zip(("q", "k", "v", "bias", "temperature"), grads,
                          want):
        torch.testing.assert_close(g, r, atol=2e-4, rtol=2e-4,
                                   msg=lambda m: f"d{name}: {m}")


def _half_table_mod(s, b, h, q_idx, kv_idx, table):
    return s + table[h, attn.minimum(attn.abs(kv_idx - q_idx), 5)]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_bias_and_capture_gradients(dtype):
    """A bias in the kernel's half-precision dtype (broadcast over the
    batch) and a half-precision table captured by the score_mod, both
    requiring grad, receive gradients in their own dtype that match eager
    float64 PyTorch on the same (rounded) values within the backward's
    tolerance (GRAD_TOL, relative to max|ref|); GQA and a fully masked
    row."""
    rng = np.random.default_rng(17)
    B, Hq, Hkv, Sq, Skv, D = 2, 4, 2, 9, 12, 16
    q, k, v = _tensors(rng, [(B, Hq, Sq, D), (B, Hkv, Skv, D),
                             (B, Hkv, Skv, D)], dtype)
    tdt = TORCH_DTYPE[dtype]
    bias = torch.tensor(rng.standard_normal((Hq, Sq, Skv)),
                        dtype=tdt).requires_grad_(True)
    table = torch.tensor(rng.standard_normal((Hq, 6)),
                         dtype=tdt).requires_grad_(True)
    spec = attn.Spec(attn.causal(), score_mod=[_half_table_mod,
                                               attn.softcap(3.0),
                                               attn.bias()], q_offset=-4)
    w = torch.tensor(rng.standard_normal((B, Hq, Sq, D)), dtype=tdt)
    out = AT.attention(spec, q, k, v, table, bias=bias)
    params = (q, k, v, table, bias)
    grads = torch.autograd.grad((out * w).sum(), params)

    x64 = [p.detach().to(torch.float64).requires_grad_(True) for p in params]
    q6, k6, v6, t6, b6 = x64
    i = torch.arange(Sq).reshape(-1, 1)
    j = torch.arange(Skv).reshape(1, -1)
    kk, vv = (x.repeat_interleave(Hq // Hkv, dim=1) for x in (k6, v6))
    s = (q6 @ kk.transpose(-1, -2)) / np.sqrt(D)
    s = s + t6[:, (j - i).abs().clamp(max=5)]
    s = 3.0 * torch.tanh(s / 3.0) + b6
    pos = i + (Skv - Sq) - 4
    s = s.masked_fill(j > pos, -float("inf"))
    p = torch.nan_to_num(torch.softmax(s, dim=-1))   # row 0: no key
    ref = p @ vv
    want = torch.autograd.grad((ref * w.to(torch.float64)).sum(), x64)
    assert not (j <= pos)[0].any()
    tol = TB.GRAD_TOL[dtype]
    for name, g, r, x in zip(("q", "k", "v", "table", "bias"), grads, want,
                             params):
        assert g.dtype == x.dtype and g.shape == x.shape, name
        assert torch.isfinite(g).all(), name
        r = r.numpy()
        err = TB._rel_err(g.to(torch.float64).numpy(), r)
        assert err <= tol, f"d{name}: rel err {err:.3g} > {tol}"
    # The fully masked row 0 contributes nothing to the bias gradient.
    assert (grads[4][:, 0, :] == 0).all()


def test_traced_score_mod_gradients_match_eager_torch():
    # A traced score_mod function is differentiated by the compiler: the
    # gradients through attn.torch.attention equal autograd's through the
    # same computation written in eager PyTorch.
    rng = np.random.default_rng(6)
    q, k, v = _tensors(rng, [(1, 2, 9, 8), (1, 2, 11, 8), (1, 2, 11, 8)],
                       "float32")
    spec = attn.Spec(None, score_mod=lambda s, b, h, i, j:
                     attn.tanh(s / 2.0) * 2.0 + 0.1 * s * s)
    w = torch.tensor(rng.standard_normal((1, 2, 9, 8)), dtype=torch.float32)
    out = AT.attention(spec, q, k, v)
    grads = torch.autograd.grad((out * w).sum(), (q, k, v))
    s = (q @ k.transpose(-1, -2)) / np.sqrt(8.0)
    s = torch.tanh(s / 2.0) * 2.0 + 0.1 * s * s
    ref = torch.softmax(s, dim=-1) @ v
    want = torch.autograd.grad((ref * w).sum(), (q, k, v))
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)
    for g, r in zip(grads, want):
        torch.testing.assert_close(g, r, atol=2e-4, rtol=2e-4)


def test_rejects_non_cpu_and_non_tensors():
    with pytest.raises(TypeError, match="q must be a torch.Tensor"):
        AT.attention(attn.causal(), np.zeros((1, 1, 2, 4), np.float32),
                     *[torch.zeros(1, 1, 2, 4)] * 2)
