"""attn.cascade (issue 20): a shared prefix attended to once for the whole
batch, each suffix on its own, merged by LSE; checked against the float64
reference over the concatenated cache."""

from pathlib import Path

import numpy as np
import pytest

import attn

RNG = np.random.default_rng(20)


def concatenated(kp, vp, ks, vs, lengths):
    """Per sequence: prefix then its first lengths[b] suffix keys, padded;
    and the total lengths."""
    B, P = ks.shape[0], kp.shape[-2]
    K = np.concatenate([np.broadcast_to(kp, (B,) + kp.shape[-3:]), ks], 2)
    V = np.concatenate([np.broadcast_to(vp, (B,) + vp.shape[-3:]), vs], 2)
    return K, V, (P + np.asarray(lengths)).astype(np.int32)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("hq,hkv", [(4, 4), (8, 2)])
def test_cascade_equals_attention_over_the_concatenated_cache(causal, hq,
                                                              hkv):
    B, Sq, P, Ls, D, Dv = 3, 5, 211, 37, 32, 16
    q = RNG.standard_normal((B, hq, Sq, D)).astype(np.float32)
    kp = RNG.standard_normal((hkv, P, D)).astype(np.float32)
    vp = RNG.standard_normal((hkv, P, Dv)).astype(np.float32)
    ks = RNG.standard_normal((B, hkv, Ls, D)).astype(np.float32)
    vs = RNG.standard_normal((B, hkv, Ls, Dv)).astype(np.float32)
    lengths = np.array([Ls, 9, Sq], np.int32)   # ragged suffixes
    out, lse = attn.cascade(q, kp, vp, ks, vs, kv_len=lengths,
                            causal=causal, return_lse=True)
    K, V, total = concatenated(kp, vp, ks, vs, lengths)
    spec = attn.Spec(attn.causal() if causal else None, kv_len=True)
    want, want_lse = attn.reference.attention(spec, q, K, V, kv_len=total,
                                              return_lse=True)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=2e-5)
    np.testing.assert_allclose(lse, want_lse, atol=2e-5, rtol=2e-5)


def test_cascade_bfloat16_and_errors():
    ml = pytest.importorskip("ml_dtypes")
    B, H, Sq, P, Ls, D = 2, 2, 1, 300, 20, 64
    q = RNG.standard_normal((B, H, Sq, D)).astype(ml.bfloat16)
    kp = RNG.standard_normal((1, H, P, D)).astype(ml.bfloat16)
    ks = RNG.standard_normal((B, H, Ls, D)).astype(ml.bfloat16)
    out = attn.cascade(q, kp, kp, ks, ks)
    K, V, total = concatenated(kp, kp, ks, ks, [Ls, Ls])
    want = attn.reference.attention(attn.Spec(attn.causal()), q, K, V)
    np.testing.assert_allclose(out.astype(np.float64), want, atol=2e-2,
                               rtol=2e-2)
    with pytest.raises(ValueError, match="kv_len >= Sq"):
        attn.cascade(np.zeros((1, 2, 4, 64), np.float32),
                     np.zeros((2, 8, 64), np.float32),
                     np.zeros((2, 8, 64), np.float32),
                     np.zeros((1, 2, 3, 64), np.float32),
                     np.zeros((1, 2, 3, 64), np.float32))
    with pytest.raises(ValueError, match="shared by the batch"):
        attn.cascade(q, np.concatenate([kp, kp]), np.concatenate([kp, kp]),
                     ks, ks)
    with pytest.raises(TypeError, match="q's dtype"):
        attn.cascade(q, kp.astype(np.float32), kp, ks, ks)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        attn.cascade(q, kp, kp, ks[:, :, :, :32], ks)
    # The lengths reach memory: checked before the kernel runs.
    with pytest.raises(ValueError, match=r"kv_len must lie in \[0, 20\]"):
        attn.cascade(q, kp, kp, ks, ks, kv_len=np.array([5, 21]))
    with pytest.raises(ValueError, match="kv_len must be 2 integers"):
        attn.cascade(q, kp, kp, ks, ks, kv_len=np.array([5]))


def test_cascade_ir_is_an_attn_module():
    # The function attn.cascade compiles: two attn.attention ops and an
    # attn.merge, which attn-opt parses and verifies like any module.
    text = attn.cascade_ir("f32", 64, 32, causal=True, kv_len=True,
                           scale=0.125)
    assert text.count("attn.attention ins") == 2 and "attn.merge" in text
    printed = attn.api._attn.parse(text)
    assert "kv_len(" in printed and "#attn.causal" in printed


def test_the_gpu_pipeline_tests_take_cascade_ir_verbatim():
    # test/Pipelines/attn-cuda-*-cascade.mlir lower this function; it must
    # stay what attn.cascade compiles.
    path = Path(__file__).parents[1] / "Pipelines/Inputs/cascade-f16-d64.mlir"
    text = path.read_text().split("\n", 1)[1]
    want = attn.cascade_ir("f16", 64, 64, causal=True, kv_len=True)
    assert text.rstrip("\n") == want.rstrip("\n")
