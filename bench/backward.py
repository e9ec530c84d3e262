#!/usr/bin/env python3
"""The fused backward against PyTorch's CPU backward (a benchmark, not a
test).

    PYTHONPATH=build/python python bench/backward.py [--rounds 3] \
        [--seq 1024,2048] [--dtypes f32,bf16] \
        [--masks full,causal,window,document,blocksparse] [--heads 8] \
        [--flex] [--before OLD/build/python] [--cpu-time] \
        [--out bench/results/DATE-backward.md]

Per case (B1 H8 D64, --heads sets H; full, causal, a 256-key causal
sliding window, packed causal documents (64 to 512 tokens,
attn.document() & causal) and a causal block-sparse mask (128 x 128
blocks, the diagonal and a quarter of the others on, attn.block_sparse);
float32 and bfloat16): attn's
forward alone (the compiled kernel with return_lse=True), backward alone
(Kernel.backward on its O and LSE), and forward + backward through
attn.torch.attention (autograd, as in training); PyTorch's
scaled_dot_product_attention forward + backward and backward alone
(torch.autograd.grad on a kept graph), with is_causal for causal and a
boolean attn_mask for the other masks. --flex asks, in a separate
process, whether compiled FlexAttention's backward runs on this CPU and
says so under the table. Rounds interleave all timings; each timing is
the median of --repeat calls after a warm-up, and the table gives the
median over rounds and the spread (min-max over rounds) of the backward
ratios. Before timing, each case checks that attn's gradients match
SDPA's (same mask).

--before names the Python package directory of another build (the
"before" of a change): each round then also times attn's forward and
backward of both builds, each in a process of its own (two builds of the
native module cannot share one), in alternating order, and the table
gives after / before with its spread.

--heads 1 (B * Hkv = 1) gives the two-pass schedule of the fused
backward (a dQ pass over q-tiles, then a dK / dV pass over kv tiles) on
any host; H8 takes the one-pass schedule on hosts of up to 4 cores.

--cpu-time times by the process's CPU time (time.process_time) instead
of the wall clock: for runs on one thread (OMP_NUM_THREADS=1, which
PyTorch follows too) on a loaded machine, where the wall clock also
counts the time other processes hold the core.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

import attn
import attn.torch
import compare  # bench/compare.py, beside this script: write_table
import sparse  # bench/sparse.py: its timer

WINDOW = 256
BLOCK = 128


def _window(S, g):
    i = torch.arange(S).view(-1, 1)
    j = torch.arange(S).view(1, -1)
    return {}, (j <= i) & (j >= i - WINDOW)


def _documents(S, g):
    """Packed documents of 64..512 tokens, causal inside each."""
    lens = torch.randint(64, 513, (S // 64 + 1,), generator=g)
    ids = torch.repeat_interleave(torch.arange(len(lens)), lens)[:S]
    seg = ids.to(torch.int32).numpy()[None]
    i = torch.arange(S).view(-1, 1)
    j = torch.arange(S).view(1, -1)
    return {"segments": (seg, seg)}, \
        (ids.view(-1, 1) == ids.view(1, -1)) & (j <= i)


def _block_sparse(S, g):
    """Causal 128 x 128 blocks: the diagonal and a quarter of the others."""
    nb = -(-S // BLOCK)
    blocks = torch.rand(nb, nb, generator=g) < 0.25
    blocks = (blocks | torch.eye(nb, dtype=torch.bool)).tril()
    elems = blocks.repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1)
    return {"block_mask": blocks.numpy()[None, None]}, elems[:S, :S]


# name: (label, spec, (S, generator) -> (attn operands, SDPA mask))
MASKS = {
    "full": ("full", None, lambda S, g: ({}, None)),
    "causal": ("causal", attn.causal(), lambda S, g: ({}, "causal")),
    "window": (f"window {WINDOW}", attn.sliding_window(WINDOW), _window),
    "document": ("document causal", attn.document() & attn.causal(),
                 _documents),
    "blocksparse": (f"block-sparse {BLOCK}", attn.block_sparse(BLOCK, BLOCK),
                    _block_sparse),
}
# The timer's clock (--cpu-time: the process's CPU time).
CLOCK = time.perf_counter

DTYPES = {"f32": (torch.float32, "float32"),
          "bf16": (torch.bfloat16, "bfloat16")}


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


class AttnCase:
    """attn's side of a case: the inputs, the kernel, its O and LSE."""

    def __init__(self, mask_name, dtype_name, S, heads):
        label, spec, operands = MASKS[mask_name]
        self.label = f"{label} {dtype_name} S{S}"
        tdt, adt = DTYPES[dtype_name]
        g = torch.Generator().manual_seed(S)
        self.q, self.k, self.v, self.do = (
            torch.randn(1, heads, S, 64, generator=g).to(tdt)
            for _ in range(4))
        self.operands, self.mask = operands(S, g)
        self.spec = attn.spec.as_spec(spec)
        self.kernel = attn.torch._kernel(self.spec, adt, 64, 64, {
            "lowering": "fused", "vector_width": 0, "openmp": True})
        assert self.kernel.backward_lowering["lowering"] == "fused"
        self.o, self.lse = self.kernel(self.q, self.k, self.v,
                                       return_lse=True, **self.operands)

    def backward(self):
        return self.kernel.backward(self.q, self.k, self.v, self.o, self.lse,
                                    self.do, **self.operands)

    def attn_timings(self, repeat):
        k, q, kk, v = self.kernel, self.q, self.k, self.v
        t = {}
        t["fwd"], _ = sparse.timed(
            lambda: k(q, kk, v, return_lse=True, **self.operands), repeat,
            CLOCK)
        t["bwd"], _ = sparse.timed(self.backward, repeat, CLOCK)
        return t


