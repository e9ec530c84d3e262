"""Masked keys add nothing in the GPU forward kernels (issue 19, item 5).

README "Masked keys", on the GPU emulator: a key that a row masks (mask,
kv_len, a score_mod giving -inf, a relu weight of 0) adds nothing to the
row even when its V (or K) holds NaN or inf; a key with a nonzero weight
contributes as computed, so a NaN there makes the row NaN. Both forward
kernels (sm_80: mma.sync; sm_90a: wgmma, its 32-key tiles at D = 128 and
its mma.sync fallback at D = 96), f16 and bf16, against the float64
reference (attn.reference, which defines the rule on its own), with test
_masked_nan's checks: the same entries NaN / +inf / -inf as the reference,
the others within tolerance, and the rows that see no poisoned key finite.
Any emulator report fails the call.

The kernels check each V tile for NaN and inf as it arrives and run such
a tile's P V with the non-finite entries kept from zero weights. The last
test ignores that check (the emulator's mutation hook turns the reduction
barrier's predicate to 0, which is the product before the change): the
masked NaN then reaches the rows of its tile, so these cases fail without
the change.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import attn
from attn import reference
from test_masked_nan import (NP, TOL, _check_forward, _inputs, _poison,
                             _rel, check_kv_len_garbage)

CHIPS = ("sm_80", "sm_90a")
DTYPES = ("float16", "bfloat16")

_kernels: dict = {}


def _kernel(spec, dtype, chip, d=64):
    key = (id(spec), dtype, chip, d)
    if key not in _kernels:
        _kernels[key] = (spec, attn.compile(spec, target="cuda-emulator",
                                            chip=chip, dtype=dtype,
                                            head_dim=d))
    return _kernels[key][1]


def _sees(spec, q, k, v, operands, keys):
    """[B, Hq, Sq]: the rows whose mask allows one of `keys`."""
    P = reference._Problem(spec, q, k, v, (), operands)
    allowed = np.broadcast_to(reference._mask(P, spec.mask), P.shape)
    return allowed[..., keys].any(-1)


def _segments(S, pad_from):
    seg = np.zeros((1, S), np.int32)
    seg[0, pad_from // 2:pad_from] = 1
    seg[0, pad_from:] = 2
    return seg


def _minus_inf_at_5(score, b, h, q_idx, kv_idx):
    return attn.where(kv_idx == 5, -np.inf, score)


# name: spec, (B, Hq, Hkv, Sq, Skv), poisoned keys, operands
CASES = {
    "causal": (attn.Spec(mask=attn.causal()), (1, 2, 2, 150, 150),
               [149, 70], {}),
    "window": (attn.Spec(mask=attn.sliding_window(16)), (1, 2, 1, 200, 200),
               [0, 100, 199], {}),
    # The last segment (padding) sees its own keys only.
    "document": (attn.Spec(mask=attn.document()), (1, 2, 1, 90, 90),
                 list(range(70, 90)),
                 {"segments": (_segments(90, 70), _segments(90, 70))}),
    # Key 5: -inf for every row; key 100: seen by the rows from 100.
    "score_mod_inf": (attn.Spec(mask=attn.causal(), score_mod=_minus_inf_at_5),
                      (1, 2, 2, 130, 130), [5, 100], {}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_masked_nan_in_v_and_k(name, chip, dtype):
    spec, (B, Hq, Hkv, Sq, Skv), keys, operands = CASES[name]
    rng = np.random.default_rng([len(name), len(chip), len(dtype)])
    fn = _kernel(spec, dtype, chip)
    q, k, v = _inputs(rng, B, Hq, Hkv, Sq, Skv, 64, dtype)
    sees = _sees(spec, q, k, v, operands, keys)
    if name == "score_mod_inf":
        sees = _sees(spec, q, k, v, operands, [100])
    assert (~sees).any() and sees.any()  # both kinds of row
    vp = _poison(v, keys, rng)
    out = _check_forward(spec, fn, q, k, vp, dtype, operands, sees)
    # The rows that see a poisoned key are not finite (the positive case).
    assert not np.isfinite(out[sees]).all(-1).any()
    # Rows that mask every poisoned key do not depend on those values.
    noise = np.array(v, copy=True)
    noise[:, :, keys] = rng.standard_normal(noise[:, :, keys].shape) * 100
    clean = np.asarray(fn(q, k, noise.astype(NP[dtype]), **operands))
    assert _rel(out[~sees], clean.astype(np.float64)[~sees]) <= TOL[dtype]
    # NaN and inf in K too: masked scores become -inf whatever Q K^T gave.
    kp = _poison(k, keys, rng, values=(np.nan, np.nan, np.inf))
    _check_forward(spec, fn, q, kp, vp, dtype, operands, sees)


@pytest.mark.parametrize("chip,d", [("sm_90a", 128), ("sm_90a", 96)])
def test_masked_nan_other_tiles(chip, d):
    """sm_90a's 32-key wgmma tiles (D = 128 with a score modifier: two
    64-column boxes a stage) and its mma.sync fallback (D = 96)."""
    spec = attn.Spec(mask=attn.causal(),
                     score_mod=attn.alibi() if d == 128 else None)
    rng = np.random.default_rng(d)
    fn = _kernel(spec, "bfloat16", chip, d)
    q, k, v = _inputs(rng, 1, 2, 1, 100, 100, d, "bfloat16")
    keys = [99, 40, 41]
    sees = _sees(spec, q, k, v, {}, keys)
    vp = _poison(v, keys, rng)
    kp = _poison(k, keys, rng, values=(np.nan, np.inf, np.nan))
    out = _check_forward(spec, fn, q, kp, vp, "bfloat16", {}, sees)
    assert not np.isfinite(out[sees]).all(-1).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chip", CHIPS)
def test_kv_len_garbage_past_the_end(chip, dtype):
    check_kv_len_garbage(_kernel(attn.Spec(kv_len=True), dtype, chip),
                         dtype, 157)


@pytest.mark.parametrize("chip", CHIPS)
def test_relu_zero_weights_add_nothing(chip):
    """relu weighs negative scores 0, on full tiles too: a NaN value reaches
    exactly the rows that give its key a positive weight."""
    spec = attn.Spec(normalizer=attn.relu(1, "row_sum"))
    rng = np.random.default_rng(1)
    fn = _kernel(spec, "bfloat16", chip)
    q, k, v = _inputs(rng, 1, 2, 2, 130, 130, 64, "bfloat16")
    v[:, :, 5, 3] = np.nan
    v[:, :, 90, 7] = -np.inf
    out = np.asarray(fn(q, k, v)).astype(np.float64)
    want = reference.attention(spec, *(x.astype(np.float64)
                                       for x in (q, k, v)))
    assert 0 < np.isnan(want).sum() < want.size
    assert 0 < np.isneginf(want).sum()
    for same in (np.isnan, np.isposinf, np.isneginf):
        assert np.array_equal(same(out), same(want))
    fin = np.isfinite(want)
    assert _rel(out[fin], want[fin]) <= TOL["bfloat16"]


def test_fully_masked_rows_stay_zero():
    """Rows that allow no key (document padding that matches nothing) are
    0, with every key they mask poisoned."""
    spec = attn.Spec(mask=attn.document())
    rng = np.random.default_rng(2)
    sq, skv = _segments(80, 60), _segments(80, 60)
    sq[0, 60:] = -1  # padding never matches (VARIANTS.md, rule 12)
    skv[0, 60:] = -2
    ops = {"segments": (sq, skv)}
    for chip in CHIPS:
        fn = _kernel(spec, "float16", chip)
        q, k, v = _inputs(rng, 1, 2, 2, 80, 80, 64, "float16")
        keys = list(range(60, 80))
        out = np.asarray(fn(q, _poison(k, keys, rng),
                            _poison(v, keys, rng), **ops)).astype(np.float64)
        want = reference.attention(spec, *(x.astype(np.float64)
                                           for x in (q, k, v)), **ops)
        assert np.isfinite(out).all()
        assert (out[:, :, 60:] == 0).all()
        assert _rel(out, want) <= TOL["float16"]


# The reduction barrier's predicate (the thread's share of the check)
# replaced by 0: every tile takes the plain product, as before the change.
FLAG_IGNORED = [{
    "pattern": r"\n( *)(%\w+) = nvvm\.barrier #nvvm\.reduction<or> %\w+",
    "replace": "\n$1%mut_zero = llvm.mlir.constant(0 : i32) : i32"
               "\n$1$2 = nvvm.barrier #nvvm.reduction<or> %mut_zero"}]


@pytest.mark.parametrize("chip", CHIPS)
def test_fails_when_the_check_is_ignored(chip, monkeypatch):
    spec = attn.Spec(mask=attn.causal())
    rng = np.random.default_rng(7)
    q, k, v = _inputs(rng, 1, 2, 2, 100, 100, 64, "float16")
    vp = _poison(v, [99], rng)

    def run(mutations):
        # Compiled afresh (and forgotten) so that the hook sees the kernel
        # and no other test gets the broken one.
        attn.clear_cache()
        if mutations:
            monkeypatch.setenv("ATTN_EMULATOR_MUTATION",
                               json.dumps(mutations))
        try:
            fn = attn.compile(spec, target="cuda-emulator", chip=chip,
                              dtype="float16", head_dim=64)
            return np.asarray(fn(q, k, vp)).astype(np.float64)
        finally:
            monkeypatch.delenv("ATTN_EMULATOR_MUTATION", raising=False)
            attn.clear_cache()
            _kernels.clear()

    # Key 99 is seen by row 99 only: the rows before it stay finite, but
    # without the check its NaN reaches every row of its tile (from 64).
    assert np.isfinite(run(None)[:, :, :99]).all()
    assert np.isnan(run(FLAG_IGNORED)[:, :, 64:99]).any(-1).all()
