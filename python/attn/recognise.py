"""Declarative masks recognised in mask functions.

A FlexAttention mask_mod such as

    def sliding_window_causal(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx <= 256)

is the builtin `attn.sliding_window(256, 0)` written as a function. Traced,
it is evaluated element by element and its tiles are only known at run
time; recognised, it gets the builtin's symbolic tile classes (empty tiles
never visited, full tiles without any per-element mask) and row-exact key
ranges. `declarative(fn, shift)` calls `fn` once on symbolic arguments
that record integer affine forms of q_idx and kv_idx and the comparisons,
&, |, ~ and ^ between them; every atom must compare `kv_idx - q_idx` (up
to sign) with a constant, or be `ids[q_idx] == ids2[kv_idx]` over 1-D
integer arrays the function closes over (document ids: attn.document,
with the arrays as its segment operands, read at every call as the traced
function would read them). Per-document values read through the ids,
such as attention-gym's `offsets[document_id[q_idx]]` (the document's
first index, which makes q_idx and kv_idx logical positions within the
document), may appear in the comparisons when the formula also requires
`ids[q_idx] == ids[kv_idx]` around them: there a document's value is the
same on both sides, so `offsets[ids[q_idx]] - offsets[ids[kv_idx]]` is 0
and the comparison is one of `kv_idx - q_idx` again. Anything else the
function does (reading b or h, indexing otherwise, floor division,
branching on a value, calling a torch function) stops the recognition, and the caller keeps the traced
function. So a recognised mask is the function's exact meaning, never an
approximation.

FlexAttention's q_idx is the query's index; attn's builtins are written
over the query's position p = q_idx + shift (shift = Skv - Sq for a call
without kv_len), so the caller passes the shift of the shapes it runs.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import closures as C
from . import spec as S

# A bound beyond any sequence length: a window side this long is no bound.
_UNBOUNDED = 1 << 40


class _NotDeclarative(Exception):
    pass


def _stop(*_args, **_kwargs):
    raise _NotDeclarative()


class _Symbolic:
    """A symbolic argument or result: every operation stops the
    recognition unless a subclass defines it."""
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _stop
    __neg__ = __pos__ = __abs__ = __invert__ = __pow__ = __rpow__ = _stop
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _stop
    __mod__ = __rmod__ = __and__ = __rand__ = __or__ = __ror__ = _stop
    __xor__ = __rxor__ = _stop
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _stop
    __getitem__ = __index__ = __int__ = __float__ = __bool__ = _stop
    __hash__ = __len__ = __iter__ = _stop
    __torch_function__ = classmethod(_stop)
    __array_ufunc__ = _stop


class _Opaque(_Symbolic):
    """b and h: any use stops the recognition."""


class _Formula(_Symbolic):
    """A boolean formula over intervals of d = kv_idx - q_idx: ("in", lo,
    hi) with None for an open side, ("and"|"or", [children]), ("not", f),
    or ("const", bool)."""

    def __init__(self, node):
        self.node = node

    def _other(self, o):
        if isinstance(o, _Formula):
            return o
        if isinstance(o, bool):
            return _Formula(("const", o))
        raise _NotDeclarative()

    def __and__(self, o):
        return _Formula(("and", [self.node, self._other(o).node]))

    def __or__(self, o):
        return _Formula(("or", [self.node, self._other(o).node]))

    def __xor__(self, o):
        o = self._other(o).node
        return _Formula(("or", [("and", [self.node, ("not", o)]),
                                ("and", [("not", self.node), o])]))

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self):
        return _Formula(("not", self.node))

    def __eq__(self, o):  # bool == bool: both or neither
        return ~(self ^ o)

    def __ne__(self, o):
        return self ^ o


class _Affine(_Symbolic):
    """aq * q_idx + akv * kv_idx + c + sum of coefficient * per-document
    value, integers. `terms` maps (values, ids, side) to a coefficient:
    values[ids[q_idx]] for side "q", values[ids[kv_idx]] for "kv" (the
    _Ids objects)."""

    def __init__(self, aq, akv, c, terms=None):
        self.aq, self.akv, self.c = aq, akv, c
        self.terms = {t: a for t, a in (terms or {}).items() if a != 0}

    @staticmethod
    def lift(x):
        if isinstance(x, _Affine):
            return x
        if isinstance(x, int) and not isinstance(x, bool):
            return _Affine(0, 0, x)
        raise _NotDeclarative()

    def __add__(self, o):
        o = _Affine.lift(o)
        terms = dict(self.terms)
        for t, a in o.terms.items():
            terms[t] = terms.get(t, 0) + a
        return _Affine(self.aq + o.aq, self.akv + o.akv, self.c + o.c, terms)

    __radd__ = __add__

    def __neg__(self):
        return _Affine(-self.aq, -self.akv, -self.c,
                       {t: -a for t, a in self.terms.items()})

    def __pos__(self):
        return self

    def __sub__(self, o):
        return self + -_Affine.lift(o)

    def __rsub__(self, o):
        return _Affine.lift(o) - self

    def __mul__(self, o):
        if isinstance(o, _Affine) and o.aq == 0 and o.akv == 0:
            o = o.c
        if not isinstance(o, int) or isinstance(o, bool):
            raise _NotDeclarative()
        return _Affine(self.aq * o, self.akv * o, self.c * o,
                       {t: a * o for t, a in self.terms.items()})

    __rmul__ = __mul__

    def __abs__(self):
        return _Abs(self)

    def abs(self):  # torch's tensor method
        return _Abs(self)

    def _compare(self, o, op):
        # self - o  op  0, with self - o = k * d + c, d = kv_idx - q_idx.
        e = self - _Affine.lift(o)
        if e.aq == 0 and e.akv == 0:
            node = ("const", _holds(op, e.c, 0))
        else:
            if e.aq != -e.akv or abs(e.akv) != 1:
                raise _NotDeclarative()
            # k d + c op 0  <=>  d op' -k c (op flipped when k = -1).
            if e.akv == -1:
                op = _FLIP[op]
            node = _interval(op, -e.akv * e.c).node
        if e.terms:
            # Only where the document values cancel (_mask checks that).
            node = ("same_doc", node, frozenset(e.terms.items()))
        return _Formula(node)

    __lt__, __le__, __gt__, __ge__, __eq__, __ne__ = (
        (lambda self, o, op=op: self._compare(o, op))
        for op in ("<", "<=", ">", ">=", "==", "!="))



class _Ids(_Symbolic):
    """A closed-over 1-D integer array; only ids[q_idx] and ids[kv_idx]
    are recognised."""

    def __init__(self, name, values):
        self.name, self.values = name, values

    __hash__ = object.__hash__  # a key of _Affine.terms, by identity

    def __getitem__(self, index):
        if isinstance(index, _Id):  # a per-document value, e.g. an offset
            return _Affine(0, 0, 0, {(self, index.ids, index.side): 1})
        if isinstance(index, _Affine) and index.c == 0 and not index.terms:
            if (index.aq, index.akv) == (1, 0):
                return _Id(self, "q")
            if (index.aq, index.akv) == (0, 1):
                return _Id(self, "kv")
        raise _NotDeclarative()


class _Id(_Symbolic):
    """ids[q_idx] or ids[kv_idx]: equal or not to the other side's."""

    def __init__(self, ids, side):
        self.ids, self.side = ids, side

    def __eq__(self, o):
        if not isinstance(o, _Id) or o.side == self.side:
            raise _NotDeclarative()
        q, kv = (self, o) if self.side == "q" else (o, self)
        return _Formula(("doc", q.ids, kv.ids))

    def __ne__(self, o):
        return ~(self == o)