class Case(AttnCase):
    """A case with PyTorch's side: SDPA on the same mask."""

    def __init__(self, mask_name, dtype_name, S, heads):
        super().__init__(mask_name, dtype_name, S, heads)
        self.leaves = [x.clone().requires_grad_() for x in
                       (self.q, self.k, self.v)]
        self.sdpa_out = _sdpa(*self.leaves, self.mask)
        self.check()

    def check(self):
        ours = self.backward()
        theirs = torch.autograd.grad(self.sdpa_out, self.leaves, self.do,
                                     retain_graph=True)
        for name, a, b in zip("QKV", ours, theirs):
            a, b = a.float(), b.float()
            err = ((a - b).abs().max() / b.abs().max()).item()
            assert err < 3e-2, f"{self.label}: d{name} differs from SDPA's " \
                               f"by {err:.2e}"

    def timings(self, repeat, attn_side=True):
        t = self.attn_timings(repeat) if attn_side else {}
        q, kk, v = self.q, self.k, self.v

        def train_step():
            leaves = [x.clone().requires_grad_() for x in (q, kk, v)]
            out = attn.torch.attention(self.spec, *leaves, **self.operands)
            out.backward(self.do)

        t["fwd+bwd"], _ = sparse.timed(train_step, repeat, CLOCK)

        def sdpa_step():
            out = _sdpa(*self.leaves, self.mask)
            torch.autograd.grad(out, self.leaves, self.do)

        t["sdpa fwd+bwd"], _ = sparse.timed(sdpa_step, repeat, CLOCK)
        t["sdpa bwd"], _ = sparse.timed(lambda: torch.autograd.grad(
            self.sdpa_out, self.leaves, self.do, retain_graph=True), repeat,
            CLOCK)
        return t


def _case_args(args):
    return [(m, dt, int(S), args.heads) for S in args.seq.split(",")
            for dt in args.dtypes.split(",") for m in args.masks.split(",")]


def worker(args):
    """--worker: attn's forward and backward of every case, as JSON."""
    cases = [AttnCase(*a) for a in _case_args(args)]
    print(json.dumps({c.label: c.attn_timings(args.repeat) for c in cases}))


