"""Loads a library written by attn-aot and calls its kernel on host
buffers (meaningless on a GPU, fine without a driver: nothing launches),
printing the runtime's status and errors for FileCheck.

With --fake, the driver is the fake libcuda.so.1 of the unit tests (on
LD_LIBRARY_PATH): the call goes through, and what reached the driver is
printed (launches, grid, tensor maps encoded).

With --emulator, the library is from attn-aot --emulate: device buffers
come from its mgpuMemAlloc, the inputs are small deterministic f16 values,
and the causal output is compared with a plain-Python reference."""
import ctypes
import math
import struct
import sys


class MemRef4(ctypes.Structure):
    _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * 4),
                ("strides", ctypes.c_int64 * 4)]


def descriptor(buf, shape):
    d = MemRef4()
    d.allocated = d.aligned = ctypes.addressof(buf)
    stride = 1
    for i in reversed(range(4)):
        d.sizes[i] = shape[i]
        d.strides[i] = stride
        stride *= shape[i]
    return d


lib = ctypes.CDLL(sys.argv[1])
message = ctypes.create_string_buffer(512)
ok = lib.attnCudaStatus(message, len(message))
status = message.value.decode()
print(f"status={ok} {status}")
fake = "--fake" in sys.argv[2:]
emulated = "--emulator" in sys.argv[2:]
if ok and not fake and not emulated:
    print("a CUDA device is present; this test is for machines without one")
    sys.exit(0)
code = lib.attnCudaTakeError(message, len(message))
print(f"after-load={code} {message.value.decode()}")
shape = (1, 2, 5, 64)
n = 2 * 5 * 64
buffers = [(ctypes.c_uint16 * n)() for _ in range(4)]
if emulated:
    # q, k, v and o, each [1, 2, 5, 64] f16, in the emulator's memory.
    lib.mgpuMemAlloc.restype = ctypes.c_void_p
    lib.mgpuMemAlloc.argtypes = [ctypes.c_uint64, ctypes.c_void_p,
                                 ctypes.c_bool]
    lib.mgpuMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_size_t, ctypes.c_void_p]
    values = [[((i * 37 + t * 11) % 19 - 9) / 9 for i in range(n)]
              for t in range(3)]
    for t in range(3):
        buffers[t][:] = struct.unpack(f"<{n}H",
                                      struct.pack(f"<{n}e", *values[t]))
    device = [lib.mgpuMemAlloc(2 * n, None, False) for _ in range(4)]
    for t in range(3):
        lib.mgpuMemcpy(device[t], ctypes.addressof(buffers[t]), 2 * n, None)
    descs = []
    for ptr in device:
        d = descriptor(buffers[0], shape)
        d.allocated = d.aligned = ptr
        descs.append(d)
else:
    descs = [descriptor(b, shape) for b in buffers]
lib._mlir_ciface_attention(*[ctypes.byref(d) for d in descs])
print("called")
code = lib.attnCudaTakeError(message, len(message))
print(f"after-call={code} {message.value.decode()}")
if emulated:
    lib.mgpuMemcpy(ctypes.addressof(buffers[3]), device[3], 2 * n, None)
    out = struct.unpack(f"<{n}e", bytes(buffers[3]))
    q, k, v = values
    err = scale = 0.0
    for h in range(2):
        for i in range(5):
            row = lambda a, j: a[(h * 5 + j) * 64:(h * 5 + j + 1) * 64]
            s = [sum(x * y for x, y in zip(row(q, i), row(k, j))) / 8
                 for j in range(i + 1)]
            w = [math.exp(x - max(s)) for x in s]
            for c in range(64):
                ref = sum(wj * row(v, j)[c] for j, wj in enumerate(w)) / sum(w)
                d = abs(out[(h * 5 + i) * 64 + c] - ref)
                err = max(err, d if math.isfinite(d) else math.inf)
                scale = max(scale, abs(ref))
    print("matches the reference" if err <= 1e-2 * scale
          else f"max error {err} over max |ref| {scale}")
if fake:
    class Counts(ctypes.Structure):
        # The leading fields of FakeCudaRecord (test/Unit/FakeCuda.h).
        _fields_ = [(name, ctypes.c_int) for name in (
            "memAlloc", "memFree", "ctxSynchronize", "streamCreate",
            "streamDestroy", "launches", "setMaxDynamicShared",
            "tensorMapEncodes")] + [("grid", ctypes.c_uint * 3),
                                    ("block", ctypes.c_uint * 3)]
    driver = ctypes.CDLL("libcuda.so.1")
    driver.fakeCudaRecord.restype = ctypes.POINTER(Counts)
    rec = driver.fakeCudaRecord().contents
    print(f"launches={rec.launches} grid={list(rec.grid)} "
          f"block={list(rec.block)} maps={rec.tensorMapEncodes}")
