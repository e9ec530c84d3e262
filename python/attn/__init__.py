"""attn: an MLIR compiler for attention variants.

    import attn, numpy as np
    spec = attn.Spec(mask=(attn.sinks(4) | attn.sliding_window(256)) & attn.causal(),
                     score_mod=lambda s, b, h, q, kv: 30.0 * attn.tanh(s / 30.0))
    fn = attn.compile(spec, dtype="float32", head_dim=64)
    out = fn(q, k, v)                      # numpy [B, H, S, D]
    out, lse = fn(q, k, v, return_lse=True)

Masks compose with & | ~; score_mod and mask_mod functions are traced into
the IR (see attn.trace for what they may contain). `attn.to_mlir(spec)`
shows the IR, `attn.lower(spec, pipeline)` lowers it. Kernels are cached in
memory and on disk ($ATTN_CACHE_DIR, default ~/.cache/attn); sequence
lengths, batch and head counts never cause a recompilation. `attn.tune`
measures tile configurations and stores the winners, which attn.compile
then uses (attn.tune's docstring).

Gradients: `fn.backward(q, k, v, out, lse, grad_out)` gives (dq, dk, dv)
for the variants it supports (Kernel.backward says which); `import
attn.torch` gives `attn.torch.attention`, the same kernels as a
torch.autograd.Function.
"""

__version__ = "0.1.0"

from .api import (CompileError, Kernel, block_mask_from_lists, cache_dir,
                  cache_info, clear_cache, compile, lower, tile_plan,
                  to_mlir)
from .quant import QuantizedKV, append_kv, quantize_kv
from .memory import empty, huge_pages, to_huge_pages  # caches in 2 MiB pages
from .spec import (Mask, Normalizer, Paged, Quant, ScoreMod, Spec, SpecError, a_shape, alibi,
                   bias, block_sparse, blocks, causal, chunked, dense, dilated,
                   dilated_sliding_window, directional_2d, document, full,
                   gaussian, global_tokens, halo, mask_mod, natten,
                   neighborhood_2d, prefix_lm, rel_bias, relu, score_mod,
                   sigmoid, sink_softmax, sinks, sliding_window, softcap,
                   softmax, softplus, temperature, tree, window_2d)
from . import reference  # attn.reference.attention, the float64 reference
from . import flex  # attn.flex.flex_attention, create_block_mask
from .cascade import cascade, cascade_ir  # shared-prefix cascades
from .tune import TuneError, TuneResult, tune
from .device import DeviceArray, to_device
from .trace import (TraceError, abs, and_masks, clamp, cos, exp, exp2,
                    floor, log, maximum, minimum, or_masks, position, sin,
                    sqrt, tanh, to_int, where)

__all__ = [
    "CompileError", "DeviceArray", "Kernel", "Mask", "Normalizer", "Paged",
    "Quant", "QuantizedKV", "ScoreMod", "append_kv", "quantize_kv",
    "empty", "huge_pages", "to_huge_pages",
    "Spec", "SpecError", "TraceError", "a_shape", "abs", "alibi",
    "and_masks", "bias", "cascade", "cascade_ir", "clamp", "exp2", "floor", "or_masks", "to_int",
    "block_mask_from_lists", "block_sparse", "blocks", "cache_dir", "cache_info",
    "causal", "chunked", "clear_cache", "compile", "cos", "dense", "dilated",
    "dilated_sliding_window", "directional_2d", "document", "exp", "full",
    "gaussian", "global_tokens",
    "halo", "log", "lower", "mask_mod", "maximum", "minimum",
    "natten", "neighborhood_2d", "position", "prefix_lm", "rel_bias", "relu",
    "score_mod", "sigmoid", "sin", "sink_softmax", "sinks", "sliding_window",
    "softcap", "softmax", "softplus", "sqrt", "tanh", "temperature",
    "tile_plan",
    "to_device", "to_mlir", "tree", "TuneError", "TuneResult", "tune",
    "where", "window_2d"
]