def _run_worker(args, pythonpath):
    """attn's timings of one build (its Python package in `pythonpath`)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [pythonpath, os.path.dirname(os.path.abspath(__file__))]))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker",
           "--seq", args.seq, "--dtypes", args.dtypes, "--masks", args.masks,
           "--repeat", str(args.repeat), "--heads", str(args.heads)]
    if args.cpu_time:
        cmd.append("--cpu-time")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def _spread(xs):
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("rounds", 3), ("repeat", 3), ("heads", 8)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--seq", default="1024,2048")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--masks", default=",".join(MASKS))
    ap.add_argument("--flex", action="store_true")
    ap.add_argument("--before", help="Python package directory of the "
                    "build to compare with (the before of a change)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time by process CPU time (one-thread runs)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    if args.worker:
        return worker(args)
    cases = [Case(*a) for a in _case_args(args)]
    times = {c.label: {} for c in cases}
    after = os.path.dirname(os.path.dirname(os.path.abspath(attn.__file__)))
    for r in range(args.rounds):
        if args.before:
            # Both builds in processes of their own, in alternating order.
            sides = [("before", args.before), ("after", after)]
            for side, path in sides if r % 2 == 0 else sides[::-1]:
                for label, t in _run_worker(args, path).items():
                    for key, ms in t.items():
                        name = key if side == "after" else f"{key} before"
                        times[label].setdefault(name, []).append(ms)
        for c in cases:
            for key, ms in c.timings(args.repeat,
                                     attn_side=not args.before).items():
                times[c.label].setdefault(key, []).append(ms)
        print(f"round {r + 1} of {args.rounds} done", flush=True)

    med = {lbl: {k: statistics.median(v) for k, v in t.items()}
           for lbl, t in times.items()}
    lines = [
        f"# attn fused backward vs PyTorch CPU ({datetime.date.today()})",
        "",
        f"B1 H{args.heads} D64, {os.cpu_count()} CPUs "
        f"({platform.processor() or 'x86_64'}"
        f"), torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads, attn with OpenMP on "
        f"{os.environ.get('OMP_NUM_THREADS') or 'the physical cores'}"
        f"{' thread(s)' if os.environ.get('OMP_NUM_THREADS') else ''}; "
        f"{'CPU' if args.cpu_time else 'wall-clock'} times. Median of "
        f"{args.rounds} interleaved rounds, each the median of "
        f"{args.repeat} calls after a warm-up (ms). bwd/fwd: attn's backward "
        f"over its own forward; vs SDPA: SDPA's time over attn's "
        f"(> 1: attn faster), spread = min-max over rounds.",
        "",
    ]
    before = ["bwd before", "bwd after / before (spread)",
              "fwd after / before"] if args.before else []
    head = ["case", "attn fwd", "attn bwd", "bwd/fwd", *before,
            "attn fwd+bwd", "SDPA bwd", "SDPA fwd+bwd",
            "bwd vs SDPA (spread)", "fwd+bwd vs SDPA"]
    lines += ["| " + " | ".join(head) + " |",
              "|" + "---|" * len(head)]
    for c in cases:
        m, t = med[c.label], times[c.label]
        row = [c.label, f"{m['fwd']:.1f}", f"{m['bwd']:.1f}",
               f"{m['bwd'] / m['fwd']:.2f}"]
        if args.before:
            row += [f"{m['bwd before']:.1f}",
                    _spread([a / b for a, b in zip(t["bwd"],
                                                   t["bwd before"])]),
                    f"{m['fwd'] / m['fwd before']:.2f}"]
        row += [f"{m['fwd+bwd']:.1f}", f"{m['sdpa bwd']:.1f}",
                f"{m['sdpa fwd+bwd']:.1f}",
                _spread([s / a for s, a in zip(t["sdpa bwd"], t["bwd"])]),
                f"{m['sdpa fwd+bwd'] / m['fwd+bwd']:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    if args.flex:
        lines += ["", f"Compiled FlexAttention (torch.compile(flex_attention),"
                      f" causal block mask, S256): {flex_probe()}."]
    compare.write_table(lines, args.out)


if __name__ == "__main__":
    main()
