"""attn.mask_blocks through attn.flex.create_block_mask: the block classes
of traced mask_mods computed by generated code (issue 19 item 3), checked
against the test's own evaluation of the mask on the whole grid with numpy
(which shares no code with the compiler or with attn.flex)."""

import numpy as np
import pytest

import attn.flex as F
from attn.flex import create_block_mask

RNG = np.random.default_rng(1919)


def brute_classes(fn, B, H, L, S, bq, bkv):
    """(any, all) per block, from the mask on the [B, H, L, S] grid; pairs
    past L or S count as allowed for `all`, as in FlexAttention."""
    b, h, i, j = np.ogrid[:B, :H, :L, :S]
    allowed = np.broadcast_to(fn(b, h, i, j), (B, H, L, S))
    nq, nkv = -(-L // bq), -(-S // bkv)
    any_ = np.zeros((B, H, nq, nkv), bool)
    all_ = np.zeros((B, H, nq, nkv), bool)
    for r in range(nq):
        for c in range(nkv):
            blk = allowed[:, :, r * bq:(r + 1) * bq, c * bkv:(c + 1) * bkv]
            any_[:, :, r, c] = blk.any(axis=(2, 3))
            all_[:, :, r, c] = blk.all(axis=(2, 3))
    return any_, all_


def _random_mask(rng, L, S):
    """A random mask_mod that attn.recognise does not turn into a builtin
    (so that create_block_mask classifies it), with closed-over arrays."""
    ids = np.sort(rng.integers(0, rng.integers(1, 6), max(L, S))) \
        .astype(np.int32)
    keep = (rng.random(max(L, S)) < 0.8)
    period = int(rng.integers(2, 7))
    band = int(rng.integers(0, 80))
    heads = int(rng.integers(1, 4))
    kind = int(rng.integers(0, 5))

    if kind == 0:      # documents, with a stripe pattern inside
        def mask(b, h, q, kv):
            return (ids[q] == ids[kv]) & ((q - kv) % period != 1)
    elif kind == 1:    # keys dropped by a table, causal within a band
        def mask(b, h, q, kv):
            return keep[kv] & (kv <= q + band) & (q <= kv + 3 * band + 5)
    elif kind == 2:    # per-head and per-batch widths
        def mask(b, h, q, kv):
            return (abs(q - kv) <= band + 7 * (h % heads)) | (kv < b + 1)
    elif kind == 3:    # block-diagonal by arithmetic, or a global key
        def mask(b, h, q, kv):
            return (q // (period * 8) == kv // (period * 8)) | (kv == band)
    else:              # nothing allowed in some rows
        def mask(b, h, q, kv):
            return (q % period != 0) & (kv <= q) & keep[q]
    return mask


@pytest.mark.parametrize("seed", range(24))
def test_random_masks_match_the_grid(seed):
    rng = np.random.default_rng(seed)
    L, S = (int(x) for x in rng.integers(1, 400, 2))
    block = [16, 32, 64, 128, (16, 48), (64, 32), (7, 9)][seed % 7]
    bq, bkv = (block, block) if isinstance(block, int) else block
    B = [None, 1, 2][int(rng.integers(0, 3))]
    H = [None, 1, 3][int(rng.integers(0, 3))]
    mask = _random_mask(rng, L, S)
    got = F._compiled_table(mask, B or 1, H or 1, L, S, bq, bkv)
    assert got is not None, "the mask should trace"
    want = brute_classes(mask, B or 1, H or 1, L, S, bq, bkv)
    np.testing.assert_array_equal(got >= 1, want[0])
    np.testing.assert_array_equal(got == 2, want[1])
    # create_block_mask gives the same (through the compiled kernel).
    bm = create_block_mask(mask, B, H, L, S, BLOCK_SIZE=block)
    np.testing.assert_array_equal(bm.kv_blocks, want[0])
    np.testing.assert_array_equal(bm.full_blocks, want[1])


def test_create_block_mask_runs_generated_code(monkeypatch):
    """A traceable mask_mod never reaches the numpy evaluation."""
    def numpy_path(*args):
        raise AssertionError("evaluated with numpy")
    monkeypatch.setattr(F, "_evaluated_table", numpy_path)
    ids = np.repeat(np.arange(5, dtype=np.int32), 40)

    def mask(b, h, q, kv):
        return (ids[q] == ids[kv]) & ((q + kv) % 5 != 0)
    bm = create_block_mask(mask, None, None, 200, 200, BLOCK_SIZE=32)
    want = brute_classes(mask, 1, 1, 200, 200, 32, 32)
    np.testing.assert_array_equal(bm.kv_blocks, want[0])
    np.testing.assert_array_equal(bm.full_blocks, want[1])


def test_closures_are_read_at_each_call():
    keep = np.ones(96, bool)

    def mask(b, h, q, kv):
        return keep[kv] & (kv <= q + 40)
    first = create_block_mask(mask, None, None, 96, 96, BLOCK_SIZE=16)
    keep[16:48] = False
    second = create_block_mask(mask, None, None, 96, 96, BLOCK_SIZE=16)
    assert first.kv_blocks[:, :, :, 1:3].any()
    assert not second.kv_blocks[:, :, :, 1:3].any()
    want = brute_classes(mask, 1, 1, 96, 96, 16, 16)
    np.testing.assert_array_equal(second.kv_blocks, want[0])
    np.testing.assert_array_equal(second.full_blocks, want[1])


@pytest.mark.parametrize("how", ["isin", "method"])
def test_untraceable_mask_falls_back_to_numpy(how):
    chosen = np.array([1, 5, 9])

    def mask(b, h, q, kv):
        if how == "isin":   # a numpy function the tracer does not know
            return np.isin(kv % 16, chosen) | (q == kv)
        # an array method traced values lack
        return ((kv % 16 == 1) | (q == kv)).astype(bool)
    assert F._compiled_table(mask, 1, 1, 50, 50, 16, 16) is None
    bm = create_block_mask(mask, None, None, 50, 50, BLOCK_SIZE=16)
    want = brute_classes(mask, 1, 1, 50, 50, 16, 16)
    np.testing.assert_array_equal(bm.kv_blocks, want[0])
    np.testing.assert_array_equal(bm.full_blocks, want[1])


def test_capture_read_out_of_range_is_an_error():
    short = np.zeros(10, np.int32)

    def mask(b, h, q, kv):
        return short[kv] == 0
    with pytest.raises(IndexError, match="'short'"):
        create_block_mask(mask, None, None, 64, 64, BLOCK_SIZE=16).kv_blocks


def test_flex_attention_with_a_generated_table():
    """The table feeds flex_attention's #attn.blocks kernel unchanged."""
    L = 150
    ids = np.sort(RNG.integers(0, 4, L)).astype(np.int32)

    def mask(b, h, q, kv):
        return (ids[q] == ids[kv]) & ((q - kv) % 3 != 2)
    q, k, v = (RNG.standard_normal((1, 2, L, 16)).astype(np.float32)
               for _ in range(3))
    out = F.flex_attention(q, k, v, block_mask=create_block_mask(
        mask, None, None, L, L, BLOCK_SIZE=32))
    b, h, i, j = np.ogrid[:1, :1, :L, :L]
    allowed = mask(b, h, i, j)
    s = np.einsum("bhid,bhjd->bhij", q.astype(np.float64),
                  k.astype(np.float64)) / 4.0
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(m), m, 0))
    den = p.sum(-1, keepdims=True)
    want = (p @ v.astype(np.float64)) / np.where(den > 0, den, 1)
    np.testing.assert_allclose(out, want, atol=3e-5, rtol=3e-5)


