"""Tracing Python score_mod / mask_mod functions into MLIR regions.

The function is called once with symbolic values; every operation on them
appends one arith/math/tensor op to the region's block. The same function,
called on numpy arrays instead, is what the float64 reference evaluates, so
the helpers below (`where`, `exp`, ...) accept both.

Supported: + - * / // % ** (integer exponents), unary -, abs, comparisons,
& | ^ ~ on booleans and integers, `attn.where`, exp/exp2/log/tanh/sqrt/
sin/cos/sigmoid, minimum/maximum/clamp (also as numpy ufuncs), explicit
float-to-integer conversions (`attn.floor`, `attn.to_int`, `.long()`,
`.int()`, `.to(torch.long)`), `attn.position(b, q_idx)`, and indexing
captured arrays with integer expressions. The torch spellings of these
(`torch.where`, `torch.abs`, `torch.exp2`, `x.clamp(...)`, `x.float()`,
`torch.full_like`, ...) trace the same way, through __torch_function__.
Arrays the function closes over (closure cells or module globals, numpy
arrays or torch tensors, also inside helper functions it calls) become
captures named after their variable. Python control flow on
traced values (`if`, `and`, `or`, `not`, chained comparisons), math-module
functions and conversions to Python numbers cannot be traced and raise
`TraceError` naming the construct. attn.and_masks / attn.or_masks combine
mask functions; closed-over arrays are handled in attn/closures.py.

This module is longer than the project's ~800-line guide on purpose: every
helper here has a traced branch and an array branch, and the torch
spellings map onto the same helpers, so they stay one table in one file.
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from . import spec as S


class TraceError(TypeError):
    """A Python construct that cannot be traced into a region."""


_F32, _INDEX, _I1 = "f32", "index", "i1"


class _Block:
    """The ops of one region body, in order."""

    def __init__(self):
        self.lines: list[str] = []
        self.count = 0
        self.constants: dict = {}

    def op(self, text: str, type_: str) -> "Value":
        name = f"%v{self.count}"
        self.count += 1
        self.lines.append(f"{name} = {text}")
        return Value(self, name, type_)

    def constant(self, value, type_: str) -> "Value":
        key = (type_, repr(value))
        if key not in self.constants:
            if type_ == _F32:
                if np.isfinite(value):
                    lit = S._fmt(value)
                else:
                    bits = np.float32(value).view(np.uint32)
                    lit = f"0x{int(bits):08X}"
                text = f"arith.constant {lit} : f32"
            elif type_ == _I1:
                text = f"arith.constant {'true' if value else 'false'}"
            else:
                text = f"arith.constant {int(value)} : index"
            self.constants[key] = self.op(text, type_)
        return self.constants[key]


def _no(construct: str, advice: str):
    raise TraceError(f"{construct} cannot be traced into an attn region: "
                     f"{advice}")


def _comparison(fpred: str, ipred: str):
    """A comparison operator of Value: arith.cmpf `fpred` on floats,
    arith.cmpi `ipred` on integers."""
    def method(self, o):
        return self._cmp(o, fpred, ipred)
    return method


class TorchMethods:
    """The torch spellings FlexAttention code uses on tensors, for traced
    values and for the reference's arrays alike (each helper handles both):
    .long() / .int() (truncating), .float(), .bool(), .to(dtype), .abs(),
    .exp(), .exp2(), .log(), .tanh(), .sigmoid(), .sqrt(), .floor(),
    .clamp(), .minimum(), .maximum(), .where(), and torch.* functions
    through __torch_function__."""

    def long(self):
        return to_int(self)

    def int(self):  # noqa: A003 - torch's name
        return to_int(self)

    def float(self):  # noqa: A003 - torch's name
        return _convert(self, float)

    def bool(self):  # noqa: A003 - torch's name
        return _convert(self, bool)

    def to(self, dtype):
        """.to(torch.long / torch.int32 / int / torch.float32 / float /
        torch.bool / bool): the conversion those dtypes name."""
        return _convert(self, dtype)

    def abs(self):
        return abs(self)

    def exp(self):
        return exp(self)

    def exp2(self):
        return exp2(self)

    def log(self):
        return log(self)

    def tanh(self):
        return tanh(self)

    def sigmoid(self):
        return sigmoid(self)

    def sqrt(self):
        return sqrt(self)

    def floor(self):
        return floor(self)

    def clamp(self, min=None, max=None):  # noqa: A002 - torch's names
        return clamp(self, min, max)

    def clip(self, min=None, max=None):  # noqa: A002 - torch's names
        return clamp(self, min, max)

    def minimum(self, other):
        return minimum(self, other)

    def maximum(self, other):
        return maximum(self, other)

    def where(self, cond, other):
        """torch's x.where(cond, y): x where cond, else y."""
        return where(cond, self, other)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        """torch.where(...), torch.abs(...), ... on traced values or the
        reference's arrays: the functions of _TORCH."""
        return _torch_call(func, args, kwargs or {})


