#!/usr/bin/env python3
"""create_block_mask for mask_mods attn.recognise does not turn into
builtins: the generated attn.mask_blocks kernel against numpy's evaluation
of the mask on the whole grid (the path before it), beside the attention
call that uses the table (a benchmark, not a test).

Per case and length, in one process and alternating rounds: `generated`
is attn.flex._compiled_table (the kernel, compiled before timing), `numpy`
is attn.flex._evaluated_table, `flex` is flex_attention with the block mask
(B1, --heads, D64 f32). The two tables are checked equal.

    source .venv/bin/activate; export PYTHONPATH=$PWD/build/python
    python bench/mask_blocks.py [--seq 2048,8192] [--rounds 5] [--out F.md]
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np

import attn.flex as F
import compare  # bench/compare.py, beside this script: write_table


def ms(fn):
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def cases(S, rng):
    lengths = rng.multinomial(S - 8, np.ones(8) / 8) + 1
    doc = np.repeat(np.arange(8), lengths).astype(np.int32)
    keep = rng.random(S) < 0.9

    def doc_stripes(b, h, q, kv):       # documents, every third key dropped
        return (doc[q] == doc[kv]) & ((q - kv) % 3 != 1)

    def kept_keys_causal(b, h, q, kv):  # a padding table, causal
        return keep[kv] & (kv <= q)

    def per_head_band(b, h, q, kv):     # a band whose width grows by head
        return abs(q - kv) <= 64 * (h + 1)

    return [("document x8, stripes (None, None)", doc_stripes, None),
            ("kept keys & causal (None, None)", kept_keys_causal, None),
            ("band by head (H given)", per_head_band, "H")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seq", default="2048,8192")
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--out", help="also write the table here (Markdown)")
    args = ap.parse_args()
    H, D, bs = args.heads, 64, args.block
    rng = np.random.default_rng(0)
    lines = [f"# create_block_mask of unrecognised mask_mods: generated code "
             f"vs numpy, BLOCK_SIZE {bs}; {os.cpu_count()} CPUs, "
             f"{platform.processor() or 'x86_64'}, load "
             f"{os.getloadavg()[0]:.1f}; median over {args.rounds} "
             f"alternating rounds", "",
             "| mask | S | generated ms | numpy ms | numpy / generated | "
             "flex_attention ms (B1 H%d D64 f32) | generated / flex |" % H,
             "|---|---|---|---|---|---|---|"]
    for S in (int(s) for s in args.seq.split(",")):
        q, k, v = (rng.standard_normal((1, H, S, D), dtype=np.float32)
                   for _ in range(3))
        for name, fn, heads in cases(S, rng):
            Hn = H if heads else 1
            got = F._compiled_table(fn, 1, Hn, S, S, bs, bs)
            want = F._evaluated_table(fn, 1, Hn, S, S, bs, bs)
            assert got is not None
            np.testing.assert_array_equal(got, want)
            bm = F.create_block_mask(fn, None, H if heads else None, S, S,
                                     BLOCK_SIZE=bs)
            F.flex_attention(q, k, v, block_mask=bm)
            runs = {"generated": [], "numpy": [], "flex": []}
            for _ in range(args.rounds):
                runs["generated"].append(ms(lambda: F._compiled_table(
                    fn, 1, Hn, S, S, bs, bs)))
                runs["numpy"].append(ms(lambda: F._evaluated_table(
                    fn, 1, Hn, S, S, bs, bs)))
                runs["flex"].append(ms(lambda: F.flex_attention(
                    q, k, v, block_mask=bm)))
            m = {key: statistics.median(val) for key, val in runs.items()}
            lines.append(f"| {name} | {S} | {m['generated']:.2f} | "
                         f"{m['numpy']:.1f} | "
                         f"{m['numpy'] / m['generated']:.1f} | "
                         f"{m['flex']:.1f} | "
                         f"{m['generated'] / m['flex']:.2f} |")
            print(lines[-1], flush=True)
    compare.write_table(lines, args.out)


if __name__ == "__main__":
    main()
