"""FlexAttention idioms in traced functions (issue 19): closures over
arrays, torch-style methods and conversions, and_masks / or_masks.

Every numeric check compares the compiled kernel with an attention written
here in float64 numpy from an explicitly built mask or bias (not with the
traced function evaluated on arrays), so that the tracer and the
reference's array evaluation are both checked against an independent
definition; attn.reference is compared too.
"""

import math

import numpy as np
import pytest

import attn

RNG = np.random.default_rng(19)


def qkv(S, D=16, H=2, Skv=None, dtype=np.float32):
    Skv = S if Skv is None else Skv
    return (RNG.standard_normal((1, H, S, D)).astype(dtype),
            RNG.standard_normal((1, H, Skv, D)).astype(dtype),
            RNG.standard_normal((1, H, Skv, D)).astype(dtype))


def naive(q, k, v, allowed=None, bias=None):
    """float64 softmax attention with an [Sq, Skv] mask and bias; fully
    masked rows give 0."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
    if bias is not None:
        s = s + bias
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m)
    den = p.sum(-1, keepdims=True)
    return (p @ v) / np.where(den > 0, den, 1.0)


def grid(Sq, Skv, fn):
    return np.array([[fn(i, j) for j in range(Skv)] for i in range(Sq)])


def check(spec, q, k, v, expected, tol=2e-5, **kw):
    out = attn.compile(spec, head_dim=q.shape[-1])(q, k, v, **kw)
    np.testing.assert_allclose(out, expected, atol=tol, rtol=tol)
    ref = attn.reference.attention(spec, q, k, v, **kw)
    np.testing.assert_allclose(ref, expected, atol=1e-9, rtol=1e-9)


# -- torch-style methods and explicit conversions ------------------------------


def t5_bucket(rel, num_buckets=16, max_distance=40):
    """Hugging Face T5's relative position bucket, bidirectional, on one
    Python int (math module): the independent definition."""
    nb = num_buckets // 2
    bucket = nb if rel > 0 else 0
    rel = abs(rel)
    max_exact = nb // 2
    if rel < max_exact:
        return bucket + rel
    large = max_exact + int(math.log(rel / max_exact)
                            / math.log(max_distance / max_exact)
                            * (nb - max_exact))
    return bucket + min(large, nb - 1)


def t5_traced(score, b, h, q_idx, kv_idx):
    # T5's own code, with torch spellings that attn's tracer accepts.
    rel = kv_idx - q_idx
    num_buckets, max_distance = 16 // 2, 40
    buckets = (rel > 0).long() * num_buckets
    rel = rel.abs()
    max_exact = num_buckets // 2
    is_small = rel < max_exact
    large = max_exact + (attn.log(rel.float() / max_exact)
                         / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = large.clamp(max=num_buckets - 1)
    return score + 0.05 * (buckets + attn.where(is_small, rel, large)).float()


def test_t5_bucket_traced_with_torch_spellings():
    q, k, v = qkv(37, Skv=90)
    # rel = kv_idx - q_idx (indices, not positions), as the function says.
    bias = 0.05 * grid(37, 90, lambda i, j: t5_bucket(j - i))
    check(attn.Spec(score_mod=attn.score_mod(t5_traced)), q, k, v,
          naive(q, k, v, bias=bias))


def test_float_to_int_truncates_saturates_and_maps_nan_to_zero():
    def mod(score, b, h, q_idx, kv_idx):
        x = attn.where(kv_idx % 5 == 0, float("nan"),
                       attn.where(kv_idx % 5 == 1, 1e30,
                                  attn.where(kv_idx % 5 == 2, -1e30,
                                             attn.where(kv_idx % 5 == 3, -2.7,
                                                        2.7))))
        i = x.long()
        # Saturated values are +-2**62: // 2**61 gives +-2.
        return score + 0.25 * attn.where(abs(i) > 100, i // 2 ** 61, i).float()

    def expected(j):
        return {0: 0, 1: 2, 2: -2, 3: -2, 4: 2}[j % 5]

    q, k, v = qkv(20, Skv=33)
    bias = 0.25 * grid(20, 33, lambda i, j: expected(j))
    check(attn.Spec(score_mod=attn.score_mod(mod)), q, k, v,
          naive(q, k, v, bias=bias))


def test_floor_exp2_sigmoid_clamp():
    def mod(score, b, h, q_idx, kv_idx):
        d = (q_idx - kv_idx).float()
        f = attn.floor(d / 3.0)              # floor toward -inf
        return (score + 0.1 * f.float()
                + attn.exp2(attn.clamp(-d * 0.1, -2.0, 1.5))
                + (d * 0.05).sigmoid())

    def b(i, j):
        d = i - j
        return (0.1 * math.floor(d / 3.0)
                + 2.0 ** min(max(-d * 0.1, -2.0), 1.5)
                + 1.0 / (1.0 + math.exp(-d * 0.05)))

    q, k, v = qkv(29, Skv=41)
    check(attn.Spec(score_mod=attn.score_mod(mod)), q, k, v,
          naive(q, k, v, bias=grid(29, 41, b)), tol=5e-5)


def test_implicit_float_to_index_still_refused():
    def bad(b, h, q_idx, kv_idx, t):
        return t[q_idx.float() * 2.0] > 0
    with pytest.raises(attn.TraceError, match=r"\.long\(\)"):
        attn.compile(attn.mask_mod(bad), head_dim=16)


def test_unknown_dtype_in_to():
    def bad(score, b, h, q_idx, kv_idx):
        return score + q_idx.to("complex64")
    with pytest.raises(attn.TraceError, match="complex64"):
        attn.compile(attn.Spec(score_mod=attn.score_mod(bad)), head_dim=16)


# -- closures over arrays --------------------------------------------------------

DOC_IDS = np.repeat(np.arange(4), [30, 1, 50, 19]).astype(np.int64)


def doc_mask_global(b, h, q_idx, kv_idx):
    # Reads the module global DOC_IDS (int64): a capture named DOC_IDS.
    return DOC_IDS[q_idx] == DOC_IDS[kv_idx]


def test_module_global_array_becomes_a_capture():
    q, k, v = qkv(100)
    spec = attn.Spec(attn.mask_mod(doc_mask_global))
    assert "DOC_IDS" in attn.to_mlir(spec, head_dim=16)
    check(spec, q, k, v, naive(q, k, v, grid(
        100, 100, lambda i, j: DOC_IDS[i] == DOC_IDS[j])))


def make_doc_mask(inner, document_id):
    # In the spirit of attention-gym's generate_doc_mask_mod: the arrays sit
    # two closures down, behind a helper function.
    starts = np.searchsorted(document_id, np.arange(document_id.max() + 1))

    def logical(idx):
        return idx - starts[document_id[idx]]

    def doc_mask(b, h, q_idx, kv_idx):
        return (document_id[q_idx] == document_id[kv_idx]) & inner(
            b, h, logical(q_idx), logical(kv_idx))
    return doc_mask


def test_nested_closures_see_current_contents_and_names_override():
    S = 120
    ids = np.sort(RNG.integers(0, 5, S))
    window = np.array([7])

    def inner(b, h, q, kv):
        return (q >= kv) & (q - kv < window[0])

    fn = make_doc_mask(inner, ids)
    kernel = attn.compile(fn, head_dim=16)
    q, k, v = qkv(S)

    def expect(ids_now, w):
        off = {d: int(np.argmax(ids_now == d)) for d in np.unique(ids_now)}
        return naive(q, k, v, grid(S, S, lambda i, j: ids_now[i] == ids_now[j]
                                   and 0 <= (i - off[ids_now[i]])
                                   - (j - off[ids_now[j]]) < w))

    np.testing.assert_allclose(kernel(q, k, v), expect(ids, 7), atol=2e-5)
    window[0] = 3  # changed in place: the next call reads it
    np.testing.assert_allclose(kernel(q, k, v), expect(ids, 3), atol=2e-5)
    # Given by name, a closed-over array is replaced for that call only.
    np.testing.assert_allclose(kernel(q, k, v, window=np.array([12])),
                               expect(ids, 12), atol=2e-5)
    np.testing.assert_allclose(kernel(q, k, v), expect(ids, 3), atol=2e-5)


def test_closure_dtypes_are_converted_and_checked():
    big = np.array([0, 2 ** 40], np.int64)
    scale = np.array([0.5, 2.0], np.float64)

    def mod(score, b, h, q_idx, kv_idx):
        return score * scale[kv_idx % 2]

    q, k, v = qkv(10)
    check(attn.Spec(score_mod=attn.score_mod(mod)), q, k, v,
          _scaled(q, k, v, grid(10, 10, lambda i, j: scale[j % 2])))

    def uses_big(b, h, q_idx, kv_idx):
        return big[kv_idx % 2] >= 0
    kernel = attn.compile(uses_big, head_dim=16)
    with pytest.raises(ValueError, match="outside int32"):
        kernel(q, k, v)


def _scaled(q, k, v, factor):
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1]) * factor
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p @ v) / p.sum(-1, keepdims=True)


def test_unindexed_closure_array_is_not_an_operand():
    unused = np.zeros(3)

    def mask(b, h, q_idx, kv_idx):
        if False:  # noqa: SIM108 - never traced
            return unused[0] > 0
        return q_idx >= kv_idx

    assert "captures(" not in attn.to_mlir(attn.mask_mod(mask), head_dim=16)


def test_closure_name_clashes_are_errors():
    table = np.ones(4, np.float32)

    def mask(b, h, q_idx, kv_idx):
        return table[kv_idx % 4] > 0

    def mod(score, b, h, q_idx, kv_idx, table):
        return score + table[kv_idx % 4]

    spec = attn.Spec(attn.mask_mod(mask), score_mod=attn.score_mod(mod))
    with pytest.raises(attn.SpecError, match="'table'.*rename"):
        attn.compile(spec, head_dim=16)

    def make(t):
        return lambda b, h, q, kv: t[kv % 2] > 0
    two = attn.and_masks(make(np.ones(2)), make(np.zeros(2)))
    with pytest.raises(attn.TraceError, match="two different arrays named 't'"):
        attn.compile(two, head_dim=16)


# -- and_masks / or_masks -------------------------------------------------------


def test_and_or_masks_with_closures():
    S = 90
    ids = np.sort(RNG.integers(0, 3, S))

    def causal(b, h, q, kv):
        return q >= kv

    def same_doc(b, h, q, kv):
        return ids[q] == ids[kv]

    def near(b, h, q, kv):
        return abs(q - kv) < 9

    fn = attn.and_masks(causal, attn.or_masks(same_doc, near))
    q, k, v = qkv(S)
    check(attn.Spec(attn.mask_mod(fn)), q, k, v, naive(q, k, v, grid(
        S, S, lambda i, j: i >= j and (ids[i] == ids[j] or abs(i - j) < 9))))


def test_combinators_refuse_functions_with_capture_parameters():
    def with_param(b, h, q, kv, t):
        return t[kv] > 0
    with pytest.raises(attn.TraceError, match="close over them"):
        attn.and_masks(with_param)
    with pytest.raises(attn.SpecError, match="and_masks"):
        attn.Spec(attn.mask_mod(lambda b, h, q, kv: q >= kv)
                  & attn.mask_mod(lambda b, h, q, kv: q < kv + 4))


# -- torch, where installed -------------------------------------------------------


def test_torch_functions_and_tensor_closures():
    torch = pytest.importorskip("torch")
    ids = torch.tensor(np.sort(RNG.integers(0, 3, 60)))
    alibi = torch.linspace(0.1, 0.4, 2)

    def mask(b, h, q_idx, kv_idx):
        return torch.logical_and(ids[q_idx] == ids[kv_idx], q_idx >= kv_idx)

    def mod(score, b, h, q_idx, kv_idx):
        d = torch.abs(q_idx - kv_idx).to(torch.float32)
        bucket = torch.min(torch.floor(torch.log(d + 1.0)).long(),
                           torch.full_like(q_idx, 2))
        return torch.where(d > 20, score - alibi[h] * d,
                           score + torch.exp2(-d * 0.1)) + bucket.float()

    idn = ids.numpy()
    al = alibi.numpy().astype(np.float64)

    def bias_for(h):
        def b(i, j):
            d = abs(i - j)
            bucket = min(math.floor(math.log(d + 1.0)), 2)
            return (-al[h] * d if d > 20 else 2.0 ** (-d * 0.1)) + bucket
        return grid(60, 60, b)

    q, k, v = qkv(60)
    bias = np.stack([bias_for(h) for h in range(2)])[None]
    allowed = grid(60, 60, lambda i, j: idn[i] == idn[j] and i >= j)
    check(attn.Spec(attn.mask_mod(mask), score_mod=attn.score_mod(mod)),
          q, k, v, naive(q, k, v, allowed, bias), tol=5e-5)

    def reduce(score, b, h, q_idx, kv_idx):
        return score + torch.min(q_idx)
    with pytest.raises(attn.TraceError, match="two-argument"):
        attn.compile(attn.Spec(score_mod=attn.score_mod(reduce)),
                     head_dim=16)

    def unknown(score, b, h, q_idx, kv_idx):
        return torch.cumsum(score, 0)
    with pytest.raises(attn.TraceError, match="torch.cumsum"):
        attn.compile(attn.Spec(score_mod=attn.score_mod(unknown)),
                     head_dim=16)