class Value(TorchMethods):
    """A traced scalar: f32 (scores), index (positions, integers) or i1."""

    __array_priority__ = 1000

    def __init__(self, block: _Block, name: str, type_: str):
        self.block, self.name, self.type = block, name, type_

    # -- coercions -----------------------------------------------------------

    def _lift(self, x) -> "Value":
        if isinstance(x, Value):
            if x.block is not self.block:
                raise TraceError("values from two different traces were mixed")
            return x
        if isinstance(x, (bool, np.bool_)):
            return self.block.constant(bool(x), _I1)
        if isinstance(x, (int, np.integer)):
            return self.block.constant(int(x), _INDEX)
        if isinstance(x, (float, np.floating)):
            return self.block.constant(float(x), _F32)
        _no(f"a value of type {type(x).__name__}",
            "only numbers and traced values can be combined")

    def _as(self, type_: str) -> "Value":
        b = self.block
        if self.type == type_:
            return self
        if self.type == _I1:
            one = b.constant(1.0 if type_ == _F32 else 1, type_)
            zero = b.constant(0.0 if type_ == _F32 else 0, type_)
            return b.op(f"arith.select {self.name}, {one.name}, {zero.name} "
                        f": {type_}", type_)
        if self.type == _INDEX and type_ == _F32:
            i64 = b.op(f"arith.index_cast {self.name} : index to i64", "i64")
            return b.op(f"arith.sitofp {i64.name} : i64 to f32", _F32)
        if type_ == _I1:
            _no("using a number as a boolean",
                "compare it explicitly, e.g. x != 0")
        _no("using a float where an integer is needed",
            "convert explicitly: .long(), .int(), attn.floor(x) or "
            "attn.to_int(x)")

    def _pair(self, other, reverse=False, want=None):
        a, b = self, self._lift(other)
        if reverse:
            a, b = b, a
        if want is None:
            want = _F32 if _F32 in (a.type, b.type) else (
                _INDEX if _INDEX in (a.type, b.type) else _I1)
        return a._as(want), b._as(want), want

    def _arith(self, other, fop, iop, reverse=False, construct=""):
        a, b, t = self._pair(other, reverse)
        if t == _I1:
            a, b, t = a._as(_INDEX), b._as(_INDEX), _INDEX
        opname = fop if t == _F32 else iop
        if opname is None:
            _no(construct, "it is only defined on integers")
        return self.block.op(f"{opname} {a.name}, {b.name} : {t}", t)

    # -- arithmetic ----------------------------------------------------------

    def __add__(self, o):
        return self._arith(o, "arith.addf", "arith.addi")

    def __radd__(self, o):
        return self._arith(o, "arith.addf", "arith.addi", True)

    def __sub__(self, o):
        return self._arith(o, "arith.subf", "arith.subi")

    def __rsub__(self, o):
        return self._arith(o, "arith.subf", "arith.subi", True)

    def __mul__(self, o):
        return self._arith(o, "arith.mulf", "arith.muli")

    def __rmul__(self, o):
        return self._arith(o, "arith.mulf", "arith.muli", True)

    def __truediv__(self, o):
        a, b, _ = self._pair(o, want=_F32)
        return self.block.op(f"arith.divf {a.name}, {b.name} : f32", _F32)

    def __rtruediv__(self, o):
        a, b, _ = self._pair(o, True, want=_F32)
        return self.block.op(f"arith.divf {a.name}, {b.name} : f32", _F32)

    def _int_pair(self, o, reverse, construct):
        a, b, t = self._pair(o, reverse)
        if t == _F32:
            _no(f"'{construct}' on floats", "it is supported on integers only")
        return a._as(_INDEX), b._as(_INDEX)

    def _floordiv(self, o, reverse=False):
        a, b = self._int_pair(o, reverse, "//")
        return self.block.op(f"arith.floordivsi {a.name}, {b.name} : index",
                             _INDEX)

    def __floordiv__(self, o):
        return self._floordiv(o)

    def __rfloordiv__(self, o):
        return self._floordiv(o, True)

    def _mod(self, o, reverse=False):
        # Python's %: the remainder takes the divisor's sign.
        a, b = self._int_pair(o, reverse, "%")
        blk = self.block
        r = blk.op(f"arith.remsi {a.name}, {b.name} : index", _INDEX)
        zero = blk.constant(0, _INDEX)
        r_neg = blk.op(f"arith.cmpi slt, {r.name}, {zero.name} : index", _I1)
        b_neg = blk.op(f"arith.cmpi slt, {b.name}, {zero.name} : index", _I1)
        r_nz = blk.op(f"arith.cmpi ne, {r.name}, {zero.name} : index", _I1)
        signs = blk.op(f"arith.xori {r_neg.name}, {b_neg.name} : i1", _I1)
        fix = blk.op(f"arith.andi {r_nz.name}, {signs.name} : i1", _I1)
        shifted = blk.op(f"arith.addi {r.name}, {b.name} : index", _INDEX)
        return blk.op(f"arith.select {fix.name}, {shifted.name}, {r.name} "
                      f": index", _INDEX)

    def __mod__(self, o):
        return self._mod(o)

    def __rmod__(self, o):
        return self._mod(o, True)

    def __pow__(self, o):
        if isinstance(o, (int, np.integer)) and not isinstance(o, bool) \
                and 0 <= int(o) <= 16:
            result = self._lift(1.0 if self.type == _F32 else 1)
            for _ in range(int(o)):
                result = result * self
            return result
        a, b, _ = self._pair(o, want=_F32)
        return self.block.op(f"math.powf {a.name}, {b.name} : f32", _F32)

    def __rpow__(self, o):
        a, b, _ = self._pair(o, True, want=_F32)
        return self.block.op(f"math.powf {a.name}, {b.name} : f32", _F32)

    def __neg__(self):
        if self.type == _F32:
            return self.block.op(f"arith.negf {self.name} : f32", _F32)
        return self.block.constant(0, _INDEX) - self

    def __pos__(self):
        return self

    def __abs__(self):
        if self.type == _F32:
            return self.block.op(f"math.absf {self.name} : f32", _F32)
        v = self._as(_INDEX)
        return self.block.op(f"math.absi {v.name} : index", _INDEX)

    # -- comparisons ---------------------------------------------------------

    def _cmp(self, o, fpred, ipred):
        a, b, t = self._pair(o)
        if t == _F32:
            return self.block.op(f"arith.cmpf {fpred}, {a.name}, {b.name} "
                                 f": f32", _I1)
        return self.block.op(f"arith.cmpi {ipred}, {a.name}, {b.name} : {t}",
                             _I1)

    __lt__ = _comparison("olt", "slt")
    __le__ = _comparison("ole", "sle")
    __gt__ = _comparison("ogt", "sgt")
    __ge__ = _comparison("oge", "sge")
    __eq__ = _comparison("oeq", "eq")
    __ne__ = _comparison("une", "ne")

    __hash__ = object.__hash__

    # -- logic ---------------------------------------------------------------

    def _logic(self, o, op, reverse=False):
        a, b, t = self._pair(o, reverse)
        if t == _F32:
            _no(f"'{op}' on floats", "it applies to booleans and integers")
        return self.block.op(f"arith.{op} {a.name}, {b.name} : {t}", t)

    def __and__(self, o):
        return self._logic(o, "andi")

    def __rand__(self, o):
        return self._logic(o, "andi", True)

    def __or__(self, o):
        return self._logic(o, "ori")

    def __ror__(self, o):
        return self._logic(o, "ori", True)

    def __xor__(self, o):
        return self._logic(o, "xori")

    def __rxor__(self, o):
        return self._logic(o, "xori", True)

    def __invert__(self):
        if self.type == _F32:
            _no("'~' on a float", "it applies to booleans and integers")
        ones = self.block.constant(True if self.type == _I1 else -1, self.type)
        return self.block.op(f"arith.xori {self.name}, {ones.name} : "
                             f"{self.type}", self.type)

    # -- what cannot be traced -----------------------------------------------

    def __bool__(self):
        _no("Python control flow on a traced value (if, while, and, or, not, "
            "or a chained comparison such as a < b < c)",
            "use attn.where(cond, x, y) and the operators &, |, ~")

    def __float__(self):
        _no("float() or a math-module function on a traced value",
            "use attn.exp, attn.log, attn.tanh, ... or numpy ufuncs")

    def __int__(self):
        _no("int() on a traced value", "keep indices symbolic")

    def __index__(self):
        _no("using a traced value as a Python index (a list, tuple or range "
            "subscript)", "put the table in a captured array and index that")

    def __iter__(self):
        _no("iterating over a traced value", "it is a scalar")

    def __len__(self):
        _no("len() of a traced value", "it is a scalar")

    def __getitem__(self, item):
        _no("subscripting a traced scalar",
            "only captured arrays (extra function arguments) can be indexed")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            _no(f"numpy.{ufunc.__name__}.{method}", "only plain calls trace")
        fn = _UFUNCS.get(ufunc.__name__)
        if fn is None:
            _no(f"numpy.{ufunc.__name__}",
                f"supported ufuncs: {', '.join(sorted(_UFUNCS))}")
        return fn(*inputs)

    def __repr__(self):
        return f"<traced {self.type} {self.name}>"


