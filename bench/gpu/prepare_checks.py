"""Prepares GPU correctness checks on this (CPU) machine.

For each variant below: the spec's MLIR (attn.to_mlir), a library from
attn-aot, seeded random inputs in exactly the form the compiled function
takes (Kernel.arguments), and the expected O / LSE from attn.reference
(numpy float64, independent of the compiler). Everything goes to
bench/gpu/checks/ and travels to the GPU machine, where bench/gpu/check.py
runs the libraries and compares: no LLVM, MLIR or attn package is needed
there.

    PYTHONPATH=build/python .venv/bin/python bench/gpu/prepare_checks.py \
        [--chip sm_90a] [--mma auto,sync]
"""

import argparse
import json
import os
import subprocess
import sys
import zlib

import ml_dtypes
import numpy as np

import attn
from attn import reference

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = {"float16": 1e-3, "bfloat16": 8e-3}
NP = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def softcap20(score, b, h, q_idx, kv_idx):
    return 20.0 * attn.tanh(score / 20.0)


def head_bias(score, b, h, q_idx, kv_idx, table):
    return score + table[h, attn.minimum(attn.abs(q_idx - kv_idx), 15)]


def every_third(b, h, q_idx, kv_idx):
    return ((q_idx - kv_idx) % 3 != 1) & (kv_idx <= q_idx)


def case(name, spec, dtype, d, shape, dv=None, operands=None, captures=None):
    return dict(name=name, spec=spec, dtype=dtype, d=d, dv=dv or d,
                shape=shape, operands=operands or (lambda rng, s: {}),
                captures=captures or (lambda rng, s: []))


def documents(rng, s):
    b, sq, skv = s["B"], s["Sq"], s["Skv"]
    ids = np.zeros((b, skv), np.int32)
    for row in range(b):
        cuts = np.sort(rng.choice(np.arange(1, skv - 20), 3, replace=False))
        ids[row] = np.searchsorted(cuts, np.arange(skv), side="right")
        if row % 2:
            ids[row, -20:] = -2  # padding keys
    seg_q = ids[:, skv - sq:].copy()
    seg_q[1::2, -20:] = -1  # padding queries see nothing
    return {"segments": (seg_q, ids)}