class _Abs(_Symbolic):
    """|x| for an affine x, usable only in a comparison with a constant."""

    def __init__(self, x):
        self.x = x

    def _bound(self, o, strict):
        if not isinstance(o, int) or isinstance(o, bool):
            raise _NotDeclarative()
        t = o - 1 if strict else o
        return (self.x <= t) & (self.x >= -t)

    def __le__(self, o):
        return self._bound(o, False)

    def __lt__(self, o):
        return self._bound(o, True)

    def __gt__(self, o):
        return ~self._bound(o, False)

    def __ge__(self, o):
        return ~self._bound(o, True)



_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _holds(op, a, b):
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
            "==": a == b, "!=": a != b}[op]


def _interval(op, t):
    """d op t as a formula of intervals."""
    node = {"<": ("in", None, t - 1), "<=": ("in", None, t),
            ">": ("in", t + 1, None), ">=": ("in", t, None),
            "==": ("in", t, t), "!=": ("not", ("in", t, t))}[op]
    return _Formula(node)


def _intersect(a, b):
    lo = a[1] if b[1] is None else b[1] if a[1] is None else max(a[1], b[1])
    hi = a[2] if b[2] is None else b[2] if a[2] is None else min(a[2], b[2])
    return ("in", lo, hi)


def _flatten(node):
    """Nested and/or of the same kind as one, constants folded."""
    kind = node[0]
    if kind == "not":
        inner = _flatten(node[1])
        return ("const", not inner[1]) if inner[0] == "const" else \
            ("not", inner)
    if kind not in ("and", "or"):
        return node
    unit = kind == "and"  # the constant that changes nothing
    children = []
    for c in map(_flatten, node[1]):
        if c[0] == "const":
            if c[1] != unit:
                return c
            continue
        children.extend(c[1] if c[0] == kind else [c])
    if not children:
        return ("const", unit)
    return children[0] if len(children) == 1 else (kind, children)


