#!/usr/bin/env python3
"""Instructions per key of the decoding kernel, counted in its assembly
(this VM has no hardware counters): compiles the decode kernel of each
cache format (causal, D128, GQA), disassembles its object code with
objdump and prints the innermost loops of the row kernel's work items
(the OpenMP body holding the Q K^T block loop), with their instruction
and FMA counts and what each is, judged by its instructions:

    PYTHONPATH=build/python python bench/decode_instr.py [--formats f32,bf16,int4]

Per key and kv head (H query heads a group): pack / dequantise loops run
once a key, Q K^T blocks once per `lanes` keys and head, P V once per key
and head (LLVM unrolls it by 2). Counts are static (one pass of each loop
body), not a profile.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

import numpy as np


def object_code(fmt, D):
    """The object code of the decode kernel for `fmt` (f32, bf16, or a
    quantized cache over bf16: int8, int4, int2, e4m3), compiled and run
    once on a small case with an empty kernel cache."""
    import attn
    from attn import api
    import ml_dtypes
    dtype = "float32" if fmt == "f32" else "bfloat16"
    et = np.float32 if fmt == "f32" else ml_dtypes.bfloat16
    B, Hq, Hkv, S = 1, 4, 1, 256
    rng = np.random.default_rng(0)
    q = rng.standard_normal((B, Hq, 1, D), dtype=np.float32).astype(et)
    k, v = (rng.standard_normal((B, Hkv, S, D), dtype=np.float32).astype(et)
            for _ in range(2))
    if fmt in ("f32", "bf16"):
        fn = attn.compile(attn.Spec(mask=attn.causal(), kv_len=True),
                          dtype=dtype, head_dim=D)
        fn(q, k, v, kv_len=np.full(B, S, np.int32))
    else:
        quant = (attn.Quant(format=fmt, scale_dtype="float32")
                 if fmt.startswith("e") else
                 attn.Quant(int(fmt[3:]), 32, "float16"))
        c = attn.quantize_kv(k, v, quant, dtype=dtype)
        fn = attn.compile(attn.Spec(mask=attn.causal(), quant=quant),
                          dtype=dtype, head_dim=D)
        fn(q, c.k, c.v, kv_quant=c, kv_len=c.kv_len)
    entries = glob.glob(os.path.join(api.cache_dir(), "*.attnobj"))
    assert len(entries) == 1, entries
    return api._read_entry(entries[0])


def inner_loops(asm):
    """(function, [instructions]) of each innermost loop: the body from a
    backward jump's target to the jump, holding no other such loop."""
    ins, func = [], None
    for line in asm.splitlines():
        m = re.match(r"[0-9a-f]+ <(.*)>:$", line)
        if m:
            func = m.group(1)
        m = re.match(r"\s+([0-9a-f]+):\s+(.*)", line)
        if m:
            ins.append((int(m.group(1), 16), m.group(2).strip(), func))
    at = {a: i for i, (a, _, _) in enumerate(ins)}
    loops = []
    for i, (a, text, _) in enumerate(ins):
        m = re.match(r"j\w+\s+([0-9a-f]+)", text)
        if m and int(m.group(1), 16) <= a and int(m.group(1), 16) in at:
            loops.append((at[int(m.group(1), 16)], i))
    inner = [(s, e) for s, e in loops
             if not any((s2, e2) != (s, e) and s <= s2 and e2 <= e
                        for s2, e2 in loops)]
    return [(ins[s][2], [t for _, t, _ in ins[s:e + 1]]) for s, e in inner]


def what(body, qk_fmas):
    fmas = sum("vfmadd" in t for t in body)
    stores = sum(bool(re.match(r"vmov\w+\s+[XYZ]MMWORD PTR \[", t))
                 for t in body)
    if fmas == qk_fmas:
        return "Q K^T, one block of keys", fmas
    if fmas and stores == 0 and any("vbroadcastss" in t for t in body):
        return "P V, keys (unrolled)", fmas
    if stores and any(re.match(r"vpmovzx|vcvtph2ps|vpslld", t)
                      for t in body):
        return "pack / dequantise, one key", fmas
    return "", fmas


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--formats", default="f32,bf16,int8,int4,int2,e4m3")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--min", type=int, default=20,
                    help="leave out loops shorter than this")
    args = ap.parse_args()
    for fmt in args.formats.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", fmt, str(args.dim)],
                capture_output=True, check=True,
                env=dict(os.environ, ATTN_CACHE_DIR=tmp))
            obj = os.path.join(tmp, "kernel.o")
            with open(obj, "wb") as f:
                f.write(out.stdout)
            asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn",
                                  "-M", "intel", obj], capture_output=True,
                                 text=True, check=True).stdout
        loops = inner_loops(asm)
        qk = 16 * args.dim // 16  # lanes keys x D / lanes FMAs (AVX-512)
        row = {f for f, body in loops
               if sum("vfmadd" in t for t in body) == qk}
        print(f"== {fmt}")
        for f, body in loops:
            if f in row and len(body) >= args.min:
                label, fmas = what(body, qk)
                print(f"  {len(body):4d} instructions, {fmas:3d} FMAs  "
                      f"{label}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        sys.stdout.buffer.write(object_code(sys.argv[2], int(sys.argv[3])))
    else:
        main()
