#!/usr/bin/env python3
"""Prefill from an int8 quantized KV cache (KIVI, keys per channel in
groups of --group tokens, f16 scales and zeros): attn with the opt-in
int8 AMX Q K^T (config dot = "amx_int8"), attn's default for the cache
(each kv tile dequantised to f32, f32 FMA products), attn on the
dequantised cache in bf16 (a float cache: AMX bf16 tiles, the bar a
bf16-dequantising AMX path would approach) and PyTorch SDPA on the
dequantised bf16 cache (a benchmark, not a test).

    PYTHONPATH=build/python python bench/quant_prefill.py [--rounds 3]
        [--seq 2048] [--dim 128] [--masks causal,full] [--out FILE]

Each round runs every implementation in a fresh process, one after the
other; each entry is the median of `--repeat` calls, and the table gives
the median over rounds with the spread (min..max), the ratios against
SDPA of the same rounds, and GFLOP/s counting 4 D flops per allowed score.
Queries and the residual-free cache are bf16; every implementation's
output is compared with SDPA's on the dequantised cache.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import attn
import compare  # bench/compare.py: write_table
import sparse   # bench/sparse.py: its timer

MASKS = {"causal": attn.causal, "full": attn.full}


def one_round(args):
    """Worker: one round of every implementation and mask; prints JSON
    {"times": {mask: {impl: ms}}, "checks": [...]}."""
    import ml_dtypes
    import torch
    B, Hq, Hkv, S, D = (args.batch, args.heads, args.kv_heads, args.seq,
                        args.dim)
    bf16 = ml_dtypes.bfloat16
    rng = np.random.default_rng(0)
    q = rng.standard_normal((B, Hq, S, D), dtype=np.float32).astype(bf16)
    k = (rng.standard_normal((B, Hkv, S, D), dtype=np.float32) * 2 + 0.5)
    v = rng.standard_normal((B, Hkv, S, D), dtype=np.float32)
    quant = attn.Quant(8, args.group, "float16")
    cache = attn.quantize_kv(k.astype(bf16), v.astype(bf16), quant,
                             dtype="bfloat16")
    # The dequantised cache, in bf16 as SDPA and the float kernel read it.
    kd, vd = (x.astype(bf16) for x in dequantize(cache))
    tq, tk, tv = (torch.from_numpy(x.astype(np.float32)).to(torch.bfloat16)
                  for x in (q, kd, vd))
    times, checks = {}, []
    for mask in args.masks.split(","):
        m = MASKS[mask]
        int8 = attn.compile(attn.Spec(mask=m(), quant=quant,
                                      config={"dot": "amx_int8"}),
                            dtype="bfloat16", head_dim=D)
        plain = attn.compile(attn.Spec(mask=m(), quant=quant),
                             dtype="bfloat16", head_dim=D)
        flat = attn.compile(attn.Spec(mask=m()), dtype="bfloat16",
                            head_dim=D)
        impls = {
            "attn int8, amx_int8 Q K^T": lambda f=int8: f(
                q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len),
            "attn int8, default (f32 dequant, FMA)": lambda f=plain: f(
                q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len),
            "attn bf16 dequantised cache (AMX bf16)": lambda f=flat: f(
                q, kd, vd),
            "torch SDPA bf16 dequantised cache": lambda: torch.nn.functional
            .scaled_dot_product_attention(tq, tk, tv, is_causal=mask ==
                                          "causal", enable_gqa=True),
        }
        want = np.asarray(impls["torch SDPA bf16 dequantised cache"]()
                          .float().numpy(), np.float64)
        for name, fn in impls.items():
            got = fn()
            if isinstance(got, torch.Tensor):
                got = got.float().numpy()
            got = np.asarray(got, np.float64)
            checks.append(f"{mask} {name}: max |O - SDPA's O| "
                          f"{np.abs(got - want).max():.1e} "
                          f"(max |O| {np.abs(want).max():.2f})")
        times[mask] = {name: sparse.timed(fn, args.repeat)[0]
                       for name, fn in impls.items()}
    print(json.dumps({"times": times, "checks": checks}))


def dequantize(cache):
    """K and V [B, Hkv, S, D] float32 of an int8 BHSD cache without a
    residual: scale * code + zero, keys per (token group, channel), values
    per (token, channel group)."""
    G = cache.quant.group_size
    codes_k = np.asarray(cache.k).astype(np.float32)
    codes_v = np.asarray(cache.v).astype(np.float32)
    ks = np.repeat(np.asarray(cache.k_scale, np.float32), G, axis=2)
    kz = np.repeat(np.asarray(cache.k_zero, np.float32), G, axis=2)
    vs = np.repeat(np.asarray(cache.v_scale, np.float32), G, axis=3)
    vz = np.repeat(np.asarray(cache.v_zero, np.float32), G, axis=3)
    return ks * codes_k + kz, vs * codes_v + vz


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("batch", 1), ("heads", 8), ("kv-heads", 2),
                          ("seq", 2048), ("dim", 128), ("group", 32),
                          ("rounds", 3), ("repeat", 5)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--masks", default="causal,full")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return one_round(args)
    import torch
    load = open("/proc/loadavg").read().split()[:3]
    argv = [sys.executable, os.path.abspath(__file__), "--worker"] + [
        f"--{n}={getattr(args, n.replace('-', '_'))}"
        for n in ("batch", "heads", "kv-heads", "seq", "dim", "group",
                  "repeat", "masks")]
    runs, checks = [], []
    for _ in range(args.rounds):
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append(result["times"])
        checks = result["checks"]
    end_load = open("/proc/loadavg").read().split()[:3]
    B, Hq, Hkv, S, D = (args.batch, args.heads, args.kv_heads, args.seq,
                        args.dim)
    rows = []
    for mask in args.masks.split(","):
        scores = B * Hq * (S * (S + 1) // 2 if mask == "causal" else S * S)
        per = {name: [r[mask][name] for r in runs] for name in runs[0][mask]}
        sdpa = per["torch SDPA bf16 dequantised cache"]
        int8 = per["attn int8, amx_int8 Q K^T"]
        for name, t in per.items():
            med = float(np.median(t))
            rows.append([mask, name, f"{med:.2f}",
                         f"{min(t):.2f}..{max(t):.2f}",
                         f"{4 * D * scores / (med * 1e-3) / 1e9:.0f}",
                         f"{np.median(sdpa) / med:.2f}",
                         f"{med / np.median(int8):.2f}"])
    lines = [f"# Prefill from an int8 KV cache: B{B} H{Hq}/{Hkv} S{S} D{D}, "
             f"KIVI key groups of {args.group}, f16 scales and zeros, bf16 "
             f"queries", "",
             f"{os.cpu_count()} CPUs, OMP threads "
             f"{os.environ.get('OMP_NUM_THREADS', 'default')}, torch "
             f"{torch.__version__} ({torch.get_num_threads()} threads); "
             f"load average (1, 5, 15 min) {' '.join(load)} at the start, "
             f"{' '.join(end_load)} at the end (a shared machine).", "",
             f"{args.rounds} rounds, each a fresh process running every "
             f"implementation in turn, each the median of {args.repeat} "
             f"calls; ms is the median over rounds, spread its min..max; "
             f"GFLOP/s counts 4 D flops per allowed score.", "",
             "| mask | implementation | ms | spread | GFLOP/s | SDPA / this "
             "| this / amx_int8 |", "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [""] + [f"- {c}" for c in checks]
    compare.write_table(lines, args.out)


if __name__ == "__main__":
    main()