class Capture:
    """A captured array inside a trace: indexing it loads one element."""

    def __init__(self, block: _Block, name: str, param: str, dtype: str):
        self.block, self.name, self.param, self.dtype = block, name, param, dtype
        self.rank = None

    def __getitem__(self, index):
        if not isinstance(index, tuple):
            index = (index,)
        if self.rank is None:
            self.rank = len(index)
        elif self.rank != len(index):
            raise TraceError(f"captured array '{self.param}' is indexed with "
                             f"{len(index)} indices here and {self.rank} "
                             f"elsewhere")
        names = []
        for i in index:
            if isinstance(i, (slice, type(Ellipsis))) or i is None:
                _no(f"slicing captured array '{self.param}'",
                    "index one element with integer expressions")
            if isinstance(i, Value):
                v = i._as(_INDEX) if i.type != _F32 else None
                if v is None:
                    _no(f"indexing '{self.param}' with a float",
                        "indices must be integer expressions; convert "
                        "explicitly with .long(), attn.floor(x) or "
                        "attn.to_int(x)")
            elif isinstance(i, (int, np.integer)) and not isinstance(i, bool):
                v = self.block.constant(int(i), _INDEX)
            else:
                _no(f"indexing '{self.param}' with {type(i).__name__}",
                    "indices must be integer expressions")
            names.append(v.name)
        elem = _ELEM[self.dtype]
        loaded = self.block.op(
            f"tensor.extract {self.name}[{', '.join(names)}] : "
            f"{self.tensor_type()}", elem)
        if elem == "i32":
            return self.block.op(f"arith.index_cast {loaded.name} : i32 to "
                                 f"index", _INDEX)
        return loaded

    def tensor_type(self):
        rank = self.rank or 0
        dims = "?x" * rank
        return f"tensor<{dims}{_ELEM[self.dtype]}>"

    def __bool__(self):
        _no(f"the truth value of captured array '{self.param}'",
            "index it to read an element")

    def __repr__(self):
        return f"<captured array {self.param}>"


