"""Arrays that stay on the GPU: target='cuda' kernels take them without
copies. Three kinds are recognised: PyTorch CUDA tensors, attn.DeviceArray
(made by attn.to_device) and any object with __cuda_array_interface__
(CuPy, Numba, ...). They must be C-contiguous and live on device 0 (the
first visible GPU: choose it with CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from . import _attn

try:
    import ml_dtypes
    _BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:
    _BF16 = None


class DeviceArray:
    """A C-contiguous array in GPU memory that attn allocated; freed with the
    object. It exposes __cuda_array_interface__, so CuPy, Numba or PyTorch
    (torch.as_tensor(x, device="cuda")) can view it without a copy."""

    def __init__(self, shape, dtype):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.nbytes = math.prod(self.shape) * self.dtype.itemsize
        self.ptr = 0
        if self.nbytes:
            self.ptr = _attn.cuda_alloc(self.nbytes)

    def __del__(self):
        if getattr(self, "ptr", 0):
            try:
                _attn.cuda_free(self.ptr)
            except Exception:  # the driver or the module is gone at exit
                pass
            self.ptr = 0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def __cuda_array_interface__(self):
        # Writes by attn are complete when its calls return: no stream.
        # bfloat16 has no typestr; it shows as '<V2' (2 raw bytes).
        return {"version": 3, "shape": self.shape, "typestr": self.dtype.str,
                "descr": self.dtype.descr, "data": (self.ptr, False),
                "strides": None, "stream": None}

    def numpy(self) -> np.ndarray:
        """A host copy."""
        return _host_copy(self.ptr, self.shape, self.dtype)

    def __repr__(self):
        return (f"attn.DeviceArray(shape={self.shape}, dtype="
                f"{_dtype_name(self.dtype)})")


def _host_copy(ptr, shape, dtype) -> np.ndarray:
    out = np.empty(shape, dtype)
    if out.nbytes:
        _attn.cuda_copy(out.ctypes.data, ptr, out.nbytes)
    return out


def to_device(a) -> DeviceArray:
    """A device copy of a host array (numpy, or anything np.asarray takes)."""
    a = np.ascontiguousarray(a)
    out = DeviceArray(a.shape, a.dtype)
    if out.nbytes:
        _attn.cuda_copy(out.ptr, a.ctypes.data, out.nbytes)
    return out


def _dtype_name(dt) -> str:
    return "bfloat16" if _BF16 is not None and dt == _BF16 else dt.name


class View:
    """What a kernel call needs of an array on the GPU: its address, shape
    and dtype; `kind` ("torch", "attn" or "cai") picks how outputs are
    made, `stream` is a producer stream to wait for (CAI), `owner` is the
    object, kept alive for the call."""

    def __init__(self, name, ptr, shape, dtype, kind, owner, stream=None,
                 readonly=False):
        self.name, self.ptr, self.shape = name, ptr, tuple(shape)
        self.dtype, self.kind, self.owner = np.dtype(dtype), kind, owner
        self.stream, self.readonly = stream, readonly

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def reshape(self, shape) -> "View":
        return View(self.name, self.ptr, shape, self.dtype, self.kind,
                    self.owner, self.stream, self.readonly)

    def numpy(self) -> np.ndarray:
        """A host copy, for operands that are checked on the host."""
        wait_for_producers([self])
        return _host_copy(self.ptr, self.shape, self.dtype)


def check_no_grad(x, name: str):
    """A kernel call is not recorded by autograd: a tensor that requires
    grad would be detached silently, so it is an error (attn.torch.attention
    is the differentiable form)."""
    if getattr(x, "requires_grad", False):
        raise TypeError(f"{name} requires grad, but a kernel call is not "
                        f"recorded by autograd, so no gradient would flow; "
                        f"use attn.torch.attention for gradients, or pass "
                        f"{name}.detach() to run without one")


def _torch_dtype(t):
    import torch
    table = {torch.float16: np.float16, torch.float32: np.float32,
             torch.float64: np.float64, torch.int8: np.int8,
             torch.int16: np.int16, torch.int32: np.int32,
             torch.int64: np.int64, torch.uint8: np.uint8,
             torch.bool: np.bool_}
    if t.dtype == torch.bfloat16:
        if _BF16 is None:
            raise ImportError("bfloat16 tensors need ml_dtypes")
        return _BF16
    if t.dtype not in table:
        raise TypeError(f"tensors of dtype {t.dtype} are not supported")
    return np.dtype(table[t.dtype])


def _c_strides(shape, itemsize):
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def view(x, name: str) -> Optional[View]:
    """`x` as a View when it lives on the GPU, else None. Raises ValueError
    for GPU arrays attn cannot take (strided, on another device)."""
    if isinstance(x, DeviceArray):
        return View(name, x.ptr, x.shape, x.dtype, "attn", x)
    if type(x).__module__.split(".")[0] == "torch":
        check_no_grad(x, name)
        if x.device.type != "cuda":
            return None
        if x.device.index not in (None, 0):
            raise ValueError(f"{name} is on {x.device}, but attn runs on "
                             f"device 0 (choose the GPU with "
                             f"CUDA_VISIBLE_DEVICES)")
        if not x.is_contiguous():
            raise ValueError(f"{name} must be contiguous on the GPU; call "
                             f".contiguous() on it")
        return View(name, x.data_ptr(), tuple(x.shape), _torch_dtype(x),
                    "torch", x)
    cai = getattr(x, "__cuda_array_interface__", None)
    if cai is None:
        return None
    shape = tuple(int(n) for n in cai["shape"])
    dtype = np.dtype(cai["typestr"])
    if dtype.kind == "V":
        raise TypeError(f"{name} has typestr {cai['typestr']!r} (raw bytes): "
                        f"__cuda_array_interface__ cannot name bfloat16, so "
                        f"pass bfloat16 data as a torch tensor or an "
                        f"attn.DeviceArray")
    strides = cai.get("strides")
    if strides is not None and math.prod(shape) > 1 and \
            any(s != c for s, c, n in
                zip(strides, _c_strides(shape, dtype.itemsize), shape)
                if n > 1):
        raise ValueError(f"{name} must be C-contiguous on the GPU, got "
                         f"strides {tuple(strides)} for shape {shape}")
    return View(name, int(cai["data"][0]), shape, dtype, "cai", x,
                cai.get("stream"), bool(cai["data"][1]))


def stage(x, name: str):
    """`x` with GPU arrays (also inside tuples and lists) copied to the
    host: operands whose values the Python side checks."""
    if isinstance(x, (tuple, list)):
        return type(x)(stage(e, f"{name}[{i}]") for i, e in enumerate(x))
    v = view(x, name)
    return x if v is None else v.numpy()


def new_output(name, like: View, shape, dtype) -> View:
    """A new GPU array for an output, of the inputs' kind: a torch tensor
    on their device for torch, else an attn.DeviceArray."""
    if like.kind == "torch":
        import torch
        tdt = torch.bfloat16 if _BF16 is not None and dtype == _BF16 else \
            getattr(torch, np.dtype(dtype).name)
        return view(torch.empty(shape, dtype=tdt, device=like.owner.device),
                    name)
    return view(DeviceArray(shape, dtype), name)


def wait_for_producers(views):
    """Waits for the streams that may still be writing the inputs: torch's
    current stream, or a CAI producer's stream. attn's kernels run on
    their own non-blocking streams."""
    torch_waited = False
    for v in views:
        if v.kind == "torch" and not torch_waited:
            import torch
            torch.cuda.current_stream(v.owner.device).synchronize()
            torch_waited = True
        elif v.kind == "cai" and v.stream not in (None, 0):
            _attn.cuda_stream_synchronize(int(v.stream))


def check_ranges(views):
    """Every View's bytes lie in device memory of device 0: a host address
    or a short buffer is a ValueError here, not a fault in the kernel."""
    for v in views:
        ok, why = _attn.cuda_check_device_range(v.ptr, v.nbytes)
        if not ok:
            raise ValueError(f"{v.name} cannot be given to the kernel: {why}")
