"""bf16 on the CPU: attn's AVX-512 path against its AMX path and PyTorch.

    python bench/amx_bench.py --attn-run build/bin/attn-run \
        [--torch-python bench/.venv/bin/python] [--rounds 3] [--out FILE.md]

One run measures, on 2 threads: the bf16 AMX tile-product peak and the f32
FMA peak (bench/peak/amx_peak.c, fma_peak.c), then for each case attn with
AMX off (--amx=false: the AVX-512 path, bf16 widened to f32 FMAs, the
default before AMX), attn with AMX (the default on an AMX host) and
PyTorch's CPU SDPA on bf16 inputs, in alternation, round after round, so
that the machine's noise falls on all three alike. Each attn time is
attn-run's median of --repeat runs after a warm-up; each SDPA time
torch_peers.py's median. The table gives the median over rounds, the
ratios, and the AMX path's share of the measured AMX peak, counting 4 D
flops per allowed score (2 D for Q K^T, 2 Dv for P V, D = Dv here).
Correctness is the test suite's job: no reference is computed.
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

import compare  # bench/compare.py, beside this script: write_table

HERE = os.path.dirname(os.path.abspath(__file__))

# (kernel, B, H, S, D, causal, label)
CASES = [
    ("full_d64_bf16.mlir", 1, 8, 2048, 64, False, "B1 H8 S2048 D64 full"),
    ("causal_d128_bf16.mlir", 1, 16, 2048, 128, True,
     "B1 H16 S2048 D128 causal"),
]


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


def attn_ms(attn_run, kernel, b, h, s, amx, repeat):
    cmd = [attn_run, os.path.join(HERE, "cases", kernel),
           f"--shape=B={b},Hq={h},Sq={s},Skv={s}", f"--repeat={repeat}",
           "--no-reference", f"--amx={'true' if amx else 'false'}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    m = re.search(r"ms=([0-9.]+)", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    return float(m.group(1))


def sdpa_ms(python, b, h, s, d, causal, threads):
    case = {"B": b, "H": h, "Sq": s, "Skv": s, "D": d, "threads": threads,
            "mask": {"kind": "causal" if causal else "full"},
            "dtype": "bfloat16", "peers": ["sdpa"]}
    out = subprocess.run([python, os.path.join(HERE, "torch_peers.py"),
                          json.dumps(case)], capture_output=True, text=True,
                         timeout=900, cwd=HERE)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if "sdpa_ms" not in result:
        raise RuntimeError(result.get("sdpa_error", out.stderr[-500:]))
    return result["sdpa_ms"], result["torch"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attn-run", required=True)
    ap.add_argument("--torch-python",
                    default=os.path.join(HERE, ".venv", "bin", "python"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cc", default="gcc")
    ap.add_argument("--out")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    amx_peak, amx_text = probe(args.cc, "amx_peak.c", "amx_peak: isa=amx-bf16")
    fma_peak, fma_text = probe(args.cc, "fma_peak.c", "fma_peak: isa=avx512")
    torch_ok = os.access(args.torch_python, os.X_OK)
    sides = ["fma", "amx"] + (["sdpa"] if torch_ok else [])
    times = {c[-1]: {s: [] for s in sides} for c in CASES}
    torch_version = "not run (no --torch-python)"
    for r in range(args.rounds):
        for kernel, b, h, s, d, causal, label in CASES:
            order = sides if r % 2 == 0 else list(reversed(sides))
            for side in order:
                if side == "sdpa":
                    ms, torch_version = sdpa_ms(args.torch_python, b, h, s, d,
                                                causal, args.threads)
                else:
                    ms = attn_ms(args.attn_run, kernel, b, h, s,
                                 side == "amx", args.repeat)
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
    lines = [
        f"# bf16 on the CPU: AVX-512 path, AMX path, PyTorch SDPA "
        f"({datetime.date.today().isoformat()})", "",
        f"- machine: {model}, {os.cpu_count()} cores, {args.threads} "
        f"threads, load average at the end {load}; "
        f"{args.rounds} alternating rounds, attn-run --repeat={args.repeat} "
        f"(median of each), SDPA median of torch_peers.py's runs; medians "
        f"over rounds below",
        f"- PyTorch: {torch_version}",
        f"- probes: {amx_text.replace(chr(10), '; ')}; "
        f"{fma_text.replace(chr(10), '; ')}", "",
        "| case | AVX-512 (amx=false) ms | AMX ms | SDPA bf16 ms | "
        "AMX speedup over AVX-512 | SDPA / AMX | AMX GFLOP/s | "
        "of AMX peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kernel, b, h, s, d, causal, label in CASES:
        med = {k: statistics.median(v) for k, v in times[label].items() if v}
        scores = b * h * (s * (s + 1) // 2 if causal else s * s)
        gflops = 4 * d * scores / (med["amx"] * 1e-3) / 1e9
        sdpa = med.get("sdpa")
        sdpa_cells = (f"{sdpa:.2f} | {sdpa / med['amx']:.2f}" if sdpa
                      else "n/a | n/a")
        share = f"{100 * gflops / peak:.0f}%" if peak else "n/a"
        lines.append(
            f"| {label} | {med['fma']:.2f} | {med['amx']:.2f} | "
            f"{sdpa_cells.split(' | ')[0]} | {med['fma'] / med['amx']:.2f} | "
            f"{sdpa_cells.split(' | ')[1]} | {gflops:.0f} | {share} |")
    lines += ["", "Rounds (ms):", ""]
    for label, per in times.items():
        lines.append(f"- {label}: " + "; ".join(
            f"{k} " + ", ".join(f"{x:.2f}" for x in v) for k, v in per.items()))
    compare.write_table(lines, args.out)


if __name__ == "__main__":
    main()