CASES = [
    case("causal_f16_d64", attn.Spec(mask=attn.causal()), "float16", 64,
         dict(B=2, Hq=4, Hkv=2, Sq=200, Skv=200)),
    case("full_bf16_d128_cross", attn.Spec(), "bfloat16", 128,
         dict(B=2, Hq=4, Hkv=4, Sq=67, Skv=129)),
    case("causal_f16_fully_masked_rows", attn.Spec(mask=attn.causal()),
         "float16", 64, dict(B=1, Hq=2, Hkv=1, Sq=130, Skv=70)),
    case("window48_gqa_bf16_d128",
         attn.Spec(mask=attn.sliding_window(48) & attn.causal()), "bfloat16",
         128, dict(B=1, Hq=8, Hkv=2, Sq=257, Skv=257)),
    case("document_causal_bf16",
         attn.Spec(mask=attn.document() & attn.causal()), "bfloat16", 64,
         dict(B=2, Hq=2, Hkv=2, Sq=190, Skv=190), operands=documents),
    case("alibi_causal_f16",
         attn.Spec(mask=attn.causal(), score_mod=attn.alibi()), "float16", 64,
         dict(B=1, Hq=4, Hkv=4, Sq=150, Skv=150)),
    case("streaming_softcap_bf16",
         attn.Spec(mask=(attn.sinks(4) | attn.sliding_window(32))
                   & attn.causal(), score_mod=softcap20), "bfloat16", 64,
         dict(B=1, Hq=4, Hkv=2, Sq=300, Skv=300)),
    case("chunked_causal_bf16",
         attn.Spec(mask=attn.chunked(32) & attn.causal()), "bfloat16", 64,
         dict(B=1, Hq=2, Hkv=2, Sq=170, Skv=170)),
    case("sigmoid_f16", attn.Spec(normalizer=attn.sigmoid()), "float16", 64,
         dict(B=1, Hq=4, Hkv=4, Sq=100, Skv=160)),
    case("softplus_f16", attn.Spec(normalizer=attn.softplus()), "float16", 64,
         dict(B=1, Hq=2, Hkv=2, Sq=90, Skv=90)),
    case("relu2_rowsum_f16",
         attn.Spec(mask=attn.causal(), normalizer=attn.relu(2, "row_sum")),
         "float16", 64, dict(B=1, Hq=2, Hkv=2, Sq=80, Skv=80)),
    case("sink_softmax_f16",
         attn.Spec(mask=attn.causal(), normalizer=attn.sink_softmax()),
         "float16", 64, dict(B=2, Hq=4, Hkv=2, Sq=64, Skv=64),
         operands=lambda rng, s: {"sink": rng.standard_normal(
             s["Hq"]).astype(np.float32)}),
    case("bshd_kvlen_decode_bf16",
         attn.Spec(mask=attn.causal(), layout="bshd", kv_len=True),
         "bfloat16", 128, dict(B=3, Hq=8, Hkv=2, Sq=3, Skv=300),
         operands=lambda rng, s: {"kv_len": np.array([300, 151, 3],
                                                     np.int32)}),
    case("d32_dv64_f16", attn.Spec(mask=attn.causal()), "float16", 32,
         dict(B=1, Hq=2, Hkv=1, Sq=77, Skv=77), dv=64),
    case("score_mod_capture_f16",
         attn.Spec(mask=attn.causal(), score_mod=head_bias), "float16", 64,
         dict(B=1, Hq=4, Hkv=4, Sq=96, Skv=96),
         captures=lambda rng, s: [rng.standard_normal(
             (s["Hq"], 16)).astype(np.float32)]),
    case("mask_mod_f16", attn.Spec(mask=every_third), "float16", 64,
         dict(B=1, Hq=2, Hkv=2, Sq=100, Skv=100)),
    case("dense_bias_f16",
         attn.Spec(mask=attn.dense(), score_mod=attn.bias()), "float16", 64,
         dict(B=2, Hq=2, Hkv=2, Sq=70, Skv=90),
         operands=lambda rng, s: {
             "dense_mask": (rng.random((s["B"], 1, s["Sq"], s["Skv"])) < 0.6)
             & (np.arange(s["Sq"]) % 7 != 3)[None, None, :, None],
             "bias": rng.standard_normal(
                 (1, s["Hq"], s["Sq"], s["Skv"])).astype(np.float16)}),
    # Block masks: 64 x 64 blocks align with the GPU tiles (classified per
    # tile, no per-element reads); 32 x 48 do not (classified, and read per
    # element on partial tiles). Some query blocks keep no kv block at all.
    case("block_sparse_causal_bf16",
         attn.Spec(mask=attn.block_sparse(64, 64) & attn.causal()),
         "bfloat16", 128, dict(B=2, Hq=4, Hkv=2, Sq=300, Skv=300),
         operands=lambda rng, s: {"block_mask": rng.random(
             (s["B"], 1, -(-s["Sq"] // 64), -(-s["Skv"] // 64))) < 0.5}),
    case("block_sparse_unaligned_f16",
         attn.Spec(mask=attn.block_sparse(32, 48)), "float16", 64,
         dict(B=1, Hq=2, Hkv=1, Sq=200, Skv=250),
         operands=lambda rng, s: {"block_mask": rng.random(
             (1, s["Hq"], -(-s["Sq"] // 32), -(-s["Skv"] // 48))) < 0.4}),
    case("tree_f16", attn.Spec(mask=attn.tree()), "float16", 64,
         dict(B=1, Hq=2, Hkv=2, Sq=10, Skv=40),
         operands=lambda rng, s: {"tree": np.array([-1, 0, 0, 1, -1, 4],
                                                   np.int32)}),
]


def inputs(c):
    """Case `c`'s seeded inputs: q, k, v, operands, captures (also what the
    GPU emulator's sweep feeds the same kernels)."""
    rng = np.random.default_rng(zlib.crc32(c["name"].encode()))
    s, dt = c["shape"], c["dtype"]
    bshd = c["spec"].layout == "bshd"
    qs = (s["B"], s["Sq"], s["Hq"]) if bshd else (s["B"], s["Hq"], s["Sq"])
    ks = (s["B"], s["Skv"], s["Hkv"]) if bshd else (s["B"], s["Hkv"], s["Skv"])
    q = rng.standard_normal(qs + (c["d"],)).astype(NP[dt])
    k = rng.standard_normal(ks + (c["d"],)).astype(NP[dt])
    v = rng.standard_normal(ks + (c["dv"],)).astype(NP[dt])
    operands = c["operands"](rng, s)
    captures = c["captures"](rng, s)
    return q, k, v, operands, captures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chip", default=os.environ.get("CHIP", "sm_90a"))
    ap.add_argument("--format", default=os.environ.get("FORMAT", "bin"))
    # Every kernel variant of the chip gets checked: on sm_90a the default
    # (wgmma + TMA where head dims allow) and mma.sync.
    ap.add_argument("--mma", default=None,
                    help="comma-separated attn-aot --mma values (default: "
                         "auto,sync on sm_90a, auto on sm_80)")
    ap.add_argument("--attn-aot", default=os.path.join(
        os.environ.get("ATTN_BUILD_DIR", "build"), "bin", "attn-aot"))
    args = ap.parse_args()
    variants = (args.mma or ("auto,sync" if args.chip == "sm_90a"
                             else "auto")).split(",")
    out_dir = os.path.join(HERE, "checks")
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    for c in CASES:
        dt = c["dtype"]
        q, k, v, operands, captures = inputs(c)
        # The CPU kernel object gives the exact argument arrays; the
        # expected values come from the float64 reference.
        kernel = attn.compile(c["spec"], dtype=dt, head_dim=c["d"],
                              head_dim_v=c["dv"])
        arrays, _ = kernel.arguments(q, k, v, *captures, **operands)
        has_lse = kernel.signature.has_lse
        expected = reference.attention(c["spec"], q, k, v, *captures,
                                       return_lse=has_lse, **operands)
        ref_o, ref_lse = expected if has_lse else (expected, None)
        # Self-check: the CPU kernel, run on exactly these arrays, agrees
        # with the expected values, so a GPU mismatch is the GPU's.
        kernel._native.call([(a.ctypes.data, list(a.shape)) for a in arrays])
        cpu_o = arrays[-2] if has_lse else arrays[-1]
        cpu_err = np.abs(cpu_o.astype(np.float64) - ref_o).max() / max(
            np.abs(ref_o).max(), 1e-30)
        if cpu_err > TOLERANCE[dt]:
            raise SystemExit(f"{c['name']}: the CPU kernel is off by "
                             f"{cpu_err:.2e}; fix that first")
        for a in arrays[len(arrays) - (2 if has_lse else 1):]:
            a[...] = 0  # outputs travel zeroed
        text = attn.to_mlir(c["spec"], dtype=dt, head_dim=c["d"],
                            head_dim_v=c["dv"])
        mlir = os.path.join(out_dir, c["name"] + ".mlir")
        with open(mlir, "w") as f:
            f.write(text)
        libs = {}
        for mma in variants:
            libs[mma] = c["name"] + ("" if mma == "auto" else "." + mma) + ".so"
            subprocess.run([args.attn_aot, mlir, f"--chip={args.chip}",
                            f"--format={args.format}", f"--mma={mma}", "-o",
                            os.path.join(out_dir, libs[mma])], check=True)
        data, arg_list = {}, []
        for i, (a, spec_arg) in enumerate(zip(arrays,
                                              kernel.signature.args)):
            key = f"arg{i}"
            dtype = "bfloat16" if a.dtype == NP["bfloat16"] else a.dtype.name
            data[key] = a.view(np.uint16) if dtype == "bfloat16" else a
            arg_list.append(dict(key=key, name=spec_arg.name,
                                 role=spec_arg.role, dtype=dtype,
                                 shape=list(a.shape)))
        data["expected_o"] = ref_o
        if ref_lse is not None:
            data["expected_lse"] = ref_lse
        np.savez_compressed(os.path.join(out_dir, c["name"] + ".npz"), **data)
        for mma, lib in libs.items():
            manifest.append(dict(
                name=c["name"] + ("" if mma == "auto" else f" [mma={mma}]"),
                lib=lib, data=c["name"] + ".npz", args=arg_list,
                tolerance=TOLERANCE[dt], chip=args.chip, mma=mma))
        print(f"prepared {c['name']} (CPU kernel: {cpu_err:.1e})")
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
