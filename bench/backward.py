#!/usr/bin/env python3
"""The fused backward against PyTorch's CPU backward (a benchmark, not a
test).

    PYTHONPATH=build/python python bench/backward.py [--rounds 3] \
        [--seq 1024,2048] [--flex] [--out bench/results/DATE-backward.md]

Per case (B1 H8 D64; full, causal and a 256-key causal sliding window;
float32 and bfloat16): attn's forward alone (the compiled kernel with
return_lse=True), backward alone (Kernel.backward on its O and LSE), and
forward + backward through attn.torch.attention (autograd, as in
training); PyTorch's scaled_dot_product_attention forward + backward and
backward alone (torch.autograd.grad on a kept graph), with is_causal for
causal and a boolean attn_mask for the window. --flex asks, in a separate
process, whether compiled FlexAttention's backward runs on this CPU and
says so under the table. Rounds interleave all timings; each timing is the median of
--repeat calls after a warm-up, and the table gives the median over rounds
and the spread (min-max over rounds) of the backward ratios. Before timing,
each case checks that attn's gradients match SDPA's (same mask).
"""

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F

import attn
import attn.torch
import compare  # bench/compare.py, beside this script: write_table
import sparse  # bench/sparse.py: its timer

WINDOW = 256
MASKS = {
    "full": (None, lambda S: None),
    "causal": (attn.causal(), lambda S: "causal"),
    f"window {WINDOW}": (attn.sliding_window(WINDOW),
                         lambda S: _window_mask(S)),
}
DTYPES = {"f32": (torch.float32, "float32"),
          "bf16": (torch.bfloat16, "bfloat16")}


def _window_mask(S):
    i = torch.arange(S).view(-1, 1)
    j = torch.arange(S).view(1, -1)
    return (j <= i) & (j >= i - WINDOW)


def _sdpa(q, k, v, mask):
    if mask == "causal":
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


FLEX_PROBE = """
import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention
q, k, v = (torch.randn(1, 2, 256, 64, requires_grad=True) for _ in range(3))
bm = create_block_mask(lambda b, h, q, kv: q >= kv, 1, 1, 256, 256,
                       device="cpu")
out = torch.compile(flex_attention)(q, k, v, block_mask=bm)
out.sum().backward()
print("FLEX_BACKWARD_RUNS")
"""


def flex_probe():
    """Whether compiled FlexAttention's backward runs on this CPU, tried in
    a separate process: loading Triton's native module after attn's (both
    carry LLVM) crashed this one."""
    r = subprocess.run([sys.executable, "-c", FLEX_PROBE], capture_output=True,
                       text=True, timeout=900)
    if "FLEX_BACKWARD_RUNS" in r.stdout:
        return "its CPU backward runs (not timed by this script yet)"
    last = (r.stderr.strip().splitlines() or ["no output"])[-1]
    return f"no CPU backward: {last[:200]}"


