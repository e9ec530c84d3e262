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


def _gym_document(inner, document_id, offsets):
    """attention-gym's generate_doc_mask_mod, as the gym writes it: the
    inner mask_mod sees positions within the document."""
    def doc_mask_mod(b, h, q_idx, kv_idx):
        same_doc = document_id[q_idx] == document_id[kv_idx]
        q_logical = q_idx - offsets[document_id[q_idx]]
        kv_logical = kv_idx - offsets[document_id[kv_idx]]
        return same_doc & inner(b, h, q_logical, kv_logical)
    return doc_mask_mod


def _document_grid(m, ops, p, j):
    """The allowed grid of a recognised document mask: the builtins of
    `m` (attn.document taken from the segment operands)."""
    if isinstance(m, S.Document):
        sq, skv = ops["segments"]
        return sq[0][p.ravel()].reshape(-1, 1) == skv[0][j.ravel()]
    if isinstance(m, (S.And, S.Or)):
        grids = [_document_grid(o, ops, p, j) for o in m.operands]
        out = grids[0]
        for g in grids[1:]:
            out = (out & g) if isinstance(m, S.And) else (out | g)
        return out
    if isinstance(m, S.Not):
        return ~_document_grid(m.operand, ops, p, j)
    return _builtin_grid(m, p, j)


@pytest.mark.parametrize("seed", range(12))
def test_gym_document_mask_with_offsets_is_recognised(seed):
    # The per-document offsets cancel under same_doc, whatever their
    # values and whether or not documents are contiguous.
    rng = np.random.default_rng(100 + seed)
    n = 41
    ndocs = int(rng.integers(1, 6))
    document_id = rng.integers(0, ndocs, n)
    if seed % 2:
        document_id = np.sort(document_id)
    offsets = rng.integers(-50, 50, ndocs)
    f = _random_formula(rng)
    inner = lambda b, h, q, k: f(q, k)
    fn = _gym_document(inner, document_id, offsets)
    m, ops = R.declarative(fn, 0, (n, n))
    assert m is not None
    i = np.arange(n).reshape(-1, 1)
    j = np.arange(n).reshape(1, -1)
    q_log = i - offsets[document_id[i]]
    k_log = j - offsets[document_id[j]]
    expected = (document_id[i] == document_id[j]) & f(q_log, k_log)
    got = np.broadcast_to(_document_grid(m, ops, i, j), (n, n))
    np.testing.assert_array_equal(got, expected, err_msg=m.attr())


def test_gym_document_masks_become_document_builtins():
    document_id = np.repeat(np.arange(5), [90, 40, 1, 75, 50])
    offsets = np.concatenate([[0], np.cumsum(np.bincount(document_id))[:-1]])
    causal = lambda b, h, q, k: q >= k
    window = lambda b, h, q, k: (q >= k) & (q - k <= 16)
    m, _ = R.declarative(_gym_document(causal, document_id, offsets), 0,
                         (256, 256))
    assert m.attr() == "#attn.and<[#attn.causal, #attn.document]>"
    m, _ = R.declarative(_gym_document(window, document_id, offsets), 0,
                         (256, 256))
    assert m.attr() == \
        "#attn.and<[#attn.sliding_window<left = 16, right = 0>, " \
        "#attn.document]>"


def test_document_values_without_same_doc_are_not_recognised():
    document_id = np.repeat(np.arange(3), [4, 5, 6])
    offsets = np.array([0, 4, 9])

    def no_same_doc(b, h, q, k):
        return q - offsets[document_id[q]] >= k - offsets[document_id[k]]

    def same_doc_in_an_or(b, h, q, k):
        return (document_id[q] == document_id[k]) | \
            (q - offsets[document_id[q]] >= k - offsets[document_id[k]])

    def prefix_within_document(b, h, q, k):   # not a function of q - k
        return (document_id[q] == document_id[k]) & \
            (k - offsets[document_id[k]] < 3)

    def one_side_only(b, h, q, k):
        return (document_id[q] == document_id[k]) & \
            (q - offsets[document_id[q]] >= k)

    short = np.array([0, 4])    # ids index past it: the function fails

    def out_of_range(b, h, q, k):
        return (document_id[q] == document_id[k]) & \
            (q - short[document_id[q]] >= k - short[document_id[k]])

    for fn in (no_same_doc, same_doc_in_an_or, prefix_within_document,
               one_side_only, out_of_range):
        assert R.declarative(fn, 0, (15, 15))[0] is None, fn.__name__


