"""Shared-prefix cascades (Hydragen): attention of a batch whose sequences
begin with one shared prefix.

    out = attn.cascade(q, k_prefix, v_prefix, k_suffix, v_suffix,
                       kv_len=suffix_lengths)

equals softmax attention of each sequence over its prefix and suffix
concatenated (causal by default, as in decoding and chunked prefill), but
reads the prefix once: all the batch's queries, and the query heads of
each kv head's group, are stacked into one [1, Hkv, G * B * Sq] problem
over the prefix (one matrix product per kv head, the prefix's keys and
values loaded once per tile instead of once per sequence and head), each
sequence's suffix is attended to on its own, and the two partial results
are merged by their log-sum-exp with attn.merge (out = (e^lse_p o_p +
e^lse_s o_s) / (e^lse_p + e^lse_s)). The three steps are one compiled
function, `cascade_ir(...)` its MLIR (two attn.attention ops and an
attn.merge; `attn-opt` and the pipelines take it as any other module),
compiled once per dtype, head dims, mask and scale and cached like any
kernel.

Supported: softmax, no score modifiers, masks "causal" (every prefix key
precedes every query, so the prefix part is unmasked; needs Sq <= each
suffix length) and "full".

target="cuda" runs the whole function on the GPU (host arrays, copied
there and back) and target="cuda-emulator" on the GPU emulator: the two
attention ops are the tensor-core kernels (f16 or bf16, head dims
multiples of 16 up to 128), and the gathers and the merge are kernels of
one thread per element; the prefix's K and V are read once per 64 stacked
query rows instead of once per sequence and query head.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _attn
from .api import CHIPS, TARGETS, _native_kernel, _to_numpy


def _shape(name, a, rank):
    if a.ndim != rank:
        raise ValueError(f"{name} must have {rank} dims, got shape "
                         f"{tuple(a.shape)}")


def cascade(q, k_prefix, v_prefix, k_suffix, v_suffix, *,
            kv_len=None, causal: bool = True, scale: Optional[float] = None,
            return_lse: bool = False, target: str = "cpu",
            chip: str = "sm_90a", mma: str = "auto"):
    """Attention of q [B, H, Sq, D] over a shared prefix (k_prefix, v_prefix:
    [Hkv, P, D] / [Hkv, P, Dv], or with a leading 1) followed by each
    sequence's suffix (k_suffix, v_suffix: [B, Hkv, Ls, D] / [B, Hkv, Ls,
    Dv], the first kv_len[b] keys valid). Returns out [B, H, Sq, Dv] in q's
    dtype (and the LSE [B, H, Sq], float32, with return_lse). `target`,
    `chip` and `mma` as for attn.compile ("cuda" and "cuda-emulator" take
    host arrays of float16 or bfloat16)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got "
                         f"{target!r}")
    if target != "cpu" and (chip not in CHIPS or
                            mma not in ("auto", "sync", "wgmma")):
        raise ValueError(f"chip must be 'sm_80' or 'sm_90a' and mma 'auto', "
                         f"'sync' or 'wgmma', got {chip!r} and {mma!r}")
    qa, _ = _to_numpy(q, "q")
    arrays = []
    for name, x in (("k_prefix", k_prefix), ("v_prefix", v_prefix)):
        a, _ = _to_numpy(x, name)
        if a.ndim == 3:
            a = a[None]
        _shape(name, a, 4)
        if a.shape[0] != 1:
            raise ValueError(f"{name} is shared by the batch: [Hkv, P, D] "
                             f"or [1, Hkv, P, D], got {tuple(a.shape)}")
        arrays.append(a)
    kp, vp = arrays
    ks, _ = _to_numpy(k_suffix, "k_suffix")
    vs, _ = _to_numpy(v_suffix, "v_suffix")
    for name, a in (("q", qa), ("k_suffix", ks), ("v_suffix", vs)):
        _shape(name, a, 4)
    B, H, Sq, D = qa.shape
    Dv = vp.shape[3]
    if kp.shape[1:] != (vp.shape[1], vp.shape[2], D) or \
            ks.shape[0] != B or ks.shape[1] != kp.shape[1] or \
            ks.shape[3] != D or vs.shape[:3] != ks.shape[:3] or \
            vs.shape[3] != Dv:
        raise ValueError(
            f"inconsistent shapes: q {qa.shape}, k_prefix {kp.shape}, "
            f"v_prefix {vp.shape}, k_suffix {ks.shape}, v_suffix {vs.shape} "
            f"(want q [B, H, Sq, D], prefix [1, Hkv, P, D|Dv], suffix "
            f"[B, Hkv, Ls, D|Dv])")
    for name, a in (("k_prefix", kp), ("v_prefix", vp), ("k_suffix", ks),
                    ("v_suffix", vs)):
        if a.dtype != qa.dtype:
            raise TypeError(f"{name} must have q's dtype {qa.dtype}, got "
                            f"{a.dtype}")
    dtype = "bfloat16" if qa.dtype.name == "bfloat16" else qa.dtype.name
    lengths = np.full(B, ks.shape[2]) if kv_len is None else \
        np.asarray(_to_numpy(kv_len, "kv_len")[0])
    if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
        raise ValueError(f"kv_len must be {B} integers (one per sequence), "
                         f"got {lengths.dtype} {tuple(lengths.shape)}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > ks.shape[2]):
        raise ValueError(f"kv_len must lie in [0, {ks.shape[2]}] (the "
                         f"suffix's length), got {lengths.min()} .. "
                         f"{lengths.max()}")
    if causal and lengths.size and lengths.min() < Sq:
        raise ValueError(
            f"a causal cascade needs every suffix to hold its sequence's "
            f"{Sq} queries (kv_len >= Sq), got {int(lengths.min())}: a "
            f"query before the end of the prefix would not see all of it")

    if target != "cpu" and dtype == "float32":
        raise TypeError(f"target={target!r} runs the tensor-core kernels, "
                        f"which take float16 or bfloat16, got float32")

    elem = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}[dtype]
    text = cascade_ir(elem, D, Dv, causal, kv_len is not None, scale)
    if target == "cpu":
        native = _native_kernel(text, "lowering=fused vector-width=0 "
                                "openmp=true", True, True, "cpu",
                                entry="cascade")
    else:
        options = f"chip={chip} mma={mma}" + (
            " emulate=true" if target == "cuda-emulator" else "")
        native = _native_kernel(text, options, False, False, target,
                                entry="cascade")
    out = np.empty((B, H, Sq, Dv), qa.dtype)
    lse = np.empty((B, H, Sq), np.float32)
    args = [np.ascontiguousarray(a) for a in (qa, kp, vp, ks, vs)]
    if kv_len is not None:
        args.append(np.ascontiguousarray(lengths, np.int32))
    args += [out, lse]
    if out.size and target == "cpu":
        native.call([(a.ctypes.data, list(a.shape)) for a in args])
    elif out.size:
        if target == "cuda":
            ok, why = _attn.cuda_status()
            if not ok:
                raise RuntimeError(f"target='cuda': cannot run here: {why}")
        native.call_cuda([(a.ctypes.data, list(a.shape), a.nbytes,
                           a is out or a is lse) for a in args])
    return (out, lse) if return_lse else out


