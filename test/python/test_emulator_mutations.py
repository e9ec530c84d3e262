"""The GPU emulator's mutation suite (issue 15, item 3).

Each case breaks a generated CUDA kernel on purpose, through the emulator's
$ATTN_EMULATOR_MUTATION hook (a regex edit of the kernel module's text when
the emulator parses it), runs it with attn-run --target=cuda-emulator --check
through the real host code, and requires the run to fail the way the bug
would show on a GPU: an emulator report of the expected kind, or outputs
that disagree with the float64 reference. Every case first runs unbroken
(no report, within tolerance), and a pattern that matches nothing is an
error of the hook, so a mutation can never pass by changing nothing.

The patterns read the kernels as $ATTN_EMULATOR_DUMP writes them (custom
MLIR form); when the code generator changes, a pattern may stop matching,
which fails its case loudly.

Two mutations the issue names were equivalent under the emulator's first
model and are caught since:

- `sm90_removed_bar_warp_sync`: the sm_90a kernel's bar.warp.sync follows
  the `if (tid == 0)` block that issues TMA. The emulator models independent
  thread scheduling's convergence rule: a warp that diverged is converged
  again only at a synchronising instruction (bar.warp.sync, a CTA barrier,
  a full-mask shfl/vote.sync), not at the branch's join point, and the
  `.aligned` wgmma ops that follow need it converged. Without the
  bar.warp.sync they are reported as divergence.
- `sm80_no_zero_fill`: the sm_80 kernel no longer clamps the rows it copies
  to the last valid one, so the zero fill (a source size of 0 bytes) is what
  keeps the copies of rows past Skv from reading past K and V; without it
  they are reported out of bounds. (With the clamp, the rows past Skv were
  copies of a real row that the mask weighted 0, and nothing showed.)

One mutation is equivalent, not caught, and says why (its entry expects
None: the test runs it and requires the output to stay right):

- `sm90_removed_end_of_tile_barrier`: in the sm_90a kernel TMA writes the
  K/V stages and wgmma reads them, and every wgmma is retired by
  wgmma.wait_group 0 before the loop moves on. A warpgroup's wgmma needs
  all its four warps to issue it, so a thread past that wait knows every
  read of the stage is done before it issues the TMA that overwrites it.
  The threads' own reads of a V stage (its finiteness check) precede the
  bar.red.or of that tile, which the issuing thread passes first. Only a
  V tile with a NaN or inf, whose P V runs on mma.sync with ldmatrix
  reads per warp, needs the end-of-tile barrier; these cases have none.
  (The sm_80 kernel's end-of-tile barrier does order ldmatrix reads of
  other warps, and removing it is caught.)

The mutation that ignores the V tiles' finiteness check (each thread's
share of it replaced by 0) changes nothing on finite data; it is caught in
test_emulator_masked_nan.py, whose cases put NaN and inf in V.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import attn

ATTN_RUN = Path(attn.__file__).resolve().parents[2] / "bin" / "attn-run"

CASES = {
    "causal_bf16": """
!t = tensor<?x?x?x64xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}""",
    "full_f16": """
!t = tensor<?x?x?x64xf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t) -> !t
  return %r : !t
}""",
    "lse_f16": """