# -- blocks decided by interval bounds -------------------------------------
# The kernel bounds an arithmetic mask_mod over each block and scans only
# blocks the bounds leave open; random expressions over every integer op
# the tracer emits check that the bounds are sound (never decide a block
# wrongly), negative values, divisions and remainders included.

def _int_expr(rng, depth):
    if depth == 0 or rng.random() < 0.25:
        # t: a closed-over int32 array, read at indices inside it
        return str(rng.choice(["q", "kv", "b", "h", "q", "kv", "t[q]",
                               "t[kv]", "t[T.abs(q - kv)]",
                               str(int(rng.integers(-60, 300)))]))
    a, c = _int_expr(rng, depth - 1), _int_expr(rng, depth - 1)
    op = rng.choice(["+", "-", "*", "*c", "//", "%", "abs", "min", "max",
                     "where"])
    d = int(rng.choice([-7, -3, 2, 3, 5, 16, 64]))
    if op in ("+", "-", "*"):
        return f"({a} {op} {c})"
    if op == "*c":
        return f"({a} * {int(rng.integers(-4, 5))})"
    if op in ("//", "%"):
        # a constant divisor (bounded), or one that is not (scanned)
        div = str(d) if rng.random() < 0.8 else "(kv + 1)"
        return f"({a} {op} {div})"
    # (the functions take traced values: `+ kv * 0` makes a constant one)
    if op == "abs":
        return f"T.abs({a} + kv * 0)"
    if op == "min":
        return f"T.minimum({a} + kv * 0, {c})"
    if op == "max":
        return f"T.maximum({a} + kv * 0, {c})"
    return f"T.where({_bool_expr(rng, depth - 1)}, {a} + kv * 0, {c})"


def _bool_expr(rng, depth):
    if depth == 0 or rng.random() < 0.4:
        cmp = rng.choice(["<", "<=", ">", ">=", "==", "!="])
        return f"({_int_expr(rng, depth)} {cmp} {_int_expr(rng, depth)})"
    op = rng.choice(["&", "|", "^", "~"])
    if op == "~":
        return f"(~{_bool_expr(rng, depth - 1)})"
    return f"({_bool_expr(rng, depth - 1)} {op} {_bool_expr(rng, depth - 1)})"