def test_flex_attention_runs_the_gym_document_mask_as_attn_document():
    rng = np.random.default_rng(7)
    document_id = np.repeat(np.arange(4), [20, 3, 30, 11])
    offsets = np.concatenate([[0], np.cumsum(np.bincount(document_id))[:-1]])
    fn = _gym_document(lambda b, h, q, k: q >= k, document_id, offsets)
    q, k, v = (rng.standard_normal((1, 2, 64, 16)).astype(np.float32)
               for _ in range(3))
    attn.flex._kernels.clear()
    bm = create_block_mask(fn, None, None, 64, 64, BLOCK_SIZE=16)
    out = flex_attention(q, k, v, block_mask=bm)
    ref = reference.attention(S.Spec(S.MaskMod(fn)), q, k, v)
    np.testing.assert_allclose(out, ref, atol=2e-5, rtol=2e-5)
    keys = [key for key in attn.flex._kernels
            if isinstance(key[1], str) and "document" in key[1]]
    assert keys, list(attn.flex._kernels)


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


def test_compiled_mask_mod_with_other_arrays_stays_traced():
    table = np.arange(32) % 3

    def reads_a_table(b, h, q, k):   # not a document comparison
        return table[k] == 1
    fn = attn.compile(S.Spec(S.MaskMod(reads_a_table)), head_dim=16)
    assert fn.builtin_mask is None


def test_document_recognition_is_redone_only_when_arrays_change(
        monkeypatch):
    # The builtin document path recognises the arrays again when the
    # lengths or the arrays' contents change, not at every call.
    from attn import recognise
    document_id = np.repeat(np.arange(3), [10, 6, 16])
    offsets = np.array([0, 10, 16])
    spec = S.Spec(S.MaskMod(_gym_document(lambda b, h, q, k: q >= k,
                                          document_id, offsets)))
    fn = attn.compile(spec, head_dim=16)
    calls = []
    real = recognise.declarative
    monkeypatch.setattr(recognise, "declarative",
                        lambda *a, **kw: calls.append(a[2]) or real(*a, **kw))
    rng = np.random.default_rng(7)

    def check(n):
        q, k, v = (rng.standard_normal((1, 2, n, 16)).astype(np.float32)
                   for _ in range(3))
        np.testing.assert_allclose(fn(q, k, v),
                                   reference.attention(spec, q, k, v),
                                   atol=2e-5, rtol=2e-5)
        assert fn._builtin_docs_kernel is not None
    check(32)
    check(32)
    assert calls == [(32, 32)]
    document_id[:] = np.repeat(np.arange(3), [4, 20, 8])
    offsets[:] = [0, 4, 24]
    check(32)
    check(32)
    check(30)
    assert calls == [(32, 32), (32, 32), (30, 30)]


@pytest.mark.parametrize("q_offset", [0, 3])
def test_compiled_document_mask_mod_runs_the_builtin(q_offset):
    # attn.compile of the gym's document mask (ids and offsets closed
    # over): calls with Sq == Skv run attn.document & causal with segment
    # ids read from the arrays at each call; calls with other lengths or
    # captures given by hand run the traced kernel. All match the float64
    # reference of the traced function.
    document_id = np.repeat(np.arange(4), [20, 3, 30, 11])
    offsets = np.concatenate([[0], np.cumsum(np.bincount(document_id))[:-1]])
    fn_mask = _gym_document(lambda b, h, q, k: q >= k, document_id, offsets)
    spec = S.Spec(S.MaskMod(fn_mask), q_offset=q_offset)
    fn = attn.compile(spec, head_dim=16)
    assert fn.builtin_mask is not None and "document" in fn.builtin_mask
    rng = np.random.default_rng(q_offset)

    def check(sq, skv, **captures):
        q = rng.standard_normal((2, 2, sq, 16)).astype(np.float32)
        k, v = (rng.standard_normal((2, 1, skv, 16)).astype(np.float32)
                for _ in range(2))
        got, lse = fn(q, k, v, return_lse=True, **captures)
        want, want_lse = reference.attention(spec, q, k, v, return_lse=True,
                                             **captures)
        np.testing.assert_allclose(got, want, atol=2e-5, rtol=2e-5)
        fin = np.isfinite(want_lse)
        np.testing.assert_array_equal(fin, np.isfinite(lse))
        np.testing.assert_allclose(lse[fin], want_lse[fin], atol=2e-5)

    check(64, 64)
    assert fn._builtin_docs_kernel is not None      # the builtin ran
    check(40, 64)                                    # traced
    # New ids and offsets in the same arrays: the next call reads them.
    document_id[:] = np.repeat(np.arange(2), [50, 14])
    offsets[:] = [0, 50, 64, 64]
    check(64, 64)
    # Captures given by hand: the traced kernel, with those values.
    ids = np.repeat(np.arange(4), 16).astype(np.int64)
    offs = np.array([0, 16, 32, 48])
    before = fn._builtin_docs_kernel
    fn._builtin_docs_kernel = None
    check(64, 64, document_id=ids, offsets=offs)
    assert fn._builtin_docs_kernel is None          # it did not run
    fn._builtin_docs_kernel = before