_ELEM = {"float32": "f32", "int32": "i32", "bool": "i1"}


def capture_dtype(name: str) -> str:
    key = np.dtype(name).name if name != "bool" else "bool"
    if key not in _ELEM:
        raise TraceError(f"captured arrays may be float32, int32 or bool, "
                         f"got {name!r}")
    return key


# -- helpers that work on traced values and on numpy arrays --------------------


def _math(name, npfn):
    def fn(x):
        if isinstance(x, Value):
            v = x._as(_F32)
            return v.block.op(f"math.{name} {v.name} : f32", _F32)
        return npfn(x)
    fn.__name__ = name
    fn.__doc__ = f"{name}(x), traced as math.{name} (numpy.{npfn.__name__} " \
                 f"on arrays)."
    return fn


exp = _math("exp", np.exp)
log = _math("log", np.log)
tanh = _math("tanh", np.tanh)
sqrt = _math("sqrt", np.sqrt)
sin = _math("sin", np.sin)
cos = _math("cos", np.cos)


class _IndexArg(Value):
    """A region's fixed index argument, which notes whether an op reads it
    (every op names its operands through `name`)."""

    def __init__(self, block: _Block, name: str):
        self.read = False
        super().__init__(block, name, _INDEX)

    @property
    def name(self) -> str:
        self.read = True
        return self._name

    @name.setter
    def name(self, value: str):
        self._name = value


