"""bf16 on the CPU: attn's AMX path against its AVX-512 path, PyTorch SDPA
and FlexAttention.

    python bench/amx_bench.py --attn-run build/bin/attn-run \
        [--base-attn-run OLD/attn-run] [--torch-python .venv/bin/python] \
        [--rounds 3] [--flex-rounds 1] [--out FILE.md]

One run measures, on 2 threads: the bf16 AMX tile-product peak and the f32
FMA peak (bench/peak/amx_peak.c, fma_peak.c), then for each case (dense,
causal, sliding window, documents) attn with AMX (the default on an AMX
host), attn with AMX off (--amx=false: the AVX-512 path, bf16 widened to
f32 FMAs), optionally an earlier attn-run with AMX (--base-attn-run: the
before of a change, measured beside the after), PyTorch's CPU SDPA on bf16
inputs and compiled FlexAttention (its first --flex-rounds rounds only: it
compiles for about 30 s per case), in alternation, round after round, the
order reversed every other round, so that the machine's noise falls on all
of them alike. Each attn time is attn-run's median of --repeat runs after a
warm-up; each PyTorch time torch_peers.py's median. The table gives the
median over rounds, the ratios, and the AMX path's share of the measured
AMX peak, counting 4 D flops per allowed score (2 D for Q K^T, 2 Dv for
P V, D = Dv here). Correctness is the test suite's job: no reference is
computed.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import types

import bench  # bench/bench.py, beside this script: write_doc_ids
import compare  # write_table
import masks

HERE = os.path.dirname(os.path.abspath(__file__))

CAUSAL = {"kind": "causal"}
# (kernel, B, H, S, D, mask, label)
CASES = [
    ("full_d64_bf16.mlir", 1, 8, 2048, 64, {"kind": "full"},
     "B1 H8 S2048 D64 full"),
    ("causal_d128_bf16.mlir", 1, 16, 2048, 128, CAUSAL,
     "B1 H16 S2048 D128 causal"),
    ("sliding_window_d64_bf16.mlir", 1, 8, 4096, 64,
     {"kind": "window", "window": 256}, "B1 H8 S4096 D64 window 256"),
    ("document_d64_bf16.mlir", 1, 8, 4096, 64,
     {"kind": "document", "docs": 8}, "B1 H8 S4096 D64 document x8"),
]
SIDE_NAMES = {"amx": "AMX", "fma": "AVX-512 (amx=false)",
              "base": "AMX before (--base-attn-run)", "sdpa": "SDPA bf16",
              "flex": "Flex bf16"}


def probe(cc, source, pattern):
    """Compiles and runs a bench/peak probe; {threads: GFLOP/s}."""
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "probe")
        subprocess.run([cc, "-O2", "-march=native", "-fopenmp", "-Wall",
                        os.path.join(HERE, "peak", source), "-o", exe],
                       check=True)
        out = subprocess.run([exe], capture_output=True, text=True,
                             check=True, env=dict(os.environ)).stdout
    return {int(t): float(g) for t, g in re.findall(
        pattern + r" threads=(\d+) gflops=([0-9.]+)", out)}, out.strip()


def attn_ms(attn_run, kernel, b, h, s, mask, amx, repeat, work_dir):
    case = types.SimpleNamespace(B=b, Sq=s, Skv=s, mask=mask)
    inputs = (bench.write_doc_ids(case, work_dir)
              if mask["kind"] == "document" else [])
    cmd = [attn_run, os.path.join(HERE, "cases", kernel),
           f"--shape=B={b},Hq={h},Sq={s},Skv={s}", f"--repeat={repeat}",
           "--no-reference", f"--amx={'true' if amx else 'false'}", *inputs]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    m = re.search(r"ms=([0-9.]+)", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    return float(m.group(1))


def torch_ms(python, peer, b, h, s, d, mask, threads):
    case = {"B": b, "H": h, "Sq": s, "Skv": s, "D": d, "threads": threads,
            "mask": mask, "dtype": "bfloat16", "peers": [peer]}
    out = subprocess.run([python, os.path.join(HERE, "torch_peers.py"),
                          json.dumps(case)], capture_output=True, text=True,
                         timeout=900, cwd=HERE)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if f"{peer}_ms" not in result:
        raise RuntimeError(result.get(f"{peer}_error", out.stderr[-500:]))
    return result[f"{peer}_ms"], result["torch"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attn-run", required=True)
    ap.add_argument("--base-attn-run",
                    help="an earlier attn-run, measured beside (AMX on)")
    ap.add_argument("--torch-python",
                    default=os.path.join(HERE, ".venv", "bin", "python"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--flex-rounds", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cc", default="gcc")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--out")
    args = ap.parse_args()
    args.torch_python = os.path.abspath(args.torch_python)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    amx_peak, amx_text = probe(args.cc, "amx_peak.c", "amx_peak: isa=amx-bf16")
    fma_peak, fma_text = probe(args.cc, "fma_peak.c", "fma_peak: isa=avx512")
    torch_ok = os.access(args.torch_python, os.X_OK)
    sides = (["base"] if args.base_attn_run else []) + ["amx", "fma"] + (
        ["sdpa", "flex"] if torch_ok else [])
    times = {c[-1]: {s: [] for s in sides} for c in CASES}
    errors = {}
    torch_version = "not run (no --torch-python)"
    with tempfile.TemporaryDirectory() as work_dir:
        for r in range(args.rounds):
            for kernel, b, h, s, d, mask, label in CASES:
                order = sides if r % 2 == 0 else list(reversed(sides))
                for side in order:
                    if side == "flex" and r >= args.flex_rounds:
                        continue
                    try:
                        if side in ("sdpa", "flex"):
                            ms, torch_version = torch_ms(
                                args.torch_python, side, b, h, s, d, mask,
                                args.threads)
                        else:
                            ms = attn_ms(
                                args.base_attn_run if side == "base"
                                else args.attn_run, kernel, b, h, s, mask,
                                side != "fma", args.repeat, work_dir)
                    except RuntimeError as exc:
                        errors[(label, side)] = str(exc).splitlines()[0][:160]
                        print(f"round {r} {label} {side}: {exc}", flush=True)
                        continue
                    times[label][side].append(ms)
                    print(f"round {r} {label} {side}: {ms:.2f} ms", flush=True)

    peak = amx_peak.get(args.threads) or max(amx_peak.values(), default=0)
    model = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    cols = [SIDE_NAMES[s] + " ms" for s in sides]
    ratios = (["AMX speedup over before"] if "base" in sides else []) + [
        "AMX speedup over AVX-512"] + (
        ["SDPA / AMX", "Flex / AMX"] if torch_ok else [])
    lines = [
        f"# bf16 on the CPU: AMX path, AVX-512 path, PyTorch SDPA and Flex "
        f"({datetime.date.today().isoformat()})", "",
        f"- machine: {model}, {os.cpu_count()} cores, {args.threads} "
        f"threads, load average at the end {load}; "
        f"{args.rounds} alternating rounds (Flex in the first "
        f"{args.flex_rounds}), attn-run --repeat={args.repeat} "
        f"(median of each), PyTorch medians of torch_peers.py's runs; "
        f"medians over rounds below",
        f"- PyTorch: {torch_version}",
        f"- probes: {amx_text.replace(chr(10), '; ')}; "
        f"{fma_text.replace(chr(10), '; ')}",
        *[f"- {n}" for n in args.note], "",
        "| case | " + " | ".join(cols + ratios) +
        " | AMX GFLOP/s | of AMX peak |",
        "|---|" + "---|" * (len(cols) + len(ratios) + 2),
    ]
    for kernel, b, h, s, d, mask, label in CASES:
        med = {k: statistics.median(v) for k, v in times[label].items() if v}
        amx = med.get("amx")
        cell = lambda k: f"{med[k]:.2f}" if k in med else "n/a"
        ratio = lambda x, y: (f"{med[x] / med[y]:.2f}"
                              if x in med and y in med else "n/a")
        row = [cell(k) for k in sides]
        if "base" in sides:
            row.append(ratio("base", "amx"))
        row.append(ratio("fma", "amx"))
        if torch_ok:
            row += [ratio("sdpa", "amx"), ratio("flex", "amx")]
        flops = 4 * d * b * h * masks.allowed_pairs(mask, s, s)
        gflops = flops / (amx * 1e-3) / 1e9 if amx else 0
        share = f"{100 * gflops / peak:.0f}%" if peak and amx else "n/a"
        lines.append(f"| {label} | " + " | ".join(row) +
                     f" | {gflops:.0f} | {share} |")
    lines += ["", "Rounds (ms):", ""]
    for label, per in times.items():
        lines.append(f"- {label}: " + "; ".join(
            f"{k} " + ", ".join(f"{x:.2f}" for x in v)
            for k, v in per.items()))
    if errors:
        lines += ["", "Failures:", ""]
        lines += [f"- {label} {side}: {why}"
                  for (label, side), why in errors.items()]
    compare.write_table(lines, args.out)


if __name__ == "__main__":
    main()