def _cancels(terms, docs_in_scope) -> bool:
    """Whether the per-document terms sum to 0 wherever one of the
    enclosing `ids_q[q_idx] == ids_kv[kv_idx]` conjuncts holds: each
    values[ids_q[q_idx]] with coefficient a is matched by values[ids_kv[
    kv_idx]] with -a, and every id indexes `values` (else the function
    itself would fail, which the recognised mask must not hide)."""
    coeff = dict(terms)
    for ids_q, ids_kv in docs_in_scope:
        for (values, ids, side), a in terms:
            want = ids_q if side == "q" else ids_kv
            other = (values, ids_kv if side == "q" else ids_q,
                     "kv" if side == "q" else "q")
            if ids is not want or coeff.get(other) != -a:
                break
        else:
            if all(_indexes(values, ids) for (values, ids, _), _ in terms):
                return True
    return False


def _indexes(values, ids) -> bool:
    v, i = C.host_array(values.values), C.host_array(ids.values)
    if v.ndim != 1 or i.ndim != 1 or i.dtype.kind not in "iu":
        return False
    return i.size == 0 or (int(i.min()) >= -v.shape[0] and
                           int(i.max()) < v.shape[0])


def _resolve(node, scope):
    """`node` with its "same_doc" atoms replaced by their comparisons where
    a document conjunct around them (`scope`, or one of an "and" on the
    way down) makes the per-document values cancel."""
    kind = node[0]
    if kind == "same_doc":
        if not _cancels(node[2], scope):
            raise _NotDeclarative()
        return node[1]
    if kind == "not":
        return ("not", _resolve(node[1], scope))
    if kind in ("and", "or"):
        if kind == "and":
            scope = scope + [(c[1], c[2]) for c in node[1] if c[0] == "doc"]
        return (kind, [_resolve(c, scope) for c in node[1]])
    return node


