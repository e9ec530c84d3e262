"""Attention specifications: masks, normalizers and score modifiers.

A `Spec` says *what* attention computes; `attn.compile` turns it into native
code. Every object here mirrors one attribute of the `attn` dialect (see
`include/attn/Dialect/Attn/IR/AttnAttrs.td` and `../shared/VARIANTS.md` for
the exact math) and knows how to print itself as that attribute.

Masks form a boolean algebra with `&`, `|` and `~`; a plain Python function
`f(b, h, q_idx, kv_idx)` may stand in for a mask anywhere (it is traced into
the `mask_mod` region).

One module of about 800 lines: its sections (masks, normalizers, score
modifiers, Spec, the constructors) mirror AttnAttrs.td and are read
against it.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence


class SpecError(ValueError):
    """An attention specification that cannot be compiled."""


def _int(name: str, value, minimum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise SpecError(f"{name} must be an integer, got {value!r}")
    value = int(value.__index__())
    if minimum is not None and value < minimum:
        raise SpecError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise SpecError(f"{name} must be finite, got {value}")
    return value


def _fmt(x: float) -> str:
    """A finite float as MLIR's parser reads it back exactly: the shortest
    repr, with the '.' MLIR's float literals need (1e-300 -> 1.0e-300)."""
    mant, e, exp_ = repr(float(x)).partition("e")
    return (mant if "." in mant else mant + ".0") + e + exp_


def _ints(values) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def _floats(values) -> str:
    return "[" + ", ".join(_fmt(v) for v in values) + "]"


# ----------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------


class Mask:
    """A mask expression. Combine with `&` (and), `|` (or), `~` (not)."""

    def attr(self) -> str:
        raise NotImplementedError

    def leaves(self):
        yield self

    def __and__(self, other):
        return And(self, as_mask(other))

    def __rand__(self, other):
        return And(as_mask(other), self)

    def __or__(self, other):
        return Or(self, as_mask(other))

    def __ror__(self, other):
        return Or(as_mask(other), self)

    def __invert__(self):
        return Not(self)

    def __bool__(self):
        raise SpecError("a mask has no truth value: combine masks with "
                        "&, | and ~ rather than 'and', 'or' and 'not'")

    def __repr__(self):
        return f"attn.Mask({self.attr()})"


def as_mask(value) -> Mask:
    if isinstance(value, Mask):
        return value
    if callable(value):
        return MaskMod(value)
    raise SpecError(f"expected a mask or a mask_mod function, got {value!r}")


class _Composite(Mask):
    mnemonic = ""

    def __init__(self, *operands: Mask):
        flat = []
        for m in operands:
            # (a & b) & c prints as one #attn.and of three operands.
            flat.extend(m.operands if type(m) is type(self) else [m])
        self.operands = flat

    def attr(self):
        inner = ", ".join(m.attr() for m in self.operands)
        return f"#attn.{self.mnemonic}<[{inner}]>"

    def leaves(self):
        for m in self.operands:
            yield from m.leaves()


class And(_Composite):
    mnemonic = "and"


class Or(_Composite):
    mnemonic = "or"


class Not(Mask):

    def __init__(self, operand: Mask):
        self.operand = operand

    def attr(self):
        return f"#attn.not<{self.operand.attr()}>"

    def leaves(self):
        yield from self.operand.leaves()


class _Leaf(Mask):
    mnemonic = ""
    params: tuple = ()

    def _int_params(self, label: str, **params):
        """Sets each integer parameter `name=(value, minimum)` as an
        attribute, checked against its minimum (errors call it
        "<label> <name>"), and `params`, the attribute's text, in order."""
        for name, (value, minimum) in params.items():
            setattr(self, name, _int(f"{label} {name}", value, minimum))
        self.params = tuple((name, getattr(self, name)) for name in params)

    def attr(self):
        if not self.params:
            return f"#attn.{self.mnemonic}"
        inner = ", ".join(f"{k} = {v}" for k, v in self.params)
        return f"#attn.{self.mnemonic}<{inner}>"


class Full(_Leaf):
    mnemonic = "full"


class Causal(_Leaf):
    mnemonic = "causal"


class SlidingWindow(_Leaf):
    mnemonic = "sliding_window"

    def __init__(self, left: int, right: int = 0):
        self._int_params("sliding_window", left=(left, 0), right=(right, 0))


class Chunked(_Leaf):
    mnemonic = "chunked"

    def __init__(self, size: int):
        self._int_params("chunked", size=(size, 1))


