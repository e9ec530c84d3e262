"""attn.recognise: builtin masks recognised in mask functions (issue 19).

A recognised mask must mean exactly what the function computes: random
functions of comparisons of q_idx and kv_idx (with &, |, ~, ^, abs and
and_masks/or_masks) are evaluated on index grids with numpy and compared
with the recognised builtin evaluated here from its definition in
VARIANTS.md (causal: j <= p; sliding_window: p - left <= j <= p + right;
p = q_idx + shift), for several shifts. Functions that read b, h, arrays or
use other arithmetic must not be recognised. flex_attention with a
recognised mask matches the float64 reference of the traced function.
"""

from __future__ import annotations

import numpy as np
import pytest

import attn
from attn import recognise as R
from attn import reference
from attn import spec as S
from attn.flex import create_block_mask, flex_attention


def _builtin_grid(m, p, j):
    """The allowed grid of a builtin mask, from its definition."""
    if isinstance(m, S.Full):
        return np.ones(np.broadcast(p, j).shape, bool)
    if isinstance(m, S.Causal):
        return j <= p
    if isinstance(m, S.SlidingWindow):
        return (p - m.left <= j) & (j <= p + m.right)
    if isinstance(m, S.Not):
        return ~_builtin_grid(m.operand, p, j)
    if isinstance(m, (S.And, S.Or)):
        grids = [_builtin_grid(o, p, j) for o in m.operands]
        out = grids[0]
        for g in grids[1:]:
            out = (out & g) if isinstance(m, S.And) else (out | g)
        return out
    raise AssertionError(f"not a builtin recognise should produce: {m!r}")


def _random_atom(rng):
    c = int(rng.integers(-6, 7))
    form = int(rng.integers(0, 7))
    if form == 0:
        return lambda q, k: q >= k + c
    if form == 1:
        return lambda q, k: q - k <= c
    if form == 2:
        return lambda q, k: k - q < c
    if form == 3:
        return lambda q, k: k == q + c
    if form == 4:
        return lambda q, k: q + c != k
    if form == 5:
        return lambda q, k: abs(q - k) <= abs(c)
    return lambda q, k: 2 * k - (k + q) > c   # k - q > c, written oddly


def _random_formula(rng, depth=0):
    if depth >= 2 or rng.random() < 0.35:
        return _random_atom(rng)
    a = _random_formula(rng, depth + 1)
    b = _random_formula(rng, depth + 1)
    op = int(rng.integers(0, 4))
    if op == 0:
        return lambda q, k: a(q, k) & b(q, k)
    if op == 1:
        return lambda q, k: a(q, k) | b(q, k)
    if op == 2:
        return lambda q, k: a(q, k) ^ b(q, k)
    return lambda q, k: ~(a(q, k) & b(q, k))


@pytest.mark.parametrize("seed", range(40))
def test_recognised_mask_is_the_function(seed):
    rng = np.random.default_rng(seed)
    f = _random_formula(rng)

    def mask_mod(b, h, q_idx, kv_idx):
        return f(q_idx, kv_idx)

    i = np.arange(23).reshape(-1, 1)
    j = np.arange(29).reshape(1, -1)
    expected = np.broadcast_to(mask_mod(0, 0, i, j), (23, 29))
    for shift in (0, 6, 29 - 23, -3):
        m = R.declarative(mask_mod, shift)[0]
        assert m is not None, "a function of q_idx - kv_idx comparisons"
        got = np.broadcast_to(_builtin_grid(m, i + shift, j), (23, 29))
        np.testing.assert_array_equal(got, expected, err_msg=m.attr())


def test_common_masks_become_one_builtin():
    causal = lambda b, h, q, k: q >= k
    window = lambda b, h, q, k: q - k <= 256
    assert R.declarative(causal)[0].attr() == "#attn.causal"
    assert R.declarative(attn.and_masks(causal, window))[0].attr() == \
        "#attn.sliding_window<left = 256, right = 0>"
    assert R.declarative(lambda b, h, q, k: abs(q - k) <= 8)[0].attr() == \
        "#attn.sliding_window<left = 8, right = 8>"
    assert R.declarative(attn.flex.noop_mask)[0].attr() == "#attn.full"


@pytest.mark.parametrize("fn", [
    lambda b, h, q, k: (q >= k) & (b == 0),           # reads the batch
    lambda b, h, q, k: q >= k + h,                    # reads the head
    lambda b, h, q, k: k <= 100,                      # key alone (prefix)
    lambda b, h, q, k: q // 64 == k // 64,            # floor division
    lambda b, h, q, k: 2 * q >= k,                    # not q - k
    lambda b, h, q, k: _DOC[q] == _DOC[k + 1],        # shifted ids
    lambda b, h, q, k: _DOC[q] < _DOC[k],             # ids ordered
    lambda b, h, q, k: _DOC[q] == _DOC2[k],           # too short for 64
    lambda b, h, q, k: _FLOAT_IDS[q] == _FLOAT_IDS[k],  # not integers
    lambda b, h, q, k: (_DOC[q] == _DOC[k]) | (_DOC2[q] == _DOC2[k]),
])
def test_other_functions_are_not_recognised(fn):
    assert R.declarative(fn, 0, (64, 64)) == (None, {})


_DOC = np.repeat(np.arange(4), 16)
_DOC2 = np.arange(8)
_FLOAT_IDS = np.repeat(np.arange(4.0), 16)


