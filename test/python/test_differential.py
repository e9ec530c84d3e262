"""Randomised differential test: compiled kernels against attn.reference.

Every variant below is one Spec (compiled once per dtype and cached in this
module); each test case draws, from a seed derived from the variant's name
and the case number, a few random problem shapes (batch, GQA/MQA heads, odd
and unequal sequence lengths), inputs and call-time operands, runs the
kernel and the float64 numpy reference (python/attn/reference.py), and
checks

    max|O - O_ref| / max|O_ref|          <= tol[dtype]
    |LSE - LSE_ref| / max(1, |LSE_ref|)  <= tol[dtype],  -inf exactly

with the project's tolerances (README "Tolerances"): float32 1e-4, float16
1e-3, bfloat16 8e-3. Everything is deterministic: the same cases run every
time; a failing case reruns alone with `-k "<variant>-<seed>"`, and its
message names the dtype and shape.

The arbiter is always the float64 numpy reference, never the compiler's
own reference lowering (`lowering="reference"`), which shares the mask and
score emitters with the fused path.

The short cases (lengths up to 129) are below the CPU's default tile sizes
(block_q = 64 with AVX-512, block_kv = 96, or 64 for banded masks): with
their small windows no kv tile is ever *full* (seen unmasked), so the
symbolic full intervals of TileClasses.cpp go untested there. Two more
groups cover them at the default tile sizes, cheaply (B = 1, H <= 2):

- the `long_*` variants: one random shape per seed (B = 1, Hq <= 2, MHA
  or GQA, self- and cross-attention, lengths that are and are not tile
  multiples) with Skv in 300..2000 and windows, chunks, prefixes, halos,
  sinks, 2-D grids and documents of 64..700 keys, so that every mask class
  has empty, full and partial tiles (dilated with rate > 1 and
  directional_2d have no full ones by construction), as
  `test_long_cases_cover_every_tile_class` checks against the reference's
  mask at block_q = 64 with block_kv = 64 and 96;
- `test_tile_alignment_sweep`: for interval-shaped masks, 64 shapes whose
  query positions are shifted by 64 consecutive amounts, so that every
  alignment of the mask's interval ends against the 64- and 96-key tile
  grids occurs. Random shapes alone hit a given alignment with odds of about
  1/64 per case: a full interval one key too long (a kv tile run unmasked
  although one of its keys is disallowed for one query) is caught here
  (scripts/mutation-audit.py, mutations window_full_hi and causal_full_hi).

Over the project's ~800 lines: the variant table, the random problem
generator and the long-sequence tile-class cases share helpers and are
read together; each part is a section below.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import ml_dtypes
import numpy as np
import pytest

import attn
from attn import reference

TOL = {"float32": 1e-4, "float16": 1e-3, "bfloat16": 8e-3}
NP_DTYPE = {"float32": np.dtype(np.float32), "float16": np.dtype(np.float16),
            "bfloat16": np.dtype(ml_dtypes.bfloat16)}
LENGTHS = (1, 7, 16, 33, 64, 67, 100, 129)
ALL_DTYPES = ("float32", "bfloat16", "float16")
BF16 = ("float32", "bfloat16", "float32")   # seed 1 in bf16, 0 and 2 in f32
F16 = ("float32", "float32", "float16")     # seed 2 in f16
F32 = ("float32",)
BF16_ONLY = ("bfloat16",)


@dataclass
class Dims:
    B: int
    Hq: int
    Hkv: int
    Sq: int
    Skv: int
    D: int
    Dv: int
    dtype: str


@dataclass
class Variant:
    """One spec and how to draw problems for it.

    lengths: "any" (Sq and Skv independent), "self" (Sq == Skv), "decode"
             (Sq in 1..4), "q_le_kv" / "q_ge_kv";
    operands(rng, dims) -> (positional captures, keyword operands);
    check(dims) -> False rejects a drawn shape (drawn again)."""
    name: str
    spec: attn.Spec
    operands: Optional[Callable] = None
    dtypes: tuple = F32
    D: int = 32
    Dv: Optional[int] = None
    lengths: str = "any"
    max_len: int = 129
    heads: Optional[int] = None
    seeds: int = 3
    shapes: int = 2
    compile_kw: dict = field(default_factory=dict)
    check: Optional[Callable] = None
    marks: tuple = ()
    # Long cases: B = 1, H <= 2, Skv in min_len..max_len (see _draw_long).
    long: bool = False
    min_len: int = 300
    # Tile classes that test_long_cases_cover_every_tile_class requires.
    tile_classes: tuple = ("empty", "full", "partial")


def V(name, spec=None, operands=None, **kw):
    """A variant; `spec` may be a Spec, a mask, a mask_mod function or None
    (full attention)."""
    if spec is None:
        spec = attn.Spec()
    elif not isinstance(spec, attn.Spec):
        spec = attn.Spec(mask=spec)
    return Variant(name, spec, operands, **kw)


# ----------------------------------------------------------------------------
# Operand generators
# ----------------------------------------------------------------------------


def _f32(x):
    return np.asarray(x, np.float32)


def op_kv_len(rng, d):
    lens = rng.integers(0, d.Skv + 1, d.B)
    if d.B > 1:
        lens[rng.integers(d.B)] = d.Skv     # one full row
    return (), {"kv_len": lens.astype(np.int32)}


def _segments(rng, n, ndocs, pad):
    ids = np.sort(rng.integers(0, ndocs, n))
    if pad:
        cut = rng.integers(max(n // 2, 1), n + 1)
        ids[cut:] = -1
    return ids


def op_segments(rng, d):
    ndocs = int(rng.integers(1, 5))
    sq = np.stack([_segments(rng, d.Sq, ndocs, True) for _ in range(d.B)])
    skv = np.stack([_segments(rng, d.Skv, ndocs, True) for _ in range(d.B)])
    # Padding never matches across the two sides (VARIANTS.md, rule 12).
    sq[sq == -1] = -1
    skv[skv == -1] = -2
    return (), {"segments": (sq.astype(np.int32), skv.astype(np.int32))}


def _parents(rng, T):
    return np.array([rng.integers(-1, t) if t else -1 for t in range(T)],
                    np.int32)


def op_tree(rng, d, per_batch=False):
    T = int(rng.integers(1, min(d.Sq, d.Skv, 9) + 1))
    if per_batch:
        return (), {"tree": np.stack([_parents(rng, T) for _ in range(d.B)])}
    return (), {"tree": _parents(rng, T)}


def _bcast_shape(rng, d):
    rank = int(rng.integers(2, 5))
    shape = [d.B if rng.random() < 0.6 else 1,
             d.Hq if rng.random() < 0.6 else 1, d.Sq, d.Skv]
    return tuple(shape[4 - rank:])


def op_dense(rng, d):
    return (), {"dense_mask": rng.random(_bcast_shape(rng, d)) < 0.6}


def op_bias(rng, d):
    b = rng.standard_normal(_bcast_shape(rng, d)) * 2
    return (), {"bias": b.astype(NP_DTYPE[d.dtype])}


def op_sink(rng, d):
    return (), {"sink": _f32(rng.standard_normal(d.Hq) * 3)}


def op_temperature(rng, d):
    return (), {"temperature": _f32(rng.uniform(0.25, 2.5, (d.B, d.Hq, d.Sq)))}


def op_rel_bias(nb):
    def gen(rng, d):
        return (), {"rel_bias_table": _f32(rng.standard_normal((d.Hq, nb)))}
    return gen


def op_block_mask(bq, bkv):
    def gen(rng, d):
        nq, nkv = -(-d.Sq // bq), -(-d.Skv // bkv)
        shape = (d.B if rng.random() < 0.5 else 1,
                 d.Hq if rng.random() < 0.5 else 1, nq, nkv)
        # Mostly empty or full rows of blocks, so that kernels skip tiles
        # and run unmasked ones, with some random rows.
        kind = rng.integers(0, 3, size=shape[:3] + (1,))
        bm = np.where(kind == 0, False,
                      np.where(kind == 1, True, rng.random(shape) < 0.5))
        return (), {"block_mask": bm}
    return gen


def op_block_table(bq, bkv):
    """A random attn.blocks table of 0 / 1 / 2 entries, mostly whole rows of
    one value (so that kernels skip tiles and run whole ones) and some
    random rows; it need not agree with the mask inside."""
    def gen(rng, d):
        nq, nkv = -(-d.Sq // bq), -(-d.Skv // bkv)
        shape = (d.B if rng.random() < 0.5 else 1,
                 d.Hq if rng.random() < 0.5 else 1, nq, nkv)
        kind = rng.integers(0, 4, size=shape[:3] + (1,))
        t = np.where(kind < 3, kind, rng.integers(0, 3, shape))
        return (), {"block_table": np.broadcast_to(t, shape).astype(np.int8)}
    return gen


def op_both(*gens):
    """The operands of several generators together (conjunctions of
    data-dependent masks)."""
    def gen(rng, d):
        args, kw = (), {}
        for g in gens:
            a, k = g(rng, d)
            args += a
            kw.update(k)
        return args, kw
    return gen


def both(*gens):
    """Concatenates the captures and merges the operands of generators."""
    def gen(rng, d):
        caps, ops = (), {}
        for g in gens:
            c, o = g(rng, d)
            caps += tuple(c)
            ops.update(o)
        return caps, ops
    return gen


# ----------------------------------------------------------------------------
# Traced functions
# ----------------------------------------------------------------------------


def sm_table(s, b, h, q_idx, kv_idx, table):
    """float32 capture [Hq, 8]."""
    return s * 0.75 + table[h, (kv_idx - q_idx) % 8]


def op_sm_table(rng, d):
    return (_f32(rng.standard_normal((d.Hq, 8))),), {}


def sm_math(s, b, h, q_idx, kv_idx):
    x = attn.tanh(s / 4.0) * 4.0 + 0.1 * attn.sin(q_idx * 0.3) \
        - 0.05 * attn.sqrt(attn.abs(s) + 1.0) + attn.log(1.0 + s * s) * 0.1
    x = attn.maximum(x, -3.0) + attn.minimum(attn.exp(s * 0.1), 2.0)
    x = x + attn.cos(kv_idx * 1.0) * 0.2 - ((kv_idx - q_idx) // 5 % 4) * 0.05
    x = x + attn.abs(s) ** 1.5 * 0.01 + 2.0 ** (s * 0.1) * 0.05 \
        + abs(q_idx - kv_idx) * 0.001 + (-q_idx) * 0.002 + (h * b) / 7
    return attn.where(((q_idx + kv_idx) % 3 == 0) | (s != s * 1.0),
                      x * 1.5, x - s ** 2 * 0.01)


def sm_position(s, b, h, q_idx, kv_idx, slope):
    """Hand-written ALiBi from attn.position and a float32 capture [Hq]."""
    return s - slope[h] * attn.abs(attn.position(b, q_idx) - kv_idx)


def op_slope(rng, d):
    return (), {"slope": _f32(rng.uniform(0.0, 0.3, d.Hq))}


def sm_int_capture(s, b, h, q_idx, kv_idx, shift):
    """int32 capture [B]: a per-batch relative shift."""
    return s + attn.where(kv_idx + shift[b] <= q_idx, 0.5, -0.5)


def op_shift(rng, d):
    return (rng.integers(-20, 20, d.B).astype(np.int32),), {}


def sm_ufuncs(s, b, h, q_idx, kv_idx):
    # numpy ufuncs on traced values dispatch to the trace
    return np.maximum(s, -1.0) + np.tanh(s) * 0.5 - np.abs(s) * 0.25


def mm_doc_causal(b, h, q_idx, kv_idx, dq, dkv, open_heads):
    """int32 captures [B, Sq] and [B, Skv], bool capture [Hq]."""
    return ((dq[b, q_idx] == dkv[b, kv_idx])
            & (kv_idx <= attn.position(b, q_idx))) | open_heads[h]


def op_doc_causal(rng, d):
    ndocs = int(rng.integers(1, 4))
    dq = np.stack([np.sort(rng.integers(0, ndocs, d.Sq)) for _ in range(d.B)])
    dkv = np.stack([np.sort(rng.integers(0, ndocs, d.Skv))
                    for _ in range(d.B)])
    open_heads = rng.random(d.Hq) < 0.25
    return ((dq.astype(np.int32), dkv.astype(np.int32)),
            {"open_heads": open_heads})


def mm_stripes(b, h, q_idx, kv_idx):
    return ((((kv_idx % (h + 2)) == 0) ^ (q_idx - kv_idx == 3))
            | ~(b != 1) | ((q_idx * 3 - kv_idx) // -4 == 2))


def mm_prefix(b, h, q_idx, kv_idx, prefix):
    """int32 capture [B]: per-batch prefix-LM length."""
    return (kv_idx < prefix[b]) | (kv_idx <= attn.position(b, q_idx))


def op_prefix(rng, d):
    return (), {"prefix": rng.integers(0, d.Skv + 1, d.B).astype(np.int32)}


def sm_shared(s, b, h, q_idx, kv_idx, w):
    return s * w[h]


def mm_shared(b, h, q_idx, kv_idx, w, allow):
    return (w[h] > 0.5) & allow[b, q_idx, kv_idx] | (kv_idx == 0)


def op_shared(rng, d):
    w = _f32(rng.uniform(0, 1.5, d.Hq))
    allow = rng.random((d.B, d.Sq, d.Skv)) < 0.7
    return (w, allow), {}


def mm_never(b, h, q_idx, kv_idx):
    return (kv_idx < 0) & (q_idx >= 0)


def mm_const(b, h, q_idx, kv_idx):
    return True


# ----------------------------------------------------------------------------
# The variants
# ----------------------------------------------------------------------------

STREAMING = (attn.sinks(4) | attn.sliding_window(13)) & attn.causal()
GRID = dict(rows=12, cols=11)   # 132 >= every Skv drawn


def _grid_ok(d):
    return d.Skv <= 132


def _tree_ok(d):
    return min(d.Sq, d.Skv) >= 1


VARIANTS = [
    # -- declarative masks ----------------------------------------------------
    V("full", None, dtypes=ALL_DTYPES, seeds=4),
    V("causal", attn.causal(), dtypes=ALL_DTYPES, seeds=6),
    V("causal_q_ge_kv", attn.causal(), lengths="q_ge_kv", dtypes=BF16),
    V("sliding_window", attn.sliding_window(9), dtypes=F16),
    V("sliding_window_lr", attn.sliding_window(5, 17)),
    V("sliding_window_0", attn.sliding_window(0)),
    V("chunked", attn.chunked(16)),
    V("chunked_odd_causal", attn.chunked(7) & attn.causal()),
    V("halo", attn.halo(16, 3)),
    V("halo_odd", attn.halo(5, 0)),
    V("dilated", attn.dilated(12, 3)),
    V("dilated_causal", attn.dilated(32, 2) & attn.causal()),
    V("global_first", attn.global_tokens(first=3)),
    V("global_positions_or_window",
      attn.global_tokens(positions=[0, 5, 40]) | attn.sliding_window(4, 4)),
    V("sinks_alone", attn.sinks(5)),
    V("prefix_lm", attn.prefix_lm(10)),
    V("neighborhood_2d", attn.neighborhood_2d(kernel_rows=3, kernel_cols=5,
                                              **GRID), check=_grid_ok),
    V("neighborhood_2d_even", attn.neighborhood_2d(kernel_rows=4,
                                                   kernel_cols=2, **GRID),
      check=_grid_ok),
    V("window_2d", attn.window_2d(window_rows=4, window_cols=3, **GRID),
      check=_grid_ok),
    V("natten", attn.natten(kernel=(5, 3), **GRID), check=_grid_ok),
    V("natten_dilated", attn.natten(kernel=3, dilation=(2, 3), **GRID),
      check=_grid_ok),
    # Queries above the grid (Sq > Skv), even kernels, dilation > 1.
    V("natten_even_q_ge_kv", attn.Spec(attn.natten(
        kernel=(4, 6), dilation=(3, 1), **GRID), q_offset=-3),
      lengths="q_ge_kv", check=_grid_ok),
    V("directional_2d_cone",
      attn.directional_2d(directions=["N", "E", "SW", (1, 2)], **GRID),
      check=_grid_ok),
    V("directional_2d_half",
      attn.directional_2d(directions=["S", "NW"], half_plane=True, **GRID),
      check=_grid_ok),
    # -- the algebra ----------------------------------------------------------
    V("streaming_llm", STREAMING, dtypes=BF16),
    V("not_causal", ~attn.causal()),
    V("not_window_and_causal", ~attn.sliding_window(3) & attn.causal()),
    V("or_of_ands", (attn.chunked(8) & attn.causal())
      | (attn.global_tokens(first=2) & ~attn.sinks(1))
      | attn.dilated(10, 5)),
    V("double_not", ~~(attn.causal() | attn.sinks(2))),
    V("and_of_three", attn.causal() & attn.sliding_window(20)
      & ~attn.chunked(4)),
    # -- data-dependent masks -------------------------------------------------
    V("document", attn.document(), op_segments, dtypes=F16),
    V("document_causal", attn.document() & attn.causal(), op_segments,
      lengths="self"),
    V("document_or_sinks", attn.document() | attn.sinks(3), op_segments),
    V("tree", attn.tree(), op_tree, check=_tree_ok),
    V("tree_per_batch", attn.tree(per_batch=True),
      lambda r, d: op_tree(r, d, True), check=_tree_ok),
    V("dense", attn.dense(), op_dense, dtypes=BF16),
    V("dense_and_causal", attn.dense() & attn.causal(), op_dense),
    V("block_sparse", attn.block_sparse(16, 32), op_block_mask(16, 32),
      dtypes=ALL_DTYPES),
    V("block_sparse_odd_causal", attn.block_sparse(7, 13) & attn.causal(),
      op_block_mask(7, 13)),
    V("blocks_over_causal", attn.blocks(16, 32, attn.causal()),
      op_block_table(16, 32), dtypes=BF16),
    V("blocks_odd_over_mask_mod", attn.blocks(
        7, 13, attn.mask_mod(mm_prefix, {"prefix": "int32"})
        & attn.sliding_window(20)), op_both(op_block_table(7, 13),
                                            op_prefix)),
    # -- mask_mod functions ---------------------------------------------------
    V("mask_mod_captures", attn.mask_mod(
        mm_doc_causal, {"dq": "int32", "dkv": "int32", "open_heads": "bool"}),
      op_doc_causal, dtypes=ALL_DTYPES),
    V("mask_mod_stripes", mm_stripes),
    V("mask_mod_prefix_or_window",
      attn.mask_mod(mm_prefix, {"prefix": "int32"}) | attn.sliding_window(2),
      op_prefix),
    V("mask_mod_never", mm_never, seeds=2),
    V("mask_mod_const_and_causal", attn.mask_mod(mm_const) & attn.causal(),
      seeds=2),
    # -- normalizers ----------------------------------------------------------
    V("sink_softmax", attn.Spec(attn.causal(), attn.sink_softmax()), op_sink,
      dtypes=ALL_DTYPES),
    V("sink_softmax_full", attn.Spec(None, attn.sink_softmax()), op_sink),
    V("sigmoid", attn.Spec(attn.causal(), attn.sigmoid()),
      dtypes=BF16),
    V("sigmoid_beta", attn.Spec(attn.sliding_window(10, 10),
                                attn.sigmoid(beta=-2.5))),
    V("softplus", attn.Spec(attn.causal(), attn.softplus()),
      dtypes=ALL_DTYPES),
    V("softplus_softcap", attn.Spec(None, attn.softplus(),
                                    attn.softcap(2.0))),
    V("relu", attn.Spec(attn.causal(), attn.relu()), dtypes=F16),
    V("relu2_row_sum", attn.Spec(attn.causal(), attn.relu(2, "row_sum"))),
    V("relu1_row_sum", attn.Spec(attn.sliding_window(6),
                                 attn.relu(1, "row_sum"))),
    V("relu2_none", attn.Spec(attn.chunked(10), attn.relu(2, "none"))),
    V("relu1_none", attn.Spec(None, attn.relu(1, "none"))),
    # -- score modifiers ------------------------------------------------------
    V("alibi", attn.Spec(attn.causal(), score_mod=attn.alibi()),
      dtypes=F16),
    V("alibi_slopes", attn.Spec(attn.causal(), score_mod=attn.alibi(
        [0.5, 0.25, 0.125, 1.0, 0.0, 0.0625])), heads=6),
    V("alibi_symmetric", attn.Spec(None, score_mod=attn.alibi(
        symmetric=True))),
    V("softcap", attn.Spec(attn.causal(), score_mod=attn.softcap(3.0)),
      dtypes=BF16),
    V("rel_bias", attn.Spec(None, score_mod=attn.rel_bias(32, 64)),
      op_rel_bias(32), dtypes=F16),
    V("rel_bias_unidirectional", attn.Spec(
        attn.causal(), score_mod=attn.rel_bias(12, 50, bidirectional=False)),
      op_rel_bias(12)),
    V("bias", attn.Spec(None, score_mod=attn.bias()), op_bias,
      dtypes=ALL_DTYPES),
    V("temperature", attn.Spec(attn.causal(), score_mod=attn.temperature()),
      op_temperature),
    V("gaussian", attn.Spec(None, score_mod=attn.gaussian(
        [0.0, 3.0, -5.0, 10.0], [2.0, 8.0, 30.0, 1.5])), heads=4),
    V("mods_in_order", attn.Spec(STREAMING, score_mod=[
        attn.temperature(), attn.alibi(), attn.softcap(4.0), attn.bias()]),
      both(op_temperature, op_bias), dtypes=ALL_DTYPES),
    V("mods_in_order_2", attn.Spec(attn.causal(), score_mod=[
        attn.softcap(2.0), attn.temperature()]), op_temperature),
    # -- score_mod functions --------------------------------------------------
    V("score_mod_table", attn.Spec(attn.causal(), score_mod=sm_table),
      op_sm_table, dtypes=BF16),
    V("score_mod_math", attn.Spec(None, score_mod=sm_math)),
    V("score_mod_position", attn.Spec(attn.causal(), score_mod=sm_position),
      op_slope),
    V("score_mod_int_capture", attn.Spec(None, score_mod=attn.score_mod(
        sm_int_capture, {"shift": "int32"})), op_shift),
    V("score_mod_ufuncs", attn.Spec(attn.sliding_window(8),
                                    score_mod=[attn.alibi(), sm_ufuncs])),
    V("score_and_mask_mod_shared_capture", attn.Spec(
        attn.mask_mod(mm_shared, {"allow": "bool"}),
        score_mod=sm_shared), op_shared, dtypes=F16),
    V("score_mod_sigmoid", attn.Spec(attn.causal(), attn.sigmoid(),
                                     score_mod=sm_table), op_sm_table),
    # -- head dims, layout, offsets, GQA --------------------------------------
    V("head_dim_16", attn.causal(), D=16, dtypes=BF16),
    V("head_dim_64", attn.causal(), D=64, dtypes=ALL_DTYPES),
    V("head_dim_128", attn.causal(), D=128, dtypes=ALL_DTYPES),
    V("head_dim_64_v16", attn.sliding_window(20), D=64, Dv=16,
      dtypes=F16),
    V("head_dim_16_v128", None, D=16, Dv=128),
    V("head_dim_128_v32_softplus", attn.Spec(attn.causal(), attn.softplus()),
      D=128, Dv=32),
    V("bshd", attn.Spec(attn.causal(), layout="bshd"), dtypes=ALL_DTYPES),
    V("bshd_dv", attn.Spec(STREAMING, attn.sink_softmax(), layout="bshd"),
      op_sink, D=64, Dv=32),
    V("bshd_mask_mod", attn.Spec(attn.mask_mod(
        mm_doc_causal, {"dq": "int32", "dkv": "int32", "open_heads": "bool"}),
        score_mod=attn.alibi(), layout="bshd"), op_doc_causal),
    V("q_offset", attn.Spec(attn.causal(), q_offset=5), dtypes=BF16),
    V("q_offset_negative", attn.Spec(attn.causal() & attn.chunked(9),
                                     q_offset=-11)),
    V("q_offset_neg_halo_dilated", attn.Spec(
        attn.halo(6, 2) | attn.dilated(9, 2), q_offset=-40)),
    V("q_offset_alibi_gaussian", attn.Spec(attn.sliding_window(30), score_mod=[
        attn.alibi(), attn.gaussian([1.0, -2.0], [5.0, 9.0])], q_offset=7),
      heads=2),
    V("q_offset_2d", attn.Spec(attn.neighborhood_2d(
        kernel_rows=5, kernel_cols=3, **GRID), q_offset=-17), check=_grid_ok),
    V("q_offset_natten", attn.Spec(attn.natten(kernel=(3, 5), dilation=2,
                                               **GRID), q_offset=-17),
      check=_grid_ok),
    V("scale", attn.Spec(attn.causal(), scale=0.05)),
    V("static_heads_bshd", attn.Spec(attn.causal(), attn.sink_softmax(), [
        attn.alibi([0.1, 0.2, 0.3, 0.4]), attn.temperature(),
        attn.rel_bias(8, 30), attn.gaussian([0, 1, 2, 3], [3, 4, 5, 6])],
        layout="bshd"), both(op_sink, op_temperature, op_rel_bias(8)),
      heads=4, dtypes=ALL_DTYPES),
    V("head_dim_40_v80", attn.Spec(STREAMING), D=40, Dv=80),
    # -- decoding with cache lengths ------------------------------------------
    V("decode", attn.Spec(attn.causal(), kv_len=True), op_kv_len,
      lengths="decode", dtypes=ALL_DTYPES, seeds=4),
    V("decode_streaming", attn.Spec(STREAMING, kv_len=True), op_kv_len,
      lengths="decode", dtypes=F16),
    V("decode_sigmoid", attn.Spec(attn.causal(), attn.sigmoid(),
                                  kv_len=True), op_kv_len, lengths="decode"),
    V("decode_relu_seq_len", attn.Spec(None, attn.relu(), kv_len=True),
      op_kv_len, lengths="decode"),
    V("decode_softplus_alibi", attn.Spec(None, attn.softplus(),
                                         attn.alibi(), kv_len=True),
      op_kv_len, lengths="decode"),
    V("decode_sink_softmax_bshd", attn.Spec(
        attn.causal(), attn.sink_softmax(), kv_len=True, layout="bshd"),
      both(op_kv_len, op_sink), lengths="decode", D=64, Dv=128),
    V("decode_score_mod_position", attn.Spec(attn.causal(),
                                             score_mod=sm_position,
                                             kv_len=True),
      both(op_kv_len, op_slope), lengths="decode"),
    V("decode_rel_bias", attn.Spec(attn.causal(), score_mod=attn.rel_bias(
        16, 100), kv_len=True), both(op_kv_len, op_rel_bias(16)),
      lengths="decode"),
    V("kv_len_prefill", attn.Spec(attn.causal() & attn.chunked(20),
                                  kv_len=True), op_kv_len),
    V("kv_len_mask_mod", attn.Spec(attn.mask_mod(mm_prefix,
                                                 {"prefix": "int32"}),
                                   kv_len=True),
      both(op_kv_len, op_prefix)),
    # -- code generation knobs and the reference lowering ---------------------
    V("avx2_width", attn.Spec(STREAMING, score_mod=attn.alibi()),
      compile_kw={"vector_width": 8}, dtypes=("float32", "bfloat16")),
    V("reference_lowering", attn.Spec(attn.document() & attn.causal(),
                                      attn.softplus(), attn.softcap(5.0)),
      op_segments, compile_kw={"lowering": "reference"}, lengths="self",
      max_len=67),
    V("config_small_tiles", attn.Spec(attn.causal(), config={
        "block_q": 16, "block_kv": 16})),
    V("config_unroll", attn.Spec(STREAMING, attn.sink_softmax(), attn.alibi(),
                                 config={"unroll": 3, "block_q": 32}),
      op_sink, dtypes=BF16),
    V("config_kv_splits", attn.Spec(attn.causal(), kv_len=True,
                                    config={"kv_splits": 3}),
      op_kv_len, lengths="decode"),
    # q-tiles per item (emitItemGroup): causal groups of unequal q-tiles,
    # cache lengths down to 0 (fully masked rows), document rows.
    V("config_q_blocks", attn.Spec(attn.causal(), config={
        "q_blocks": 3, "block_q": 16, "block_kv": 16, "dot": "fma"}),
      dtypes=BF16),
    V("config_q_blocks_kv_len", attn.Spec(STREAMING, kv_len=True, config={
        "q_blocks": 2, "block_q": 16, "block_kv": 16}), op_kv_len),
    V("config_q_blocks_document", attn.Spec(
        attn.document() & attn.causal(), config={
            "q_blocks": 4, "block_q": 16, "block_kv": 32}),
      op_segments, lengths="self"),
    V("no_openmp", attn.Spec(attn.sliding_window(7)),
      compile_kw={"openmp": False}, seeds=2),
    # -- bf16 on AMX tiles (the default where the host has AMX-BF16, as
    # test_bf16_cases_run_amx checks) and on the AVX-512 path forced by
    # config, so that both stay tested on such a host ------------------------
    V("amx_head_dim_96_v64", attn.Spec(attn.causal() | attn.sinks(2)),
      D=96, Dv=64, dtypes=BF16_ONLY, seeds=2),
    V("amx_tiles_32", attn.Spec(attn.causal(), config={
        "block_q": 32, "block_kv": 32}), dtypes=BF16_ONLY, seeds=2),
    V("amx_tiles_128", attn.Spec(attn.sliding_window(40), score_mod=[
        attn.softcap(5.0)], config={"block_q": 128, "block_kv": 128,
                                    "unroll": 4}), dtypes=BF16_ONLY, seeds=2),
    V("fma_causal", attn.Spec(attn.causal(), config={"dot": "fma"}),
      dtypes=BF16_ONLY, seeds=3),
    V("fma_bshd_sink_softmax", attn.Spec(STREAMING, attn.sink_softmax(),
                                         layout="bshd",
                                         config={"dot": "fma"}),
      op_sink, D=64, Dv=32, dtypes=BF16_ONLY),
    V("fma_document_causal", attn.Spec(attn.document() & attn.causal(),
                                       config={"dot": "fma"}),
      op_segments, lengths="self", dtypes=BF16_ONLY),
]


# ----------------------------------------------------------------------------
# Long sequences: empty, full and partial tiles at the default tile sizes
# ----------------------------------------------------------------------------


def LV(name, spec=None, operands=None, **kw):
    """A long variant: one shape per seed, Skv in 300..2000, B = 1."""
    kw.setdefault("seeds", 2)
    kw.setdefault("shapes", 1)
    kw.setdefault("max_len", 2000)
    return V("long_" + name, spec, operands, long=True, **kw)


def op_kv_len_long(rng, d):
    """Cache lengths in [Skv / 2, Skv]: most keys stay, the last tiles are
    cut at a random place."""
    lens = rng.integers(d.Skv // 2, d.Skv + 1, d.B)
    return (), {"kv_len": lens.astype(np.int32)}


def op_dense_blocks(rng, d):
    """A dense mask of random on/off blocks of 50..150 queries by 70..200
    keys (so that whole tiles are on or off), with 8 flipped entries."""
    bq, bkv = int(rng.integers(50, 151)), int(rng.integers(70, 201))
    blocks = rng.random((d.B, 1, -(-d.Sq // bq), -(-d.Skv // bkv))) < 0.5
    m = np.repeat(np.repeat(blocks, bq, axis=2), bkv, axis=3)
    m = m[:, :, :d.Sq, :d.Skv].copy()
    m[:, :, rng.integers(0, d.Sq, 8), rng.integers(0, d.Skv, 8)] ^= True
    return (), {"dense_mask": m}


def _grid(rows, cols):
    def ok(d):
        return d.Skv <= rows * cols
    return dict(rows=rows, cols=cols), ok


NB_WIDE, NB_WIDE_OK = _grid(16, 128)     # 2048 keys
NB_ROWS, NB_ROWS_OK = _grid(64, 32)
W2D_BAND, W2D_BAND_OK = _grid(20, 100)
W2D_COLS, W2D_COLS_OK = _grid(10, 200)
LONG_STREAMING = (attn.sinks(70) | attn.sliding_window(300)) & attn.causal()
NO_FULL = ("empty", "partial")

# Every mask parameter below is chosen so that, at block_q = 64, runs of
# allowed keys longer than a 96-key tile exist (full tiles), next to empty
# and partially allowed tiles; odd sizes (193 = 3 * 64 + 1 = 2 * 96 + 1,
# 97, 129, ...) put interval ends at many offsets from the tile grid.
LONG_VARIANTS = [
    # -- declarative masks ----------------------------------------------------
    LV("full_cross", None, D=64, Dv=32, tile_classes=("full",)),
    LV("causal", attn.causal(), dtypes=BF16[:2], seeds=3),
    LV("causal_q_ge_kv", attn.causal(), lengths="q_ge_kv", seeds=3),
    LV("causal_gqa_d64", attn.causal(), D=64, heads=2),
    LV("window_200", attn.sliding_window(200), lengths="self"),
    LV("window_160_causal", attn.sliding_window(160) & attn.causal(),
       dtypes=F16[1:], seeds=3),
    LV("window_lr", attn.sliding_window(64, 300)),
    LV("window_512", attn.sliding_window(512), D=48),
    LV("window_64_100", attn.sliding_window(64, 100), lengths="self", D=16),
    LV("chunked_193", attn.chunked(193)),
    LV("chunked_256_causal", attn.chunked(256) & attn.causal()),
    LV("halo", attn.halo(160, 31)),
    LV("halo_97_0", attn.halo(97, 0), lengths="self"),
    LV("dilated_rate_1", attn.dilated(200, 1)),
    LV("dilated_causal", attn.dilated(256, 2) & attn.causal(), heads=2,
       tile_classes=NO_FULL),
    LV("global_first", attn.global_tokens(first=150)),
    LV("global_positions_or_window",
       attn.global_tokens(positions=[0, 300, 301, 777])
       | attn.sliding_window(96, 96)),
    LV("sinks", attn.sinks(130)),
    LV("streaming", LONG_STREAMING, dtypes=BF16[:2]),
    LV("prefix_lm", attn.prefix_lm(700)),
    LV("a_shape", attn.a_shape(sinks=100, window=300), seeds=3),
    # Rows on different strides share no key: no tile is full.
    LV("dilated_window", attn.dilated_sliding_window(window=200, dilation=3),
       seeds=2, tile_classes=NO_FULL),
    LV("dilated_window_1", attn.dilated_sliding_window(window=150,
                                                       dilation=1), seeds=2),
    LV("a_shape_self", attn.a_shape(sinks=64, window=160), lengths="self",
       dtypes=BF16[:2]),
    LV("neighborhood_2d", attn.neighborhood_2d(
        kernel_rows=5, kernel_cols=201, **NB_WIDE), check=NB_WIDE_OK),
    LV("neighborhood_2d_rows", attn.neighborhood_2d(
        kernel_rows=9, kernel_cols=63, **NB_ROWS), check=NB_ROWS_OK),
    # No query sees a whole 64-key tile (31 of 32 columns, dilated).
    LV("natten_rows", attn.natten(kernel=(7, 31), dilation=(1, 2),
                                  **NB_ROWS), check=NB_ROWS_OK,
       tile_classes=NO_FULL),
    LV("window_2d_band", attn.window_2d(window_rows=3, window_cols=100,
                                        **W2D_BAND), check=W2D_BAND_OK),
    LV("window_2d", attn.window_2d(window_rows=2, window_cols=100,
                                   **W2D_COLS), check=W2D_COLS_OK),
    LV("directional_2d", attn.directional_2d(directions=["N", "E"],
                                             **W2D_BAND),
       check=W2D_BAND_OK, heads=2, tile_classes=NO_FULL),
    # -- the algebra ----------------------------------------------------------
    LV("not_window_and_causal", ~attn.sliding_window(100) & attn.causal()),
    LV("or_of_ands", (attn.chunked(300) & attn.causal())
       | (attn.global_tokens(first=70) & ~attn.sinks(1))
       | attn.dilated(250, 5)),
    LV("not_chunked_or_sinks", ~attn.chunked(129) | attn.sinks(64)),
    # -- data-dependent masks -------------------------------------------------
    LV("document", attn.document(), op_segments, dtypes=F16[1:]),
    LV("document_causal", attn.document() & attn.causal(), op_segments,
       lengths="self", seeds=3),
    LV("document_window", attn.document() & attn.sliding_window(200)
       & attn.causal(), op_segments),
    LV("dense_blocks_and_window", attn.dense() & attn.sliding_window(400),
       op_dense_blocks),
    LV("block_sparse_128", attn.block_sparse(128, 128),
       op_block_mask(128, 128)),
    LV("tree", attn.tree(), op_tree, lengths="q_le_kv"),
    # Two run-time conjuncts: the dense entries are read only for the tiles
    # the document ids (or the tree) keep.
    LV("document_and_dense_blocks", attn.document() & attn.dense(),
       op_both(op_segments, op_dense_blocks), seeds=3),
    LV("tree_and_block_sparse", attn.tree() & attn.block_sparse(128, 128),
       op_both(op_tree, op_block_mask(128, 128)), lengths="q_le_kv"),
    # A table over a window: tiles all 0 (skipped), all 2 (run without the
    # mask) and mixed, at 64- and 128-key blocks.
    LV("blocks_64_over_window", attn.blocks(64, 64, attn.sliding_window(300)),
       op_block_table(64, 64)),
    LV("blocks_128_over_causal", attn.blocks(128, 128, attn.causal()),
       op_block_table(128, 128), lengths="self"),
    LV("mask_mod_and_window", attn.mask_mod(mm_prefix, {"prefix": "int32"})
       & attn.sliding_window(300, 40), op_prefix),
    # -- normalizers and score modifiers --------------------------------------
    LV("sink_softmax_window", attn.Spec(attn.sliding_window(200)
                                        & attn.causal(), attn.sink_softmax()),
       op_sink),
    LV("softplus_chunked", attn.Spec(attn.chunked(193), attn.softplus())),
    LV("relu2_row_sum_window", attn.Spec(attn.sliding_window(150, 50),
                                         attn.relu(2, "row_sum"))),
    LV("relu_seq_len_prefix", attn.Spec(attn.prefix_lm(300),
                                        attn.relu(1, "seq_len"))),
    LV("sigmoid_causal", attn.Spec(attn.causal(), attn.sigmoid())),
    LV("streaming_alibi_softcap", attn.Spec(LONG_STREAMING, score_mod=[
        attn.alibi(), attn.softcap(5.0)])),
    # -- layout, offsets, cache lengths, decoding -----------------------------
    LV("bshd_window", attn.Spec(attn.sliding_window(150) & attn.causal(),
                                layout="bshd"), D=32, Dv=64),
    LV("q_offset_negative", attn.Spec(attn.sliding_window(200)
                                      & attn.causal(), q_offset=-300)),
    LV("q_offset_prefix", attn.Spec(attn.prefix_lm(250), q_offset=150)),
    LV("kv_len_window", attn.Spec(attn.sliding_window(256) & attn.causal(),
                                  kv_len=True), op_kv_len_long),
    LV("decode_window", attn.Spec(attn.sliding_window(300) & attn.causal(),
                                  kv_len=True), op_kv_len_long,
       lengths="decode", seeds=3, shapes=2, D=64),
    LV("decode_streaming", attn.Spec(LONG_STREAMING, kv_len=True),
       op_kv_len_long, lengths="decode", seeds=3, shapes=2),
    # bf16 on AMX (D = 64, GQA, cross-attention, fully masked rows) and the
    # AVX-512 path beside it.
    LV("amx_causal_d64", attn.causal(), D=64, dtypes=BF16_ONLY),
    LV("amx_window_gqa", attn.sliding_window(200), D=64, heads=2,
       dtypes=BF16_ONLY),
    LV("amx_causal_q_ge_kv", attn.causal(), lengths="q_ge_kv",
       dtypes=BF16_ONLY),
    LV("fma_causal", attn.Spec(attn.causal(), config={"dot": "fma"}),
       dtypes=BF16_ONLY),
    # q-tiles per item (emitItemGroup) whose kv tiles run in several L2
    # chunks: at D = 256 a 96-key tile holds 192 KiB of K and V, so a chunk
    # (half of a 2 MiB L2) is 5 tiles. GQA, cache lengths, f16, and rows
    # that see no key (Sq > Skv, causal); the last one with q_blocks chosen
    # per call (K and V over half the L2).
    LV("q_blocks_causal_d256", attn.Spec(attn.causal(), config={
        "q_blocks": 3}), D=256, heads=2),
    LV("q_blocks_window_d256", attn.Spec(attn.sliding_window(300), config={
        "q_blocks": 2}), D=256, Dv=64, heads=2, lengths="self"),
    LV("q_blocks_kv_len_d256", attn.Spec(attn.causal(), kv_len=True, config={
        "q_blocks": 4}), op_kv_len_long, D=256, dtypes=F16[1:]),
    LV("q_blocks_auto_d256", attn.causal(), D=256, lengths="q_ge_kv"),
]


# ----------------------------------------------------------------------------
# The harness
# ----------------------------------------------------------------------------

_KERNELS: dict = {}


def _kernel(variant: Variant, dtype: str):
    # Other test files draw variants of their own, which may share a name
    # with one of VARIANTS: the key holds what the kernel is compiled for.
    key = (variant.name, dtype, variant.D, variant.Dv,
           repr(sorted(variant.compile_kw.items())))
    if key not in _KERNELS:
        _KERNELS[key] = attn.compile(
            variant.spec, dtype=dtype, head_dim=variant.D,
            head_dim_v=variant.Dv or variant.D, **variant.compile_kw)
    return _KERNELS[key]


# A long case's reference materialises [B, Hq, Sq, Skv] float64 scores: keep
# Hq * Sq * Skv below this (about 0.3 s of numpy per case).
LONG_MAX_SCORES = 4_000_000


def _draw_long(rng, variant: Variant, dtype: str) -> Dims:
    """B = 1, Hq <= 2 (MHA or GQA 2/1), Skv in min_len..max_len, a quarter
    of them a multiple of 192 (whole 64- and 96-key tiles), the others not;
    Sq as `variant.lengths` says, between 100 and max_len."""
    lo, hi = variant.min_len, variant.max_len
    for _ in range(1000):
        if variant.heads:
            Hq = variant.heads
            Hkv = int(rng.choice([h for h in (1, Hq) if Hq % h == 0]))
        else:
            Hkv = 1
            Hq = int(rng.choice([1, 2]))
        Skv = int(rng.integers(lo, hi + 1))
        if rng.random() < 0.25:
            Skv = max(lo, Skv // 192 * 192)
        if variant.lengths == "decode":
            Sq = int(rng.integers(1, 5))
        elif variant.lengths == "self":
            Sq = Skv
        else:
            Sq = int(rng.integers(100, hi + 1))
            if variant.lengths == "q_ge_kv" and Sq < Skv:
                Sq, Skv = Skv, Sq
                Skv = max(Skv, lo)
            if variant.lengths == "q_le_kv" and Sq > Skv:
                Sq, Skv = Skv, Sq
        d = Dims(1, Hq, Hkv, Sq, Skv, variant.D, variant.Dv or variant.D,
                 dtype)
        if Hq * Sq * Skv > LONG_MAX_SCORES:
            continue
        if variant.check is None or variant.check(d):
            return d
    raise AssertionError(f"{variant.name}: no admissible shape drawn")


def _draw_dims(rng, variant: Variant, dtype: str) -> Dims:
    if variant.long:
        return _draw_long(rng, variant, dtype)
    lengths = [n for n in LENGTHS if n <= variant.max_len]
    for _ in range(1000):
        B = int(rng.integers(1, 4))
        if variant.heads:
            Hq = variant.heads
            Hkv = int(rng.choice([h for h in (1, 2, 3, Hq) if Hq % h == 0]))
        else:
            Hkv = int(rng.choice([1, 1, 2, 3]))
            Hq = Hkv * int(rng.choice([1, 2, 4]))      # MHA, GQA, MQA
        Skv = int(rng.choice(lengths))
        if variant.lengths == "decode":
            Sq = int(rng.integers(1, 5))
        elif variant.lengths == "self":
            Sq = Skv
        else:
            Sq = int(rng.choice(lengths))
            if variant.lengths == "q_ge_kv" and Sq < Skv:
                Sq, Skv = Skv, Sq
            if variant.lengths == "q_le_kv" and Sq > Skv:
                Sq, Skv = Skv, Sq
        d = Dims(B, Hq, Hkv, Sq, Skv, variant.D, variant.Dv or variant.D,
                 dtype)
        if variant.check is None or variant.check(d):
            return d
    raise AssertionError(f"{variant.name}: no admissible shape drawn")


def _qkv(rng, d: Dims, layout: str):
    def arr(H, S, X, amp):
        shape = (d.B, S, H, X) if layout == "bshd" else (d.B, H, S, X)
        return (rng.standard_normal(shape) * amp).astype(NP_DTYPE[d.dtype])
    amp = float(rng.choice([0.5, 1.0, 2.0, 3.0]))
    return (arr(d.Hq, d.Sq, d.D, amp), arr(d.Hkv, d.Skv, d.D, 1.0),
            arr(d.Hkv, d.Skv, d.Dv, 1.0))


def _check(name, d, out, ref, lse=None, ref_lse=None, tol=None):
    """O and LSE against the reference at `tol` (default TOL[d.dtype])."""
    tol = TOL[d.dtype] if tol is None else tol
    out = np.asarray(out).astype(np.float64)
    assert out.shape == ref.shape, \
        f"{name}: O shape {out.shape} != {ref.shape}"
    assert np.isfinite(out).all(), f"{name}: O has non-finite values"
    scale = np.abs(ref).max() if ref.size else 0.0
    err = np.abs(out - ref).max() / (scale if scale > 0 else 1.0) \
        if ref.size else 0.0
    where = np.unravel_index(np.argmax(np.abs(out - ref)), ref.shape) \
        if ref.size else ()
    assert err <= tol, (f"{name}: O rel err {err:.3g} > {tol} at {where} "
                        f"(got {out[where]!r}, want {ref[where]!r})")
    if ref_lse is None:
        return
    lse = np.asarray(lse).astype(np.float64)
    assert lse.shape == ref_lse.shape
    ninf = np.isneginf(ref_lse)
    assert (np.isneginf(lse) == ninf).all(), (
        f"{name}: LSE -inf mismatch at "
        f"{np.argwhere(np.isneginf(lse) != ninf)[:5].tolist()}")
    fin = ~ninf
    if fin.any():
        lerr = (np.abs(lse[fin] - ref_lse[fin])
                / np.maximum(1.0, np.abs(ref_lse[fin])))
        assert np.isfinite(lerr).all() and lerr.max() <= tol, (
            f"{name}: LSE err {np.nanmax(lerr):.3g} > {tol}")


CASES = [
    pytest.param(v, s, id=f"{v.name}-{s}", marks=list(v.marks))
    for v in VARIANTS + LONG_VARIANTS for s in range(v.seeds)
]


def _rng(variant: Variant, seed: int):
    return np.random.default_rng([zlib.crc32(variant.name.encode()), seed])


def _draw_cases(variant: Variant, seed: int):
    """The dtype and the (dims, q, k, v, captures, operands, with_lse) of
    each shape of case `seed`, drawn deterministically."""
    dtype = variant.dtypes[seed % len(variant.dtypes)]
    rng = _rng(variant, seed)
    spec = variant.spec
    cases = []
    for _ in range(variant.shapes):
        d = _draw_dims(rng, variant, dtype)
        q, k, v = _qkv(rng, d, spec.layout)
        captures, operands = (variant.operands(rng, d) if variant.operands
                              else ((), {}))
        with_lse = spec.normalizer.has_lse and rng.random() < 0.75
        cases.append((d, q, k, v, captures, operands, with_lse))
    return dtype, cases


def _run_and_check(fn, spec, name, d, q, k, v, captures, operands, with_lse):
    if with_lse:
        out, lse = fn(q, k, v, *captures, return_lse=True, **operands)
        ref, ref_lse = reference.attention(spec, q, k, v, *captures,
                                           return_lse=True, **operands)
        _check(name, d, out, ref, lse, ref_lse)
    else:
        out = fn(q, k, v, *captures, **operands)
        ref = reference.attention(spec, q, k, v, *captures, **operands)
        _check(name, d, out, ref)


@pytest.mark.parametrize("variant,seed", CASES)
def test_differential(variant: Variant, seed: int):
    dtype, cases = _draw_cases(variant, seed)
    fn = _kernel(variant, dtype)
    for d, q, k, v, captures, operands, with_lse in cases:
        _run_and_check(fn, variant.spec, f"{variant.name}[{dtype}] {d}", d,
                       q, k, v, captures, operands, with_lse)


def test_case_count():
    """The sweep stays at least 200 cases."""
    assert len(CASES) >= 200


def _amx_host() -> bool:
    """The CPU has AMX-BF16 and $ATTN_NO_AMX does not turn it off."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return ({"amx_tile", "amx_bf16", "avx512_bf16"} <= flags
            and os.environ.get("ATTN_NO_AMX", "0") in ("", "0"))


