"""attn kernels as PyTorch autograd functions, on CPU tensors.

    import attn.torch
    out = attn.torch.attention(spec, q, k, v, *captures, **operands)
    out.sum().backward()                  # fills q.grad, k.grad, v.grad

The forward is the compiled kernel (`attn.compile`, fused CPU path) called
with return_lse=True; the backward is `Kernel.backward` on the saved q, k,
v, O and LSE: the fused backward (P recomputed tile by tile, O(Sq) memory
per head), or for head dims above 256 the reference lowering of
attn.attention_grad (O(Sq * Skv) memory per head);
`kernel.backward_lowering` says which. Kernels are compiled once per
(spec, dtype, head dims, compile options) and cached. Gradients flow to q,
k and v, and to the sink logits, a bias, temperature or relative-bias
table and float32 tensors captured by a score_mod function when they
require grad (Kernel.backward's `wrt`; deterministic, no atomics). float16 and
bfloat16 ones too (a bias in a half-precision kernel has the input's
dtype; half-precision captures are passed to the kernel as float32, which
holds their values exactly): their gradients accumulate in float32 and
autograd receives them in the tensor's own dtype. A capture read only by
a mask_mod, or an operand of another dtype that requires grad is an
error, not a silently missing gradient. PyTorch is imported on first use;
this module is not imported by `import attn`. Importing it sets
KMP_BLOCKTIME=0 for attn's OpenMP workers (see _idle_workers_sleep).
"""

from __future__ import annotations

import ctypes
import os
import threading

import torch

from . import api as _api
from . import spec as _spec

__all__ = ["attention", "AttentionFunction"]


def _idle_workers_sleep():
    """attn's kernels run on LLVM's OpenMP runtime (libomp), PyTorch's on
    its own threads. libomp's workers spin for 200 ms after each parallel
    region by default, taking the cores from PyTorch's threads between attn
    calls: a training step of B1 H8 S256 took 47 ms on 2 cores instead of
    5. So attn's idle workers sleep at once (KMP_BLOCKTIME=0, unless the
    environment sets it), also when libomp is already running."""
    if "KMP_BLOCKTIME" in os.environ:
        return
    os.environ["KMP_BLOCKTIME"] = "0"
    try:
        # Already running (an attn kernel ran before this import)?
        set_blocktime = ctypes.CDLL(None).kmp_set_blocktime
    except AttributeError:
        return  # not yet: libomp reads the environment when it starts
    set_blocktime(0)


_idle_workers_sleep()

_DTYPES = {torch.float32: "float32", torch.float16: "float16",
           torch.bfloat16: "bfloat16"}
_lock = threading.Lock()
_kernels: dict = {}


def _kernel(spec, dtype, head_dim, head_dim_v, compile_kw):
    key = (id(spec), dtype, head_dim, head_dim_v,
           tuple(sorted(compile_kw.items())))
    with _lock:
        entry = _kernels.get(key)
        # The spec is kept with its kernel so that its id is not reused.
        if entry is None or entry[0] is not spec:
            entry = (spec, _api.compile(spec, dtype=dtype, head_dim=head_dim,
                                        head_dim_v=head_dim_v, **compile_kw))
            _kernels[key] = entry
        return entry[1]


class AttentionFunction(torch.autograd.Function):
    """apply(kernel, wrt, captures, operands, q, k, v, *params) -> out; the
    gradients of q, k, v and of `params`, the captures / operands named in
    `wrt` (passed again here so that autograd tracks them), come from
    kernel.backward."""

    @staticmethod
    def forward(ctx, kernel, wrt, captures, operands, q, k, v, *params):
        q, k, v = (x.detach() for x in (q, k, v))
        captures = tuple(_detached(x) for x in captures)
        operands = {n: _detached(x) for n, x in operands.items()}
        if kernel.signature.has_lse:
            out, lse = kernel(q, k, v, *captures, return_lse=True,
                              **operands)
        else:
            out, lse = kernel(q, k, v, *captures, **operands), None
        ctx.kernel, ctx.captures, ctx.operands = kernel, captures, operands
        ctx.wrt = wrt
        ctx.param_dtypes = tuple(p.dtype for p in params)
        ctx.has_lse = lse is not None
        saved = (q, k, v, out) + ((lse,) if ctx.has_lse else ())
        ctx.save_for_backward(*saved)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        # The saved output is the Function's own result, which requires
        # grad; the kernel takes plain tensors.
        q, k, v, out, *rest = (t.detach() for t in ctx.saved_tensors)
        lse = rest[0] if ctx.has_lse else None
        dq, dk, dv, *params = ctx.kernel.backward(
            q, k, v, out, lse, grad_out.contiguous(), *ctx.captures,
            wrt=ctx.wrt, **ctx.operands)
        # Operand gradients are float32: each in its tensor's dtype.
        params = [g.to(dtype) for g, dtype in zip(params, ctx.param_dtypes)]
        return (None, None, None, None, dq, dk, dv, *params)