def _traced(*xs):
    for x in xs:
        if isinstance(x, Value):
            return x
    return None


def where(cond, x, y):
    """`x` where `cond` else `y` (arith.select; numpy.where on arrays)."""
    t = _traced(cond, x, y)
    if t is None:
        out = np.where(cond, x, y)
        if any(isinstance(a, TorchLikeArray) for a in (cond, x, y)):
            out = torch_like(out)
        return out
    c = t._lift(cond)._as(_I1)
    a, b, typ = t._lift(x)._pair(y)
    return t.block.op(f"arith.select {c.name}, {a.name}, {b.name} : {typ}",
                      typ)


def _extremum(x, y, npfn, fop, iop):
    t = _traced(x, y)
    if t is None:
        return npfn(x, y)
    a, b, typ = t._lift(x)._pair(y)
    op = fop if typ == _F32 else iop
    return t.block.op(f"{op} {a.name}, {b.name} : {typ}", typ)


def minimum(x, y):
    return _extremum(x, y, np.minimum, "arith.minimumf", "arith.minsi")


def maximum(x, y):
    return _extremum(x, y, np.maximum, "arith.maximumf", "arith.maxsi")


def abs(x):  # noqa: A001 - mirrors numpy.abs
    return x.__abs__() if isinstance(x, Value) else np.abs(x)


# Float-to-integer conversions saturate here (2**62 keeps index arithmetic
# on the result from overflowing) and map NaN to 0: defined for every
# input, on traced values and arrays alike.
_INT_LIMIT = 2.0 ** 62