@pytest.mark.skipif(not _amx_host(), reason="needs a host with AMX-BF16")
def test_bf16_cases_run_amx():
    """On an AMX host the bf16 cases test the AMX path: every fused bf16
    variant with head dims that are multiples of 32 and no `dot` of its own
    resolves to dot = "amx"; the others keep the AVX-512 plan."""
    amx = 0
    for v in VARIANTS + LONG_VARIANTS:
        if "bfloat16" not in v.dtypes or v.compile_kw:
            continue
        D, Dv = v.D, v.Dv or v.D
        plan = attn.tile_plan(v.spec, dtype="bfloat16", head_dim=D,
                              head_dim_v=Dv)
        want = v.spec.config.get("dot") or (
            "amx" if D % 32 == 0 and Dv % 32 == 0 else "fma")
        assert plan["dot"] == want, f"{v.name}: {plan}"
        amx += want == "amx"
    assert amx >= 20


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("causal", [False, True])
def test_rising_row_max(dtype, causal):
    """Scores whose row max rises along the keys, by steps below and above
    the AMX path's lazy shift (kLazyShift = 8: the running shift moves only
    when a kv tile's max exceeds it by more than 8), over several kv tiles,
    with scores far below the max (weights that underflow to 0 in the
    polynomial exp): O, with and without the LSE (whose row sums differ
    on AMX: CPUTiler::emitAmxWeightPairs), against the float64
    reference."""
    rng = np.random.default_rng(17)
    B, H, Sq, Skv, D = 1, 2, 150, 700, 64
    ramp = np.linspace(0.05, 9.0, Skv) ** 1.5        # |scores| up to ~200
    dt = NP_DTYPE[dtype]
    q = (rng.standard_normal((B, H, Sq + 50 * causal, D)) * 1.5).astype(dt)
    k = (rng.standard_normal((B, H, Skv, D)) * ramp[:, None]).astype(dt)
    v = rng.standard_normal((B, H, Skv, D)).astype(dt)
    spec = attn.Spec(attn.causal() if causal else attn.full())
    fn = attn.compile(spec, dtype=dtype, head_dim=D)
    d = Dims(B=B, Hq=H, Hkv=H, Sq=q.shape[2], Skv=Skv, D=D, Dv=D,
             dtype=dtype)
    for with_lse in (False, True):
        _run_and_check(fn, spec, f"rising[{dtype}, causal={causal}]", d,
                       q, k, v, (), {}, with_lse)


