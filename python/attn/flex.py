"""FlexAttention's entry points, compiled by attn for the CPU.

Code written for PyTorch's FlexAttention runs with one changed import:

    from attn.flex import flex_attention, create_block_mask
    # was: from torch.nn.attention.flex_attention import ...

    block_mask = create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN)
    out = flex_attention(q, k, v, score_mod=score_mod, block_mask=block_mask)

`mask_mod(b, h, q_idx, kv_idx)` and `score_mod(score, b, h, q_idx, kv_idx)`
are traced into one attn kernel (see attn.trace for what they may use; the
arrays they close over are read at every call). q, k, v are PyTorch CPU
tensors or numpy arrays, [B, H, S, D]; the output has q's kind and dtype.

`create_block_mask` classifies the BLOCK_SIZE x BLOCK_SIZE blocks of
`mask_mod` over [B, H, Q_LEN, KV_LEN] (size-1 batch and head dims when B or
H is None) into those that allow nothing, some or everything (an
attn.blocks table), with a compiled attn.mask_blocks kernel of the traced
mask_mod (blocks bounded by interval arithmetic, evaluated pair by pair
only where the bounds do not decide; numpy on the whole grid for a mask_mod
that does not trace); the kernel skips the first kind's
complement at run time without reading its keys, runs whole blocks without
evaluating mask_mod, and applies mask_mod element by element in the rest. Like FlexAttention's, the block
mask describes the mask_mod's values when it was made: make a new one when
the arrays the mask reads change. Unlike FlexAttention, nothing is
recompiled for another length: one kernel per (score_mod, mask_mod, dtype,
head dims, block size, scale) serves all.

A mask_mod that only compares kv_idx - q_idx with constants (causal,
sliding windows, bands) and closed-over document ids (`doc[q_idx] ==
doc[kv_idx]`), combined with &, |, ~ and and_masks/or_masks, is recognised
as the builtin it computes (attn.recognise) and runs as that builtin,
without the table: its tiles are classified symbolically (document ids at
run time, by id ranges) and its partial tiles masked by key ranges, as
fast as the builtin. create_block_mask then evaluates nothing until its
blocks are asked for (`kv_blocks`, `sparsity()`, ...).
"""

from __future__ import annotations

import functools
import threading
from typing import Callable, Optional

import numpy as np

from . import closures as C
from . import recognise
from . import spec as S
from . import trace as T
from .api import _to_numpy, compile as _compile_spec
from .block_classes import classify as _classify
from .trace import and_masks, or_masks

__all__ = ["BlockMask", "create_block_mask", "flex_attention", "and_masks",
           "or_masks", "noop_mask"]

# Elements of the mask grid evaluated at once by create_block_mask.
_CHUNK_ELEMENTS = 1 << 24


def noop_mask(b, h, q_idx, kv_idx):
    """Allows everything (FlexAttention's noop_mask)."""
    return True


class BlockMask:
    """Which blocks of a mask_mod allow anything, as create_block_mask
    found them. `kv_blocks[b, h, i, j]` (bool, size-1 batch / head dims
    broadcast) is true when query block i and kv block j hold an allowed
    pair; `full_blocks` when every pair is allowed."""

    def __init__(self, mask_mod, shape, block_size, table):
        self.mask_mod = mask_mod
        self.shape = shape  # (B, H, Q_LEN, KV_LEN); B, H None if broadcast
        self.BLOCK_SIZE = block_size
        # The int8 table of block classes, or a function computing it when
        # first asked (a recognised mask_mod runs without it).
        self._table = table

    def table(self) -> np.ndarray:
        """The table attn.blocks reads: int8, 0 where a block allows
        nothing, 2 where it allows everything, 1 where mask_mod decides."""
        if callable(self._table):
            self._table = self._table()
        return self._table

    @property
    def kv_blocks(self) -> np.ndarray:
        return self.table() >= 1

    @property
    def full_blocks(self) -> np.ndarray:
        return self.table() == 2

    def sparsity(self) -> float:
        """Percentage of blocks skipped (FlexAttention's sparsity())."""
        return 100.0 * (1.0 - float(self.kv_blocks.mean())) \
            if self.kv_blocks.size else 0.0

    def __repr__(self):
        return (f"attn.flex.BlockMask(shape={self.shape}, BLOCK_SIZE="
                f"{self.BLOCK_SIZE}, sparsity={self.sparsity():.2f}%)")


def _block_size(block_size):
    if isinstance(block_size, int) and not isinstance(block_size, bool):
        block_size = (block_size, block_size)
    if not (isinstance(block_size, tuple) and len(block_size) == 2 and
            all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                for x in block_size)):
        raise ValueError(f"BLOCK_SIZE must be a positive int or a pair of "
                         f"them, got {block_size!r}")
    return block_size


