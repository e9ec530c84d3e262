"""The GPU backward (issue 18, item 5) on the GPU emulator.

Kernel.backward of kernels compiled for target="cuda-emulator" runs the
mma.sync backward kernels (Sm80GradKernel.cpp) and their host code with
every thread interpreted; any emulator report (race, out-of-bounds access,
divergence, ...) fails the call. The gradients are checked against
test_backward's independent float64 numpy backward (`ref_grads`) with its
tolerances (GRAD_TOL: twice the forward's f16 1e-3 / bf16 8e-3, README
"Gradients") and its exact zeros (fully masked rows: dQ = 0; unseen keys:
dK = dV = 0), over test_backward's variants and its long ones (shapes
drawn as there: random B, MHA/GQA/MQA, odd and unequal lengths, BHSD/BSHD,
kv_len, decoding; the long ones 150 to 400 keys, reaching the empty, full
and partial tiles of both kernels) in f16 and bf16.

By default a subset runs (one variant of each family); with
ATTN_EMULATOR_SWEEP=full every variant with two seeds:

    ATTN_EMULATOR_SWEEP=full PYTHONPATH=build/python \\
        .venv/bin/python -m pytest test/python/test_emulator_backward.py -q
"""

from __future__ import annotations

import json
import os
import zlib

import numpy as np
import pytest

import attn
import test_backward as TB
import test_differential as TD

FULL = os.environ.get("ATTN_EMULATOR_SWEEP") == "full"
CHIPS = ("sm_80", "sm_90a")

# The default run: the masks with symbolic tile classes, a data-dependent
# mask, each normalizer family, builtin and traced score modifiers,
# decoding with kv_len, BSHD with D != Dv, and fully masked rows.
SUBSET = {
    "full", "causal", "causal_q_ge_kv", "sliding_window", "document_causal",
    "mask_mod_never", "sink_softmax", "sigmoid", "softplus",
    "relu2_row_sum", "softcap", "alibi_gaussian", "score_mod_math",
    "bshd_dv", "head_dim_16_v48", "decode",
    # 150 to 400 keys: every tile class of both kernels.
    "long_causal_gqa", "long_window", "long_alibi_masked_rows",
    "long_document_causal",
}

_kernels: dict = {}


def _kernel(spec, dtype, d, dv, chip="sm_80"):
    # By identity (the spec is kept alive with its kernel): specs differing
    # only in operands such as kv_len print alike.
    key = (id(spec), dtype, d, dv, chip)
    if key not in _kernels:
        _kernels[key] = (spec, attn.compile(spec, target="cuda-emulator",
                                            dtype=dtype, head_dim=d,
                                            head_dim_v=dv, chip=chip))
    return _kernels[key][1]


CASES = [pytest.param(v, s, id=f"{v.name}-{s}")
         for v in TB.GRAD_VARIANTS + TB.LONG_GRAD_VARIANTS
         if FULL or v.name in SUBSET
         for s in range(2 if FULL else 1)]


@pytest.mark.parametrize("variant,seed", CASES)
def test_emulator_backward(variant, seed):
    dtypes = ("float16", "bfloat16")
    dtype = dtypes[(seed + zlib.crc32(variant.name.encode())) % 2]
    if dtype not in variant.dtypes and any(t in variant.dtypes
                                           for t in dtypes):
        dtype = next(t for t in variant.dtypes if t in dtypes)
    rng = np.random.default_rng([zlib.crc32(variant.name.encode()), seed,
                                 18])
    dv = variant.Dv or variant.D
    fn = _kernel(variant.spec, dtype, variant.D, dv)
    assert fn.backward_lowering == {
        "lowering": "mma.sync", "chip": "sm_80",
        "config": {"block_q": 64, "block_kv": 32, "warps": 4}}
    for _ in range(variant.shapes):
        d = TD._draw_dims(rng, variant, dtype)
        name = f"{variant.name}[{dtype}] {d}"
        q, k, v, do, captures, operands = TB._grad_case(rng, variant, d)
        o, lse = TB.forward_outputs(variant.spec, dtype, q, k, v, captures,
                                    operands)
        grads = fn.backward(q, k, v, o, lse, do, *captures, **operands)
        _, _, *refs = TB.ref_grads(variant.spec, q, k, v, do, captures,
                                   operands)
        allowed = TD._allowed(variant.spec, q, k, v, captures, operands)
        TB._check_grads(name, d, variant.spec, allowed, grads, refs)


