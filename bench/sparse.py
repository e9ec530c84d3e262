#!/usr/bin/env python3
"""Block-sparse and dense-mask attention on the CPU: what runtime tile
classification buys (a benchmark, not a test).

For block masks of a few densities it times, in one process:
  full         attention with no mask (the baseline of the ratios),
  block_sparse attn.block_sparse(bq, bkv): #attn.dense<block_q, block_kv>,
               tiles classified at run time from the block mask,
  dense        attn.dense() with the same pattern expanded to one entry per
               score (the classification scans the entries of each tile),
  mask_mod     the same block mask read by a traced mask_mod: correct, but
               opaque to the classification, so every tile is computed and
               masked element by element (what block_sparse was before).
"vs allowed" is time / (density x full time): 1.0 would be perfectly
proportional. Every kernel's output is checked against the block_sparse one.

    source .venv/bin/activate; export PYTHONPATH=$PWD/build/python
    python bench/sparse.py [--seq 4096] [--heads 8] [--block 128] [--repeat 5]
"""

import argparse
import os
import platform
import time

import numpy as np

import attn


def timed(fn, repeat, clock=time.perf_counter):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = clock()
        out = fn()
        times.append(clock() - t0)
    return float(np.median(times)) * 1e3, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--densities", default="0.1,0.25,0.5")
    args = ap.parse_args()

    S, H, D, blk = args.seq, args.heads, args.dim, args.block
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, H, S, D), dtype=np.float32)
               for _ in range(3))
    nb = -(-S // blk)
    print(f"# block-sparse CPU attention, f32, B1 H{H} S{S} D{D}, blocks "
          f"{blk}x{blk}; {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")

    full = attn.compile(attn.Spec(), head_dim=D)
    sparse = attn.compile(attn.Spec(mask=attn.block_sparse(blk, blk)),
                          head_dim=D)
    dense = attn.compile(attn.Spec(mask=attn.dense()), head_dim=D)

    def lookup(b, h, q_idx, kv_idx, block_mask):
        return block_mask[b, h, q_idx // blk, kv_idx // blk]

    opaque = attn.compile(
        attn.Spec(mask=attn.mask_mod(lookup, {"block_mask": "bool"})),
        head_dim=D)

    t_full, _ = timed(lambda: full(q, k, v), args.repeat)
    print(f"full: {t_full:.2f} ms")
    print("| density | block_sparse ms | vs allowed | dense ms | vs allowed "
          "| mask_mod ms | vs allowed |")
    print("|---|---|---|---|---|---|---|")
    for density in (float(x) for x in args.densities.split(",")):
        bm = rng.random((1, H, nb, nb)) < density
        bm[..., 0] = True  # every query row sees at least one block
        allowed = bm.mean()
        elems = np.repeat(np.repeat(bm, blk, axis=2), blk, axis=3)[..., :S, :S]
        elems = np.ascontiguousarray(elems)
        t_sp, ref = timed(lambda: sparse(q, k, v, block_mask=bm), args.repeat)
        t_de, out_de = timed(lambda: dense(q, k, v, dense_mask=elems),
                             args.repeat)
        t_mm, out_mm = timed(lambda: opaque(q, k, v, bm), args.repeat)
        for name, out in (("dense", out_de), ("mask_mod", out_mm)):
            err = np.abs(out - ref).max() / np.abs(ref).max()
            if err > 1e-4:
                raise SystemExit(f"{name} differs from block_sparse: {err}")
        base = allowed * t_full
        print(f"| {allowed:.3f} | {t_sp:.2f} | {t_sp / base:.2f} | {t_de:.2f} "
              f"| {t_de / base:.2f} | {t_mm:.2f} | {t_mm / base:.2f} |")


if __name__ == "__main__":
    main()
