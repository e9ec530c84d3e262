"""Runs the GPU correctness checks that bench/gpu/prepare_checks.py wrote.

On a machine with an NVIDIA GPU and PyTorch only: loads each attn-aot
library, feeds it the saved arguments as CUDA tensors, and compares O (and
LSE) with the saved float64 reference: max|O - ref| / max|ref| within the
dtype's tolerance (f16 1e-3, bf16 8e-3); LSE absolute error scaled by
max(1, |LSE|), with -inf matching exactly. Exits 1 on any failure.

    python bench/gpu/check.py [--dir bench/gpu/checks]
"""

import argparse
import ctypes
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH = {"float32": torch.float32, "float16": torch.float16,
         "bfloat16": torch.bfloat16, "int32": torch.int32, "bool": torch.bool}


def memref(t):
    rank = t.dim()
    cls = type(f"MemRef{rank}", (ctypes.Structure,), {"_fields_": [
        ("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
        ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * rank),
        ("strides", ctypes.c_int64 * rank)]})
    d = cls()
    d.allocated = d.aligned = t.data_ptr()
    for i, (n, s) in enumerate(zip(t.shape, t.stride())):
        d.sizes[i], d.strides[i] = n, s
    return d


def to_device(array, dtype):
    if dtype == "bfloat16":
        return torch.from_numpy(array).view(torch.bfloat16).cuda()
    return torch.from_numpy(np.ascontiguousarray(array)).to(
        TORCH[dtype]).cuda()


def run_case(entry, directory):
    lib = ctypes.CDLL(os.path.join(directory, entry["lib"]))
    msg = ctypes.create_string_buffer(1024)
    if not lib.attnCudaStatus(msg, len(msg)):
        return f"no GPU: {msg.value.decode()}"
    data = np.load(os.path.join(directory, entry["data"]))
    tensors = []
    for a in entry["args"]:
        t = to_device(data[a["key"]], a["dtype"])
        if a["role"] == "output":
            t.zero_()
        tensors.append(t)
    descs = [memref(t) for t in tensors]
    lib._mlir_ciface_attention(*[ctypes.byref(d) for d in descs])
    torch.cuda.synchronize()
    if lib.attnCudaTakeError(msg, len(msg)):
        return f"runtime error: {msg.value.decode()}"
    outs = [t for t, a in zip(tensors, entry["args"]) if a["role"] == "output"]
    o = outs[0].float().cpu().numpy().astype(np.float64)
    ref = data["expected_o"]
    scale = max(np.abs(ref).max(), 1e-30)
    err = np.abs(o - ref).max() / scale
    worst = err
    notes = f"O {err:.2e}"
    if "expected_lse" in data and len(outs) > 1:
        lse = outs[1].cpu().numpy().astype(np.float64)
        rl = data["expected_lse"]
        inf_ok = np.array_equal(np.isneginf(lse), np.isneginf(rl))
        fin = np.isfinite(rl)
        lerr = (np.abs(lse[fin] - rl[fin]) / np.maximum(1, np.abs(rl[fin]))
                ).max() if fin.any() else 0.0
        worst = max(worst, lerr if inf_ok else np.inf)
        notes += f", LSE {lerr:.2e}{'' if inf_ok else ' (-inf mismatch)'}"
    ok = worst <= entry["tolerance"]
    return ("ok" if ok else "FAIL") + f" ({notes}; tolerance " \
        f"{entry['tolerance']:.0e})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=os.path.join(HERE, "checks"))
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench/gpu/check: no CUDA device; nothing to run")
        return 0
    print(f"device: {torch.cuda.get_device_name()}")
    with open(os.path.join(args.dir, "manifest.json")) as f:
        manifest = json.load(f)
    failures = 0
    for entry in manifest:
        try:
            result = run_case(entry, args.dir)
        except Exception as e:  # one broken case must not hide the rest
            result = f"FAIL (error: {e})"
        failures += not result.startswith("ok")
        print(f"{entry['name']}: {result}", flush=True)
    print(f"{len(manifest) - failures} ok, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