def to_int(x):
    """x truncated toward zero to an integer (torch's .long() / .int()),
    saturating at +-2**62, NaN giving 0. Integers and booleans pass."""
    if isinstance(x, Value):
        if x.type != _F32:
            return x._as(_INDEX)
        b = x.block
        lim = b.constant(_INT_LIMIT, _F32)
        neg = b.constant(-_INT_LIMIT, _F32)
        zero = b.constant(0.0, _F32)
        nan = b.op(f"arith.cmpf uno, {x.name}, {x.name} : f32", _I1)
        v = b.op(f"arith.select {nan.name}, {zero.name}, {x.name} : f32", _F32)
        v = b.op(f"arith.minimumf {v.name}, {lim.name} : f32", _F32)
        v = b.op(f"arith.maximumf {v.name}, {neg.name} : f32", _F32)
        i64 = b.op(f"arith.fptosi {v.name} : f32 to i64", "i64")
        return b.op(f"arith.index_cast {i64.name} : i64 to index", _INDEX)
    a = np.asanyarray(x)
    if a.dtype.kind in "biu":
        return a.astype(np.int64)
    a = np.clip(np.nan_to_num(np.trunc(a), nan=0.0), -_INT_LIMIT, _INT_LIMIT)
    return a.astype(np.int64)


def floor(x):
    """The largest integer <= x, as an integer (Python's math.floor;
    torch.floor followed by .long()), saturating as to_int does."""
    if isinstance(x, Value):
        if x.type != _F32:
            return x._as(_INDEX)
        return to_int(x.block.op(f"math.floor {x.name} : f32", _F32))
    return to_int(np.floor(np.asanyarray(x, dtype=np.float64)))


def exp2(x):
    """2 ** x."""
    if isinstance(x, Value):
        return exp(x._as(_F32) * float(np.log(2.0)))
    return np.exp2(x)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    if isinstance(x, Value):
        return 1.0 / (1.0 + exp(-x._as(_F32)))
    return 1.0 / (1.0 + np.exp(-np.asanyarray(x, dtype=np.float64)))


def clamp(x, min=None, max=None):  # noqa: A002 - torch's names
    """x limited to [min, max] (either may be None)."""
    if min is not None:
        x = maximum(x, min)
    if max is not None:
        x = minimum(x, max)
    return x


def _dtype_kind(dtype) -> str:
    """'int', 'float' or 'bool' for a torch / numpy dtype or Python type."""
    if dtype is int:
        return "int"
    if dtype is float:
        return "float"
    if dtype is bool:
        return "bool"
    name = str(dtype).replace("torch.", "")
    if name in ("long", "int", "int64", "int32", "int16", "int8", "uint8",
                "short"):
        return "int"
    if name in ("float", "float32", "float64", "double", "float16", "half",
                "bfloat16"):
        return "float"
    if name == "bool":
        return "bool"
    raise TraceError(f"cannot convert a traced value to {dtype!r}: use an "
                     f"integer, float or bool dtype")


def _convert(x, dtype):
    kind = _dtype_kind(dtype)
    if kind == "int":
        return to_int(x)
    if kind == "float":
        return x._as(_F32) if isinstance(x, Value) else \
            np.asanyarray(x, dtype=np.float64)
    return x != 0


def _full_like(x, fill, *args, **kwargs):
    t = x if isinstance(x, Value) else None
    if t is None:
        return np.full_like(np.asanyarray(x), fill)
    if t.type == _F32:
        return t._lift(float(fill))
    if t.type == _I1:
        return t._lift(bool(fill))
    return t._lift(int(fill))


def _binary_or_reduce(name, fn):
    def call(x, *args, **kwargs):
        if len(args) == 1 and not kwargs:
            return fn(x, args[0])
        raise TraceError(f"torch.{name} with {1 + len(args)} argument(s) "
                         f"cannot be traced: a score_mod / mask_mod sees one "
                         f"element at a time, so only the two-argument "
                         f"(element-wise) form applies")
    return call