def _detached(x):
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, (tuple, list)):
        return type(x)(_detached(p) for p in x)
    return x


def attention(spec, q, k, v, *captures, lowering: str = "fused",
              vector_width: int = 0, openmp: bool = True, **operands):
    """`spec` on CPU tensors q, k, v (float32, float16 or bfloat16, in the
    spec's layout) with autograd: the output O as a tensor whose backward
    gives q, k and v their gradients. Captures and operands as for a
    compiled `attn.Kernel`; the sink logits, bias, temperature,
    relative-bias table and captures of a score_mod function that require
    grad receive theirs (float32, float16 or bfloat16 tensors: float32
    sums, the gradient in the tensor's dtype), any other operand that
    requires grad is an error."""
    spec = _spec.as_spec(spec)
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got "
                            f"{type(x).__name__}")
        if x.device.type != "cpu":
            raise ValueError(f"{name} is on {x.device}; attn.torch.attention "
                             f"runs on CPU tensors")
    if q.dtype not in _DTYPES:
        raise TypeError(f"q must be float32, float16 or bfloat16, got "
                        f"{q.dtype}")
    if q.dim() != 4 or v.dim() != 4:
        raise ValueError(f"q, k and v must be 4-D, got shapes "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    kernel = _kernel(spec, _DTYPES[q.dtype], int(q.shape[3]),
                     int(v.shape[3]), {"lowering": lowering,
                                       "vector_width": vector_width,
                                       "openmp": openmp})
    # Captures by their parameter names (positional ones first, in order),
    # then the operands; those that require grad are differentiated.
    names = [n for n, _ in kernel.signature.captures]
    named = list(zip(names, captures)) + list(operands.items())
    wrt, params = [], []
    score_mod_captures = set(kernel.signature.capture_owners.get(
        "score_mod", ()))
    for name, x in named:
        parts = x if isinstance(x, (tuple, list)) else (x,)
        if not any(isinstance(p, torch.Tensor) and p.requires_grad
                   for p in parts):
            continue
        if not torch.is_grad_enabled():
            continue
        if name not in _api.OPERAND_GRADS and name not in score_mod_captures:
            raise NotImplementedError(
                f"operand '{name}' requires grad, but attn computes the "
                f"gradients of q, k, v, the operands "
                f"{', '.join(_api.OPERAND_GRADS)} and float32 tensors "
                f"captured by a score_mod function only")
        if x.dtype not in _DTYPES:
            raise NotImplementedError(
                f"'{name}' requires grad but is {x.dtype}; attn computes "
                f"the gradients of float32, float16 and bfloat16 operands "
                f"only")
        wrt.append(name)
        params.append(x)
    wrt = tuple(wrt)
    # Half-precision tensors for float32 captures: their values, exactly,
    # in float32 (the gradient goes back in the tensor's dtype).
    f32_captures = {n for n, dtype in kernel.signature.captures
                    if dtype == "float32"}

    def widened(name, x):
        if name in f32_captures and isinstance(x, torch.Tensor) and \
                x.dtype in (torch.float16, torch.bfloat16):
            return x.detach().float()
        return x
    captures = tuple(widened(n, x) for n, x in zip(names, captures)) + \
        tuple(captures[len(names):])
    operands = {n: widened(n, x) for n, x in operands.items()}
    if torch.is_grad_enabled() and (
            params or any(x.requires_grad for x in (q, k, v))):
        # Compile the backward now: a variant without gradients fails here,
        # before any training step runs.
        kernel._grad_kernel(wrt)
    return AttentionFunction.apply(kernel, wrt, tuple(captures),
                                   dict(operands), q, k, v, *params)
