"""Arrays that traced functions close over.

FlexAttention's mask and score functions read their tables (document ids,
offsets, biases) from enclosing scopes or module globals, and see their
current contents whenever they run. Such arrays become captures named
after their variable; the kernel reads the variable again at every call,
and the float64 reference calls the function with them in their place.
"""

from __future__ import annotations

import hashlib
import inspect
import types
from typing import Callable

import numpy as np

from .trace import TraceError

def _is_array(x) -> bool:
    """A numpy array or torch tensor with at least one dim."""
    if isinstance(x, np.ndarray):
        return x.ndim >= 1
    return type(x).__module__.startswith("torch") and \
        hasattr(x, "shape") and hasattr(x, "dtype") and len(x.shape) >= 1


def _global_names(code) -> set:
    """The global names `code` (and code nested in it: lambdas,
    comprehensions) may read."""
    names = set(code.co_names)
    for c in code.co_consts:
        if inspect.iscode(c):
            names |= _global_names(c)
    return names


# How deep helper functions are followed (a mask built from helpers that
# close over arrays).
_MAX_DEPTH = 4


class ClosureArray:
    """An array a traced function reads from its closure or its globals:
    `read()` gives its current value; `key` tells two variables apart."""

    def __init__(self, name: str, read: Callable, key):
        self.name, self.read, self.key = name, read, key


def _arrays_and_functions(fn):
    """(name, value, read, key) of the arrays and the functions `fn`
    reads from its closure cells and its globals."""
    code = fn.__code__
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        yield name, value, (lambda c=cell: c.cell_contents), ("cell", id(cell))
    g = fn.__globals__
    for name in sorted(_global_names(code)):
        if name in g:
            yield name, g[name], (lambda g=g, n=name: g[n]), \
                ("global", id(g), name)


def closure_arrays(fn: Callable, _depth: int = 0) -> dict:
    """name -> ClosureArray for every array `fn` (or a Python function it
    calls through its closure or globals) closes over."""
    out = {}
    if not inspect.isfunction(fn) or _depth > _MAX_DEPTH:
        return out

    def add(ca):
        old = out.get(ca.name)
        if old is not None and old.key != ca.key:
            raise TraceError(
                f"two different arrays named '{ca.name}' are read by "
                f"'{fn.__name__}' and the functions it calls: rename one, "
                f"since captures are named after their variable")
        out.setdefault(ca.name, ca)

    for name, value, read, key in _arrays_and_functions(fn):
        if _is_array(value):
            add(ClosureArray(name, read, key))
        else:
            for f in _functions_in(value, fn):
                for ca in closure_arrays(f, _depth + 1).values():
                    add(ca)
    return out


def _functions_in(value, fn) -> list:
    """The Python functions `value` is or holds (a tuple or list of them,
    as and_masks keeps), other than `fn` itself."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    return [f for f in items if inspect.isfunction(f) and f is not fn]


def with_arrays(fn: Callable, values: dict, _depth: int = 0) -> Callable:
    """A copy of `fn` that reads `values[name]` wherever it (or a function
    it calls) reads the closed-over array `name`."""
    if not inspect.isfunction(fn) or _depth > _MAX_DEPTH:
        return fn

    def swap(name, value):
        if _is_array(value) and name in values:
            return values[name], True
        if not any(closure_arrays(f, _depth + 1)
                   for f in _functions_in(value, fn)):
            return value, False
        if isinstance(value, (tuple, list)):
            return type(value)(with_arrays(f, values, _depth + 1)
                               if inspect.isfunction(f) else f
                               for f in value), True
        return with_arrays(value, values, _depth + 1), True

    cells = None
    if fn.__closure__:
        cells = []
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
            try:
                value, changed = swap(name, cell.cell_contents)
            except ValueError:
                changed = False
            cells.append(types.CellType(value) if changed else cell)
        cells = tuple(cells)
    g = fn.__globals__
    replaced = {}
    for name in _global_names(fn.__code__):
        if name in g:
            value, changed = swap(name, g[name])
            if changed:
                replaced[name] = value
    if replaced:
        g = dict(g)
        g.update(replaced)
    new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__,
                             cells)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    return new


def closure_dtype(name: str, value) -> str:
    """The capture dtype of a closed-over array: float32 for floats, int32
    for integers (values checked at each call), bool."""
    kind = str(value.dtype).replace("torch.", "")
    if kind == "bool":
        return "bool"
    if kind.startswith(("int", "uint", "long", "short")):
        return "int32"
    if kind.startswith(("float", "double", "half", "bfloat")):
        return "float32"
    raise TraceError(f"closed-over array '{name}' has dtype {value.dtype}; "
                     f"captures may be floats, integers or bool")


def host_array(value) -> np.ndarray:
    """A closed-over array (numpy, or a torch tensor copied to the host)
    as numpy."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def current_arrays(fn: Callable, given=None) -> dict:
    """name -> numpy value of every array `fn` closes over: its current
    contents, or the one `given` (a dict, whose entries are popped) names."""
    given = {} if given is None else given
    return {n: host_array(given.pop(n) if n in given else ca.read())
            for n, ca in closure_arrays(fn).items()}


def arrays_digest(arrays: dict) -> str:
    """A digest of arrays (name -> numpy array): names, dtypes, shapes and
    bytes, read in place. Keys caches of what the arrays' values decide."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        digest.update(memoryview(a).cast("B"))  # the bytes, no copy
    return digest.hexdigest()


def closure_value(name: str, value, dtype: str) -> np.ndarray:
    """The current value of closed-over array `name` as the kernel reads
    it: a contiguous numpy array of `dtype`."""
    value = host_array(value)
    if dtype == "int32":
        if value.dtype.kind not in "iub":
            raise TypeError(f"closed-over array '{name}' must hold integers "
                            f"(it was traced so), got {value.dtype}")
        if value.size and (value.min() < -2**31 or value.max() >= 2**31):
            raise ValueError(f"closed-over array '{name}' holds values "
                             f"outside int32, which the kernel reads")
    return np.ascontiguousarray(value.astype(np.dtype(dtype), copy=False))


def closure_capture(name: str, value, dtype: str, rank: int) -> np.ndarray:
    """closure_value of closed-over array `name`, checked to have the `rank`
    dims the traced function indexes it with."""
    value = closure_value(name, value, dtype)
    if value.ndim != rank:
        raise ValueError(f"closed-over array '{name}' is indexed with "
                         f"{rank} indices, so it must have {rank} dims; got "
                         f"shape {tuple(value.shape)}")
    return value