class Halo(_Leaf):
    mnemonic = "halo"

    def __init__(self, block: int, halo: int):
        self.block = _int("halo block", block, 1)
        self.halo = _int("halo width", halo, 0)
        self.params = (("block", self.block), ("halo", self.halo))


class Dilated(_Leaf):
    mnemonic = "dilated"

    def __init__(self, segment: int, rate: int):
        self._int_params("dilated", segment=(segment, 1), rate=(rate, 1))


class Global(_Leaf):
    mnemonic = "global"

    def __init__(self, first: int = 0, positions: Sequence[int] = ()):
        self.first = _int("global first", first, 0)
        self.positions = tuple(
            _int("global position", p, 0) for p in positions)
        if not self.first and not self.positions:
            raise SpecError("global needs first=N or positions=[...]")
        self.params = (("first", self.first),
                       ("positions", _ints(self.positions)))


class Sinks(_Leaf):
    mnemonic = "sinks"

    def __init__(self, count: int):
        self._int_params("sinks", count=(count, 0))


class AShape(_Leaf):
    """Sinks plus a local window, causal: the A-shape (Lambda) mask."""
    mnemonic = "a_shape"

    def __init__(self, sinks: int, window: int):
        self._int_params("a_shape", sinks=(sinks, 0), window=(window, 0))


class DilatedWindow(_Leaf):
    """|p - j| <= window on a stride of `dilation` (attention-gym's dilated
    sliding window)."""
    mnemonic = "dilated_window"

    def __init__(self, window: int, dilation: int):
        self._int_params("dilated_sliding_window", window=(window, 0),
                         dilation=(dilation, 1))


class PrefixLM(_Leaf):
    mnemonic = "prefix_lm"

    def __init__(self, prefix: int):
        self._int_params("prefix_lm", prefix=(prefix, 0))


class Neighborhood2D(_Leaf):
    mnemonic = "neighborhood_2d"

    def __init__(self, rows, cols, kernel_rows, kernel_cols):
        self._int_params("neighborhood_2d", rows=(rows, 1), cols=(cols, 1),
                         kernel_rows=(kernel_rows, 1),
                         kernel_cols=(kernel_cols, 1))


class Natten(_Leaf):
    """NATTEN's neighbourhood on a rows x cols grid: per dimension a
    kernel-sized window shifted inward at the border (attention-gym's
    natten mask_mod), with optional dilation; see #attn.natten."""
    mnemonic = "natten"

    def __init__(self, rows, cols, kernel, dilation=1):
        kr, kc = _pair("natten kernel", kernel)
        dr, dc = _pair("natten dilation", dilation)
        self._int_params("natten", rows=(rows, 1), cols=(cols, 1),
                         kernel_rows=(kr, 1), kernel_cols=(kc, 1),
                         dilation_rows=(dr, 1), dilation_cols=(dc, 1))


def _pair(label, value):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise SpecError(f"{label} must be an int or a pair (rows, cols), "
                            f"got {value!r}")
        return tuple(value)
    return value, value


class Window2D(_Leaf):
    mnemonic = "window_2d"

    def __init__(self, rows, cols, window_rows, window_cols):
        self._int_params("window_2d", rows=(rows, 1), cols=(cols, 1),
                         window_rows=(window_rows, 1),
                         window_cols=(window_cols, 1))


_DIRECTIONS = {
    "N": (-1, 0), "NE": (-1, 1), "E": (0, 1), "SE": (1, 1),
    "S": (1, 0), "SW": (1, -1), "W": (0, -1), "NW": (-1, -1),
}


class Directional2D(_Leaf):
    mnemonic = "directional_2d"

    def __init__(self, rows, cols, directions, half_plane: bool = False):
        self.rows = _int("directional_2d rows", rows, 1)
        self.cols = _int("directional_2d cols", cols, 1)
        dirs = []
        for d in directions:
            if isinstance(d, str):
                if d.upper() not in _DIRECTIONS:
                    raise SpecError(
                        f"unknown direction {d!r}; use one of "
                        f"{', '.join(_DIRECTIONS)} or a (row, col) pair")
                d = _DIRECTIONS[d.upper()]
            try:
                dr, dc = (int(x) for x in d)
            except (TypeError, ValueError):
                raise SpecError(f"a direction is a compass name or a "
                                f"(row, col) pair, got {d!r}") from None
            if dr == 0 and dc == 0:
                raise SpecError("direction (0, 0) has no direction")
            dirs.append((dr, dc))
        if not dirs:
            raise SpecError("directional_2d needs at least one direction")
        self.directions = tuple(dirs)
        self.half_plane = bool(half_plane)
        flat = [x for d in self.directions for x in d]
        self.params = (("rows", self.rows), ("cols", self.cols),
                       ("directions", _ints(flat)),
                       ("half_plane", "true" if self.half_plane else "false"))


