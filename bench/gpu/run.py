"""GPU check-and-benchmark harness: attn's CUDA kernels against PyTorch.

Runs on a machine with an NVIDIA GPU, PyTorch and the libraries that
bench/gpu/build.sh wrote with attn-aot (nothing of LLVM or MLIR is needed
there). For every case it

  1. checks attn's output against an explicit float32 computation in
     PyTorch on a reduced shape (B=1, H=2, same masks), then against SDPA at
     the full shape where SDPA expresses the mask (full, causal);
  2. times attn, SDPA (flash backend) and FlexAttention (torch.compile) in
     the same run, wall clock over repeated calls after warm-up, with the
     device synchronised before and after;
  3. prints a markdown table: ms, TFLOP/s on unmasked work
     (2 (D + Dv) flops per allowed (query, key) pair), and ratios.

    python bench/gpu/run.py [--lib-dir bench/gpu/lib] [--quick]

bf16 tolerance: max|attn - ref| <= 2e-2 * max|ref| (bf16 inputs and
output, f32 accumulation; the output rounding alone is 2^-9 relative).
"""

import argparse
import ctypes
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

TOL = 2e-2


# -- calling the attn-aot libraries ---------------------------------------------


def memref_type(rank):
    return type(f"MemRef{rank}", (ctypes.Structure,), {
        "_fields_": [("allocated", ctypes.c_void_p),
                     ("aligned", ctypes.c_void_p),
                     ("offset", ctypes.c_int64),
                     ("sizes", ctypes.c_int64 * rank),
                     ("strides", ctypes.c_int64 * rank)]})


_TYPES = {}


def descriptor(t):
    assert t.is_cuda and t.is_contiguous()
    cls = _TYPES.setdefault(t.dim(), memref_type(t.dim()))
    d = cls()
    d.allocated = d.aligned = t.data_ptr()
    d.offset = 0
    for i, (n, s) in enumerate(zip(t.shape, t.stride())):
        d.sizes[i] = n
        d.strides[i] = s
    return d


class Kernel:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        msg = ctypes.create_string_buffer(1024)
        if not self.lib.attnCudaStatus(msg, len(msg)):
            raise RuntimeError(f"{path}: {msg.value.decode()}")
        self.fn = self.lib._mlir_ciface_attention
        self.path = path

    def bind(self, *tensors):
        """A call of the kernel on `tensors` with the descriptors built once,
        so that timing loops measure the kernel, not ctypes."""
        descs = [descriptor(t) for t in tensors]
        refs = [ctypes.byref(d) for d in descs]

        def run():
            self.fn(*refs)
        run.descs = descs  # keep them alive with the closure
        return run

    def check(self):
        msg = ctypes.create_string_buffer(1024)
        if self.lib.attnCudaTakeError(msg, len(msg)):
            raise RuntimeError(f"{self.path}: {msg.value.decode()}")

    def __call__(self, *tensors):
        self.bind(*tensors)()
        self.check()


# -- cases -----------------------------------------------------------------------


def alibi_slopes(h):
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / h) for i in range(h)],
                        device="cuda")