@pytest.mark.parametrize("seed", range(60))
def test_interval_bounds_are_sound(seed):
    from attn import trace as T
    rng = np.random.default_rng(1000 + seed)
    text = _bool_expr(rng, 3)
    L, S = (int(x) for x in rng.integers(1, 300, 2))
    # sorted runs (document-like) or noise, negative values included
    t = rng.integers(-40, 40, max(L, S)).astype(np.int32)
    if seed % 2:
        t = np.sort(t // 8)
    mask = eval(f"lambda b, h, q, kv: {text}",  # noqa: S307
                {"T": T, "t": t})
    bq, bkv = (int(x) for x in rng.choice([1, 8, 16, 33, 64], 2))
    B, H = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    got = F._compiled_table(mask, B, H, L, S, bq, bkv)
    assert got is not None, text
    want = brute_classes(mask, B, H, L, S, bq, bkv)
    np.testing.assert_array_equal(got >= 1, want[0], err_msg=text)
    np.testing.assert_array_equal(got == 2, want[1], err_msg=text)


# -- attn.compile: generated block classes at each call ----------------------

def _attention_ref(q, k, v, allowed, scale):
    """float64 softmax attention over an explicit [B|1, H|1, Sq, Skv]
    mask (GQA by repeating K and V); fully masked rows give 0."""
    group = q.shape[1] // k.shape[1]
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    s = np.where(allowed, q @ k.transpose(0, 1, 3, 2) * scale, -np.inf)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(m), m, 0.0))
    den = p.sum(-1, keepdims=True)
    return (p @ v) / np.where(den > 0, den, 1.0)


@pytest.mark.parametrize("seed", range(8))
def test_compiled_kernels_skip_by_generated_classes(seed):
    import attn
    rng = np.random.default_rng(500 + seed)
    B, Hkv = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    Hq = Hkv * int(rng.integers(1, 3))
    Sq, Skv = int(rng.integers(1, 300)), int(rng.integers(1, 300))
    mask = _random_mask(rng, Sq, Skv)
    fn = attn.compile(attn.Spec(attn.mask_mod(mask)), head_dim=32)
    assert fn.block_classes == "generated"
    q = rng.standard_normal((B, Hq, Sq, 32)).astype(np.float32)
    k = rng.standard_normal((B, Hkv, Skv, 32)).astype(np.float32)
    v = rng.standard_normal((B, Hkv, Skv, 32)).astype(np.float32)
    b, h, i, j = np.ogrid[:B, :Hq, :Sq, :Skv]
    want = _attention_ref(q, k, v, mask(b, h, i, j), 32 ** -0.5)
    np.testing.assert_allclose(fn(q, k, v), want, atol=3e-5, rtol=3e-5)


def test_tables_follow_the_arrays_and_lengths(monkeypatch):
    import attn
    import attn.block_classes as BL
    keep = np.ones(200, bool)

    def mask(b, h, q, kv):
        return keep[kv] & ((q - kv) % 5 != 3)
    fn = attn.compile(attn.Spec(attn.mask_mod(mask)), head_dim=16)
    calls = []
    real = BL.classify
    monkeypatch.setattr(BL, "classify",
                        lambda *a, **kw: calls.append(a[1:5]) or
                        real(*a, **kw))
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((1, 2, 200, 16)).astype(np.float32)
               for _ in range(3))
    i, j = np.ogrid[:200, :200]
    for changed in (False, False, True):
        if changed:
            keep[40:170] = False
        want = _attention_ref(q, k, v, keep[j] & ((i - j) % 5 != 3),
                              0.25)
        np.testing.assert_allclose(fn(q, k, v), want, atol=3e-5, rtol=3e-5)
    # Once for the first two calls (same arrays), again after the change;
    # the mask reads neither b nor h, so one table serves every head.
    assert calls == [(1, 1, 200, 200)] * 2
    fn(q[:, :, :77], k, v)
    assert calls[-1] == (1, 1, 77, 200)


def test_masks_with_parameters_keep_the_traced_kernel():
    import attn

    def mask(b, h, q, kv, ids):
        return ids[q] == ids[kv]
    fn = attn.compile(attn.Spec(attn.mask_mod(mask,
                                              dtypes={"ids": "int32"})),
                      head_dim=16)
    assert fn.block_classes is None
    causal = attn.compile(attn.Spec(attn.mask_mod(
        lambda b, h, q, kv: kv <= q)), head_dim=16)
    assert causal.block_classes == "builtin"


def test_which_index_arguments_a_mask_reads():
    # The tracer says which of b and h the body reads (batch and head
    # dims of a table are size 1 where it reads neither), including reads
    # that only index a closed-over array and a read through a constant.
    from attn.block_classes import reads_batch_and_head as reads
    ids = np.arange(8, dtype=np.int32)
    per_batch = np.zeros((2, 8), np.int32)
    assert reads(lambda b, h, q, kv: kv <= q) == (False, False)
    assert reads(lambda b, h, q, kv: ids[q] == ids[kv]) == (False, False)
    assert reads(lambda b, h, q, kv: per_batch[b, q] == per_batch[b, kv]) \
        == (True, False)
    assert reads(lambda b, h, q, kv: (kv <= q) | (h == 3)) == (False, True)
    assert reads(lambda b, h, q, kv: (q - kv) % (b + h + 2) == 0) \
        == (True, True)
    assert reads(lambda b, h, q, kv: True) == (False, False)
