#!/usr/bin/env python3
"""Traced (FlexAttention-style) masks against attn's builtin masks on the
CPU (a benchmark, not a test).

For causal, sliding-window and document-causal masks (the last also as
attention-gym writes it, with per-document offsets) it times, in one
process and alternating rounds:
  builtin    the declarative mask (symbolic tile classes, O(1) per tile),
  flex       attn.flex.flex_attention with create_block_mask's block mask:
             empty blocks skipped at run time, the traced mask_mod applied
             element by element in the rest,
  traced     attn.compile of the same mask_mod, called without a block
             mask: the builtin where attn.recognise recognises it (document
             ids read from the arrays at each call), else every tile
             computed with the mask applied per element,
and full attention as the unmasked baseline. create_block_mask's own time
(numpy, once per mask) is reported apart. Outputs are checked against the
builtin's.

    source .venv/bin/activate; export PYTHONPATH=$PWD/build/python
    python bench/flex.py [--seq 2048] [--heads 8] [--rounds 5]
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np

import attn
import compare  # bench/compare.py, beside this script: write_table
import sparse  # bench/sparse.py, beside this script
from attn.flex import create_block_mask, flex_attention


def timed(fn, repeat=3):
    """The median ms of `repeat` calls after a warm-up (bench/sparse.py's)."""
    return sparse.timed(fn, repeat)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("seq", 2048), ("heads", 8), ("dim", 64),
                          ("rounds", 5), ("block", 128)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--out", help="also write the table here (Markdown)")
    args = ap.parse_args()
    S, H, D = args.seq, args.heads, args.dim
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, H, S, D), dtype=np.float32)
               for _ in range(3))
    lengths = rng.multinomial(S - 8, np.ones(8) / 8) + 1
    doc = np.repeat(np.arange(8), lengths).astype(np.int32)
    W = 256

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    def window(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx <= W)

    def doc_causal(b, h, q_idx, kv_idx):
        return (doc[q_idx] == doc[kv_idx]) & (q_idx >= kv_idx)

    # attention-gym's generate_doc_mask_mod(causal): positions within the
    # document through per-document offsets.
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)

    def gym_doc_causal(b, h, q_idx, kv_idx):
        same_doc = doc[q_idx] == doc[kv_idx]
        q_logical = q_idx - offsets[doc[q_idx]]
        kv_logical = kv_idx - offsets[doc[kv_idx]]
        return same_doc & (q_logical >= kv_logical)

    cases = [
        ("causal", attn.causal(), {}, causal),
        (f"window {W}", attn.sliding_window(W, 0) & attn.causal(), {}, window),
        ("document x8 causal", attn.document() & attn.causal(),
         {"segments": (doc[None], doc[None])}, doc_causal),
        ("gym document x8 causal (offsets)", attn.document() & attn.causal(),
         {"segments": (doc[None], doc[None])}, gym_doc_causal),
    ]
    full = attn.compile(attn.Spec(), head_dim=D)
    rows = []
    lines = [f"# traced masks vs builtins, CPU f32, B1 H{H} S{S} D{D}, "
             f"BLOCK_SIZE {args.block}; "
             f"{os.cpu_count()} CPUs, {platform.processor() or 'x86_64'}; "
             f"median of 3 runs per round, median over {args.rounds} "
             f"alternating rounds", ""]
    for name, mask, operands, fn in cases:
        builtin = attn.compile(attn.Spec(mask), head_dim=D)
        traced = attn.compile(attn.Spec(attn.mask_mod(fn)), head_dim=D)
        t0 = time.perf_counter()
        bm = create_block_mask(fn, None, None, S, S, BLOCK_SIZE=args.block)
        block_ms = (time.perf_counter() - t0) * 1e3
        want = builtin(q, k, v, **operands)
        for got in (flex_attention(q, k, v, block_mask=bm), traced(q, k, v)):
            np.testing.assert_allclose(got, want, atol=2e-5, rtol=2e-5)
        runs = {"full": [], "builtin": [], "flex": [], "traced": []}
        for _ in range(args.rounds):
            runs["full"].append(timed(lambda: full(q, k, v)))
            runs["builtin"].append(timed(lambda: builtin(q, k, v, **operands)))
            runs["flex"].append(timed(lambda: flex_attention(q, k, v,
                                                             block_mask=bm)))
            runs["traced"].append(timed(lambda: traced(q, k, v)))
        med = {key: statistics.median(val) for key, val in runs.items()}
        rows.append((name, med, block_ms, bm.sparsity()))
    lines += ["| mask | builtin ms | flex ms | flex / builtin | traced ms | "
              "traced / builtin | full ms | create_block_mask ms | "
              "blocks skipped |", "|---|---|---|---|---|---|---|---|---|"]
    for name, m, block_ms, sparsity in rows:
        lines.append(f"| {name} | {m['builtin']:.2f} | {m['flex']:.2f} | "
                     f"{m['flex'] / m['builtin']:.2f} | {m['traced']:.2f} | "
                     f"{m['traced'] / m['builtin']:.2f} | {m['full']:.2f} | "
                     f"{block_ms:.1f} | {sparsity:.0f}% |")
    compare.write_table(lines, args.out)


if __name__ == "__main__":
    main()
