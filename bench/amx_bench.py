"""bf16 on the CPU: attn's AMX path against its AVX-512 path, PyTorch SDPA
and FlexAttention; with --dtype f16, f16 inputs on AMX (the opt-in that
rounds them to bf16) against f16's default path.

    python bench/amx_bench.py --attn-run build/bin/attn-run \
        [--base-attn-run OLD/attn-run] [--torch-python .venv/bin/python] \
        [--rounds 3] [--flex-rounds 1] [--dtype bf16|f16] [--accuracy] \
        [--out FILE.md]

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
computed, except with --accuracy (implied by --dtype f16): after the
rounds, one attn-run per case and side against attn-run's float64
reference, whose largest absolute and relative errors join the table.

--dtype f16 runs the same cases on f16 kernels (the bf16 case files with
bf16 replaced by f16) on two sides only: "AMX" is attn-run --f16-amx (Q, K
and V rounded to bf16, then the bf16 AMX kernel), "AVX-512" f16's default
(widened to f32 FMAs, no rounding of the inputs).
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
F16_SIDE_NAMES = {"amx": "f16 on AMX (--f16-amx)",
                  "fma": "f16 default (AVX-512)",
                  "base": "f16 on AMX before (--base-attn-run)"}


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


def case_file(kernel, dtype, work_dir):
    """The bench kernel for `dtype`: bench/cases/KERNEL, or for f16 a copy
    in work_dir with its bf16 types made f16."""
    path = os.path.join(HERE, "cases", kernel)
    if dtype == "bf16":
        return path
    with open(path) as f:
        text = f.read().replace("bf16", "f16")
    out = os.path.join(work_dir, kernel.replace("bf16", "f16"))
    with open(out, "w") as f:
        f.write(text)
    return out


def attn_run(attn_run, kernel, b, h, s, mask, amx, repeat, work_dir,
             dtype="bf16", check=False):
    """attn-run's output fields {name: float}: ms, and with `check` the
    errors against its float64 reference. `amx`: AMX on (bf16's default,
    f16's --f16-amx) or off (bf16 --amx=false, f16's default)."""
    case = types.SimpleNamespace(B=b, Sq=s, Skv=s, mask=mask)
    inputs = (bench.write_doc_ids(case, work_dir)
              if mask["kind"] == "document" else [])
    flag = (f"--amx={'true' if amx else 'false'}" if dtype == "bf16"
            else f"--f16-amx={'true' if amx else 'false'}")
    cmd = [attn_run, case_file(kernel, dtype, work_dir),
           f"--shape=B={b},Hq={h},Sq={s},Skv={s}", f"--repeat={repeat}",
           *([] if check else ["--no-reference"]), flag, *inputs]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    fields = {k: float(v) for k, v in re.findall(
        r"(\w+)=([0-9.]+(?:e[-+]?\d+)?)\b", out.stdout)}
    if out.returncode != 0 or "ms" not in fields:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    return fields


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
    ap.add_argument("--dtype", choices=("bf16", "f16"), default="bf16")
    ap.add_argument("--accuracy", action="store_true",
                    help="errors against attn-run's float64 reference "
                         "(implied by --dtype f16)")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--out")
    args = ap.parse_args()
    args.torch_python = os.path.abspath(args.torch_python)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    amx_peak, amx_text = probe(args.cc, "amx_peak.c", "amx_peak: isa=amx-bf16")
    fma_peak, fma_text = probe(args.cc, "fma_peak.c", "fma_peak: isa=avx512")
    f16 = args.dtype == "f16"
    accuracy = args.accuracy or f16
    names = F16_SIDE_NAMES if f16 else SIDE_NAMES
    # PyTorch's peers run bf16 only.
    torch_ok = not f16 and os.access(args.torch_python, os.X_OK)
    sides = (["base"] if args.base_attn_run else []) + ["amx", "fma"] + (
        ["sdpa", "flex"] if torch_ok else [])
    times = {c[-1]: {s: [] for s in sides} for c in CASES}
    errors = {}
    accurate = {}
    torch_version = ("not run (f16)" if f16
                     else "not run (no --torch-python)")
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
                            ms = attn_run(
                                args.base_attn_run if side == "base"
                                else args.attn_run, kernel, b, h, s, mask,
                                side != "fma", args.repeat, work_dir,
                                args.dtype)["ms"]
                    except RuntimeError as exc:
                        errors[(label, side)] = str(exc).splitlines()[0][:160]
                        print(f"round {r} {label} {side}: {exc}", flush=True)
                        continue
                    times[label][side].append(ms)
                    print(f"round {r} {label} {side}: {ms:.2f} ms", flush=True)
        for kernel, b, h, s, d, mask, label in CASES if accuracy else []:
            for side in sides:
                if side in ("sdpa", "flex"):
                    continue
                try:
                    accurate[(label, side)] = attn_run(
                        args.base_attn_run if side == "base"
                        else args.attn_run, kernel, b, h, s, mask,
                        side != "fma", 1, work_dir, args.dtype, check=True)
                except RuntimeError as exc:
                    errors[(label, side + " check")] = \
                        str(exc).splitlines()[0][:160]

    peak = amx_peak.get(args.threads) or max(amx_peak.values(), default=0)
    model = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    cols = [names[s] + " ms" for s in sides]
    ratios = (["AMX speedup over before"] if "base" in sides else []) + [
        "f16 on AMX speedup over f16 default" if f16
        else "AMX speedup over AVX-512"] + (
        ["SDPA / AMX", "Flex / AMX"] if torch_ok else [])
    checked = [s for s in sides if s not in ("sdpa", "flex")]
    err_cols = ([f"{names[s]} max abs / rel err" for s in checked]
                if accuracy else [])
    title = ("f16 on the CPU: f16 on AMX (inputs rounded to bf16) and f16's "
             "default path" if f16 else
             "bf16 on the CPU: AMX path, AVX-512 path, PyTorch SDPA and Flex")
    lines = [
        f"# {title} ({datetime.date.today().isoformat()})", "",
        f"- machine: {model}, {os.cpu_count()} cores, {args.threads} "
        f"threads, load average at the end {load}; "
        f"{args.rounds} alternating rounds"
        + (f" (Flex in the first {args.flex_rounds})" if torch_ok else "")
        + f", attn-run --repeat={args.repeat} (median of each)"
        + (", PyTorch medians of torch_peers.py's runs" if torch_ok else "")
        + "; medians over rounds below",
        f"- PyTorch: {torch_version}",
        f"- probes: {amx_text.replace(chr(10), '; ')}; "
        f"{fma_text.replace(chr(10), '; ')}",
        *[f"- {n}" for n in args.note], "",
        "| case | " + " | ".join(cols + ratios) +
        " | AMX GFLOP/s | of AMX peak |" + "".join(
            f" {c} |" for c in err_cols),
        "|---|" + "---|" * (len(cols) + len(ratios) + 2 + len(err_cols)),
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
        errs = ""
        for side in checked if accuracy else []:
            got = accurate.get((label, side), {})
            errs += (f" {got['max_abs_err']:.2e} / {got['max_rel_err']:.2e} |"
                     if "max_abs_err" in got else " n/a |")
        lines.append(f"| {label} | " + " | ".join(row) +
                     f" | {gflops:.0f} | {share} |" + errs)
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