def _length(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{name} must be a positive int"
                         f"{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


def _call_on_arrays(mask_mod: Callable, *idx):
    """mask_mod on index arrays, with the arrays it closes over as numpy
    (torch tensors converted), as the float64 reference calls it."""
    arrays = C.current_arrays(mask_mod)
    fn = C.with_arrays(mask_mod, {n: T.torch_like(a)
                                  for n, a in arrays.items()}) \
        if arrays else mask_mod
    with np.errstate(all="ignore"):
        out = fn(*(T.torch_like(a) for a in idx))
    return np.asarray(out, dtype=bool)


def create_block_mask(mask_mod: Callable, B: Optional[int], H: Optional[int],
                      Q_LEN: int, KV_LEN: int, device: str = "cpu",
                      BLOCK_SIZE=128, _compile: bool = False) -> BlockMask:
    """The blocks of `mask_mod` over [B, H, Q_LEN, KV_LEN] that allow
    anything (FlexAttention's create_block_mask; B or H None broadcasts
    over that dim), by a compiled attn.mask_blocks kernel (numpy where
    mask_mod does not trace); for a mask_mod flex_attention runs as a
    builtin (attn.recognise), only when the blocks are first asked for."""
    if not callable(mask_mod):
        raise TypeError(f"mask_mod must be a function, got {mask_mod!r}")
    if str(device) != "cpu":
        raise ValueError(f"attn.flex runs on the CPU; device must be 'cpu', "
                         f"got {device!r}")
    Bn = _length("B", B, True) or 1
    Hn = _length("H", H, True) or 1
    Q_LEN, KV_LEN = _length("Q_LEN", Q_LEN), _length("KV_LEN", KV_LEN)
    bq, bkv = _block_size(BLOCK_SIZE)
    table = functools.partial(_table, mask_mod, Bn, Hn, Q_LEN, KV_LEN,
                              bq, bkv)
    if recognise.declarative(mask_mod, KV_LEN - Q_LEN, (Q_LEN, KV_LEN))[0] \
            is None:
        table = table()
    return BlockMask(mask_mod, (B, H, Q_LEN, KV_LEN), (bq, bkv), table)


def _table(mask_mod, Bn, Hn, Q_LEN, KV_LEN, bq, bkv):
    """The int8 block-class table of mask_mod: by its compiled
    classification kernel, or by numpy where mask_mod does not trace."""
    found = _compiled_table(mask_mod, Bn, Hn, Q_LEN, KV_LEN, bq, bkv)
    if found is None:
        found = _evaluated_table(mask_mod, Bn, Hn, Q_LEN, KV_LEN, bq, bkv)
    return found


def _compiled_table(mask_mod, Bn, Hn, Q_LEN, KV_LEN, bq, bkv):
    """The int8 block-class table [Bn, Hn, blocks of Q_LEN, blocks of
    KV_LEN] by an attn.mask_blocks kernel of the traced mask_mod
    (attn.block_classes.classify), or None when it does not trace. The
    kernel evaluates the same traced function that flex_attention's kernel
    applies in partial blocks, so the two agree even where numpy's int64 /
    float64 arithmetic would not."""
    return _classify(mask_mod, Bn, Hn, Q_LEN, KV_LEN, bq, bkv)


def _evaluated_table(mask_mod, Bn, Hn, Q_LEN, KV_LEN, bq, bkv):
    """The int8 block-class table of mask_mod, by numpy on the whole
    grid."""
    nq, nkv = -(-Q_LEN // bq), -(-KV_LEN // bkv)
    any_ = np.zeros((Bn, Hn, nq, nkv), bool)
    full = np.zeros((Bn, Hn, nq, nkv), bool)
    b = np.arange(Bn).reshape(Bn, 1, 1, 1)
    h = np.arange(Hn).reshape(1, Hn, 1, 1)
    kv = np.arange(KV_LEN).reshape(1, 1, 1, KV_LEN)
    # Query blocks per chunk, so that a chunk holds at most _CHUNK_ELEMENTS.
    per = max(1, _CHUNK_ELEMENTS // max(1, Bn * Hn * bq * KV_LEN))
    pad = nkv * bkv - KV_LEN
    for i0 in range(0, nq, per):
        i1 = min(nq, i0 + per)
        rows = np.arange(i0 * bq, min(i1 * bq, Q_LEN))
        allowed = _call_on_arrays(mask_mod, b, h,
                                  rows.reshape(1, 1, -1, 1), kv)
        allowed = np.broadcast_to(allowed, (Bn, Hn, rows.size, KV_LEN))
        # Pad to whole blocks: padding counts as allowed for `full` (it is
        # outside the sequence) and as masked for `any`.
        rpad = (i1 - i0) * bq - rows.size
        grid = np.pad(allowed, ((0, 0), (0, 0), (0, rpad), (0, pad)))
        valid = np.pad(np.ones((rows.size, KV_LEN), bool),
                       ((0, rpad), (0, pad)))
        blocks = grid.reshape(Bn, Hn, i1 - i0, bq, nkv, bkv)
        vblocks = valid.reshape(i1 - i0, bq, nkv, bkv)
        any_[:, :, i0:i1] = blocks.any(axis=(3, 5))
        full[:, :, i0:i1] = (blocks | ~vblocks[None, None]).all(axis=(3, 5))
    return np.where(full, 2, np.where(any_, 1, 0)).astype(np.int8)


_kernels: dict = {}
_kernels_lock = threading.Lock()


def _dtype_of(a: np.ndarray) -> str:
    name = a.dtype.name
    if name not in ("float32", "float16", "bfloat16"):
        raise TypeError(f"query must be float32, float16 or bfloat16, got "
                        f"{a.dtype}")
    return name


def flex_attention(query, key, value, score_mod: Optional[Callable] = None,
                   block_mask: Optional[BlockMask] = None,
                   scale: Optional[float] = None, enable_gqa: bool = False,
                   return_lse: bool = False, kernel_options=None):
    """FlexAttention's flex_attention on the CPU: softmax attention of
    query [B, Hq, L, E], key [B, Hkv, S, E], value [B, Hkv, S, Ev] with
    `score_mod` applied to each scaled score and the block mask's
    mask_mod. Returns out [B, Hq, L, Ev] (and the natural-log LSE [B, Hq,
    L] with return_lse). `kernel_options` is accepted and ignored: the
    tile plan is attn's (see attn.tile_plan)."""
    arrays = [_to_numpy(x, n)[0]
              for x, n in ((query, "query"), (key, "key"), (value, "value"))]
    shapes = [tuple(a.shape) for a in arrays]
    if any(len(s) != 4 for s in shapes):
        raise ValueError(f"query, key and value must be 4-D [B, H, S, D], "
                         f"got shapes {shapes}")
    (B, Hq, L, E), (_, Hkv, Skv, _), (_, _, _, Ev) = shapes
    if Hq != Hkv and not enable_gqa:
        raise ValueError(f"query has {Hq} heads and key {Hkv}: pass "
                         f"enable_gqa=True for grouped-query attention")
    dtype = _dtype_of(arrays[0])
    mask = S.Full()
    operands = {}
    if block_mask is not None:
        if not isinstance(block_mask, BlockMask):
            raise TypeError(f"block_mask must come from "
                            f"attn.flex.create_block_mask, got "
                            f"{type(block_mask).__name__}")
        bB, bH, bL, bS = block_mask.shape
        if (bL, bS) != (L, Skv) or (bB not in (None, 1, B)) or \
                (bH not in (None, 1, Hq)):
            raise ValueError(f"block_mask was made for shape "
                             f"{block_mask.shape}; this call has B={B}, "
                             f"H={Hq}, Q_LEN={L}, KV_LEN={Skv}")
        # A mask_mod that is a builtin written as a function (causal,
        # windows, ... over q_idx - kv_idx) runs as that builtin: symbolic
        # tile classes and row-exact ranges instead of the table and an
        # element-by-element mask_mod (attn.recognise; exact, or None).
        builtin, extra = recognise.declarative(block_mask.mask_mod, Skv - L,
                                               (L, Skv), B)
        if builtin is not None:
            mask = builtin
            operands.update(extra)
        else:
            bq, bkv = block_mask.BLOCK_SIZE
            mask = S.Blocks(bq, bkv, S.MaskMod(block_mask.mask_mod))
            operands["block_table"] = block_mask.table()
    key_ = (score_mod, mask.attr() if "block_table" not in operands else
            (block_mask.mask_mod, block_mask.BLOCK_SIZE), scale, dtype, E, Ev)

    with _kernels_lock:
        kernel = _kernels.get(key_)
    if kernel is None:
        spec = S.Spec(mask, score_mod=S.ScoreModFn(score_mod)
                      if score_mod is not None else None, scale=scale)
        kernel = _compile_spec(spec, dtype=dtype, head_dim=E, head_dim_v=Ev)
        with _kernels_lock:
            _kernels[key_] = kernel
    return kernel(query, key, value, return_lse=return_lse, **operands)