class Document(_Leaf):
    """Call-time operands: `segments=(seg_q [B, Sq], seg_kv [B, Skv])`."""
    mnemonic = "document"
    operand = "segments"


class Tree(_Leaf):
    """Call-time operand: `tree=parent`, int32 [T] (one draft tree for the
    batch) or [B, T] with `per_batch=True`."""
    mnemonic = "tree"
    operand = "tree"

    def __init__(self, per_batch: bool = False):
        self.per_batch = bool(per_batch)


class Dense(_Leaf):
    """Call-time operand: `dense_mask=` a bool array broadcasting to
    [B, Hq, Sq, Skv]."""
    mnemonic = "dense"
    operand = "dense_mask"


class MaskMod(_Leaf):
    """A Python function `f(b, h, q_idx, kv_idx, *captures) -> bool`,
    traced into the op's `mask_mod` region."""
    mnemonic = "mask_mod"

    def __init__(self, fn: Callable, dtypes: Optional[dict] = None):
        if not callable(fn):
            raise SpecError(f"mask_mod needs a function, got {fn!r}")
        self.fn = fn
        self.dtypes = dict(dtypes or {})


class BlockSparse(Dense):
    """Blocks of `block_q` queries by `block_kv` keys, allowed where the
    call-time `block_mask[b, h, i // block_q, j // block_kv]` is true (size-1
    batch and head dims broadcast). Lowered to `#attn.dense<block_q, block_kv>`,
    whose tiles the compiled kernel skips at run time where the block mask
    allows nothing; `attn.block_mask_from_lists` builds a block mask from
    per-row lists."""
    operand = "block_mask"

    def __init__(self, block_q: int, block_kv: int):
        self._int_params("block_sparse", block_q=(block_q, 1),
                         block_kv=(block_kv, 1))


class Blocks(Mask):
    """A block table over `mask` (FlexAttention's block mask with its full
    blocks): the call-time `block_table[b, h, i // block_q, j // block_kv]`
    (int8, size-1 batch and head dims broadcast) is 0 where the block
    allows nothing, 1 where `mask` decides, 2 where the whole block is
    allowed. The kernel skips kv tiles whose entries are all 0 and runs
    tiles whose entries are all 2 without evaluating `mask`. It is the
    whole mask of a spec. attn.flex.create_block_mask builds one from a
    mask_mod."""
    operand = "block_table"

    def __init__(self, block_q: int, block_kv: int, mask):
        self.block_q = _int("blocks block_q", block_q, 1)
        self.block_kv = _int("blocks block_kv", block_kv, 1)
        self.mask = as_mask(mask)
        if any(isinstance(m, (Dense, Blocks)) for m in self.mask.leaves()):
            raise SpecError("the mask inside blocks() may not use dense(), "
                            "block_sparse() or blocks(): the block table is "
                            "the kernel's one dense mask operand")

    def attr(self):
        return (f"#attn.blocks<block_q = {self.block_q}, block_kv = "
                f"{self.block_kv}, mask = {self.mask.attr()}>")

    def leaves(self):
        yield self
        yield from self.mask.leaves()


# ----------------------------------------------------------------------------
# Normalizers
# ----------------------------------------------------------------------------


class Normalizer:
    attr_text = ""
    has_lse = True
    operand = None

    def attr(self) -> str:
        return self.attr_text

    def __repr__(self):
        return f"attn.Normalizer({self.attr()})"


class Softmax(Normalizer):
    attr_text = "#attn.softmax"


class SinkSoftmax(Normalizer):
    """Call-time operand: `sink=` one f32 logit per query head, [Hq]."""
    attr_text = "#attn.sink_softmax"
    operand = "sink"


class Sigmoid(Normalizer):
    has_lse = False

    def __init__(self, beta: Optional[float] = None):
        self.beta = None if beta is None else _float("sigmoid beta", beta)

    def attr(self):
        if self.beta is None:
            return "#attn.sigmoid"
        return f"#attn.sigmoid<beta = {_fmt(self.beta)}>"


class Softplus(Normalizer):
    attr_text = "#attn.softplus"


