"""Runs target='cuda' kernel calls against the fake libcuda.so.1 (which
test_fake_driver.py puts on LD_LIBRARY_PATH) and prints, as JSON, what the
generated host code and the Python layer asked the driver for. Kernels
never run there, so outputs are not looked at.

usage: fake_cuda_launch.py launch LAYOUT MMA B HQ HKV SQ SKV D
         one call on host arrays: the launch and the last tensor map
       fake_cuda_launch.py device
         calls on arrays already on the GPU: copies and allocations made,
         the addresses passed, and the errors raised for bad ones"""

import ctypes
import json
import sys
import types

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
        ("swizzle", ctypes.c_int), ("oobFill", ctypes.c_int),
        ("memcpys", ctypes.c_int)]


def record():
    lib = ctypes.CDLL("libcuda.so.1")
    lib.fakeCudaRecord.restype = ctypes.POINTER(Record)
    return lib.fakeCudaRecord().contents


def launch(layout, mma, *sizes):
    b, hq, hkv, sq, skv, d = (int(x) for x in sizes)
    spec = attn.Spec(mask=attn.causal(), layout=layout)
    fn = attn.compile(spec, target="cuda", dtype="bfloat16", head_dim=d,
                      chip="sm_90a", mma=mma)

    def shape(h, s):
        return (b, s, h, d) if layout == "bshd" else (b, h, s, d)
    q = np.zeros(shape(hq, sq), ml_dtypes.bfloat16)
    k = np.zeros(shape(hkv, skv), ml_dtypes.bfloat16)
    v = np.zeros(shape(hkv, skv), ml_dtypes.bfloat16)
    fn(q, k, v)
    rec = record()
    return {
        "launches": rec.launches, "grid": list(rec.grid),
        "block": list(rec.block), "shared": rec.sharedBytes,
        "encodes": rec.tensorMapEncodes,
        "dataType": rec.dataType, "dims": list(rec.dims),
        "strides": list(rec.strides), "box": list(rec.box),
        "swizzle": rec.swizzle}


class Foreign:
    """A GPU array of another library, seen only through
    __cuda_array_interface__ (as CuPy or Numba arrays are)."""

    def __init__(self, ptr, shape, typestr, strides=None, readonly=False,
                 stream=None):
        self.__cuda_array_interface__ = {
            "version": 3, "shape": shape, "typestr": typestr,
            "data": (ptr, readonly), "strides": strides, "stream": stream}


def fake_torch():
    """A stand-in for the parts of PyTorch that attn's device path uses
    (CUDA tensors by data_ptr, torch.empty, the current stream), over
    attn.DeviceArray memory; PyTorch itself is not installed here."""
    torch = types.ModuleType("torch")
    names = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16,
             "float32": np.float32, "float64": np.float64, "int8": np.int8,
             "int16": np.int16, "int32": np.int32, "int64": np.int64,
             "uint8": np.uint8, "bool": np.bool_}
    class DType:  # hashable, as torch.dtype is
        def __init__(self, name):
            self.name = name

    for name in names:
        setattr(torch, name, DType(name))
    torch.syncs = 0

    class Device:
        def __init__(self, spec):
            self.type, _, index = spec.partition(":")
            self.index = int(index) if index else None

        def __str__(self):
            return self.type + ("" if self.index is None else f":{self.index}")

    class Tensor:
        def __init__(self, shape, dtype, device="cuda:0", contiguous=True):
            self.shape, self.dtype = tuple(shape), dtype
            self.device = Device(device)
            self.memory = attn.DeviceArray(shape, names[dtype.name])
            self.contiguous = contiguous

        def data_ptr(self):
            return self.memory.ptr

        def is_contiguous(self):
            return self.contiguous

    Tensor.__module__ = "torch"

    class Stream:
        def synchronize(self):
            torch.syncs += 1

    torch.Tensor = Tensor
    torch.empty = lambda shape, dtype, device: Tensor(
        shape, dtype, f"{device.type}:{device.index or 0}")
    torch.cuda = types.SimpleNamespace(current_stream=lambda device: Stream())
    return torch