# -- long cases: which tiles they exercise ------------------------------------


def _allowed(spec, q, k, v, captures, operands) -> np.ndarray:
    """The reference's mask, [B, Hq, Sq, Skv] bool (cache lengths applied)."""
    P = reference._Problem(spec, q, k, v, captures, operands)
    allowed = np.broadcast_to(reference._mask(P, spec.mask), P.shape)
    return allowed & (P.j < P.lens.reshape(-1, 1, 1, 1))


def _tile_classes(allowed: np.ndarray, lens, bq: int, bkv: int) -> set:
    """Which of empty / full / partial the (q-tile, kv-tile) pairs of a
    [B, H, Sq, Skv] mask are, for tiles of bq queries (from query 0) by bkv
    keys (from key 0). A tile is full when every key of it lies below the
    cache length and is allowed for every query row of the tile."""
    B, H, Sq, Skv = allowed.shape
    nq, nk = -(-Sq // bq), -(-Skv // bkv)
    pad = np.zeros((B, H, nq * bq, nk * bkv), bool)
    pad[:, :, :Sq, :Skv] = allowed
    counts = pad.reshape(B, H, nq, bq, nk, bkv).sum(axis=(3, 5))
    rows = np.minimum(bq, Sq - np.arange(nq) * bq)
    in_range = (np.arange(1, nk + 1) * bkv)[None, :] <= \
        np.asarray(lens).reshape(-1, 1)
    full = (counts == rows[None, None, :, None] * bkv) & \
        in_range[:, None, None, :]
    empty = counts == 0
    out = set()
    if full.any():
        out.add("full")
    if empty.any():
        out.add("empty")
    if (~full & ~empty).any():
        out.add("partial")
    return out


def test_long_cases_cover_every_tile_class():
    """Each long variant's cases hold empty, full and partial tiles (those
    its `tile_classes` names) at block_q = 64 (AVX-512's default) with
    block_kv = 64 and with 96, judged by the reference's mask."""
    missing = []
    for variant in LONG_VARIANTS:
        seen = {64: set(), 96: set()}
        for seed in range(variant.seeds):
            _, cases = _draw_cases(variant, seed)
            for d, q, k, v, captures, operands, _ in cases:
                allowed = _allowed(variant.spec, q, k, v, captures, operands)
                lens = operands.get("kv_len", np.full(d.B, d.Skv))
                for bkv in seen:
                    seen[bkv] |= _tile_classes(allowed, lens, 64, bkv)
        for bkv, got in seen.items():
            lack = set(variant.tile_classes) - got
            if lack:
                missing.append(f"{variant.name} (block_kv {bkv}): "
                               f"no {sorted(lack)} tiles")
    assert not missing, "; ".join(missing)


def test_tile_classes_helper():
    """_tile_classes on a mask small enough to classify by hand."""
    allowed = np.zeros((1, 1, 5, 6), bool)
    allowed[0, 0, :4, :4] = True       # q-tile 0 x kv-tile 0: full
    allowed[0, 0, 4, 0] = True         # q-tile 1 x kv-tile 0: partial
    assert _tile_classes(allowed, [6], 4, 4) == {"full", "partial", "empty"}
    assert _tile_classes(allowed, [3], 4, 4) == {"partial", "empty"}
    assert _tile_classes(allowed[..., :4], [4], 4, 4) == {"full", "partial"}
    assert _tile_classes(allowed[:, :, :4, :3], [3], 4, 4) == {"partial"}


# -- every alignment of interval ends against the tile grid -------------------


@dataclass
class Sweep:
    """A spec run on 64 shapes: Sq queries, Skv = Sq + base + r for
    r = 0..63, so that the query positions (i + Skv - Sq + q_offset) meet
    the 64-key tile grid at every offset, and with 4 q-tiles of 64 rows the
    96-key grid too (64 t mod 96 is 0, 64, 32)."""
    name: str
    spec: attn.Spec
    base: int
    Sq: int = 200
    D: int = 16
    operands: Optional[Callable] = None

    def __post_init__(self):
        if not isinstance(self.spec, attn.Spec):
            self.spec = attn.Spec(mask=self.spec)


def op_kv_len_sweep(rng, d):
    return (), {"kv_len": np.array([d.Skv - 5], np.int32)}


SWEEPS = [
    # base < 0: the first rows see no key (fully masked rows).
    Sweep("causal", attn.causal(), base=-40, Sq=260),
    Sweep("window_130", attn.sliding_window(130), base=200),
    Sweep("window_200_causal", attn.sliding_window(200) & attn.causal(),
          base=150),
    Sweep("window_70_90", attn.sliding_window(70, 90), base=0),
    Sweep("window_0_170", attn.sliding_window(0, 170), base=-100),
    Sweep("not_window_causal", ~attn.sliding_window(130) & attn.causal(),
          base=300),
    Sweep("streaming", (attn.sinks(63) | attn.sliding_window(160))
          & attn.causal(), base=300),
    Sweep("prefix_lm", attn.prefix_lm(193), base=100),
    Sweep("a_shape", attn.a_shape(sinks=63, window=160), base=300),
    Sweep("dilated_window_1",
          attn.dilated_sliding_window(window=130, dilation=1), base=300),
    Sweep("chunked", attn.chunked(193), base=100),
    Sweep("chunked_causal", attn.chunked(161) & attn.causal(), base=100),
    Sweep("halo", attn.halo(129, 33), base=100),
    Sweep("global_or_window", attn.global_tokens(first=65)
          | attn.sliding_window(140), base=200),
    # 2-D grids of 100 columns: interval ends at every offset of a row.
    Sweep("neighborhood_2d", attn.neighborhood_2d(
        rows=5, cols=100, kernel_rows=3, kernel_cols=181), base=200),
    Sweep("window_2d_band", attn.window_2d(
        rows=5, cols=100, window_rows=2, window_cols=100), base=200),
    Sweep("kv_len_window", attn.Spec(attn.sliding_window(150) & attn.causal(),
                                     kv_len=True), base=250,
          operands=op_kv_len_sweep),
    # Sq <= 2: the decoding (row) kernel.
    Sweep("decode_window", attn.Spec(attn.sliding_window(170)
                                     & attn.causal()), base=400, Sq=2),
]


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda s: s.name)
def test_tile_alignment_sweep(sweep: Sweep):
    fn = attn.compile(sweep.spec, head_dim=sweep.D)
    rng = np.random.default_rng([zlib.crc32(sweep.name.encode()), 7])
    for r in range(64):
        Skv = sweep.Sq + sweep.base + r
        d = Dims(1, 2, 1, sweep.Sq, Skv, sweep.D, sweep.D, "float32")
        q, k, v = _qkv(rng, d, sweep.spec.layout)
        captures, operands = (sweep.operands(rng, d) if sweep.operands
                              else ((), {}))
        _run_and_check(fn, sweep.spec, f"sweep {sweep.name} r={r} {d}", d,
                       q, k, v, captures, operands, with_lse=r % 2 == 0)