def test_branching_on_a_value_is_not_recognised():
    def mask_mod(b, h, q, k):
        if q > k:        # Python control flow on a traced value
            return True
        return q == k
    assert R.declarative(mask_mod) == (None, {})


@pytest.mark.parametrize("L,S_", [(67, 67), (33, 97), (1, 130)])
def test_flex_attention_runs_recognised_masks_as_builtins(L, S_):
    rng = np.random.default_rng(L + S_)
    q = rng.standard_normal((1, 2, L, 32)).astype(np.float32)
    k = rng.standard_normal((1, 2, S_, 32)).astype(np.float32)
    v = rng.standard_normal((1, 2, S_, 32)).astype(np.float32)

    def window(b, h, q_idx, kv_idx):
        return (q_idx + (S_ - L) >= kv_idx) & (q_idx - kv_idx <= 20)

    bm = create_block_mask(window, None, None, L, S_, BLOCK_SIZE=32)
    out = flex_attention(q, k, v, block_mask=bm)
    ref = reference.attention(S.Spec(S.MaskMod(window)), q, k, v)
    # Rows with no allowed key give 0 in both.
    np.testing.assert_allclose(out, ref, atol=2e-5, rtol=2e-5)
    # It ran as the builtin, without the block table.
    keys = [key for key in attn.flex._kernels
            if isinstance(key[1], str) and "sliding_window" in key[1]]
    assert keys, list(attn.flex._kernels)


def test_document_ids_become_attn_document():
    doc = np.repeat(np.arange(3), [5, 9, 7]).astype(np.int64)

    def doc_causal(b, h, q_idx, kv_idx):
        return (doc[q_idx] == doc[kv_idx]) & (q_idx >= kv_idx)

    m, ops = R.declarative(doc_causal, 0, (21, 21), batch=2)
    assert m.attr() == "#attn.and<[#attn.causal, #attn.document]>"
    sq, skv = ops["segments"]
    assert sq.shape == skv.shape == (2, 21) and sq.dtype == np.int32
    np.testing.assert_array_equal(sq[1], doc)
    # The arrays are read when recognised: a changed array is seen.
    doc[:] = 0
    _, ops = R.declarative(doc_causal, 0, (21, 21))
    assert not ops["segments"][0].any()


@pytest.mark.parametrize("L,S_", [(64, 64), (17, 64)])
def test_flex_attention_runs_document_ids_as_attn_document(L, S_):
    rng = np.random.default_rng(L)
    doc = np.sort(rng.integers(0, 5, 64))
    q = rng.standard_normal((2, 2, L, 16)).astype(np.float32)
    k = rng.standard_normal((2, 2, S_, 16)).astype(np.float32)
    v = rng.standard_normal((2, 2, S_, 16)).astype(np.float32)

    def doc_mask(b, h, q_idx, kv_idx):
        return (doc[q_idx] == doc[kv_idx]) & (q_idx + (S_ - L) >= kv_idx)

    bm = create_block_mask(doc_mask, None, None, L, S_, BLOCK_SIZE=16)
    out = flex_attention(q, k, v, block_mask=bm)
    ref = reference.attention(S.Spec(S.MaskMod(doc_mask)), q, k, v)
    np.testing.assert_allclose(out, ref, atol=2e-5, rtol=2e-5)
    # New ids in the same array: the next call reads them.
    doc[:] = np.arange(64) // 8
    bm = create_block_mask(doc_mask, None, None, L, S_, BLOCK_SIZE=16)
    out = flex_attention(q, k, v, block_mask=bm)
    ref = reference.attention(S.Spec(S.MaskMod(doc_mask)), q, k, v)
    np.testing.assert_allclose(out, ref, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("q_offset", [0, 5])
def test_compiled_mask_mod_runs_the_builtin_for_self_attention(q_offset):
    # attn.compile of a recognised mask_mod: calls with Sq == Skv run the
    # builtin (its positions are q_idx + q_offset), others the traced one;
    # both match the float64 reference of the traced function.
    def window(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx <= 9)

    spec = S.Spec(S.MaskMod(window), score_mod=lambda s, b, h, i, j: s * 0.5,
                  q_offset=q_offset)
    fn = attn.compile(spec, head_dim=16)
    # With q_offset 5 the keys allowed are p - 14 .. p - 5.
    assert fn.builtin_mask == (
        "#attn.sliding_window<left = 9, right = 0>" if q_offset == 0 else
        "#attn.and<[#attn.sliding_window<left = 14, right = 1099511627776>, "
        "#attn.not<#attn.sliding_window<left = 4, right = 1099511627776>>]>")
    rng = np.random.default_rng(q_offset)
    for sq, skv in ((37, 37), (20, 45)):
        q = rng.standard_normal((1, 2, sq, 16)).astype(np.float32)
        k = rng.standard_normal((1, 2, skv, 16)).astype(np.float32)
        v = rng.standard_normal((1, 2, skv, 16)).astype(np.float32)
        np.testing.assert_allclose(fn(q, k, v),
                                   reference.attention(spec, q, k, v),
                                   atol=2e-5, rtol=2e-5)
    assert (fn._builtin_native is not None) == (fn.builtin_mask is not None)


def test_compiled_mask_mod_with_arrays_stays_traced():
    doc = np.repeat(np.arange(4), 8)
    fn = attn.compile(S.Spec(S.MaskMod(
        lambda b, h, q, k: doc[q] == doc[k])), head_dim=16)
    assert fn.builtin_mask is None
