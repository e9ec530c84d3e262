"""Loads a library written by attn-aot and calls its kernel on host
buffers (meaningless on a GPU, fine without a driver: nothing launches),
printing the runtime's status and errors for FileCheck."""
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
if ok:
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