def doc_ids(b, s, docs=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.empty(b, s, dtype=torch.int32)
    for row in range(b):
        cuts = torch.sort(torch.randperm(s - 1, generator=g)[:docs - 1] + 1)[0]
        bounds = [0] + cuts.tolist() + [s]
        for d in range(docs):
            ids[row, bounds[d]:bounds[d + 1]] = d
    return ids.cuda()


def allowed_mask(kind, sq, skv, ids=None):
    """[B or 1, 1, Sq, Skv] bool of the case's mask (bottom-right aligned)."""
    i = torch.arange(sq, device="cuda")[:, None] + (skv - sq)
    j = torch.arange(skv, device="cuda")[None, :]
    if kind == "full":
        m = torch.ones(sq, skv, dtype=torch.bool, device="cuda")
    elif kind in ("causal", "alibi"):
        m = j <= i
    elif kind == "window":
        m = (j <= i) & (j >= i - 1024)
    elif kind == "document":
        m = (j <= i)[None] & (ids[:, -sq:, None] == ids[:, None, :])
        return m[:, None]
    return m[None, None]


def reference(kind, q, k, v, ids=None):
    """Explicit float32 attention with the case's mask (and ALiBi)."""
    q32, k32, v32 = q.float(), k.float(), v.float()
    group = q.shape[1] // k.shape[1]
    k32 = k32.repeat_interleave(group, 1)
    v32 = v32.repeat_interleave(group, 1)
    s = q32 @ k32.transpose(-1, -2) / math.sqrt(q.shape[-1])
    sq, skv = s.shape[-2:]
    if kind == "alibi":
        i = torch.arange(sq, device="cuda")[:, None] + (skv - sq)
        j = torch.arange(skv, device="cuda")[None, :]
        s = s - alibi_slopes(q.shape[1])[:, None, None] * (i - j)
    s = s.masked_fill(~allowed_mask(kind, sq, skv, ids), float("-inf"))
    p = torch.softmax(s, -1).nan_to_num(0.0)
    return p @ v32


def flex_callable(kind, b, h, sq, skv, ids):
    from torch.nn.attention.flex_attention import (create_block_mask,
                                                   flex_attention)
    off = skv - sq
    score_mod = None
    if kind == "full":
        mask_mod = None
    elif kind in ("causal", "alibi"):
        def mask_mod(b_, h_, q_, kv_):
            return kv_ <= q_ + off
    elif kind == "window":
        def mask_mod(b_, h_, q_, kv_):
            return (kv_ <= q_ + off) & (kv_ >= q_ + off - 1024)
    elif kind == "document":
        def mask_mod(b_, h_, q_, kv_):
            return (kv_ <= q_ + off) & (ids[b_, q_ + off] == ids[b_, kv_])
    if kind == "alibi":
        slopes = alibi_slopes(h)

        def score_mod(score, b_, h_, q_, kv_):
            return score - slopes[h_] * (q_ + off - kv_)
    block = None
    if mask_mod is not None:
        block = create_block_mask(mask_mod, b if kind == "document" else None,
                                  None, sq, skv, device="cuda")
    compiled = torch.compile(flex_attention, dynamic=False)

    def run(q, k, v):
        return compiled(q, k, v, score_mod=score_mod, block_mask=block,
                        enable_gqa=q.shape[1] != k.shape[1])
    return run


def sdpa_callable(kind, sq, skv):
    """SDPA for the masks it expresses. Its is_causal is top-left aligned
    while attn's positions are bottom-right aligned: they agree when
    Sq == Skv, and a single decoding query (Sq = 1) sees every key."""
    if kind not in ("full", "causal"):
        return None
    causal = kind == "causal" and sq > 1
    if causal and sq != skv:
        return None
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def run(q, k, v):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(
                q, k, v, is_causal=causal,
                enable_gqa=q.shape[1] != k.shape[1])
    return run


def timed(fn, reps):
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / reps * 1e3


def cases(quick):
    sizes = (1024, 4096) if quick else (1024, 4096, 16384)
    out = []
    for s in sizes:
        for d in (64, 128):
            for kind in ("full", "causal"):
                out.append((f"B4 H16 S{s} D{d} {kind}", f"{kind}_d{d}", kind,
                            4, 16, 16, s, s, d))
    s = 4096 if quick else 8192
    out += [
        (f"sliding window 1024, S{s} D128", "window1024_d128", "window",
         4, 16, 16, s, s, 128),
        (f"document (8 docs), S{s} D128", "document_d128", "document",
         4, 16, 16, s, s, 128),
        (f"ALiBi causal, S{s} D128", "alibi_d128", "alibi",
         4, 16, 16, s, s, 128),
        ("GQA 16/2 causal, S4096 D128", "causal_d128", "causal",
         4, 16, 2, 4096, 4096, 128),
        ("decode B8 H32 Sq1 Skv8192 D128", "causal_d128", "causal",
         8, 32, 32, 1, 8192, 128),
    ]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-dir", default=os.path.join(
        os.path.dirname(__file__), "lib"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench/gpu: no CUDA device; nothing to run")
        return 0
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    rows = []
    failures = 0
    for title, lib, kind, b, hq, hkv, sq, skv, d in cases(args.quick):
        row = [title]
        try:
            kernel = Kernel(os.path.join(args.lib_dir, lib + ".so"))
            torch.manual_seed(0)
            mk = lambda *shape: torch.randn(*shape, device="cuda",
                                            dtype=torch.bfloat16)
            # 1. correctness on a reduced shape against float32 math
            sq_s, skv_s = min(sq, 1024), min(skv, 1024)
            ids_s = doc_ids(1, skv_s) if kind == "document" else None
            hkv_s = 2 if hq == hkv else 1
            q = mk(1, 2, sq_s, d)
            k, v = mk(1, hkv_s, skv_s, d), mk(1, hkv_s, skv_s, d)
            o = torch.empty_like(q)
            extra = (ids_s[:, -sq_s:].contiguous(), ids_s) if ids_s is not None else ()
            kernel(q, k, v, *extra, o)
            ref = reference(kind, q, k, v, ids_s)
            err = ((o.float() - ref).abs().max() / ref.abs().max()).item()
            # 2. the full shape
            ids = doc_ids(b, skv) if kind == "document" else None
            q, k, v = mk(b, hq, sq, d), mk(b, hkv, skv, d), mk(b, hkv, skv, d)
            o = torch.empty_like(q)
            extra = (ids[:, -sq:].contiguous(), ids) if ids is not None else ()
            run_attn = kernel.bind(q, k, v, *extra, o)
            sdpa = sdpa_callable(kind, sq, skv)
            run_attn()
            kernel.check()
            if sdpa is not None:
                s_out = sdpa(q, k, v)
                err = max(err, ((o.float() - s_out.float()).abs().max() /
                                s_out.float().abs().max()).item())
            ok = err <= TOL
            failures += not ok
            pairs = int(allowed_mask(kind, sq, skv, ids).sum().item())
            if kind != "document":
                pairs *= b
            flops = 2 * (d + d) * pairs * hq
            t_attn = timed(run_attn, args.reps)
            t_sdpa = timed(lambda: sdpa(q, k, v), args.reps) if sdpa else None
            flex = flex_callable(kind, b, hq, sq, skv, ids)
            t_flex = timed(lambda: flex(q, k, v), args.reps)
            tf = lambda t: f"{flops / t / 1e9:.0f}" if t else "-"
            row += [f"{err:.1e} {'ok' if ok else 'FAIL'}",
                    f"{t_attn:.3f} / {tf(t_attn)}",
                    f"{t_sdpa:.3f} / {tf(t_sdpa)}" if t_sdpa else "-",
                    f"{t_flex:.3f} / {tf(t_flex)}",
                    f"{t_sdpa / t_attn:.2f}x" if t_sdpa else "-",
                    f"{t_flex / t_attn:.2f}x"]
        except Exception as e:  # one failing case must not hide the others
            failures += 1
            row += [f"error: {e}"] + [""] * 5
        rows.append(row)
        print(" | ".join(row), flush=True)
    print()
    print("| case | max rel err | attn ms / TFLOP/s | SDPA flash ms / TFLOP/s "
          "| Flex ms / TFLOP/s | attn speed vs SDPA | attn speed vs Flex |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
