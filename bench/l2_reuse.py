"""CPU time of the f32 forward against the q-tiles per work item
(`#attn.config q_blocks`): each work item runs each L2-sized chunk of kv
tiles against its q-tiles in turn, so that a head's K and V come from
beyond L2 once per item instead of once per q-tile.

    source .venv/bin/activate
    python bench/l2_reuse.py [--threads 1] [--rounds 3] \
        [--variants auto,1,4,8] [--base-pythonpath OLD/build/python] \
        [--cases B1H2S4096D64,B1H2S2048D128,B1H2S8192D64] [--causal] [--wall]

Every (round, case, variant) runs in a fresh process (OMP_NUM_THREADS =
--threads) that compiles the kernel, calls it once, then times --reps
calls in CPU time (`time.process_time`, all threads summed; `--wall`:
wall-clock time) and reports the median; rounds alternate the variants, so that a noisy stretch of a
shared machine hits them alike. `--base-pythonpath` adds the variant
"base": the default config of another build (the before of a change).
Prints per case the median over rounds, the share of --peak (GFLOP/s of
FMA per thread, bench/peak/fma_peak.c) and the ratio to the first
variant. Results: results/2026-12-07-f32-l2.md.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time


def worker(args):
    import numpy as np
    import attn
    b, h, s, d = (int(x) for x in
                  re.fullmatch(r"B(\d+)H(\d+)S(\d+)D(\d+)", args.case).groups())
    config = {} if args.variant in ("auto", "base") else \
        {"q_blocks": int(args.variant)}
    mask = attn.causal() if args.causal else None
    fn = attn.compile(attn.Spec(mask=mask, config=config), dtype="float32",
                      head_dim=d, cache=False, tuning=False)
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((b, h, s, d), dtype=np.float32)
               for _ in range(3))
    fn(q, k, v)
    clock = time.perf_counter if args.wall else time.process_time
    times = []
    for _ in range(args.reps):
        t = clock()
        fn(q, k, v)
        times.append(clock() - t)
    print(json.dumps({"median_s": statistics.median(times)}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--variants", default="auto,1,4,8",
                   help="q_blocks values; auto: unset (the plan's choice)")
    p.add_argument("--base-pythonpath", default="",
                   help="build/python of the before build (variant 'base')")
    p.add_argument("--cases", default="B1H2S4096D64,B1H2S2048D128,"
                                      "B1H2S8192D64")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--wall", action="store_true",
                   help="wall-clock time instead of CPU time")
    p.add_argument("--peak", type=float, default=246.6,
                   help="FMA GFLOP/s of one thread")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    variants = (["base"] if args.base_pythonpath else []) + \
        args.variants.split(",")
    cases = args.cases.split(",")
    here = os.path.dirname(os.path.abspath(__file__))
    own = os.path.join(here, "..", "build", "python")
    runs = {}
    print(f"start: {os.popen('uptime').read().strip()}", flush=True)
    for _ in range(args.rounds):
        for case in cases:
            for variant in variants:
                path = args.base_pythonpath if variant == "base" else own
                env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
                           PYTHONPATH=path)
                cmd = [sys.executable, __file__, "--worker", "--case", case,
                       "--variant", variant, "--reps", str(args.reps)]
                cmd += [f"--{flag}" for flag in ("causal", "wall")
                        if getattr(args, flag)]
                out = subprocess.run(cmd, env=env, capture_output=True,
                                     text=True)
                if out.returncode != 0:
                    sys.exit(f"{case} {variant} failed:\n{out.stderr}")
                line = out.stdout.strip().splitlines()[-1]
                runs.setdefault((case, variant), []).append(
                    json.loads(line)["median_s"])
    print(f"end:   {os.popen('uptime').read().strip()}")
    mask = "causal" if args.causal else "full"
    clock = "wall-clock time" if args.wall else "CPU time"
    print(f"\n{mask}, f32, {args.threads} thread(s), {clock}, median of "
          f"{args.rounds} alternating rounds (each the median of "
          f"{args.reps} calls)\n")
    print("| case | q_blocks | ms | % of FMA peak | vs "
          f"{variants[0]} | rounds (ms) |")
    print("|---|---|---|---|---|---|")
    for case in cases:
        b, h, s, d = (int(x) for x in re.fullmatch(
            r"B(\d+)H(\d+)S(\d+)D(\d+)", case).groups())
        flops = 4 * b * h * s * s * d * (0.5 if args.causal else 1.0)
        first = statistics.median(runs[(case, variants[0])])
        for variant in variants:
            ts = runs[(case, variant)]
            med = statistics.median(ts)
            share = flops / med / (args.peak * 1e9 * args.threads) * 100
            print(f"| {case} | {variant} | {med * 1e3:.2f} | {share:.1f}% | "
                  f"{med / first:.3f} | "
                  f"{', '.join(f'{t * 1e3:.1f}' for t in ts)} |")


if __name__ == "__main__":
    main()
