"""attn.flex: FlexAttention's entry points (issue 19), checked against an
independent float64 attention with explicitly built masks."""

import math

import numpy as np
import pytest

import attn
from attn.flex import (BlockMask, and_masks, create_block_mask,
                       flex_attention, noop_mask, or_masks)

RNG = np.random.default_rng(7)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def naive(q, k, v, allowed, bias=None, scale=None):
    """float64 attention; `allowed` [B|1, H|1, L, S]; returns (out, lse)
    with fully masked rows 0 and -inf."""
    group = q.shape[1] // k.shape[1]
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ k.transpose(0, 1, 3, 2) * scale
    if bias is not None:
        s = s + bias
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    m0 = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m0)
    den = p.sum(-1, keepdims=True)
    out = (p @ v) / np.where(den > 0, den, 1.0)
    with np.errstate(divide="ignore"):
        lse = (np.log(den) + m0)[..., 0]
    return out, lse


def grid(fn, B, H, L, S):
    b, h, i, j = np.ogrid[:B, :H, :L, :S]
    return np.broadcast_to(fn(b, h, i, j), (B, H, L, S))


@pytest.mark.parametrize("L,S,block", [(200, 200, 128), (77, 301, 32),
                                       (130, 65, (16, 48))])
def test_block_mask_matches_brute_force(L, S, block):
    ids = np.sort(RNG.integers(0, 4, max(L, S)))

    def mask(b, h, q, kv):
        return ((ids[q] == ids[kv]) & (q + h >= kv)) | (kv < b)

    bm = create_block_mask(mask, 2, 3, L, S, BLOCK_SIZE=block)
    bq, bkv = (block, block) if isinstance(block, int) else block
    allowed = grid(lambda b, h, i, j: ((ids[i] == ids[j]) & (i + h >= j))
                   | (j < b), 2, 3, L, S)
    nq, nkv = -(-L // bq), -(-S // bkv)
    for b in range(2):
        for h in range(3):
            for i in range(nq):
                for j in range(nkv):
                    blk = allowed[b, h, i * bq:(i + 1) * bq,
                                  j * bkv:(j + 1) * bkv]
                    assert bm.kv_blocks[b, h, i, j] == blk.any()
                    assert bm.full_blocks[b, h, i, j] == blk.all()
    assert 0 < bm.sparsity() < 100
    assert isinstance(bm, BlockMask) and "sparsity" in repr(bm)


def test_causal_document_and_score_mod_with_closures():
    B, H, L = 2, 2, 333
    ids = np.sort(RNG.integers(0, 5, (B, L)), axis=1)
    slopes = np.array([0.25, 0.0625], np.float32)

    def doc_causal(b, h, q_idx, kv_idx):
        return (ids[b, q_idx] == ids[b, kv_idx]) & (q_idx >= kv_idx)

    def alibi(score, b, h, q_idx, kv_idx):
        return score - slopes[h] * (q_idx - kv_idx)

    q, k, v = rand(B, H, L, 32), rand(B, H, L, 32), rand(B, H, L, 32)
    bm = create_block_mask(doc_causal, B, None, L, L, BLOCK_SIZE=64)
    out, lse = flex_attention(q, k, v, score_mod=alibi, block_mask=bm,
                              return_lse=True)
    allowed = grid(lambda b, h, i, j: (ids[b, i] == ids[b, j]) & (i >= j),
                   B, 1, L, L)
    i, j = np.ogrid[:L, :L]
    bias = -slopes.astype(np.float64)[None, :, None, None] * (i - j)
    want, want_lse = naive(q, k, v, allowed, bias)
    np.testing.assert_allclose(out, want, atol=3e-5, rtol=3e-5)
    np.testing.assert_allclose(lse, want_lse, atol=3e-5, rtol=3e-5)


def test_gqa_cross_attention_scale_and_combinators():
    q, k, v = rand(1, 4, 90, 16), rand(1, 2, 150, 16), rand(1, 2, 150, 24)
    mask = and_masks(lambda b, h, q, kv: kv <= q + 60,
                     or_masks(lambda b, h, q, kv: kv % 3 == 0,
                              lambda b, h, q, kv: q < 10))
    bm = create_block_mask(mask, None, None, 90, 150, BLOCK_SIZE=32)
    with pytest.raises(ValueError, match="enable_gqa"):
        flex_attention(q, k, v, block_mask=bm)
    out = flex_attention(q, k, v, block_mask=bm, enable_gqa=True, scale=0.3)
    allowed = grid(lambda b, h, i, j: (j <= i + 60) & ((j % 3 == 0) | (i < 10)),
                   1, 1, 90, 150)
    np.testing.assert_allclose(out, naive(q, k, v, allowed, scale=0.3)[0],
                               atol=3e-5, rtol=3e-5)
    full = flex_attention(q, k, v, enable_gqa=True)
    np.testing.assert_allclose(full, naive(q, k, v, np.ones((1, 1, 90, 150),
                                                            bool))[0],
                               atol=3e-5, rtol=3e-5)
    every = create_block_mask(noop_mask, 1, 4, 90, 150)
    assert every.sparsity() == 0.0


def test_bfloat16_and_fully_masked_rows():
    ml = pytest.importorskip("ml_dtypes")
    q, k, v = (rand(1, 2, 70, 64).astype(ml.bfloat16) for _ in range(3))

    def mask(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx != 5)

    out = flex_attention(q, k, v, block_mask=create_block_mask(
        mask, None, None, 70, 70, BLOCK_SIZE=16))
    assert out.dtype == q.dtype
    allowed = grid(lambda b, h, i, j: (i >= j) & (i != 5), 1, 1, 70, 70)
    want = naive(q, k, v, allowed)[0]
    np.testing.assert_allclose(out.astype(np.float64), want, atol=2e-2,
                               rtol=2e-2)
    assert not out.astype(np.float32)[:, :, 5].any()


def test_errors():
    q = rand(1, 2, 40, 16)
    bm = create_block_mask(noop_mask, None, None, 40, 40)
    with pytest.raises(ValueError, match="made for shape"):
        flex_attention(rand(1, 2, 41, 16), q, q, block_mask=bm)
    with pytest.raises(ValueError, match="4-D"):
        flex_attention(q[0], q[0], q[0])
    with pytest.raises(TypeError, match="create_block_mask"):
        flex_attention(q, q, q, block_mask=np.ones((1, 1, 1, 1), bool))
    with pytest.raises(ValueError, match="device"):
        create_block_mask(noop_mask, None, None, 4, 4, device="cuda")
    with pytest.raises(ValueError, match="BLOCK_SIZE"):
        create_block_mask(noop_mask, None, None, 4, 4, BLOCK_SIZE=0)
    with pytest.raises(ValueError, match="Q_LEN"):
        create_block_mask(noop_mask, None, None, 0, 4)
    with pytest.raises(TypeError, match="float32, float16 or bfloat16"):
        flex_attention(q.astype(np.float64), q, q)


# -- attn.blocks, the table flex_attention compiles to ------------------------


def test_blocks_table_semantics_against_naive():
    """2 allows a whole block even where the inner mask would not, 1 defers
    to it, 0 masks: checked on a table that disagrees with the mask."""
    L, S, bq, bkv = 70, 90, 16, 32
    q, k, v = rand(1, 2, L, 16), rand(1, 2, S, 16), rand(1, 2, S, 16)
    table = RNG.integers(0, 3, (1, 2, -(-L // bq), -(-S // bkv))).astype(
        np.int8)
    spec = attn.Spec(attn.blocks(bq, bkv, attn.causal()))
    out = attn.compile(spec, head_dim=16)(q, k, v, block_table=table)
    i, j = np.ogrid[:L, :S]
    e = table[:, :, i // bq, j // bkv]
    causal = j <= i + (S - L)          # positions: i + Skv - Sq
    allowed = (e == 2) | ((e == 1) & causal)
    np.testing.assert_allclose(out, naive(q, k, v, allowed)[0], atol=3e-5,
                               rtol=3e-5)


def test_blocks_errors():
    with pytest.raises(attn.SpecError, match="whole mask"):
        attn.Spec(attn.blocks(8, 8, attn.causal()) & attn.causal())
    with pytest.raises(attn.SpecError, match="may not use dense"):
        attn.blocks(8, 8, attn.causal() & attn.dense())
    kernel = attn.compile(attn.Spec(attn.blocks(8, 8, attn.causal())),
                          head_dim=16)
    q = rand(1, 1, 20, 16)
    ok = np.ones((1, 1, 3, 3), np.int8)
    with pytest.raises(ValueError, match="0 \\(nothing\\), 1"):
        kernel(q, q, q, block_table=ok * 3)
    with pytest.raises(ValueError, match="ceil"):
        kernel(q, q, q, block_table=ok[:, :, :2])
    with pytest.raises(TypeError, match="integers"):
        kernel(q, q, q, block_table=ok.astype(np.float32))
    with pytest.raises(TypeError, match="block_table"):
        kernel(q, q, q)


# -- NATTEN: the builtin against attention-gym's mask_mod -------------------


def test_natten_builtin_matches_the_gym_mask_mod():
    """attention-gym's natten mask_mod (kernel centre clamped into the
    grid), traced through attn.flex, against attn.natten; and both against
    a brute-force loop with the window start shifted inward."""
    H, W, KH, KW = 9, 13, 5, 3

    def natten_mask(b, h, q_idx, kv_idx):
        q_x, q_y = q_idx // W, q_idx % W
        kv_x, kv_y = kv_idx // W, kv_idx % W
        kernel_x = q_x.clamp(KH // 2, (H - 1) - KH // 2)
        kernel_y = q_y.clamp(KW // 2, (W - 1) - KW // 2)
        return (((kernel_x - kv_x).abs() <= KH // 2)
                & ((kernel_y - kv_y).abs() <= KW // 2))

    S = H * W
    allowed = np.zeros((S, S), bool)
    for t in range(S):
        r0 = min(max(t // W - KH // 2, 0), H - KH)
        c0 = min(max(t % W - KW // 2, 0), W - KW)
        for r in range(r0, r0 + KH):
            allowed[t, r * W + c0:r * W + c0 + KW] = True
    q, k, v = rand(1, 2, S, 16), rand(1, 2, S, 16), rand(1, 2, S, 16)
    want = naive(q, k, v, allowed[None, None])[0]
    builtin = attn.compile(attn.natten(H, W, (KH, KW)), head_dim=16)
    np.testing.assert_allclose(builtin(q, k, v), want, atol=3e-5, rtol=3e-5)
    bm = create_block_mask(natten_mask, None, None, S, S, BLOCK_SIZE=16)
    np.testing.assert_allclose(flex_attention(q, k, v, block_mask=bm), want,
                               atol=3e-5, rtol=3e-5)
    # neighborhood_2d cuts the window off at the border instead.
    cut = attn.compile(attn.neighborhood_2d(H, W, KH, KW), head_dim=16)
    assert np.abs(cut(q, k, v) - want).max() > 0.1