def device():
    """Observations of calls with q, k and v on the GPU, by scenario."""
    rec = record()
    seen = {}

    def counted(name, call):
        before = (rec.memAlloc, rec.memcpys, rec.launches)
        result = call()
        seen[name] = {"allocs": rec.memAlloc - before[0],
                      "copies": rec.memcpys - before[1],
                      "launches": rec.launches - before[2]}
        return result

    def error(name, call):
        try:
            call()
            seen[name] = None
        except (ValueError, TypeError) as e:
            seen[name] = f"{type(e).__name__}: {e}"

    b, h, s, d = 2, 4, 70, 64
    rng = np.random.default_rng(0)
    host = rng.standard_normal((b, h, s, d)).astype(ml_dtypes.bfloat16)
    seen["round_trip"] = bool(
        (attn.to_device(host).numpy().view(np.uint16) ==
         host.view(np.uint16)).all())
    q, k, v = (attn.to_device(host) for _ in range(3))
    sync = attn.compile(attn.causal(), target="cuda", dtype="bfloat16",
                        head_dim=d, chip="sm_80", mma="sync")
    counted("host_call", lambda: sync(host, host, host))
    o = counted("device_call", lambda: sync(q, k, v))
    seen["device_out"] = [type(o).__name__, list(o.shape)]
    o2, lse2 = attn.DeviceArray(o.shape, o.dtype), \
        attn.DeviceArray((b, h, s), np.float32)
    got = counted("given_outputs",
                  lambda: sync(q, k, v, out=o2, lse=lse2, return_lse=True))
    seen["given_returned"] = got[0] is o2 and got[1] is lse2
    # Operands on the host or on the GPU: checked and copied in.
    doc = attn.compile(attn.document() & attn.causal(), target="cuda",
                       dtype="bfloat16", head_dim=d, chip="sm_80", mma="sync")
    ids = np.repeat(np.arange(b * s, dtype=np.int32) // 30, 1).reshape(b, s)
    counted("host_ids", lambda: doc(q, k, v, segments=(ids, ids)))
    dev_ids = attn.to_device(ids)
    counted("device_ids", lambda: doc(q, k, v, segments=(dev_ids, dev_ids)))
    # The wgmma kernel's tensor maps point at the caller's K and V.
    wg = attn.compile(attn.causal(), target="cuda", dtype="bfloat16",
                      head_dim=d, chip="sm_90a")
    wg(q, k, v)
    seen["map_base_is_v"] = rec.base == v.ptr
    # Arrays from elsewhere, through __cuda_array_interface__.
    f16 = attn.compile(attn.causal(), target="cuda", dtype="float16",
                       head_dim=d, chip="sm_80", mma="sync")
    fq, fk, fv = (Foreign(x.ptr, x.shape, "<f2") for x in (q, k, v))
    seen["foreign_out"] = type(f16(fq, fk, fv)).__name__
    error("foreign_bf16", lambda: sync(q, Foreign(k.ptr, k.shape, "<V2"), v))
    strided = Foreign(k.ptr, (b, h, s, d), "<f2",
                      strides=(h * s * d * 2, s * d * 2, 2, s * 2))
    error("strided", lambda: f16(fq, strided, fv))
    error("host_address", lambda: f16(
        fq, Foreign(host.ctypes.data, host.shape, "<f2"), fv))
    error("short_buffer", lambda: f16(
        fq, *(Foreign(x.ptr, (b, h, s + 1, d), "<f2") for x in (k, v))))
    error("mixed", lambda: sync(q, host, host))
    error("strided_operand", lambda: doc(q, k, v, segments=(Foreign(
        dev_ids.ptr, (b, s), "<i4", strides=(4, 4 * b)), ids)))
    error("host_operand_on_gpu", lambda: doc(host, host, host,
                                             segments=(dev_ids, ids)))
    cpu = attn.compile(attn.causal(), dtype="bfloat16", head_dim=d)
    error("cpu_target", lambda: cpu(q, k, v))
    error("out_shape", lambda: sync(q, k, v, out=attn.DeviceArray(
        (b, h, s, d + 1), o.dtype)))
    error("out_on_host", lambda: sync(q, k, v, out=np.empty(o.shape,
                                                            o.dtype)))
    error("out_readonly", lambda: f16(fq, fk, fv, out=Foreign(
        o2.ptr, o2.shape, "<f2", readonly=True)))
    error("out_for_host_call", lambda: sync(host, host, host, out=o2))
    kvl = attn.compile(attn.Spec(kv_len=True), target="cuda",
                       dtype="bfloat16", head_dim=d, chip="sm_80",
                       mma="sync")
    error("kv_len_checked", lambda: kvl(
        q, k, v, kv_len=attn.to_device(np.array([3, s + 5], np.int32))))
    # PyTorch CUDA tensors: outputs are tensors on q's device, and torch's
    # current stream is waited for.
    torch = sys.modules["torch"] = fake_torch()
    tq, tk, tv = (torch.Tensor((b, h, s, d), torch.bfloat16)
                  for _ in range(3))
    to, tlse = counted("torch_call", lambda: sync(tq, tk, tv,
                                                   return_lse=True))
    seen["torch_out"] = [type(to).__module__, to.dtype.name,
                         list(to.shape), tlse.dtype.name, torch.syncs]
    error("torch_device_1", lambda: sync(
        tq, torch.Tensor((b, h, s, d), torch.bfloat16, "cuda:1"), tv))
    error("torch_strided", lambda: sync(
        tq, torch.Tensor((b, h, s, d), torch.bfloat16, contiguous=False),
        tv))
    return seen


if __name__ == "__main__":
    what = sys.argv[1]
    print(json.dumps(launch(*sys.argv[2:]) if what == "launch"
                     else device()))