# torch functions and Tensor methods by name -> attn's traced helpers.
_TORCH = {
    "where": lambda c, x, y: where(c, x, y),
    "abs": abs, "absolute": abs, "exp": lambda x: exp(x),
    "exp2": exp2, "log": lambda x: log(x), "tanh": lambda x: tanh(x),
    "sigmoid": sigmoid, "sqrt": lambda x: sqrt(x), "sin": lambda x: sin(x),
    "cos": lambda x: cos(x), "floor": floor, "clamp": clamp, "clip": clamp,
    "minimum": lambda x, y: minimum(x, y), "maximum": lambda x, y: maximum(x, y),
    "min": _binary_or_reduce("min", lambda x, y: minimum(x, y)),
    "max": _binary_or_reduce("max", lambda x, y: maximum(x, y)),
    "full_like": _full_like,
    "zeros_like": lambda x, *a, **k: _full_like(x, 0),
    "ones_like": lambda x, *a, **k: _full_like(x, 1),
    "logical_and": lambda x, y: _as_bool(x) & _as_bool(y),
    "logical_or": lambda x, y: _as_bool(x) | _as_bool(y),
    "logical_not": lambda x: ~_as_bool(x),
    "eq": lambda x, y: x == y, "ne": lambda x, y: x != y,
    "lt": lambda x, y: x < y, "le": lambda x, y: x <= y,
    "gt": lambda x, y: x > y, "ge": lambda x, y: x >= y,
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y, "div": lambda x, y: x / y,
    "neg": lambda x: -x,
    # Tensor methods arrive under their own names.
    "long": to_int, "int": to_int,
    "float": lambda x: _convert(x, float), "to": _convert,
    "__getitem__": lambda x, i: x[i],
}


def _as_bool(x):
    if isinstance(x, Value):
        return x if x.type == _I1 else x != 0
    return np.asanyarray(x).astype(bool)


def _torch_call(func, args, kwargs):
    name = getattr(func, "__name__", str(func))
    fn = _TORCH.get(name)
    if fn is None:
        _no(f"torch.{name}", "supported: " + ", ".join(
            sorted(n for n in _TORCH if not n.startswith("_"))))
    try:
        return fn(*args, **kwargs)
    except TypeError as e:
        if isinstance(e, TraceError):
            raise
        raise TraceError(f"torch.{name}{tuple(args)!r} with {kwargs!r}: "
                         f"{e}") from None


class TorchLikeArray(np.ndarray, TorchMethods):
    """The arrays the float64 reference calls score_mod / mask_mod
    functions with: numpy arrays that also answer the torch spellings that
    traced values accept, with the same meaning."""


def torch_like(a):
    """`a` as a TorchLikeArray (a view, no copy)."""
    return np.asarray(a).view(TorchLikeArray)


_UFUNCS = {
    "exp": exp, "log": log, "tanh": tanh, "sqrt": sqrt, "sin": sin,
    "cos": cos, "absolute": abs, "maximum": maximum, "minimum": minimum,
    "fmax": maximum, "fmin": minimum,
    "add": lambda a, b: a + b, "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b, "true_divide": lambda a, b: a / b,
    "negative": lambda a: -a, "exp2": exp2, "floor": floor,
}


class _Positions:
    """Set by the reference evaluator to compute p(i) on arrays."""
    fn = None


def position(b, q_idx):
    """The position p(i) = i + (Skv - Sq) + q_offset of query q_idx in batch
    row b (kv_len[b] replaces Skv when the spec has cache lengths)."""
    t = _traced(b, q_idx)
    if t is None:
        if _Positions.fn is None:
            raise TraceError("attn.position is only meaningful inside a "
                             "score_mod or mask_mod")
        return _Positions.fn(b, q_idx)
    bi, qi = t._lift(b)._as(_INDEX), t._lift(q_idx)._as(_INDEX)
    return t.block.op(f"attn.position {bi.name}, {qi.name} : index", _INDEX)


def _plain_masks(fns, combinator: str):
    for f in fns:
        if not callable(f):
            raise TraceError(f"{combinator} takes mask functions, got {f!r}")
        if len(capture_names(f, "mask_mod")):
            raise TraceError(
                f"{combinator} combines functions of (b, h, q_idx, kv_idx); "
                f"'{getattr(f, '__name__', f)}' takes captured arrays as "
                f"parameters: close over them instead (they become captures "
                f"named after their variable)")


