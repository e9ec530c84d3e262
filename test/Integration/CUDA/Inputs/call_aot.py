"""Loads a library written by attn-aot and calls its kernel on host
buffers (meaningless on a GPU, fine without a driver: nothing launches),
printing the runtime's status and errors for FileCheck.

With --fake, the driver is the fake libcuda.so.1 of the unit tests (on
LD_LIBRARY_PATH): the call goes through, and what reached the driver is
printed (launches, grid, tensor maps encoded)."""
import ctypes
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
if ok and not fake:
    print("a CUDA device is present; this test is for machines without one")
    sys.exit(0)
code = lib.attnCudaTakeError(message, len(message))
print(f"after-load={code} {message.value.decode()}")
shape = (1, 2, 5, 64)
buffers = [(ctypes.c_uint16 * (2 * 5 * 64))() for _ in range(4)]
descs = [descriptor(b, shape) for b in buffers]
lib._mlir_ciface_attention(*[ctypes.byref(d) for d in descs])
print("called")
code = lib.attnCudaTakeError(message, len(message))
print(f"after-call={code} {message.value.decode()}")
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