def _dims(B, Hq, Hkv, Sq, Skv, D, Dv, dtype):
    return TD.Dims(B, Hq, Hkv, Sq, Skv, D, Dv, dtype)


def _long(spec, dims, seed, operands=None, chip="sm_80"):
    """One problem over many tiles: every tile class (empty, full,
    partial) of both kernels, lengths not multiples of the tiles."""
    variant = TD.V("long", spec, operands)
    rng = np.random.default_rng(seed)
    q, k, v, do, captures, ops = TB._grad_case(rng, variant, dims)
    o, lse = TB.forward_outputs(spec, dims.dtype, q, k, v, captures, ops)
    fn = _kernel(spec, dims.dtype, dims.D, dims.Dv, chip)
    grads = fn.backward(q, k, v, o, lse, do, *captures, **ops)
    _, _, *refs = TB.ref_grads(spec, q, k, v, do, captures, ops)
    allowed = TD._allowed(spec, q, k, v, captures, ops)
    TB._check_grads(f"long {spec} {dims}", dims, spec, allowed, grads, refs)
    return (q, k, v, o, lse, do, captures, ops), grads


@pytest.mark.parametrize("mask,dtype,d,operands", [
    (attn.causal(), "float16", 64, None),
    (attn.sliding_window(50), "bfloat16", 64, None),
    (None, "bfloat16", 128, None),
    (attn.causal(), "float16", 96, None),
    (attn.document() & attn.causal(), "bfloat16", 128, TD.op_segments),
])
def test_emulator_backward_long(mask, dtype, d, operands):
    """GQA (group 2) over 3 query tiles of 64 and 4 key tiles of 64 (and
    5 to 7 tiles of 32 of the other side), Sq != Skv; head dims over 64
    take the key kernel with K and V in shared memory."""
    _long(attn.Spec(mask), _dims(1, 4, 2, 150, 201, d, d, dtype), 5,
          operands)


def test_emulator_backward_is_deterministic():
    """No atomics: a second run gives the same bits."""
    spec = attn.Spec(attn.causal())
    args, grads = _long(spec, _dims(2, 4, 1, 100, 100, 32, 32, "bfloat16"),
                        9)
    q, k, v, o, lse, do, captures, ops = args
    fn = _kernel(spec, "bfloat16", 32, 32)
    again = fn.backward(q, k, v, o, lse, do, *captures, **ops)
    for a, b in zip(grads, again):
        assert a.tobytes() == b.tobytes()


def test_emulator_backward_sm90a_runs_the_mma_sync_kernels():
    spec = attn.Spec(attn.causal())
    _long(spec, _dims(1, 2, 2, 70, 70, 64, 64, "float16"), 3, chip="sm_90a")
    fn = _kernel(spec, "float16", 64, 64, "sm_90a")
    assert fn.backward_lowering["chip"] == "sm_90a"