class Relu(Normalizer):
    _NORMS = ("none", "seq_len", "row_sum")

    def __init__(self, power: int = 1, norm: str = "seq_len"):
        self.power = _int("relu power", power)
        if self.power not in (1, 2):
            raise SpecError(f"relu power must be 1 or 2, got {self.power}")
        if norm not in self._NORMS:
            raise SpecError(f"relu norm must be one of {self._NORMS}, "
                            f"got {norm!r}")
        self.norm = norm
        self.has_lse = norm == "row_sum"

    def attr(self):
        return f"#attn.relu<power = {self.power}, norm = {self.norm}>"


# ----------------------------------------------------------------------------
# Score modifiers
# ----------------------------------------------------------------------------


class ScoreMod:
    operand = None
    static_heads = None

    def attr(self) -> str:
        raise NotImplementedError

    def __repr__(self):
        return f"attn.ScoreMod({self.attr()})"


class Alibi(ScoreMod):

    def __init__(self, slopes: Optional[Sequence[float]] = None,
                 symmetric: bool = False):
        self.slopes = tuple(_float("alibi slope", s) for s in (slopes or ()))
        self.symmetric = bool(symmetric)
        self.static_heads = len(self.slopes) or None

    def attr(self):
        params = []
        if self.slopes:
            params.append(f"slopes = {_floats(self.slopes)}")
        if self.symmetric:
            params.append("symmetric = true")
        return "#attn.alibi" + (f"<{', '.join(params)}>" if params else "")


class Softcap(ScoreMod):

    def __init__(self, cap: float):
        self.cap = _float("softcap cap", cap)
        if self.cap <= 0:
            raise SpecError(f"softcap cap must be positive, got {self.cap}")

    def attr(self):
        return f"#attn.softcap<cap = {_fmt(self.cap)}>"


class RelBias(ScoreMod):
    """T5 relative buckets. Call-time operand: `rel_bias_table=` f32
    [Hq, num_buckets]."""
    operand = "rel_bias_table"

    def __init__(self, num_buckets: int = 32, max_distance: int = 128,
                 bidirectional: bool = True):
        self.num_buckets = _int("rel_bias num_buckets", num_buckets, 1)
        self.max_distance = _int("rel_bias max_distance", max_distance, 1)
        self.bidirectional = bool(bidirectional)

    def attr(self):
        return (f"#attn.rel_bias<num_buckets = {self.num_buckets}, "
                f"max_distance = {self.max_distance}, bidirectional = "
                f"{'true' if self.bidirectional else 'false'}>")


class Bias(ScoreMod):
    """Call-time operand: `bias=` an array broadcasting to [B, Hq, Sq, Skv]
    in the input dtype."""
    operand = "bias"

    def attr(self):
        return "#attn.bias"


class Temperature(ScoreMod):
    """Call-time operand: `temperature=` f32 [B, Hq, Sq]."""
    operand = "temperature"

    def attr(self):
        return "#attn.temperature"


class Gaussian(ScoreMod):

    def __init__(self, mu: Sequence[float], sigma: Sequence[float]):
        self.mu = tuple(_float("gaussian mu", m) for m in mu)
        self.sigma = tuple(_float("gaussian sigma", s) for s in sigma)
        if len(self.mu) != len(self.sigma) or not self.mu:
            raise SpecError("gaussian needs one mu and one sigma per head")
        if any(s <= 0 for s in self.sigma):
            raise SpecError("gaussian sigma must be positive")
        self.static_heads = len(self.mu)

    def attr(self):
        return (f"#attn.gaussian<mu = {_floats(self.mu)}, "
                f"sigma = {_floats(self.sigma)}>")


class ScoreModFn(ScoreMod):
    """A Python function `f(score, b, h, q_idx, kv_idx, *captures)`, traced
    into the op's `score_mod` region."""

    def __init__(self, fn: Callable, dtypes: Optional[dict] = None):
        if not callable(fn):
            raise SpecError(f"score_mod needs a function, got {fn!r}")
        self.fn = fn
        self.dtypes = dict(dtypes or {})

    def attr(self):
        return "#attn.score_mod"


# ----------------------------------------------------------------------------
# The specification
# ----------------------------------------------------------------------------