def _mask(node, shift, docs) -> S.Mask:
    kind = node[0]
    if kind == "doc":
        if all(d[0] is not node[1] or d[1] is not node[2] for d in docs):
            docs.append((node[1], node[2]))
        return S.Document()
    if kind == "const":
        return S.Full() if node[1] else S.Not(S.Full())
    if kind == "not":
        return S.Not(_mask(node[1], shift, docs))
    if kind == "in":
        return _window(node[1], node[2], shift)
    # and: the interval children meet in one interval first, so that a
    # causal window written as two comparisons becomes one window.
    children = node[1]
    if kind == "and":
        box = [c for c in children if c[0] == "in"]
        rest = [c for c in children if c[0] != "in"]
        if box:
            meet = box[0]
            for c in box[1:]:
                meet = _intersect(meet, c)
            children = [meet] + rest
    masks = [_mask(c, shift, docs) for c in children]
    if len(masks) == 1:
        return masks[0]
    return S.And(*masks) if kind == "and" else S.Or(*masks)


def _window(lo, hi, shift) -> S.Mask:
    """lo <= d <= hi (None: open) as builtins. With p = q_idx + shift, the
    key's offset from the position is e = kv_idx - p = d - shift, and
    sliding_window(left, right) allows -left <= e <= right."""
    lo = None if lo is None else lo - shift
    hi = None if hi is None else hi - shift
    if lo is not None and hi is not None and lo > hi:
        return S.Not(S.Full())

    def upto(h):  # e <= h
        if h >= 0:
            return S.Causal() if h == 0 else S.SlidingWindow(_UNBOUNDED, h)
        return S.Not(S.SlidingWindow(-(h + 1), _UNBOUNDED))

    def from_(l):  # e >= l
        if l <= 0:
            return S.SlidingWindow(-l, _UNBOUNDED)
        return S.Not(upto(l - 1))

    if lo is None and hi is None:
        return S.Full()
    if lo is None:
        return upto(hi)
    if hi is None:
        return from_(lo)
    if lo <= 0 <= hi:
        return S.SlidingWindow(-lo, hi)
    return S.And(from_(lo), upto(hi))


def declarative(mask_mod, shift: int = 0, lengths=None,
                batch: int = 1) -> Tuple[Optional[S.Mask], dict]:
    """The builtin mask that `mask_mod(b, h, q_idx, kv_idx)` computes for
    query positions q_idx + shift, and the operands it reads (document
    ids: "segments", [batch, Sq] and [batch, Skv] int32, from the arrays'
    current values; `lengths` = (Sq, Skv) is needed for them), or
    (None, {}) when it is not recognised."""
    try:
        arrays = C.current_arrays(mask_mod)
        fn = mask_mod
        if arrays:
            fn = C.with_arrays(mask_mod, {n: _Ids(n, a)
                                          for n, a in arrays.items()})
        out = fn(_Opaque(), _Opaque(), _Affine(1, 0, 0), _Affine(0, 1, 0))
        if isinstance(out, bool):
            out = _Formula(("const", out))
        if not isinstance(out, _Formula):
            return None, {}
        docs = []
        mask = _mask(_flatten(_resolve(_flatten(out.node), [])), shift, docs)
        operands = {}
        if docs:
            segments = _segments(docs, lengths, batch)
            if segments is None:
                return None, {}
            operands["segments"] = segments
        return mask, operands
    except _NotDeclarative:
        return None, {}
    except Exception:  # anything else the function tried: keep it traced
        return None, {}


def _segments(docs, lengths, batch):
    """The segment operands of the one pair of id arrays, or None (two
    pairs, arrays too short, not 1-D integers, ids beyond int32: the traced
    function keeps those, with its own errors)."""
    if len(docs) != 1 or lengths is None:
        return None
    (q_ids, kv_ids), = docs
    out = []
    for ids, n in ((q_ids, lengths[0]), (kv_ids, lengths[1])):
        a = C.host_array(ids.values)
        if a.ndim != 1 or a.shape[0] < n or a.dtype.kind not in "iu":
            return None
        a = a[:n]
        if a.size and (a.min() < -2**31 or a.max() >= 2**31):
            return None
        out.append(np.ascontiguousarray(
            np.broadcast_to(a.astype(np.int32)[None], (batch, n))))
    return tuple(out)