!t = tensor<?x?x?x64xf16>
!lse = tensor<?x?x?xf32>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t, %l: !lse)
    -> (!t, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o, %l : !t, !lse)
      {mask = #attn.causal} -> !t, !lse
  return %r#0, %r#1 : !t, !lse
}""",
}

# Lengths that are not tile multiples and, at 200, five kv tiles on sm_90a
# (two-stage ring: the mbarrier parity wraps twice).
SHAPE = "B=2,Hq=2,Sq=200,Skv=200"


def _m(pattern, replace, nth=None):
    m = {"pattern": pattern, "replace": replace}
    if nth is not None:
        m["nth"] = nth
    return m


_DIR = []  # the session's temporary directory (see the fixture below)


@pytest.fixture(scope="module", autouse=True)
def _workdir(tmp_path_factory):
    _DIR.append(tmp_path_factory.mktemp("mutations"))
    yield
    _DIR.pop()
    _case_file.cache_clear()
    _kernel_text.cache_clear()


@functools.lru_cache(maxsize=None)
def _case_file(case):
    path = _DIR[-1] / f"{case}.mlir"
    path.write_text(CASES[case])
    return path


def _run(case, chip, shape, mutations=None, dump=None):
    env = dict(os.environ)
    env.pop("ATTN_EMULATOR_MUTATION", None)
    if mutations is not None:
        env["ATTN_EMULATOR_MUTATION"] = json.dumps(mutations)
    if dump is not None:
        env["ATTN_EMULATOR_DUMP"] = str(dump)
    cmd = [str(ATTN_RUN), str(_case_file(case)), "--target=cuda-emulator",
           f"--chip={chip}", "--check", f"--shape={shape}"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                       timeout=300)
    return p.returncode, p.stdout + p.stderr


@functools.lru_cache(maxsize=None)
def _kernel_text(case, chip, shape):
    """The unbroken kernel as the emulator parses it; the run must pass."""
    dump = _case_file(case).with_suffix(f".{chip}.kernel.mlir")
    rc, out = _run(case, chip, shape, dump=dump)
    assert rc == 0 and "check=ok" in out, out
    return dump.read_text()


def _descriptor_mutation(text, change):
    """Rewrites every wgmma descriptor constant (the swizzle, LBO and SBO
    bits the kernel ORs with a shared address): `change(lbo, sbo)` returns
    the new byte offsets. Fields as in the PTX ISA's matrix descriptor:
    bits 16-29 LBO >> 4, bits 32-45 SBO >> 4, 62-63 the swizzle."""
    mutations = []
    for value in sorted({int(v) for v in re.findall(
            r"llvm\.mlir\.constant\((\d+) : i64\)", text)}):
        if value < 1 << 62:
            continue
        lbo = ((value >> 16) & 0x3FFF) << 4
        sbo = ((value >> 32) & 0x3FFF) << 4
        new_lbo, new_sbo = change(lbo, sbo)
        new = (value & ~((0x3FFF << 16) | (0x3FFF << 32))) | \
            ((new_lbo >> 4) << 16) | ((new_sbo >> 4) << 32)
        mutations.append(_m(rf"\b{value} : i64", f"{new} : i64"))
    assert mutations, "no wgmma descriptor constant in the kernel"
    return mutations


# name: (case, chip, shape, mutations (list, or a function of the kernel
# text), what must show: report kinds; "wrong" (check=FAIL, or any report:
# a wrong descriptor may read bytes the emulator flags first); or None, an
# equivalent mutation).
MUTATIONS = {
    # sm_80: mma.sync + ldmatrix + cp.async.
    "sm80_removed_end_of_tile_barrier": (
        "causal_bf16", "sm_80", SHAPE,
        [_m(r"nvvm\.barrier0[^\n]*", "", -1)], {"race"}),
    "sm80_no_zero_fill": (
        # Rows past Skv are read from past the end of K and V (the last
        # head's): only the zero fill (src-size 0) kept those reads from
        # happening.
        "causal_bf16", "sm_80", SHAPE,
        [_m(r"(nvvm\.cp\.async\.shared\.global [^\n]*cache =  cg), %\w+ : "
            r"!llvm\.ptr<3>, !llvm\.ptr<1>, i32",
            "$1 : !llvm.ptr<3>, !llvm.ptr<1>")],
        {"out-of-bounds"}),
    "sm80_no_cp_async_wait": (
        "causal_bf16", "sm_80", SHAPE,
        [_m(r"nvvm\.cp\.async\.wait\.group 0[^\n]*", "")], {"in-flight"}),
    "sm80_flipped_trans": (
        "causal_bf16", "sm_80", SHAPE,
        [_m(r"mma_layout<row>, num", "mma_layout<col>, num", 0)],
        "wrong"),
    "sm80_wrong_shuffle_offset": (
        "causal_bf16", "sm_80", SHAPE,
        [_m(r"\n( *)(%\w+) = nvvm\.shfl\.sync  bfly (%\w+), (%\w+), %\w+, ",
            "\n$1%mut_offset = llvm.mlir.constant(4 : i32) : i32"
            "\n$1$2 = nvvm.shfl.sync  bfly $3, $4, %mut_offset, ", -1)],
        "wrong"),
    "sm80_partial_tile_off_by_one": (
        # The kv bound of the partial tile: key Skv (zero-filled) let in.
        "full_f16", "sm_80", "B=1,Hq=2,Sq=67,Skv=65",
        [_m(r'llvm\.icmp "slt" (%\w+), (%\w+) : i64 (loc\(#loc\)\n\s*%\w+ = '
            r"llvm\.select %\w+, %\w+, %\w+ : i1, f32)",
            'llvm.icmp "sle" $1, $2 : i64 $3')],
        "wrong"),
    "sm80_lse_written_by_wrong_lanes": (
        # The lane-in-quad test before each LSE store inverted: three lanes
        # of each quad store the row's LSE instead of one.
        "lse_f16", "sm_80", SHAPE,
        [_m(r'llvm\.icmp "eq" (%\w+), (%\w+) : i64 (loc\(#loc\)\n\s*'
            r"llvm\.cond_br %\w+, \^bb\d+, \^bb\d+ loc\(#loc\)\n\s*"
            r"\^bb\d+:  // pred: \^bb\d+\n(?:[^\n]*\n){4}[^\n]*"
            r"getelementptr[^\n]*f32)", 'llvm.icmp "ne" $1, $2 : i64 $3')],
        {"race"}),
    # sm_90a: wgmma + TMA + mbarriers.
    "sm90_removed_end_of_tile_barrier": (
        "causal_bf16", "sm_90a", SHAPE,
        [_m(r"nvvm\.barrier0[^\n]*", "", -1)], None),
    "sm90_swapped_descriptor_lbo_sbo": (
        "causal_bf16", "sm_90a", SHAPE,
        lambda text: _descriptor_mutation(text, lambda l, s: (s, l)),
        "wrong"),
    "sm90_wrong_sbo": (
        "causal_bf16", "sm_90a", SHAPE,
        lambda text: _descriptor_mutation(text, lambda l, s: (l, 2 * s)),
        "wrong"),
    "sm90_wrong_mbarrier_parity": (
        "causal_bf16", "sm_90a", SHAPE,
        [_m(r'\n( *)(llvm\.inline_asm [^\n]*"r,r,r" )(%\w+), (%\w+), (%\w+)',
            "\n$1%mut_one = llvm.mlir.constant(1 : i32) : i32"
            "\n$1%mut_parity = llvm.xor $4, %mut_one : i32"
            "\n$1$2$3, %mut_parity, $5")], {"in-flight"}),
    "sm90_early_wgmma_wait": (
        "causal_bf16", "sm_90a", SHAPE,
        [_m(r"wgmma\.wait_group\.sync\.aligned 0;", 
            "wgmma.wait_group.sync.aligned 1;", 0)], {"in-flight"}),
    "sm90_lse_written_by_wrong_lanes": (
        "lse_f16", "sm_90a", SHAPE,
        [_m(r'llvm\.icmp "eq" (%\w+), (%\w+) : i64 (loc\(#loc\)\n\s*'
            r"llvm\.cond_br %\w+, \^bb\d+, \^bb\d+ loc\(#loc\)\n\s*"
            r"\^bb\d+:  // pred: \^bb\d+\n(?:[^\n]*\n){4}[^\n]*"
            r"getelementptr[^\n]*f32)", 'llvm.icmp "ne" $1, $2 : i64 $3')],
        {"race"}),
    "sm90_bar_warp_sync_partial_mask": (
        "causal_bf16", "sm_90a", SHAPE,
        [_m(r"\n( *)nvvm\.bar\.warp\.sync %\w+ : i32",
            "\n$1%mut_mask = llvm.mlir.constant(1 : i32) : i32"
            "\n$1nvvm.bar.warp.sync %mut_mask : i32", 0)], {"divergence"}),
    "sm90_removed_bar_warp_sync": (
        "causal_bf16", "sm_90a", SHAPE,
        [_m(r"nvvm\.bar\.warp\.sync[^\n]*", "")], {"divergence"}),
}


@pytest.mark.skipif(not ATTN_RUN.exists(), reason="attn-run not built")
@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_is_caught(name):
    case, chip, shape, mutations, expect = MUTATIONS[name]
    text = _kernel_text(case, chip, shape)
    if callable(mutations):
        mutations = mutations(text)
    rc, out = _run(case, chip, shape, mutations)
    assert "matches nothing" not in out and "has no match" not in out, out
    if expect is None:
        # An equivalent mutation (see the module's docstring).
        assert rc == 0 and "check=ok" in out, out
        return
    assert rc != 0, f"{name} was not caught:\n{out}"
    kinds = set(re.findall(r"^  ([a-z-]+) at ", out, re.M))
    if expect == "wrong":
        # Wrong numbers, or (a descriptor pointing at other data) a report.
        assert "check=FAIL" in out or kinds, out
    else:
        assert expect <= kinds, f"expected {expect}, got {kinds}:\n{out}"


# The ten mutations issue 15 names, and the cases that make them.
NAMED = {
    "swapped descriptor LBO/SBO": ["sm90_swapped_descriptor_lbo_sbo"],
    "wrong SBO": ["sm90_wrong_sbo"],
    "a removed end-of-tile barrier": ["sm80_removed_end_of_tile_barrier"],
    "a wrong mbarrier parity": ["sm90_wrong_mbarrier_parity"],
    "a removed bar.warp.sync": ["sm90_removed_bar_warp_sync"],
    "a wrong shuffle offset": ["sm80_wrong_shuffle_offset"],
    "no zero fill": ["sm80_no_zero_fill"],
    "a flipped .trans": ["sm80_flipped_trans"],
    "LSE written by the wrong lanes": ["sm80_lse_written_by_wrong_lanes",
                                       "sm90_lse_written_by_wrong_lanes"],
    "an off-by-one in partial-tile masking": ["sm80_partial_tile_off_by_one"],
}


def test_every_named_mutation_is_expected_caught():
    # Each named mutation must be one that test_mutation_is_caught requires
    # to be caught (not an equivalent one).
    for what, names in NAMED.items():
        for name in names:
            assert MUTATIONS[name][-1] is not None, what
    assert sum(e is not None for *_, e in MUTATIONS.values()) >= 10
