#!/usr/bin/env python3
"""attn.cascade against plain attention over the concatenated cache: a
batch decoding after one shared prefix (a benchmark, not a test).

    PYTHONPATH=build/python python bench/cascade.py [--batch 8] [--prefix 4096]
"""

import argparse
import os
import platform

import numpy as np

import attn
import sparse  # bench/sparse.py: its timer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("batch", 8), ("heads", 32), ("kv-heads", 8),
                          ("prefix", 4096), ("suffix", 64), ("dim", 128),
                          ("rounds", 3)):
        ap.add_argument(f"--{name}", type=int, default=default)
    args = ap.parse_args()
    B, Hq, Hkv, P, Ls, D = (args.batch, args.heads, args.kv_heads,
                            args.prefix, args.suffix, args.dim)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((B, Hq, 1, D), dtype=np.float32)
    kp, vp = (rng.standard_normal((Hkv, P, D), dtype=np.float32)
              for _ in range(2))
    ks, vs = (rng.standard_normal((B, Hkv, Ls, D), dtype=np.float32)
              for _ in range(2))
    K, V = (np.ascontiguousarray(np.concatenate(
        [np.broadcast_to(p, (B, Hkv, P, D)), s], 2))
        for p, s in ((kp, ks), (vp, vs)))
    plain = attn.compile(attn.causal(), head_dim=D)
    diff = np.abs(plain(q, K, V) - attn.cascade(q, kp, vp, ks, vs)).max()
    print(f"# decode B{B} H{Hq}/{Hkv} prefix {P} + suffix {Ls}, D{D} f32; "
          f"{os.cpu_count()} CPUs, {platform.processor() or 'x86_64'}; "
          f"max |difference| {diff:.1e}")
    print("| round | plain ms | cascade ms | plain / cascade |")
    print("|---|---|---|---|")
    for r in range(args.rounds):
        tp, _ = sparse.timed(lambda: plain(q, K, V), 7)
        tc, _ = sparse.timed(lambda: attn.cascade(q, kp, vp, ks, vs), 7)
        print(f"| {r + 1} | {tp:.2f} | {tc:.2f} | {tp / tc:.2f} |")


if __name__ == "__main__":
    main()
