#!/usr/bin/env python3
"""Decoding against a KV cache: attn with a contiguous cache, with a
paged one (page size 16, both pool layouts, pages in a random order) and
with quantized ones (--quant: int8, int4, int2 codes, KIVI groups of
--group with f16 scales and zeros), against PyTorch SDPA,
in GB/s of K and V read against the machine's measured read bandwidth (a
benchmark, not a test).

    PYTHONPATH=build/python python bench/decode.py [--rounds 5] [--out FILE]
        [--before OTHER_BUILD/python] [--quant 8,4,2] [--no-paged]
        [--no-huge-pages]

Caches, page pools and SDPA's tensors are in 2 MiB pages (attn.empty's
memory) unless --no-huge-pages; the fraction of read bandwidth is taken
against bench/peak/bandwidth.c's read of the same kind of memory.

Each round runs every implementation in a fresh process (alternating with
the build given by --before, if any); each entry is the median of
`--repeat` calls, and the table gives the median over rounds with the
spread (min..max). Bytes counted: K and V once (B * Hkv * Skv * (D + Dv)
elements) plus Q and O; for a quantized cache its codes, scales and zeros
instead of K and V; every query head of a GQA group reads its group's
K and V, so a kernel that does not share them between the group's heads
moves more than it is credited with.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

import attn
import compare  # bench/compare.py: write_table
import sparse   # bench/sparse.py: its timer

HERE = os.path.dirname(os.path.abspath(__file__))


def read_bandwidth():
    """The 2-thread read bandwidths (GB/s) of bench/peak/bandwidth.c,
    {"read": 4 KiB pages, "read-huge": 2 MiB pages}, or None when it cannot
    be built."""
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "bandwidth")
        cc = os.environ.get("CC", "gcc")
        r = subprocess.run([cc, "-O2", "-march=native", "-fopenmp",
                            os.path.join(HERE, "peak", "bandwidth.c"), "-o",
                            exe], capture_output=True, text=True)
        if r.returncode:
            return None
        out = subprocess.run([exe], capture_output=True, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS="2")).stdout
    found = {kind: re.search(rf"kernel={kind} threads=2 .*?gbps=([0-9.]+)",
                             out) for kind in ("read", "read-huge")}
    return {kind: float(m.group(1)) for kind, m in found.items() if m} or None


def paged_copy(cache, order, layout):
    """`cache` [B, Hkv, S, D] as a pool of pages, page order[b, i] holding
    keys [i * page_size, (i + 1) * page_size) of row b."""
    B, H, S, D = cache.shape
    n = order.shape[1]
    size = S // n
    pages = cache.reshape(B, H, n, size, D).transpose(0, 2, 1, 3, 4)
    pool = np.empty((B * n, H, size, D), cache.dtype)
    pool[order.reshape(-1)] = pages.reshape(B * n, H, size, D)
    if layout == "nhd":
        pool = np.ascontiguousarray(pool.transpose(0, 2, 1, 3))
    return pool


def huge_copy():
    """attn.to_huge_pages, from this checkout's python/attn/memory.py
    where the build being timed (--before) predates it."""
    if hasattr(attn, "to_huge_pages"):
        return attn.to_huge_pages
    import importlib.util
    path = os.path.join(HERE, os.pardir, "python", "attn", "memory.py")
    spec = importlib.util.spec_from_file_location("attn_memory", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.to_huge_pages


def placed(cache, place):
    """A quantized cache's arrays moved by `place` (attn.quantize_kv's
    allocation depends on the build)."""
    for name in ("k", "v", "k_scale", "k_zero", "v_scale", "v_zero",
                 "k_residual", "v_residual"):
        if getattr(cache, name) is not None:
            setattr(cache, name, place(getattr(cache, name)))
    return cache


def one_round(args):
    """Worker: one round of every implementation and dtype; prints JSON
    {"times": {dtype: {impl: ms}}, "checks": [...]}."""
    import torch
    import ml_dtypes
    B, Hq, Hkv, S, D, P = (args.batch, args.heads, args.kv_heads, args.seq,
                           args.dim, args.page_size)
    rng = np.random.default_rng(0)
    lens = np.full(B, S, np.int32)
    times, checks, sizes = {}, [], {}
    for dtype in args.dtypes.split(","):
        et = np.float32 if dtype == "float32" else ml_dtypes.bfloat16
        tt = torch.float32 if dtype == "float32" else torch.bfloat16
        q = rng.standard_normal((B, Hq, 1, D), dtype=np.float32).astype(et)
        k, v = (rng.standard_normal((B, Hkv, S, D), dtype=np.float32)
                .astype(et) for _ in range(2))
        table = rng.permutation(B * (S // P)).reshape(B, -1).astype(np.int32)
        pools = {lay: [paged_copy(x, table, lay) for x in (k, v)]
                 for lay in ("nhd", "hnd")} if args.paged else {}
        # Caches and pools in 2 MiB pages (attn.empty), as a server would
        # allocate them; --no-huge-pages keeps numpy's 4 KiB pages. SDPA's
        # tensors get the same memory as attn's.
        place = huge_copy() if args.huge_pages else np.array
        k, v = place(k), place(v)
        pools = {lay: [place(x) for x in xs] for lay, xs in pools.items()}
        plain = attn.compile(attn.Spec(mask=attn.causal(), kv_len=True),
                             dtype=dtype, head_dim=D)
        paged = {lay: attn.compile(attn.Spec(mask=attn.causal(),
                                             paged=attn.Paged(P, lay)),
                                   dtype=dtype, head_dim=D)
                 for lay in ("nhd", "hnd")}
        tq, tk, tv = (torch.from_numpy(place(
            torch.from_numpy(x.astype(np.float32)).to(tt).view(torch.int16)
            .numpy() if tt == torch.bfloat16 else x)).view(tt)
            for x in (q, k, v))
        impls = {
            "attn contiguous": lambda: plain(q, k, v, kv_len=lens),
            "torch SDPA": lambda: torch.nn.functional
            .scaled_dot_product_attention(tq, tk, tv, enable_gqa=True),
        }
        if args.paged:
            impls["attn paged nhd"] = lambda: paged["nhd"](
                q, *pools["nhd"], page_table=table, kv_len=lens)
            impls["attn paged hnd"] = lambda: paged["hnd"](
                q, *pools["hnd"], page_table=table, kv_len=lens)
        quantized = {}
        for code in [c for c in args.quant.split(",") if c]:
            fp8 = code in ("e4m3", "e5m2")
            quant = (attn.Quant(format=code, scale_dtype="float32") if fp8
                     else attn.Quant(int(code), args.group, "float16"))
            label = f"fp8 {code}" if fp8 else f"int{code}"
            cache = placed(attn.quantize_kv(k, v, quant, dtype=dtype),
                           place)
            fn = attn.compile(attn.Spec(mask=attn.causal(), quant=quant),
                              dtype=dtype, head_dim=D)
            name = f"attn {label} contiguous"
            impls[name] = (lambda fn=fn, c=cache: fn(q, c.k, c.v,
                                                     kv_quant=c,
                                                     kv_len=c.kv_len))
            quantized[name] = cache
            if args.paged:
                # Key groups lie within a page: pages of max(P, group).
                qp = attn.Paged(max(P, quant.group_size), "nhd")
                qtable = rng.permutation(B * (S // qp.page_size)).reshape(
                    B, -1).astype(np.int32)
                pc = placed(cache.to_pages(qp, qtable, qtable.size), place)
                fn = attn.compile(attn.Spec(mask=attn.causal(), quant=quant,
                                            paged=qp),
                                  dtype=dtype, head_dim=D)
                name = f"attn {label} paged nhd/{qp.page_size}"
                impls[name] = (lambda fn=fn, c=pc: fn(
                    q, c.k, c.v, kv_quant=c, page_table=c.page_table,
                    kv_len=c.kv_len))
                quantized[name] = pc
        want = np.asarray(impls["torch SDPA"]().float().numpy(), np.float64)
        for name in impls:
            if name == "torch SDPA":
                continue
            got = np.asarray(impls[name](), np.float64)
            what = "torch SDPA on the float cache"
            checks.append(f"{dtype} {name}: max |difference| from {what} "
                          f"{np.abs(got - want).max():.1e}")
        sizes[dtype] = {name: int(sum(a.nbytes for a in (c.k, c.v) +
                                      c.operands()))
                        for name, c in quantized.items()}
        clock = time.process_time if args.cpu_time else time.perf_counter
        times[dtype] = {name: sparse.timed(fn, args.repeat, clock)[0]
                        for name, fn in impls.items()}
    print(json.dumps({"times": times, "checks": checks, "sizes": sizes}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("batch", 8), ("heads", 32), ("kv-heads", 8),
                          ("seq", 4096), ("dim", 128), ("page-size", 16),
                          ("rounds", 5), ("repeat", 7)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--quant", default="",
                    help="quantized caches to add: code widths and fp8 "
                         "formats, e.g. 8,4,2,e4m3")
    ap.add_argument("--group", type=int, default=32)
    ap.add_argument("--no-paged", dest="paged", action="store_false")
    ap.add_argument("--no-huge-pages", dest="huge_pages",
                    action="store_false",
                    help="caches in numpy's own (4 KiB page) memory instead "
                         "of attn.empty's 2 MiB pages")
    ap.add_argument("--before", default=None,
                    help="a PYTHONPATH holding another build of attn, run "
                         "in rounds alternating with this one")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time each call by the process's CPU time instead "
                         "of the wall clock (with OMP_NUM_THREADS=1, for a "
                         "loaded machine: other processes' load then costs "
                         "waiting, not CPU time; GB/s are then per CPU "
                         "second)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return one_round(args)
    import torch
    load = open("/proc/loadavg").read().split()[0]
    bws = read_bandwidth()
    # The limit of the memory the caches are in (the read of a 2 MiB-page
    # buffer is the machine's; 4 KiB pages lose some of it to the TLB).
    bw = bws and bws.get("read-huge" if args.huge_pages else "read")
    builds = {"this": os.environ.get("PYTHONPATH", "")}
    if args.before:
        builds["before"] = args.before
    argv = [sys.executable, os.path.abspath(__file__), "--worker"] + [
        f"--{n}={getattr(args, n.replace('-', '_'))}"
        for n in ("batch", "heads", "kv-heads", "seq", "dim", "page-size",
                  "repeat", "dtypes", "quant", "group")] + (
        [] if args.paged else ["--no-paged"]) + (
        [] if args.huge_pages else ["--no-huge-pages"]) + (
        ["--cpu-time"] if args.cpu_time else [])
    runs = {label: [] for label in builds}
    checks, sizes = {}, {}
    for _ in range(args.rounds):
        for label, path in builds.items():
            out = subprocess.run(argv, capture_output=True, text=True,
                                 check=True,
                                 env=dict(os.environ, PYTHONPATH=path))
            result = json.loads(out.stdout.strip().splitlines()[-1])
            runs[label].append(result["times"])
            checks[label] = result["checks"]
            sizes[label] = result.get("sizes", {})
    B, Hq, Hkv, S, D = (args.batch, args.heads, args.kv_heads, args.seq,
                        args.dim)
    rows = []
    for dtype in args.dtypes.split(","):
        esize = 4 if dtype == "float32" else 2
        nbytes = esize * (B * Hkv * S * 2 * D + 2 * B * Hq * D)
        for label in builds:
            per = {name: [r[dtype][name] for r in runs[label]]
                   for name in runs[label][0][dtype]}
            base = float(np.median(per["torch SDPA"]))
            for name, t in per.items():
                if name == "torch SDPA" and label != "this":
                    continue
                med = float(np.median(t))
                moved = nbytes
                if name in sizes[label].get(dtype, {}):
                    moved = sizes[label][dtype][name] + esize * 2 * B * Hq * D
                gbps = moved / (med * 1e-3) / 1e9
                rows.append([dtype, name if label == "this" or
                             name == "torch SDPA" else f"{name} ({label})",
                             f"{med:.2f}", f"{min(t):.2f}..{max(t):.2f}",
                             f"{gbps:.1f}",
                             f"{100 * gbps / bw:.0f}%" if bw else "-",
                             f"{base / med:.2f}"])
    quant = (f", quantized caches {args.quant} (integer codes in groups "
             f"of {args.group}, f16 scales and zeros; fp8 with f32 per-head "
             f"scales)" if args.quant else "")
    lines = [f"# Decoding B{B} H{Hq}/{Hkv} Skv{S} D{D}, causal, page size "
             f"{args.page_size}{quant}", "",
             f"{os.cpu_count()} CPUs ({platform.processor() or 'x86_64'}), "
             f"OMP threads {os.environ.get('OMP_NUM_THREADS', 'default')}, "
             f"torch {torch.__version__} ({torch.get_num_threads()} threads); "
             f"measured read bandwidth (bench/peak/bandwidth.c, 2 threads): "
             + (", ".join(f"{v} GB/s ({k})" for k, v in bws.items())
                if bws else "unavailable") +
             f"; caches in {'2 MiB' if args.huge_pages else '4 KiB'} pages "
             f"(huge pages: {attn.huge_pages()}), fractions against "
             f"{bw} GB/s; load {load} at the start "
             f"(a shared machine).", "",
             f"{args.rounds} rounds, each a fresh process per build "
             f"({', '.join(builds)}, alternating) timing every "
             f"implementation as the median of {args.repeat} calls"
             f"{' in CPU time' if args.cpu_time else ''}; ms is "
             f"the median over rounds, spread its min..max; GB/s counts K, "
             f"V, Q and O once; SDPA / this against the SDPA of the same "
             f"rounds.", "",
             "| dtype | implementation | ms | spread | GB/s | of read BW | "
             "SDPA / this |", "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [""] + [f"- {c}" for c in checks["this"]]
    compare.write_table(lines, args.out)


if __name__ == "__main__":
    main()
