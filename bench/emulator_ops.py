"""Instructions a GPU kernel runs, counted by the GPU emulator (no GPU).

Runs a dense f16 problem, D = 64, on target="cuda-emulator" with
$ATTN_EMULATOR_TRACE set and counts the instructions with a result that
CTA (0, 0) executes (LLVM/NVVM-dialect ops as the emulator interprets
them, once per lock-step group: per thread). With --nan, V[key 5, column
3] is NaN, which flags one kv tile of CTA 0 (README "Masked keys").
Compare builds by PYTHONPATH:

    PYTHONPATH=build/python .venv/bin/python bench/emulator_ops.py \\
        --chip sm_80 --sq 64 --skv 1024 [--nan]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys


def _run(args):
    import numpy as np

    import attn
    fn = attn.compile(attn.Spec(), target="cuda-emulator", chip=args.chip,
                      dtype="float16", head_dim=64)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 1, s, 64)).astype(np.float16)
               for s in (args.sq, args.skv, args.skv))
    if args.nan:
        v[0, 0, 5, 3] = np.nan
    fn(q, k, v)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chip", default="sm_80", choices=("sm_80", "sm_90a"))
    p.add_argument("--sq", type=int, default=64)
    p.add_argument("--skv", type=int, default=1024)
    p.add_argument("--nan", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return _run(args)
    env = dict(os.environ, ATTN_EMULATOR_TRACE="1")
    r = subprocess.run([sys.executable, __file__, "--child"] + sys.argv[1:],
                       env=env, capture_output=True, text=True, check=True)
    count = sum(bool(re.match(r"\d+ \S+ t0:", line))
                for line in r.stderr.splitlines())
    print(f"{args.chip} sq={args.sq} skv={args.skv} nan={args.nan}: "
          f"{count} instructions (CTA 0)")


if __name__ == "__main__":
    main()