class Paged:
    """A paged KV cache (vLLM's block tables, FlashAttention's page_table):
    K and V are pools of pages and a per-batch page table lists the pages
    of each sequence, in order.

    page_size: keys per page.
    layout:    "nhd": pools are [pages, page_size, Hkv, D] (vLLM, FlashInfer
               NHD); "hnd": [pages, Hkv, page_size, D].

    A kernel compiled with Spec(paged=Paged(...)) is called as
    fn(q, k_cache, v_cache, page_table=[B, max_pages] int32, kv_len=[B]
    int): logical key j of batch row b is slot j % page_size of page
    page_table[b, j // page_size], the first kv_len[b] keys are visible,
    and the Sq queries are the last Sq of them (so causal and window masks
    see logical positions, as with a contiguous cache of Skv = max_pages *
    page_size keys). Only the table entries covering kv_len[b] keys are
    read; each must be a page of the pool.
    """

    LAYOUTS = ("nhd", "hnd")

    def __init__(self, page_size: int, layout: str = "nhd"):
        self.page_size = _int("page_size", page_size, 1)
        if layout not in self.LAYOUTS:
            raise SpecError(f"paged layout must be 'nhd' ([pages, page_size, "
                            f"Hkv, D]) or 'hnd' ([pages, Hkv, page_size, D]), "
                            f"got {layout!r}")
        self.layout = layout

    @property
    def slot_axis(self) -> int:
        """The axis of a pool along a page's keys."""
        return 1 if self.layout == "nhd" else 2

    @property
    def head_axis(self) -> int:
        return 3 - self.slot_axis

    def attr(self) -> str:
        lay = "" if self.layout == "nhd" else ", layout = hnd"
        return f"#attn.paged<page_size = {self.page_size}{lay}>"

    def __repr__(self):
        return f"attn.Paged(page_size={self.page_size}, layout={self.layout!r})"


class Quant:
    """A quantized KV cache (KIVI's asymmetric scheme): K and V hold
    unsigned integer codes and each element is scale * code + zero, with one
    scale and zero per group.

    bits:        8, 4 or 2 bits per code.
    group_size:  keys are grouped per channel along tokens (group_size
                 consecutive tokens of one channel share a scale and zero),
                 values per token along channels (group_size consecutive
                 channels of one token).
    scale_dtype: "float16" or "float32", of the scales and zeros.
    residual:    R > 0 keeps the newest tokens in full precision (KIVI's
                 residual): of kv_len[b] tokens the first
                 kv_len[b] - kv_len[b] % R are codes, the others rows of
                 the residual arrays; a multiple of group_size.

    The packing (BHSD shown; BSHD swaps the sequence and head axes of every
    array): codes k [B, Hkv, Skv, D * bits // 8] and v
    [B, Hkv, Skv, Dv * bits // 8] uint8, 8 // bits codes of consecutive
    channels to a byte, the lowest bits first (channel d is bits
    (d % (8 // bits)) * bits and up of byte d // (8 // bits)); key scales
    and zeros [B, Hkv, Skv // group_size, D], value scales and zeros
    [B, Hkv, Skv, Dv // group_size]; residual keys [B, Hkv, R, D] and
    values [B, Hkv, R, Dv] in the kernel's dtype. attn.quantize_kv makes
    them; a kernel compiled with Spec(quant=Quant(...)) is called as
    fn(q, cache.k, cache.v, kv_quant=cache, kv_len=cache.kv_len).

    With Spec(paged=Paged(page_size, layout), quant=...) the codes, scales
    and zeros are page pools read through one page table: codes
    [pages, page_size, Hkv, D * bits // 8] ("nhd"; "hnd" swaps the slot and
    head axes), key scales and zeros [pages, page_size // group_size, Hkv,
    D], value scales and zeros [pages, page_size, Hkv, Dv // group_size];
    the residual stays per sequence as above. QuantizedKV.to_pages makes
    them; the call adds page_table=cache.page_table.

    format="e4m3" or "e5m2" makes an fp8 cache instead (bits 8, group_size
    1, the defaults then): each code byte is an fp8 number (OCP FP8, e4m3
    without infinities) and x = scale[h] * code with one scale per kv head
    for keys and one for values, k_scale and v_scale [Hkv] (no zeros);
    quantize_kv picks scale = max |x| / the format's largest number.
    """

    BITS = (8, 4, 2)
    SCALE_DTYPES = {"float16": "f16", "float32": "f32"}
    FORMATS = ("uint", "e4m3", "e5m2")

    def __init__(self, bits: Optional[int] = None,
                 group_size: Optional[int] = None,
                 scale_dtype: str = "float16", residual: int = 0,
                 format: str = "uint"):
        if format not in self.FORMATS:
            raise SpecError(f"quant format must be one of "
                            f"{', '.join(self.FORMATS)}, got {format!r}")
        self.format = format
        fp8 = format != "uint"
        bits = (8 if fp8 else 4) if bits is None else bits
        group_size = (1 if fp8 else 32) if group_size is None else group_size
        if fp8 and (bits != 8 or group_size != 1):
            raise SpecError(f"fp8 codes (format {format!r}) have bits=8 and "
                            f"group_size=1 (one scale per head), got "
                            f"bits={bits!r}, group_size={group_size!r}")
        self.bits = _int("quant bits", bits)
        if self.bits not in self.BITS:
            raise SpecError(f"quant bits must be 8, 4 or 2, got {bits!r}")
        self.group_size = _int("group_size", group_size, 1)
        if scale_dtype not in self.SCALE_DTYPES:
            raise SpecError(f"quant scale_dtype must be 'float16' or "
                            f"'float32', got {scale_dtype!r}")
        self.scale_dtype = scale_dtype
        self.residual = _int("residual", residual, 0)
        if self.residual % self.group_size:
            raise SpecError(f"quant residual ({self.residual}) must be a "
                            f"multiple of group_size ({self.group_size}): "
                            f"the residual is quantized R tokens at a time, "
                            f"in whole key groups")

    @property
    def codes_per_byte(self) -> int:
        return 8 // self.bits

    @property
    def fp8(self) -> bool:
        return self.format != "uint"

    def attr(self) -> str:
        res = f", residual = {self.residual}" if self.residual else ""
        fmt = f", format = {self.format}" if self.fp8 else ""
        return (f"#attn.quant<bits = {self.bits}, group = {self.group_size}, "
                f"scale = {self.SCALE_DTYPES[self.scale_dtype]}{res}{fmt}>")

    def __repr__(self):
        return (f"attn.Quant(bits={self.bits}, group_size={self.group_size}, "
                f"scale_dtype={self.scale_dtype!r}, "
                f"residual={self.residual}, format={self.format!r})")


