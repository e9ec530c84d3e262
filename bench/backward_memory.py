#!/usr/bin/env python3
"""Peak memory of the fused backward (a measurement, not a test).

    PYTHONPATH=build/python python bench/backward_memory.py \
        [--batch 1 --heads 2 --seq 16384 --dim 64] [--out FILE.md]

Each case runs in its own process: it compiles the forward and the
backward, makes q, k, v, dO (float32, B H S D), runs the forward (O and
LSE), records its resident set size (VmRSS), resets the peak (VmHWM, by
writing 5 to /proc/self/clear_refs) and runs the backward once; the peak
during the backward minus the RSS before it is what the backward added on
top of its inputs and the compiled code: its gradients (the size of q, k
and v, allocated by Kernel.backward), Delta, per-thread scratch and, with
operand gradients, their accumulators. Cases: causal softmax (dQ, dK, dV); causal
sink softmax with the sink logits' gradient; causal with a learned
relative-bias table [H, 2 * 128 + 1] captured by a score_mod, with its
gradient. For scale, one [S, S] float32 score matrix per head is
S * S * 4 bytes (1 GiB at S = 16384).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

RADIUS = 128


def rel_bias(score, b, h, q_idx, kv_idx, table):
    import attn
    rel = attn.minimum(attn.maximum(kv_idx - q_idx, -RADIUS), RADIUS) + RADIUS
    return score + table[h, rel]


def _status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise KeyError(field)


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def run_case(case, B, H, S, D):
    import numpy as np

    import attn
    if case == "causal":
        spec, ops, caps, wrt = attn.Spec(attn.causal()), {}, (), ()
    elif case == "sink":
        spec = attn.Spec(attn.causal(), attn.sink_softmax())
        ops, caps, wrt = {"sink": np.zeros(H, np.float32)}, (), ("sink",)
    else:
        spec = attn.Spec(attn.causal(), score_mod=rel_bias)
        table = np.random.default_rng(1).standard_normal(
            (H, 2 * RADIUS + 1)).astype(np.float32) * 0.1
        ops, caps, wrt = {}, (table,), ("table",)
    fn = attn.compile(spec, dtype="float32", head_dim=D)
    fn._grad_kernel(wrt)
    rng = np.random.default_rng(0)
    q, k, v, do = (rng.standard_normal((B, H, S, D)).astype(np.float32)
                   for _ in range(4))
    o, lse = fn(q, k, v, *caps, return_lse=True, **ops)
    before = _status_mib("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    grads = fn.backward(q, k, v, o, lse, do, *caps, wrt=wrt, **ops)
    seconds = time.perf_counter() - t0
    after = _status_mib("VmHWM")
    assert all(np.isfinite(g).all() for g in grads)
    return {"case": case, "before_mib": before, "after_mib": after,
            "added_mib": after - before, "seconds": seconds,
            "grads_mib": sum(g.nbytes for g in grads) / 2 ** 20}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--seq", type=int, default=16384)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--cases", default="causal,sink,table")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_case(a.one, a.batch, a.heads, a.seq, a.dim)))
        return
    rows = []
    for case in a.cases.split(","):
        r = subprocess.run([sys.executable, __file__, "--one", case,
                            "--batch", str(a.batch), "--heads", str(a.heads),
                            "--seq", str(a.seq), "--dim", str(a.dim)],
                           capture_output=True, text=True, check=True)
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    shape = f"B{a.batch} H{a.heads} S{a.seq} D{a.dim} float32"
    lines = [f"# Peak memory of the fused backward, {shape}", "",
             f"`bench/backward_memory.py` on {platform.node()} "
             f"({os.cpu_count()} CPUs, shared), one process per case; "
             f"VmRSS before the backward, VmHWM (reset just before it) "
             f"during it. Inputs q, k, v, dO: "
             f"{4 * a.batch * a.heads * a.seq * a.dim * 4 / 2 ** 20:.0f} "
             f"MiB; one [S, S] f32 score matrix: "
             f"{a.seq * a.seq * 4 / 2 ** 20:.0f} MiB.", "",
             "| case | RSS before the backward (MiB) | peak during it (MiB) "
             "| added by the backward (MiB) | of which gradients (MiB) | "
             "backward time (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['before_mib']:.0f} | "
                     f"{r['after_mib']:.0f} | {r['added_mib']:.0f} | "
                     f"{r['grads_mib']:.1f} | {r['seconds']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