class Case:
    def __init__(self, mask_name, dtype_name, S):
        self.label = f"{mask_name} {dtype_name} S{S}"
        spec, torch_mask = MASKS[mask_name]
        tdt, adt = DTYPES[dtype_name]
        g = torch.Generator().manual_seed(S)
        self.q, self.k, self.v, self.do = (
            torch.randn(1, 8, S, 64, generator=g).to(tdt) for _ in range(4))
        self.mask = torch_mask(S)
        self.spec = attn.spec.as_spec(spec)
        self.kernel = attn.torch._kernel(self.spec, adt, 64, 64, {
            "lowering": "fused", "vector_width": 0, "openmp": True})
        assert self.kernel.backward_lowering["lowering"] == "fused"
        self.o, self.lse = self.kernel(self.q, self.k, self.v,
                                       return_lse=True)
        self.leaves = [x.clone().requires_grad_() for x in
                       (self.q, self.k, self.v)]
        self.sdpa_out = _sdpa(*self.leaves, self.mask)
        self.check()

    def check(self):
        ours = self.kernel.backward(self.q, self.k, self.v, self.o,
                                    self.lse, self.do)
        theirs = torch.autograd.grad(self.sdpa_out, self.leaves, self.do,
                                     retain_graph=True)
        for name, a, b in zip("QKV", ours, theirs):
            a, b = a.float(), b.float()
            err = ((a - b).abs().max() / b.abs().max()).item()
            assert err < 3e-2, f"{self.label}: d{name} differs from SDPA's " \
                               f"by {err:.2e}"

    def timings(self, repeat):
        t = {}
        k, q, kk, v = self.kernel, self.q, self.k, self.v
        t["fwd"], _ = sparse.timed(lambda: k(q, kk, v, return_lse=True),
                                   repeat)
        t["bwd"], _ = sparse.timed(lambda: k.backward(
            q, kk, v, self.o, self.lse, self.do), repeat)

        def train_step():
            leaves = [x.clone().requires_grad_() for x in (q, kk, v)]
            out = attn.torch.attention(self.spec, *leaves)
            out.backward(self.do)

        t["fwd+bwd"], _ = sparse.timed(train_step, repeat)

        def sdpa_step():
            out = _sdpa(*self.leaves, self.mask)
            torch.autograd.grad(out, self.leaves, self.do)

        t["sdpa fwd+bwd"], _ = sparse.timed(sdpa_step, repeat)
        t["sdpa bwd"], _ = sparse.timed(lambda: torch.autograd.grad(
            self.sdpa_out, self.leaves, self.do, retain_graph=True), repeat)
        return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("rounds", 3), ("repeat", 3)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--seq", default="1024,2048")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--flex", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    cases = [Case(m, dt, int(S)) for S in args.seq.split(",")
             for dt in args.dtypes.split(",") for m in MASKS]
    times = {c.label: {} for c in cases}
    for r in range(args.rounds):
        for c in cases:
            for key, ms in c.timings(args.repeat).items():
                times[c.label].setdefault(key, []).append(ms)
        print(f"round {r + 1} of {args.rounds} done", flush=True)

    med = {lbl: {k: statistics.median(v) for k, v in t.items()}
           for lbl, t in times.items()}
    lines = [
        f"# attn fused backward vs PyTorch CPU ({datetime.date.today()})",
        "",
        f"B1 H8 D64, {os.cpu_count()} CPUs ({platform.processor() or 'x86_64'}"
        f"), torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads, attn with OpenMP on the physical cores. Median of "
        f"{args.rounds} interleaved rounds, each the median of "
        f"{args.repeat} calls after a warm-up (ms). bwd/fwd: attn's backward "
        f"over its own forward; vs SDPA: SDPA's time over attn's "
        f"(> 1: attn faster), spread = min-max over rounds.",
        "",
        "| case | attn fwd | attn bwd | bwd/fwd | attn fwd+bwd | SDPA bwd |"
        " SDPA fwd+bwd | bwd vs SDPA (spread) | fwd+bwd vs SDPA |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        m, t = med[c.label], times[c.label]
        ratios = [s / a for s, a in zip(t["sdpa bwd"], t["bwd"])]
        row = (f"| {c.label} | {m['fwd']:.1f} | {m['bwd']:.1f} | "
               f"{m['bwd'] / m['fwd']:.2f} | {m['fwd+bwd']:.1f} | "
               f"{m['sdpa bwd']:.1f} | {m['sdpa fwd+bwd']:.1f} | "
               f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-"
               f"{max(ratios):.2f}) | "
               f"{m['sdpa fwd+bwd'] / m['fwd+bwd']:.2f} |")
        lines.append(row)
    if args.flex:
        lines += ["", f"Compiled FlexAttention (torch.compile(flex_attention),"
                      f" causal block mask, S256): {flex_probe()}."]
    compare.write_table(lines, args.out)


if __name__ == "__main__":
    main()