class Spec:
    """What to compute: a mask, a normalizer, score modifiers and options.

    mask:       a Mask (default full), or a mask_mod function.
    normalizer: default softmax.
    score_mod:  a ScoreMod, a function (traced), or a list of them applied
                in order (at most one function).
    scale:      score scale, default 1/sqrt(head_dim).
    q_offset:   added to every query position.
    layout:     "bhsd" (default) or "bshd" for Q, K, V and O.
    kv_len:     True to take per-batch cache lengths at call time.
    paged:      an attn.Paged: K and V are page pools read through a page
                table (implies kv_len; see Paged).
    quant:      an attn.Quant: K and V are quantized codes, dequantised in
                the kernel as tiles load (implies kv_len; see Quant).
    config:     the tile plan's knobs, as #attn.config (block_q,
                block_kv, vector_width, unroll, kv_splits, q_blocks
                (q-tiles per work item, which share each L2-sized chunk of
                K and V; 0 or unset: chosen per call), dot = "fma" |
                "bf16" | "amx" on the CPU (bf16 inputs default to "amx"
                where the host has AMX; on f16 inputs "amx" is an opt-in
                that rounds Q, K and V to bf16, nearest even, 8
                significant bits instead of 11, README "bf16 on AMX";
                "bf16" also takes decoding's
                products to AVX512-BF16 dot products, README "Decoding on
                the CPU"), or the opt-in "amx_int8" for an
                int8 quant cache (Q K^T on AMX int8 tiles with the query
                rounded to int8 per row and key group: it changes the
                numerics, README "int8 Q K^T on AMX"); block_q, block_kv,
                warps, stages,
                mma = "sync" | "wgmma" on the GPU); unset fields are
                resolved from the target (attn.tile_plan shows them).
    """

    _CONFIG_KEYS = ("block_q", "block_kv", "vector_width", "unroll",
                    "warps", "stages", "kv_splits", "q_blocks", "dot",
                    "mma")
    _CONFIG_WORDS = {"dot": ("fma", "bf16", "amx", "amx_int8"),
                     "mma": ("sync", "wgmma")}
    VECTOR_WIDTHS = (0, 4, 8, 16)

    def __init__(self, mask=None, normalizer: Optional[Normalizer] = None,
                 score_mod=None, *, scale: Optional[float] = None,
                 q_offset: int = 0, layout: str = "bhsd",
                 kv_len: bool = False, paged: Optional[Paged] = None,
                 quant: Optional[Quant] = None, config: Optional[dict] = None):
        self.mask = Full() if mask is None else as_mask(mask)
        self.normalizer = Softmax() if normalizer is None else normalizer
        if not isinstance(self.normalizer, Normalizer):
            raise SpecError(f"normalizer must be attn.softmax(), "
                            f"attn.sink_softmax(), attn.sigmoid(), "
                            f"attn.softplus() or attn.relu(), got "
                            f"{self.normalizer!r}")
        if score_mod is None:
            mods = []
        elif isinstance(score_mod, (list, tuple)):
            mods = list(score_mod)
        else:
            mods = [score_mod]
        self.score_mods = []
        for m in mods:
            if isinstance(m, ScoreMod):
                self.score_mods.append(m)
            elif callable(m):
                self.score_mods.append(ScoreModFn(m))
            else:
                raise SpecError(f"score_mod entries must be attn score "
                                f"modifiers or functions, got {m!r}")
        fns = [m for m in self.score_mods if isinstance(m, ScoreModFn)]
        if len(fns) > 1:
            raise SpecError("at most one traced score_mod function per spec: "
                            "compose them in one function")
        for kind in (Bias, RelBias, Temperature):
            if sum(isinstance(m, kind) for m in self.score_mods) > 1:
                raise SpecError(f"{kind.__name__.lower()} may appear at most "
                                f"once in score_mod")
        mask_mods = [m for m in self.mask.leaves() if isinstance(m, MaskMod)]
        if len(mask_mods) > 1:
            raise SpecError("at most one mask_mod function per mask: "
                            "combine them in one function, e.g. with "
                            "attn.and_masks(f, g) or attn.or_masks(f, g)")
        if any(isinstance(m, Blocks) for m in self.mask.leaves()) and \
                not isinstance(self.mask, Blocks):
            raise SpecError("blocks() is the whole mask (its table overrides "
                            "the mask inside it): put other masks inside it, "
                            "e.g. attn.blocks(bq, bkv, attn.causal() & f)")
        dense = {m.attr() for m in self.mask.leaves()
                 if isinstance(m, Dense)}
        if len(dense) > 1:
            raise SpecError("dense() and block_sparse() leaves all read the "
                            "kernel's one dense mask operand, so a mask may "
                            "use dense() or one block_sparse(block_q, "
                            "block_kv), not both or two block sizes")
        self.scale = None if scale is None else _float("scale", scale)
        self.q_offset = _int("q_offset", q_offset)
        if layout not in ("bhsd", "bshd"):
            raise SpecError(f"layout must be 'bhsd' or 'bshd', got {layout!r}")
        self.layout = layout
        if paged is not None and not isinstance(paged, Paged):
            raise SpecError(f"paged must be an attn.Paged(page_size, "
                            f"layout), got {paged!r}")
        self.paged = paged
        if quant is not None and not isinstance(quant, Quant):
            raise SpecError(f"quant must be an attn.Quant(bits, group_size, "
                            f"scale_dtype, residual), got {quant!r}")
        if quant is not None and paged is not None and \
                paged.page_size % quant.group_size:
            raise SpecError(f"a paged quantized cache needs page_size "
                            f"({paged.page_size}) to be a multiple of "
                            f"group_size ({quant.group_size}): key groups "
                            f"lie within a page")
        self.quant = quant
        self.kv_len = bool(kv_len) or paged is not None or quant is not None
        self.config = dict(config or {})
        for key, value in self.config.items():
            if key not in self._CONFIG_KEYS:
                raise SpecError(f"unknown config key {key!r}; known: "
                                f"{', '.join(self._CONFIG_KEYS)}")
            if key in self._CONFIG_WORDS:
                if value not in self._CONFIG_WORDS[key]:
                    raise SpecError(
                        f"config {key} must be one of "
                        f"{list(self._CONFIG_WORDS[key])}, got {value!r}")
            else:
                _int(f"config {key}", value, 0)
        if self.config.get("vector_width", 0) not in self.VECTOR_WIDTHS:
            raise SpecError(f"config vector_width must be one of "
                            f"{list(self.VECTOR_WIDTHS)} (0: the target's), "
                            f"got {self.config['vector_width']!r}")
        heads = {m.static_heads for m in self.score_mods if m.static_heads}
        if len(heads) > 1:
            raise SpecError(f"score modifiers disagree on the number of "
                            f"heads: {sorted(heads)}")
        self.static_heads = heads.pop() if heads else None

    @property
    def mask_mod(self) -> Optional[MaskMod]:
        for m in self.mask.leaves():
            if isinstance(m, MaskMod):
                return m
        return None

    @property
    def score_mod_fn(self) -> Optional[ScoreModFn]:
        for m in self.score_mods:
            if isinstance(m, ScoreModFn):
                return m
        return None

    def operands(self) -> list:
        """The names of the call-time operands this spec needs, in the
        op's operand order."""
        names = set()
        if self.paged:
            names.add("page_table")
        if self.quant:
            names.add("kv_quant")
        if self.normalizer.operand:
            names.add(self.normalizer.operand)
        if self.kv_len:
            names.add("kv_len")
        for leaf in self.mask.leaves():
            if getattr(leaf, "operand", None):
                names.add(leaf.operand)
        for m in self.score_mods:
            if m.operand:
                names.add(m.operand)
        order = ("page_table", "kv_quant", "sink", "kv_len", "segments", "tree", "dense_mask",
                 "block_mask", "block_table", "bias", "rel_bias_table",
                 "temperature")
        return [n for n in order if n in names]

    def __repr__(self):
        mods = ", ".join(m.attr() for m in self.score_mods)
        paged = f", paged={self.paged!r}" if self.paged else ""
        if self.quant:
            paged += f", quant={self.quant!r}"
        return (f"attn.Spec(mask={self.mask.attr()}, normalizer="
                f"{self.normalizer.attr()}, score_mod=[{mods}]{paged})")


