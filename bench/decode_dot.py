#!/usr/bin/env python3
"""bf16 decoding: the row kernel's widened FMA products (the default)
against its AVX512-BF16 dot products (config dot = "bf16"), contiguous
and paged (page size 16, pool layout nhd, pages in a random order), for
a few GQA group sizes (a benchmark, not a test).

    PYTHONPATH=build/python python bench/decode_dot.py [--rounds 5]
        [--groups 1,4,8] [--cpu-time] [--out FILE]

Both variants run in one process, in alternating rounds; each entry is the
median of --repeat calls, the table the median over rounds with the spread
(min..max) and the ratio default / dot (above 1: the dot products are
faster). Shapes: B --batch, Hkv --kv-heads, Hq = group * Hkv, Skv --seq,
D --dim, causal, one query a row.
"""

import argparse
import os
import platform
import time

import ml_dtypes
import numpy as np

import attn
import sparse  # bench/sparse.py: its timer
from decode import paged_copy  # bench/decode.py


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("batch", 8), ("kv-heads", 8), ("seq", 4096),
                          ("dim", 128), ("page-size", 16), ("rounds", 5),
                          ("repeat", 7)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--groups", default="1,4,8")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time by the process's CPU time (a loaded machine)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    B, Hkv, S, D, P = (args.batch, args.kv_heads, args.seq, args.dim,
                       args.page_size)
    bf16 = ml_dtypes.bfloat16
    rng = np.random.default_rng(0)
    lens = np.full(B, S, np.int32)
    k, v = (rng.standard_normal((B, Hkv, S, D), dtype=np.float32).astype(bf16)
            for _ in range(2))
    table = rng.permutation(B * (S // P)).reshape(B, -1).astype(np.int32)
    kp, vp = (paged_copy(x, table, "nhd") for x in (k, v))
    clock = time.process_time if args.cpu_time else time.perf_counter
    rows = []
    for group in [int(g) for g in args.groups.split(",")]:
        q = rng.standard_normal((B, group * Hkv, 1, D),
                                dtype=np.float32).astype(bf16)
        impls = {}
        for dot in ("default", "bf16"):
            config = {"dot": dot} if dot != "default" else None
            plain = attn.compile(attn.Spec(mask=attn.causal(), kv_len=True,
                                           config=config),
                                 dtype="bfloat16", head_dim=D)
            paged = attn.compile(attn.Spec(mask=attn.causal(),
                                           paged=attn.Paged(P, "nhd"),
                                           config=config),
                                 dtype="bfloat16", head_dim=D)
            impls[("contiguous", dot)] = (
                lambda fn=plain: fn(q, k, v, kv_len=lens))
            impls[("paged nhd", dot)] = (
                lambda fn=paged: fn(q, kp, vp, page_table=table, kv_len=lens))
        times = {key: [] for key in impls}
        for _ in range(args.rounds):
            for key, fn in impls.items():
                times[key].append(sparse.timed(fn, args.repeat, clock)[0])
        for cache in ("contiguous", "paged nhd"):
            fma, dot = (np.array(times[(cache, d)]) for d in ("default",
                                                                "bf16"))
            rows.append((f"H{group * Hkv}/{Hkv}", cache, fma, dot))
    clock_name = "CPU time" if args.cpu_time else "wall clock"
    lines = [f"bf16 decoding B{B} Skv{S} D{D} causal, {clock_name}, "
             f"{args.rounds} rounds of {args.repeat} calls, "
             f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}, "
             f"{platform.node()}, load {os.getloadavg()[0]:.1f}",
             "",
             "| heads | cache | default ms | dot = \"bf16\" ms | default / "
             "dot |",
             "|---|---|---|---|---|"]

    def cell(x):
        return f"{np.median(x):.2f} ({x.min():.2f}..{x.max():.2f})"

    for heads, cache, fma, dot in rows:
        lines.append(f"| {heads} | {cache} | {cell(fma)} | {cell(dot)} | "
                     f"{np.median(fma) / np.median(dot):.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