def and_masks(*fns) -> Callable:
    """A mask function allowing what every one of `fns` allows
    (FlexAttention's and_masks); arrays they close over stay captures."""
    _plain_masks(fns, "and_masks")

    def and_mask(b, h, q_idx, kv_idx):
        allowed = True
        for f in fns:
            allowed = allowed & f(b, h, q_idx, kv_idx)
        return allowed
    return and_mask


def or_masks(*fns) -> Callable:
    """A mask function allowing what any one of `fns` allows
    (FlexAttention's or_masks)."""
    _plain_masks(fns, "or_masks")

    def or_mask(b, h, q_idx, kv_idx):
        allowed = False
        for f in fns:
            allowed = allowed | f(b, h, q_idx, kv_idx)
        return allowed
    return or_mask


# -- tracing -------------------------------------------------------------------


class Region:
    """A traced function: its body text, the captured arrays it reads and
    which of its fixed index arguments (b, h, q_idx, kv_idx) it reads."""

    def __init__(self, kind: str, body: list, captures: list,
                 reads: frozenset = frozenset()):
        self.kind, self.body, self.captures = kind, body, captures
        self.reads = reads


def capture_names(fn: Callable, kind: str) -> list:
    """The names of `fn`'s parameters after the fixed ones."""
    fixed = 5 if kind == "score_mod" else 4
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise TraceError(f"cannot read the signature of {kind} {fn!r}") from None
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY):
            raise TraceError(f"{kind} '{getattr(fn, '__name__', fn)}' has "
                             f"parameter '{p.name}' of kind {p.kind}: list "
                             f"captures as plain positional parameters")
    if len(params) < fixed:
        want = "(score, b, h, q_idx, kv_idx, ...)" if fixed == 5 \
            else "(b, h, q_idx, kv_idx, ...)"
        raise TraceError(f"{kind} '{getattr(fn, '__name__', fn)}' takes "
                         f"{len(params)} parameters; expected {want}")
    return [p.name for p in params[fixed:]]


def trace(fn: Callable, kind: str, dtypes: dict, captures: list,
          closures=()) -> Region:
    """Traces `fn` as a `kind` region ("score_mod" or "mask_mod").

    `captures` lists the op's captured arrays as (param name, dtype) in
    order; every region of the op receives all of them as block arguments.
    `fn`'s own extra parameters, named in `dtypes` or float32 by default,
    must already be in that list, and so must the arrays it closes over
    that `closures` names.
    """
    blk = _Block()
    by_name = {}
    cap_values = []
    for i, (param, dtype) in enumerate(captures):
        c = Capture(blk, f"%c{i}", param, dtype)
        cap_values.append(c)
        by_name[param] = c
    own = capture_names(fn, kind)
    args = [by_name[name] for name in own]
    if closures:
        from .closures import with_arrays
        fn = with_arrays(fn, {n: by_name[n] for n in closures})
    idx = [_IndexArg(blk, n) for n in ("%b", "%h", "%i", "%j")]
    if kind == "score_mod":
        result = fn(Value(blk, "%s", _F32), *idx, *args)
        want = _F32
    else:
        result = fn(*idx, *args)
        want = _I1
    if not isinstance(result, Value):
        if isinstance(result, (bool, np.bool_, int, float, np.number)):
            result = idx[0]._lift(result if want == _I1 or not isinstance(
                result, (bool, np.bool_)) else float(result))
        else:
            raise TraceError(f"{kind} '{getattr(fn, '__name__', fn)}' returned "
                             f"{type(result).__name__}; expected a "
                             f"{'score' if want == _F32 else 'boolean'}")
    if want == _I1 and result.type != _I1:
        _no(f"mask_mod '{getattr(fn, '__name__', fn)}' returning a number",
            "return a comparison or boolean expression")
    result = result._as(want)
    blk.lines.append(f"attn.yield {result.name} : {want}")
    reads = frozenset(name for name, v in zip(("b", "h", "q_idx", "kv_idx"),
                                              idx) if v.read)
    return Region(kind, blk.lines, cap_values, reads)