def cascade_ir(elem: str, D: int, Dv: int, causal: bool = True,
               kv_len: bool = False, scale: Optional[float] = None) -> str:
    """The MLIR function @cascade(q, k_prefix [1, Hkv, P, D], v_prefix,
    k_suffix, v_suffix[, kv_len], o, lse) that attn.cascade compiles, for
    element type `elem` (f32, f16, bf16) and head dims D, Dv."""
    T = lambda *dims: "tensor<" + "x".join(dims) + "x" + elem + ">"  # noqa
    q4, v4 = T("?", "?", "?", str(D)), T("?", "?", "?", str(Dv))
    kp, vp = T("1", "?", "?", str(D)), T("1", "?", "?", str(Dv))
    l3 = "tensor<?x?x?xf32>"
    attrs = "normalizer = #attn.softmax" + (
        f", scale = {float(scale)!r} : f64" if scale is not None else "")
    kv_arg = ", %kv_len: tensor<?xi32>" if kv_len else ""
    kv_op = "\n      kv_len(%kv_len : tensor<?xi32>)" if kv_len else ""

    def gather(name, src, src_t, dst, dst_t, index, rank, et):
        """dst[...] = src[index(...)], one element at a time (the reshapes
        this stands for would lower through memref.expand_shape with
        dynamic sizes, which LLVM 22's expand-strided-metadata crashes
        on)."""
        dims = ", ".join(f"d{i}" for i in range(rank))
        kinds = ", ".join(['"parallel"'] * rank)
        at = ", ".join(f"%i{i}" for i in range(rank))
        return (f"  %{name} = linalg.generic {{indexing_maps = [affine_map<"
                f"({dims}) -> ({dims})>], iterator_types = [{kinds}]}}\n"
                f"      outs(%{dst} : {dst_t}) {{\n"
                f"  ^bb0(%unused: {et}):\n{index}\n"
                f"    %x = tensor.extract %{src}[{at}] : {src_t}\n"
                f"    linalg.yield %x : {et}\n  }} -> {dst_t}\n")
    idx = "\n".join(f"    %l{i} = linalg.index {i} : index" for i in range(4))
    # The query heads of a kv head's group go into the rows too, so that
    # one kv head's prefix serves G * B * Sq rows at once:
    # stacked[0, kh, n, d] = q[b, kh * G + g, s, d] with n = (g * B + b) *
    # Sq + s, i.e. g = n / (B Sq), b = (n % (B Sq)) / Sq, s = n % Sq.
    stack = (idx + "\n    %g = arith.divui %l2, %n : index"
             "\n    %r = arith.remui %l2, %n : index"
             "\n    %i0 = arith.divui %r, %s : index"
             "\n    %kg = arith.muli %l1, %group : index"
             "\n    %i1 = arith.addi %kg, %g : index"
             "\n    %i2 = arith.remui %r, %s : index"
             "\n    %i3 = arith.addi %l3, %c0 : index")
    # back[b, h, s(, e)] = prefix[0, h / G, (h % G) * B Sq + b Sq + s(, e)]
    back3 = ("\n".join(f"    %l{i} = linalg.index {i} : index"
                        for i in range(3)) +
             "\n    %hg = arith.remui %l1, %group : index"
             "\n    %row0 = arith.muli %hg, %n : index"
             "\n    %bs = arith.muli %l0, %s : index"
             "\n    %row1 = arith.addi %row0, %bs : index"
             "\n    %i0 = arith.addi %c0, %c0 : index"
             "\n    %i1 = arith.divui %l1, %group : index"
             "\n    %i2 = arith.addi %row1, %l2 : index")
    back4 = back3 + ("\n    %l3 = linalg.index 3 : index"
                     "\n    %i3 = arith.addi %l3, %c0 : index")
    suffix_mask = "#attn.causal" if causal else "#attn.full"
    return f"""// A shared-prefix cascade (attn.cascade): the batch's queries stacked
// into one problem over the prefix, each sequence's suffix on its own, the
// two merged by their log-sum-exp.
func.func @cascade(%q: {q4}, %kp: {kp}, %vp: {vp}, %ks: {q4}, %vs: {v4}{kv_arg}, %o: {v4}, %lse: {l3}) -> ({v4}, {l3}) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %q, %c0 : {q4}
  %h = tensor.dim %q, %c1 : {q4}
  %s = tensor.dim %q, %c2 : {q4}
  %n = arith.muli %b, %s : index
  %hkv = tensor.dim %kp, %c1 : {kp}
  %group = arith.divui %h, %hkv : index
  %rows = arith.muli %group, %n : index
  %qs0 = tensor.empty(%c1, %hkv, %rows) : {q4}
{gather("qs", "q", q4, "qs0", q4, stack, 4, elem)}  %op0 = tensor.empty(%c1, %hkv, %rows) : {v4}
  %lp0 = tensor.empty(%c1, %hkv, %rows) : {l3}
  %p:2 = attn.attention ins(%qs, %kp, %vp : {q4}, {kp}, {vp})
      outs(%op0, %lp0 : {v4}, {l3})
      {{mask = #attn.full, {attrs}}}
      -> {v4}, {l3}
  %opt0 = tensor.empty(%b, %h, %s) : {v4}
{gather("opt", "p#0", v4, "opt0", v4, back4, 4, elem)}  %lpt0 = tensor.empty(%b, %h, %s) : {l3}
{gather("lpt", "p#1", l3, "lpt0", l3, back3, 3, "f32")}  %os0 = tensor.empty(%b, %h, %s) : {v4}
  %ls0 = tensor.empty(%b, %h, %s) : {l3}
  %x:2 = attn.attention ins(%q, %ks, %vs : {q4}, {q4}, {v4}){kv_op}
      outs(%os0, %ls0 : {v4}, {l3})
      {{mask = {suffix_mask}, {attrs}}}
      -> {v4}, {l3}
  %r:2 = attn.merge ins(%opt, %x#0 : {v4}, {v4})
      lse(%lpt, %x#1 : {l3}, {l3})
      outs(%o, %lse : {v4}, {l3})
      -> {v4}, {l3}
  return %r#0, %r#1 : {v4}, {l3}
}}
"""
