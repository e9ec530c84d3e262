"""Runs one target='cuda' kernel call against the fake libcuda.so.1 (which
test_fake_driver.py puts on LD_LIBRARY_PATH) and prints, as JSON, what the
generated host code asked the driver for: the launch and the last tensor
map. Kernels never run there, so outputs are not looked at.

usage: fake_cuda_launch.py LAYOUT MMA B HQ HKV SQ SKV D"""

import ctypes
import json
import sys

import ml_dtypes
import numpy as np

import attn


class Record(ctypes.Structure):
    # FakeCudaRecord in test/Unit/FakeCuda.h.
    _fields_ = [(name, ctypes.c_int) for name in (
        "memAlloc", "memFree", "ctxSynchronize", "streamCreate",
        "streamDestroy", "launches", "setMaxDynamicShared",
        "tensorMapEncodes")] + [
        ("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3),
        ("sharedBytes", ctypes.c_uint), ("dataType", ctypes.c_int),
        ("base", ctypes.c_void_p), ("dims", ctypes.c_uint64 * 4),
        ("strides", ctypes.c_uint64 * 3), ("box", ctypes.c_uint * 4),
        ("swizzle", ctypes.c_int), ("oobFill", ctypes.c_int)]


def main():
    layout, mma = sys.argv[1], sys.argv[2]
    b, hq, hkv, sq, skv, d = (int(x) for x in sys.argv[3:])
    spec = attn.Spec(mask=attn.causal(), layout=layout)
    fn = attn.compile(spec, target="cuda", dtype="bfloat16", head_dim=d,
                      chip="sm_90a", mma=mma)

    def shape(h, s):
        return (b, s, h, d) if layout == "bshd" else (b, h, s, d)
    q = np.zeros(shape(hq, sq), ml_dtypes.bfloat16)
    k = np.zeros(shape(hkv, skv), ml_dtypes.bfloat16)
    v = np.zeros(shape(hkv, skv), ml_dtypes.bfloat16)
    fn(q, k, v)
    lib = ctypes.CDLL("libcuda.so.1")
    lib.fakeCudaRecord.restype = ctypes.POINTER(Record)
    rec = lib.fakeCudaRecord().contents
    print(json.dumps({
        "launches": rec.launches, "grid": list(rec.grid),
        "block": list(rec.block), "shared": rec.sharedBytes,
        "encodes": rec.tensorMapEncodes,
        "dataType": rec.dataType, "dims": list(rec.dims),
        "strides": list(rec.strides), "box": list(rec.box),
        "swizzle": rec.swizzle}))


if __name__ == "__main__":
    main()