# -- the reference itself, on cases small enough to check by hand -------------


def test_reference_hand_checked():
    q = np.zeros((1, 1, 2, 4), np.float32)
    k = np.zeros((1, 1, 3, 4), np.float32)
    v = np.arange(3, dtype=np.float32).reshape(1, 1, 3, 1) * np.ones(
        (1, 1, 1, 4), np.float32)
    # Equal scores: causal with Sq=2, Skv=3: row 0 (p=1) averages keys 0..1.
    out, lse = reference.attention(attn.Spec(attn.causal()), q, k, v,
                                   return_lse=True)
    np.testing.assert_allclose(out[0, 0, :, 0], [0.5, 1.0])
    np.testing.assert_allclose(lse[0, 0], np.log([2.0, 3.0]))
    # Fully masked rows: O = 0, LSE = -inf; with a sink, LSE = sink.
    spec = attn.Spec(attn.causal(), q_offset=-5)
    out, lse = reference.attention(spec, q, k, v, return_lse=True)
    assert (out == 0).all() and np.isneginf(lse).all()
    spec = attn.Spec(attn.causal(), attn.sink_softmax(), q_offset=-5)
    out, lse = reference.attention(spec, q, k, v, return_lse=True,
                                   sink=np.array([1.5], np.float32))
    assert (out == 0).all() and (lse == 1.5).all()


def test_reference_t5_buckets():
    # Mesh TensorFlow's buckets for num_buckets=32, max_distance=128.
    rel = np.array([0, -1, -15, -16, -127, -128, -1000, 1, 15, 16, 500])
    got = reference.t5_bucket(rel, 32, 128, True)
    assert got.tolist() == [0, 1, 9, 10, 15, 15, 15, 17, 25, 26, 31]
    got = reference.t5_bucket(rel, 32, 128, False)
    assert got[:7].tolist() == [0, 1, 15, 16, 31, 31, 31]
    assert (got[7:] == 0).all()
