"""Before/after timing of two attn builds on the CPU benchmark's kernels.

    python bench/compare.py --before OLD/bin/attn-run --after build/bin/attn-run \
        [--rounds 5] [--out bench/results/DATE-compare.md]

For a change that should not alter speed (a refactor) or should improve it:
both attn-run binaries run every case of bench/cases in alternation, round
after round in the same process tree, so that the machine's noise falls on
both alike. Each call is attn-run's median of --repeat runs after a warm-up;
the table gives the median over rounds and the after/before ratio. No
reference is computed (--no-reference): correctness is the test suite's job.
"""

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

# (kernel file, shape, label[, extra attn-run arguments]): the bench's f32 cases (and one bf16) at sizes that take
# 10-200 ms with 2 threads, so that a round stays short.
CASES = [
    ("full_d64.mlir", "B=1,Hq=8,Sq=1024,Skv=1024", "full D64 S1024"),
    ("causal_d64.mlir", "B=1,Hq=8,Sq=2048,Skv=2048", "causal D64 S2048"),
    ("causal_d128.mlir", "B=1,Hq=16,Sq=1024,Skv=1024", "causal D128 S1024"),
    ("sliding_window_d64.mlir", "B=1,Hq=8,Sq=4096,Skv=4096",
     "window 256 D64 S4096"),
    ("streaming_llm_d64.mlir", "B=1,Hq=8,Sq=4096,Skv=4096",
     "StreamingLLM D64 S4096"),
    ("full_d128.mlir", "B=8,Hq=32,Sq=1,Skv=4096", "decode D128 Skv4096"),
    # Masks whose tiles are classified at run time from operand data.
    ("document_d64.mlir", "B=1,Hq=8,Sq=4096,Skv=4096",
     "document x8 causal D64 S4096", ["--num-docs=8"]),
    ("block_sparse_d64.mlir", "B=1,Hq=8,Sq=4096,Skv=4096",
     "block-sparse 128 D64 S4096"),
    ("dense_d64.mlir", "B=1,Hq=8,Sq=2048,Skv=2048", "dense D64 S2048"),
    # bf16 (AMX where the host has it).
    ("causal_d128_bf16.mlir", "B=1,Hq=16,Sq=1024,Skv=1024",
     "bf16 causal D128 S1024"),
]


def run(attn_run, kernel, shape, repeat, extra=()):
    cmd = [attn_run, os.path.join(HERE, "cases", kernel), f"--repeat={repeat}",
           f"--shape={shape}", "--no-reference", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    m = re.search(r"ms=([0-9.]+)", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="attn-run of the old build")
    ap.add_argument("--after", required=True, help="attn-run of the new build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="write the table (Markdown) here too")
    ap.add_argument("--note", default="", help="a line on what is compared")
    ap.add_argument("--only", default="",
                    help="run only the cases whose label contains one of "
                         "these comma-separated words")
    args = ap.parse_args()
    if args.only:
        words = [w.strip() for w in args.only.split(",") if w.strip()]
        CASES[:] = [c for c in CASES if any(w in c[2] for w in words)]
        if not CASES:
            ap.error(f"--only {args.only!r} matches no case")
    times = {c[2]: {"before": [], "after": []} for c in CASES}
    for r in range(args.rounds):
        for kernel, shape, label, *extra in CASES:
            # Alternate which build goes first, so neither always runs on a
            # warmer (or busier) machine.
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for side in order:
                binary = args.before if side == "before" else args.after
                times[label][side].append(run(binary, kernel, shape,
                                              args.repeat, *extra))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    lines = [f"# attn CPU before/after ({datetime.date.today()})", ""]
    if args.note:
        lines += [args.note, ""]
    lines += [f"- machine: {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores; before `{args.before}`, after "
              f"`{args.after}`; {args.rounds} alternating rounds of attn-run "
              f"--repeat={args.repeat} (median of each), f32, 2 threads "
              f"unless OMP_NUM_THREADS says otherwise", "",
              "| case | before ms | after ms | after / before | spread (min-max ratio over rounds) |",
              "|---|---|---|---|---|"]
    for kernel, shape, label, *_ in CASES:
        b = statistics.median(times[label]["before"])
        a = statistics.median(times[label]["after"])
        ratios = [x / y for x, y in zip(times[label]["after"],
                                        times[label]["before"])]
        lines.append(f"| {label} | {b:.2f} | {a:.2f} | {a / b:.3f} | "
                     f"{min(ratios):.2f}-{max(ratios):.2f} |")
    write_table(lines, args.out)


def write_table(lines, out=None):
    """Prints the Markdown lines, and writes them to `out` if given."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