# Broken backward kernels must fail (the emulator's mutation hook, see
# test_emulator_mutations.py): each pattern edits both kernels' modules (it
# must match in each, or the hook reports it), and each case compiles its
# own kernel (a scale of its own), so that the module is parsed with the
# mutation in place.
MUTATIONS = {
    # The end-of-tile barrier: the next tile's copies overwrite shared
    # memory that other warps' ldmatrix still read.
    "removed_end_of_tile_barrier": (
        0.11, [{"pattern": r"nvvm\.barrier0[^\n]*", "replace": "",
                "nth": -1}], "race"),
    "no_cp_async_wait": (
        0.12, [{"pattern": r"nvvm\.cp\.async\.wait\.group 0[^\n]*",
                "replace": ""}], "in-flight"),
    # The first product reads its B operand transposed.
    "flipped_trans": (
        0.13, [{"pattern": r"mma_layout<row>, num",
                "replace": "mma_layout<col>, num", "nth": 0}], None),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_emulator_backward_mutation_is_caught(name, monkeypatch):
    scale, mutations, report = MUTATIONS[name]
    spec = attn.Spec(attn.causal(), scale=scale)
    dims = _dims(1, 2, 1, 70, 70, 32, 32, "float16")
    monkeypatch.setenv("ATTN_EMULATOR_MUTATION", json.dumps(mutations))
    if report is None:
        with pytest.raises(AssertionError, match="rel err"):
            _long(spec, dims, 4)
        return
    with pytest.raises(RuntimeError, match=f"{report} at "):
        _long(spec, dims, 4)


def test_emulator_backward_masked_nan_in_v():
    """NaN and inf in V of keys past kv_len (masked for every row) add
    nothing: dS is 0 where the weight is 0 (README, "Masked keys"). A NaN
    in such a key's K still reaches dQ through the tensor-core product
    dS K, as a masked V does in the GPU forward."""
    spec = attn.Spec(attn.causal(), kv_len=True)
    dims = _dims(2, 2, 1, 40, 70, 32, 32, "float16")
    rng = np.random.default_rng(11)
    q, k, v, do, _, _ = TB._grad_case(rng, TD.V("nan", spec), dims)
    ops = {"kv_len": np.array([45, 70], np.int32)}
    bad = v.copy()
    bad[0, :, 45:, :] = np.nan
    bad[0, :, 50, 3] = np.inf
    o, lse = TB.forward_outputs(spec, "float16", q, k, v, (), ops)
    fn = _kernel(spec, "float16", 32, 32)
    grads = fn.backward(q, k, bad, o, lse, do, **ops)
    _, _, *refs = TB.ref_grads(spec, q, k, v, do, (), ops)
    allowed = TD._allowed(spec, q, k, v, (), ops)
    TB._check_grads("masked NaN in V", dims, spec, allowed, grads, refs)


# ----------------------------------------------------------------------------
# Operand gradients (`wrt`) on the GPU
# ----------------------------------------------------------------------------

import test_param_grads as TP  # noqa: E402

# test_param_grads' variants on the emulator: each kind of operand (sink
# logits; f16/bf16 bias, broadcast shapes drawn by op_bias; temperature;
# relative-bias table; captured arrays read twice, with sink logits after
# them and documents with padding: fully masked rows), GQA, odd lengths.
EMU_PARAM_VARIANTS = [
    (TD.V("sink_causal_gqa", attn.Spec(attn.causal(), attn.sink_softmax()),
          TD.op_sink, heads=4), ("sink",)),
    (TD.V("bias_temperature", attn.Spec(TD.STREAMING, score_mod=[
        attn.temperature(), attn.alibi(), attn.softcap(4.0), attn.bias()]),
        TD.both(TD.op_temperature, TD.op_bias), check=TP._several_keys),
     ("bias", "temperature")),
    (TD.V("rel_bias_bshd", attn.Spec(attn.causal(), score_mod=attn.rel_bias(
        12, 50), layout="bshd"), TD.op_rel_bias(12),
        check=TP._several_keys), ("rel_bias_table",)),
    (TD.V("two_captures_sink_document", attn.Spec(
        attn.document() & attn.causal(), attn.sink_softmax(),
        score_mod=[TP.sm_two_reads, attn.softcap(3.0)]),
        TD.both(TP.op_two_reads, TP._padded_sink), lengths="self",
        check=TP._several_keys), ("gain", "sink", "table")),
    (TD.V("bias_document_padding", attn.Spec(
        attn.document() & attn.causal(), score_mod=attn.bias()),
        TD.both(TD.op_bias, TD.op_segments), lengths="self",
        check=TP._several_keys), ("bias",)),
]


def _param_case(variant, wrt, dtype, rng, dims=None, chip="sm_80"):
    d = dims or TD._draw_dims(rng, variant, dtype)
    name = f"{variant.name}[{dtype}] {d}"
    q, k, v, do, captures, operands = TB._grad_case(rng, variant, d)
    o, lse = TB.forward_outputs(variant.spec, dtype, q, k, v, captures,
                                operands)
    fn = _kernel(variant.spec, dtype, d.D, d.Dv, chip)
    grads = fn.backward(q, k, v, o, lse, do, *captures, wrt=wrt, **operands)
    assert len(grads) == 3 + len(wrt)
    _, _, *refs, pref = TB.ref_grads(variant.spec, q, k, v, do, captures,
                                     operands, wrt=wrt, o_given=o)
    allowed = TD._allowed(variant.spec, q, k, v, captures, operands)
    TB._check_grads(name, d, variant.spec, allowed, grads[:3], refs)
    TP.check_operand_grads(name, dtype, wrt, grads[3:], pref)
    for param, got in zip(wrt, grads[3:]):
        if param == "bias":
            # Bias entries that no allowed score reads: exactly 0.
            # allowed is [B, Hq, Sq, Skv]; the bias broadcasts to it.
            shape = np.shape(operands["bias"])
            seen = allowed.any(axis=tuple(range(4 - len(shape))))
            for ax, n in enumerate(shape[:-2]):
                if n == 1:
                    seen = seen.any(axis=ax, keepdims=True)
            assert (got[~seen] == 0).all(), f"{name}: dbias of unseen != 0"
    return (q, k, v, o, lse, do, captures, operands), grads


EMU_PARAM_CASES = [pytest.param(v, wrt, s, id=f"{v.name}-{s}")
                   for v, wrt in EMU_PARAM_VARIANTS
                   for s in range(3 if FULL else 1)]


@pytest.mark.parametrize("variant,wrt,seed", EMU_PARAM_CASES)
def test_emulator_param_grads(variant, wrt, seed):
    """Operand gradients of the GPU backward against the float64
    reference (test_param_grads' tolerances, relative to max|ref| per
    gradient) in f16 and bf16, with dQ, dK and dV alongside."""
    dtype = ("float16", "bfloat16")[(seed + zlib.crc32(
        variant.name.encode())) % 2]
    rng = np.random.default_rng([zlib.crc32(variant.name.encode()), seed,
                                 19])
    for _ in range(variant.shapes):
        _param_case(variant, wrt, dtype, rng)


@pytest.mark.parametrize("bias_shape", [
    ("B", "Hq"), (1, "Hq"), ("B", 1), (), ("Hq",)])
def test_emulator_bias_grad_broadcasts(bias_shape):
    """The bias gradient for each way the bias can broadcast, chosen rather
    than drawn: the full [B, Hq, Sq, Skv] bias (each score element's
    contribution added in place), broadcast over the batch, the heads,
    both, and rank 3 (scratch per score element, summed over the broadcast
    dims); B = 2, GQA 4/2, odd lengths, causal with fully masked rows,
    against the float64 reference."""
    dims = _dims(2, 4, 2, 37, 29, 16, 16, "float16")
    size = {"B": dims.B, "Hq": dims.Hq}
    shape = tuple(size.get(n, n) for n in bias_shape) + (dims.Sq, dims.Skv)

    def op_fixed_bias(rng, d):
        return (), {"bias": (rng.standard_normal(shape) * 2).astype(
            TD.NP_DTYPE[d.dtype])}

    variant = TD.V(f"bias_{'x'.join(map(str, shape))}", attn.Spec(
        attn.causal(), q_offset=-4, score_mod=attn.bias()), op_fixed_bias)
    _param_case(variant, ("bias",), "float16", np.random.default_rng(31),
                dims)


def test_emulator_param_grads_long_and_deterministic():
    """Many items: 2 batch rows of 16 query heads (GQA, group 4) over 5
    q-tiles are 160 items for the query kernel's 128 CTAs of slots, so
    CTAs take two items each; bias, table and sink logits together, bf16,
    Sq != Skv (full, partial and empty tiles); a second run gives the same
    bits."""
    spec = attn.Spec(attn.causal(), attn.sink_softmax(), q_offset=200,
                     score_mod=[TP.sm_two_reads, attn.bias()])
    variant = TD.V("long_params", spec, TD.both(
        TP.op_two_reads, TD.op_bias, TD.op_sink))
    wrt = ("table", "bias", "sink", "gain")
    dims = _dims(2, 16, 4, 260, 100, 16, 16, "bfloat16")
    args, grads = _param_case(variant, wrt, "bfloat16",
                              np.random.default_rng(23), dims)
    q, k, v, o, lse, do, captures, ops = args
    fn = _kernel(spec, "bfloat16", 16, 16)
    again = fn.backward(q, k, v, o, lse, do, *captures, wrt=wrt, **ops)
    for a, b in zip(grads, again):
        assert a.tobytes() == b.tobytes()


def test_emulator_sink_grad_of_fully_masked_heads_is_zero():
    """Heads whose rows see no key (O = 0, LSE = sink) get a sink gradient
    of exactly 0 on the GPU too."""
    spec, q, k, v, do, sink = TP.fully_masked_sink_problem(np.float16)
    fn = _kernel(spec, "float16", 16, 16)
    o, lse = TB.forward_outputs(spec, "float16", q, k, v, (),
                                {"sink": sink})
    *rest, dsink = fn.backward(q, k, v, o, lse, do, sink=sink, wrt="sink")
    assert np.array_equal(dsink, np.zeros(3, np.float32)), dsink
    for g in rest:
        assert not np.any(g), "fully masked rows: zero gradients"