def as_spec(spec) -> Spec:
    """`spec` itself, or a Spec around a mask or mask_mod function (None:
    the default Spec)."""
    if isinstance(spec, Spec):
        return spec
    if spec is None:
        return Spec()
    if isinstance(spec, Mask) or callable(spec):
        return Spec(mask=spec)
    raise SpecError(f"expected an attn.Spec or a mask, got {spec!r}")


# Constructors, as the package exports them.

def full():
    return Full()


def causal():
    return Causal()


def sliding_window(left: int, right: int = 0):
    return SlidingWindow(left, right)


def chunked(size: int):
    return Chunked(size)


def halo(block: int, halo: int):
    return Halo(block, halo)


def dilated(segment: int, rate: int):
    return Dilated(segment, rate)


def global_tokens(first: int = 0, positions: Sequence[int] = ()):
    return Global(first, positions)


def sinks(count: int):
    return Sinks(count)


def dilated_sliding_window(window: int, dilation: int):
    """FlexAttention attention-gym's dilated sliding window: keys at most
    `window` positions from the query on either side, every `dilation`-th
    one (|p - j| <= window and (p - j) % dilation == 0). Not
    `attn.dilated`, which is LongNet's dilation inside fixed segments."""
    return DilatedWindow(window, dilation)


def a_shape(sinks: int, window: int):
    """StreamingLLM / LM-Infinite's A-shape mask as one leaf: each query
    sees the first `sinks` keys and the `window` keys before it (and
    itself), never a later key."""
    return AShape(sinks, window)


