"""Block classes of traced masks, by generated code (attn.mask_blocks).

A mask_mod that attn.recognise cannot turn into a builtin still skips
tiles: its block classes (0: a block allows nothing, 1: some pairs, 2:
every pair) are computed by a compiled attn.mask_blocks kernel of the
traced function, and the attention runs as `#attn.blocks` over the same
function (empty blocks skipped, whole blocks without evaluating it).

- `classify(...)` gives the table (attn.flex.create_block_mask uses it);
- `AutoBlocks` does it for attn.compile's kernels whose whole mask is one
  such mask_mod reading only arrays it closes over: per call, the table
  for the call's lengths (and batch and heads, where the function reads
  them) from the arrays' current contents, cached by those (a digest of
  the arrays' bytes), then the `#attn.blocks` kernel.

The classification kernel bounds the function over each block by interval
arithmetic and evaluates it pair by pair only where the bounds do not
decide (LowerMaskBlocks.cpp), so for arithmetic masks it costs O(blocks)
plus the partial blocks: `bench/results/2026-12-07-mask-blocks.md`.
"""

from __future__ import annotations

import collections
import copy
import threading

import numpy as np

from . import closures as C
from . import ir as IR
from . import spec as S

# The classification kernel: the CPU pipeline with OpenMP (its loop over
# batch, head and query block is parallel).
_OPTIONS = "lowering=fused vector-width=0 openmp=true"
_kernels: dict = {}
_lock = threading.Lock()

# attn.compile's blocks: FlexAttention's default BLOCK_SIZE.
BLOCK = (128, 128)


def _kernel(mask_mod, bq, bkv):
    """(native kernel, Signature, reads b, reads h) of the classification
    of `mask_mod`, or None when it does not trace."""
    from .api import _native_kernel
    key = (mask_mod, bq, bkv)
    with _lock:
        entry = _kernels.get(key)
    if entry is None:
        try:
            text, sig = IR.build(S.Spec(S.MaskMod(mask_mod)), "float32", 1, 1,
                                 blocks=(bq, bkv))
        except Exception:  # noqa: BLE001 - whatever keeps it from tracing
            # (a TraceError, or an attribute the traced values lack): the
            # caller evaluates it some other way.
            entry = False
        else:
            reads = sig.index_reads["mask_mod"]
            entry = (_native_kernel(text, _OPTIONS, True, True,
                                    entry="mask_blocks"), sig,
                     "b" in reads, "h" in reads)
        with _lock:
            _kernels[key] = entry
    return entry or None


def reads_batch_and_head(mask_mod, bq=BLOCK[0], bkv=BLOCK[1]):
    """(whether mask_mod's traced body reads b, whether it reads h), or
    None when it does not trace."""
    entry = _kernel(mask_mod, bq, bkv)
    return None if entry is None else entry[2:]


def classify(mask_mod, B, H, Sq, Skv, bq, bkv, arrays=None):
    """The int8 table [B, H, ceil(Sq / bq), ceil(Skv / bkv)] of mask_mod's
    block classes, from the current contents of the arrays it closes over
    (or `arrays`, name -> value), or None when mask_mod does not trace."""
    entry = _kernel(mask_mod, bq, bkv)
    if entry is None:
        return None
    native, sig = entry[:2]
    arrays = {} if arrays is None else arrays
    captures = []
    for (name, dtype), arg in zip(sig.captures, [a for a in sig.args
                                                 if a.role == "capture"]):
        value = arrays[name] if name in arrays else sig.closures[name].read()
        captures.append(C.closure_capture(name, value, dtype,
                                          arg.type.count("?")))
    q = np.zeros((B, H, Sq, 1), np.float32)
    k = np.zeros((B, H, Skv, 1), np.float32)
    table = np.empty((B, H, -(-Sq // bq), -(-Skv // bkv)), np.int8)
    bad = native.call([(a.ctypes.data, list(a.shape))
                       for a in (q, k, k, *captures, table)])
    if bad:
        raise IndexError(f"captured array '{sig.captures[bad - 1][0]}' was "
                         f"indexed out of range by the mask_mod")
    return table


class AutoBlocks:
    """Block classes for an attn.compile kernel whose whole mask is one
    traced mask_mod (not recognised, reading only arrays it closes over):
    each call classifies the blocks for its lengths (cached by lengths,
    batch and heads where the function reads them, and the arrays'
    contents) and runs the spec as `#attn.blocks` over the same function.
    """

    CACHED = 8  # tables kept, the most recently used

    def __init__(self, spec, compile_kwargs):
        self.fn = spec.mask.fn
        self.spec = copy.copy(spec)
        self.spec.mask = S.Blocks(BLOCK[0], BLOCK[1], spec.mask)
        self.compile_kwargs = compile_kwargs
        self.kernel = None
        self.tables = collections.OrderedDict()
        self.lock = threading.Lock()

    @staticmethod
    def applies(spec, sig) -> bool:
        """Whether `spec` (compiled with signature `sig`) takes this path:
        its mask is one mask_mod with no parameters of its own, and no
        cache lengths, pages or quantized cache."""
        return (isinstance(spec.mask, S.MaskMod) and not spec.kv_len and
                not spec.paged and not spec.quant and
                not sig.capture_owners.get("mask_mod") and
                spec.operands() == [])

    def table(self, B, Hq, Sq, Skv):
        """The call's table (size-1 batch / head dims where the function
        does not read them), or None when mask_mod does not trace."""
        reads = reads_batch_and_head(self.fn)
        if reads is None:
            return None
        Bn, Hn = (B if reads[0] else 1), (Hq if reads[1] else 1)
        arrays = C.current_arrays(self.fn)
        key = (Bn, Hn, Sq, Skv, C.arrays_digest(arrays))
        with self.lock:
            found = self.tables.get(key)
            if found is not None:
                self.tables.move_to_end(key)
                return found
        found = classify(self.fn, Bn, Hn, Sq, Skv, *BLOCK, arrays=arrays)
        if found is None:
            return None
        with self.lock:
            self.tables[key] = found
            while len(self.tables) > self.CACHED:
                self.tables.popitem(last=False)
        return found

    def __call__(self, layout, q, k, v, return_lse, out, lse):
        """The call on the `#attn.blocks` kernel, or None to run the traced
        kernel (inputs that are not 4-D arrays, or mask_mod that does not
        trace: the traced kernel then reports what is wrong)."""
        from .api import compile as _compile
        shape, kshape = getattr(q, "shape", ()), getattr(k, "shape", ())
        if len(shape) != 4 or len(kshape) != 4:
            return None
        seq, heads = (1, 2) if layout == "bshd" else (2, 1)
        table = self.table(shape[0], shape[heads], shape[seq], kshape[seq])
        if table is None:
            return None
        if self.kernel is None:
            self.kernel = _compile(self.spec, **self.compile_kwargs)
        return self.kernel(q, k, v, return_lse=return_lse, out=out, lse=lse,
                           block_table=table)