def prefix_lm(prefix: int):
    return PrefixLM(prefix)


def neighborhood_2d(rows, cols, kernel_rows, kernel_cols):
    return Neighborhood2D(rows, cols, kernel_rows, kernel_cols)


def natten(rows: int, cols: int, kernel, dilation=1):
    """NATTEN / attention-gym neighbourhood attention on a rows x cols
    grid: `kernel` and `dilation` are ints or (rows, cols) pairs."""
    return Natten(rows, cols, kernel, dilation)


def window_2d(rows, cols, window_rows, window_cols):
    return Window2D(rows, cols, window_rows, window_cols)


def directional_2d(rows, cols, directions, half_plane=False):
    return Directional2D(rows, cols, directions, half_plane)


def document():
    return Document()


def tree(per_batch: bool = False):
    return Tree(per_batch)


def dense():
    return Dense()


def mask_mod(fn: Callable, dtypes: Optional[dict] = None):
    return MaskMod(fn, dtypes)


def blocks(block_q: int, block_kv: int, mask):
    return Blocks(block_q, block_kv, mask)


def block_sparse(block_q: int, block_kv: int):
    return BlockSparse(block_q, block_kv)


def softmax():
    return Softmax()


def sink_softmax():
    return SinkSoftmax()


def sigmoid(beta: Optional[float] = None):
    return Sigmoid(beta)


def softplus():
    return Softplus()


def relu(power: int = 1, norm: str = "seq_len"):
    return Relu(power, norm)


def alibi(slopes: Optional[Sequence[float]] = None, symmetric: bool = False):
    return Alibi(slopes, symmetric)


def softcap(cap: float):
    return Softcap(cap)


def rel_bias(num_buckets: int = 32, max_distance: int = 128,
             bidirectional: bool = True):
    return RelBias(num_buckets, max_distance, bidirectional)


def bias():
    return Bias()


def temperature():
    return Temperature()


def gaussian(mu: Sequence[float], sigma: Sequence[float]):
    return Gaussian(mu, sigma)


def score_mod(fn: Callable, dtypes: Optional[dict] = None):
    return ScoreModFn(fn, dtypes)
