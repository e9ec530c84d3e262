"""Autotuning: searches a kernel's #attn.config space on the shapes it will
run, keeps every measurement and the winner per shape bucket in the tuning
database (attn.tuning_db), which attn.compile consults.

    result = attn.tune(attn.Spec(mask=attn.causal()), head_dim=64,
                       shapes=["B=1,Hq=8,Sq=2048", "B=8,Hq=8,Sq=1,Skv=4096"],
                       budget_s=120)
    print(result.summary()); result.to_csv("tune.csv")
    fn = attn.compile(attn.Spec(mask=attn.causal()), head_dim=64)
    fn.config                 # what each bucket runs, and why

The search space comes from the target's tile plan (`search_space`):
CPU block_q, block_kv, unroll, q_blocks and the vector widths the host
runs for prefill, block_kv and kv_splits for decoding; GPU block_q (warps),
block_kv, stages and mma. Cheap static rules drop what cannot pay (a
tile larger than the sequence, too many accumulators), then the
compiler's own tile-plan resolution rejects what it cannot honour, before
anything is compiled.

How it decides: per bucket, candidates are screened in a seeded random
order (three of the host's widest vectors for each of another width) for
45% of the bucket's budget, so small spaces are measured whole and large
ones sampled, then successive halving keeps the faster half and measures
it with twice the calls, rung after rung, until 70% of the budget. Every measurement is a
median after a warm-up, with its spread and the machine's load, and every
candidate's output is checked against the default configuration's before
it may win. The finalists then run against the default in interleaved
rounds; a finalist wins only if it beats the default by more than the
round's spread in a clear majority (2/3) of the rounds, else the default
stays. Nothing is timed twice: trials already in the database are reused,
so a killed sweep resumes, and Ctrl-C stops with every measured trial
kept.

This module is longer than the project's ~800-line guide: the search
space, the measurement rules, the sweep and its result object are one
algorithm read top to bottom; the database is attn.tuning_db and the
command line tools/attn-tune.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import itertools
import json
import logging
import math
import os
import random
import re
import statistics
import sys
import time
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _attn
from . import api as A
from . import ir as IR
from . import spec as S
from . import tuning_db as DB

log = logging.getLogger("attn.tune")

CompileError = _attn.CompileError


class TuneError(ValueError):
    """A tuning request that cannot be carried out: a bad shape, target,
    input file or budget. The message says what to change."""


# Rounds of the final interleaved comparison, and the share a finalist
# must win.
FINAL_ROUNDS = 7
WIN_SHARE = 2 / 3
FINALISTS = 3
# Distinct tuned configurations a compiled kernel holds (beside the
# default); buckets beyond them run the default.
MAX_TUNED_CONFIGS = 4
# Output tolerances (rtol, atol) of a candidate against the default
# configuration: tile sizes reorder the sums, nothing else may differ.
TOLERANCES = {"float32": (1e-3, 1e-4), "float16": (1e-2, 1e-2),
              "bfloat16": (5e-2, 5e-2)}
GPU_CHIPS = ("sm_80", "sm_90a")


def _version() -> str:
    from . import __version__
    return f"{__version__}+{A._native_build_id().rsplit(chr(0), 1)[1][:12]}"


# ----------------------------------------------------------------------------
# Shapes
# ----------------------------------------------------------------------------

_SHAPE_NAMES = ("B", "Hq", "Hkv", "Sq", "Skv", "D", "Dv")


def parse_shape(shape, head_dim: int = 0, head_dim_v: int = 0) -> dict:
    """A shape as {B, Hq, Hkv, Sq, Skv}, from attn-run's --shape syntax
    ("B=1,Hq=8,Sq=1024", defaults B=2 Hq=4 Hkv=Hq Sq=67 Skv=Sq) or a dict
    of the same names. D and Dv may be given; they must match the head
    dims."""
    if isinstance(shape, str):
        given = {}
        for part in filter(None, (p.strip() for p in shape.split(","))):
            name, eq, value = part.partition("=")
            name = name.strip()
            if not eq or not re.fullmatch(r"\s*\d+\s*", value):
                raise TuneError(f"bad shape entry {part!r} in {shape!r}: "
                                f"expected NAME=NON_NEGATIVE_INT")
            if name in given and given[name] != int(value):
                raise TuneError(f"shape {shape!r} gives {name} twice")
            given[name] = int(value)
    elif isinstance(shape, dict):
        given = dict(shape)
    else:
        raise TuneError(f"a shape is a string like 'B=1,Hq=8,Sq=1024' or "
                        f"a dict, got {shape!r}")
    for name, value in given.items():
        if name not in _SHAPE_NAMES:
            raise TuneError(f"unknown size {name!r} in shape {shape!r} "
                            f"(known: {', '.join(_SHAPE_NAMES)})")
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise TuneError(f"size {name} must be a non-negative integer, "
                            f"got {value!r}")
    for name, want in (("D", head_dim), ("Dv", head_dim_v)):
        if name in given and want and given[name] != want:
            raise TuneError(f"shape {shape!r} gives {name}={given[name]} "
                            f"but the kernel's is {want}")
    out = {"B": int(given.get("B", 2)), "Hq": int(given.get("Hq", 4))}
    out["Hkv"] = int(given.get("Hkv", out["Hq"]))
    out["Sq"] = int(given.get("Sq", 67))
    out["Skv"] = int(given.get("Skv", out["Sq"]))
    if min(out["B"], out["Hq"], out["Hkv"], out["Sq"], out["Skv"]) == 0:
        raise TuneError(f"shape {shape!r} is empty: nothing to time")
    if out["Hq"] % out["Hkv"]:
        raise TuneError(f"shape {shape!r}: Hq ({out['Hq']}) must be a "
                        f"multiple of Hkv ({out['Hkv']})")
    return out


def shape_text(shape: dict) -> str:
    return ",".join(f"{n}={shape[n]}" for n in _SHAPE_NAMES[:5])


# ----------------------------------------------------------------------------
# The kernel being tuned
# ----------------------------------------------------------------------------

_CONFIG_RE = re.compile(r"config = #attn\.config(<[^>]*>)?")


def strip_config(printed: str) -> str:
    """The printed IR without the attention op's #attn.config (attribute
    dictionaries print sorted, so config comes first or alone)."""
    out = re.sub(r"\{" + _CONFIG_RE.pattern + r"\}\s*", "", printed)
    out = re.sub(_CONFIG_RE.pattern + r", ", "", out)
    return re.sub(r", " + _CONFIG_RE.pattern, "", out)


def kernel_identity(text: str) -> str:
    """What identifies a kernel in the database: a hash of its verified,
    printed IR with the config removed and the function renamed, so that
    attn.compile's module of a spec and a hand-written .mlir of the same
    function share their tuning."""
    printed = strip_config(_attn.parse(text))
    printed = re.sub(r"func\.func (public |private )?@[\w$.]+",
                     "func.func @attention", printed)
    return hashlib.sha256(printed.encode()).hexdigest()


def _config_attr(config: dict) -> str:
    return "#attn.config<" + ", ".join(
        f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {int(v)}"
        for k, v in sorted(config.items())) + ">"


def _attr_dict_span(text: str, start: int):
    """(open, close, arrow): in the op starting at `start`, the positions
    of its attribute dictionary's braces (None when it has none) and of
    the `->` before its result types, found at bracket depth 0 (regions
    and types nest deeper)."""
    depth, i, groups = 0, start, []
    while i < len(text):
        c = text[i]
        if c == '"':
            i = text.index('"', i + 1) + 1
            continue
        if c in "([{":
            if depth == 0 and c == "{":
                groups.append([i, None])
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and c == "}":
                groups[-1][1] = i
        elif depth == 0 and text.startswith("->", i):
            if groups and groups[-1][1] is not None and \
                    text[groups[-1][1] + 1:i].strip() == "" and \
                    re.match(r"\{\s*[A-Za-z_][\w.$]*\s*=",
                             text[groups[-1][0]:]):
                return groups[-1][0], groups[-1][1], i
            return None, None, i
        i += 1
    raise TuneError("cannot find the result types of the attn.attention op")


def with_config(printed: str, config: dict) -> str:
    """`printed` (one attn.attention op) with its #attn.config replaced by
    `config` (removed when empty)."""
    text = strip_config(printed)
    if not config:
        return text
    start = text.index("attn.attention")
    open_, close, arrow = _attr_dict_span(text, start)
    attr = "config = " + _config_attr(config)
    if open_ is None:
        return text[:arrow] + "{" + attr + "} " + text[arrow:]
    return text[:close] + ", " + attr + text[close:]


class Problem:
    """One kernel to tune: how to build its IR with a config, compile it,
    make inputs for a shape and run it. Made by `Problem.from_spec` or
    `Problem.from_mlir`."""

    def __init__(self, label, dtype, head_dim, head_dim_v, target, chip,
                 mma, openmp, layout):
        self.label, self.dtype = label, dtype
        self.head_dim, self.head_dim_v = int(head_dim), int(head_dim_v)
        self.target, self.chip, self.mma = target, chip, mma
        self.openmp, self.layout = openmp, layout
        self.np_dtype = A._numpy_dtype(dtype)

    # The database's view of the problem.
    @property
    def plan_target(self) -> str:
        return "cpu" if self.target == "cpu" else self.chip

    @property
    def options(self) -> str:
        return (f"openmp={int(bool(self.openmp))}" if self.target == "cpu"
                else f"mma={self.mma}")

    def machine(self) -> Optional[str]:
        if self.target == "cpu":
            return DB.cpu_identity()
        return DB.gpu_identity(self.chip)

    def key(self, machine: str) -> str:
        return DB.make_key(kernel_identity(self.text({})), self.dtype,
                           self.head_dim, self.head_dim_v, self.plan_target,
                           self.options, machine)

    def tile_plan(self, config: dict) -> dict:
        """The compiler's resolved plan for `config`; CompileError when it
        cannot honour it."""
        return A._tile_plan_of(self.text(config), self.plan_target, 0,
                               self.mma)

    # Subclasses: text(config), compile(config), prepare(compiled, inputs).

    def inputs(self, shape: dict, seed: int = 0) -> dict:
        rng = np.random.default_rng(seed)
        B, Hq, Hkv, Sq, Skv = (shape[n] for n in _SHAPE_NAMES[:5])

        def make(h, s, d):
            dims = (B, s, h, d) if self.layout == "bshd" else (B, h, s, d)
            return rng.standard_normal(dims, dtype=np.float32).astype(
                self.np_dtype)
        return {"q": make(Hq, Sq, self.head_dim),
                "k": make(Hkv, Skv, self.head_dim),
                "v": make(Hkv, Skv, self.head_dim_v)}

    @classmethod
    def from_spec(cls, spec, *, dtype="float32", head_dim=64,
                  head_dim_v=None, target="cpu", chip="sm_90a", mma="auto",
                  openmp=True, operands=None, label=None) -> "Problem":
        return _SpecProblem(S.as_spec(spec), dtype, head_dim,
                            head_dim_v or head_dim, target, chip, mma, openmp,
                            operands, label)

    @classmethod
    def from_mlir(cls, text: str, *, target="cpu", chip="sm_90a",
                  mma="auto", openmp=True, label="kernel") -> "Problem":
        return _MlirProblem(text, target, chip, mma, openmp, label)


class _SpecProblem(Problem):
    def __init__(self, spec, dtype, head_dim, head_dim_v, target, chip, mma,
                 openmp, operands, label):
        super().__init__(label or repr(spec), dtype, head_dim, head_dim_v,
                         target, chip, mma, openmp, spec.layout)
        if spec.config:
            raise TuneError(f"the spec pins config {spec.config}: tuning "
                            f"searches the config, so pass a spec without "
                            f"one")
        self.spec = spec
        self.operands = operands
        missing = spec.operands()
        if missing and operands is None:
            raise TuneError(f"this spec takes the operand(s) {missing}: pass "
                            f"operands={{name: array}} or a function of the "
                            f"shape dict returning them")

    def spec_with(self, config: dict):
        spec = copy.copy(self.spec)
        spec.config = dict(config)
        return spec

    def text(self, config):
        text, _ = IR.build(self.spec_with(config), self.dtype, self.head_dim,
                           self.head_dim_v)
        return text

    def compile(self, config):
        return A.compile(self.spec_with(config), target=self.target,
                         dtype=self.dtype, head_dim=self.head_dim,
                         head_dim_v=self.head_dim_v, openmp=self.openmp,
                         chip=self.chip, mma=self.mma, tuning=False)

    def inputs(self, shape, seed=0):
        data = super().inputs(shape, seed)
        ops = self.operands(dict(shape)) if callable(self.operands) else \
            dict(self.operands or {})
        data["operands"] = ops
        return data

    def prepare(self, kernel, data):
        """(run, output): a call of the native code on prepared arguments,
        and the array it writes."""
        if self.target == "cpu":
            args, _ = kernel.arguments(data["q"], data["k"], data["v"],
                                       **data["operands"])
            out = args[-2] if kernel.signature.has_lse else args[-1]
            packed = [(a.ctypes.data, list(a.shape)) for a in args]
            native = kernel._native

            def run(keep=args):  # the arrays must outlive the addresses
                if native.call(packed):
                    raise TuneError("a captured array was indexed out of "
                                    "range: check the operands")
            return run, out
        q, k, v = (A.DEV.to_device(data[n]) for n in "qkv")
        result = {}

        def run_gpu():
            result["o"] = kernel(q, k, v, **data["operands"])
        run_gpu()
        return run_gpu, _Lazy(lambda: result["o"].numpy())


class _Lazy:
    """An output read when asked (GPU results are copied back only for
    the check)."""

    def __init__(self, get):
        self.get = get


class _MlirProblem(Problem):
    def __init__(self, text, target, chip, mma, openmp, label):
        try:
            printed = _attn.parse(text)
        except CompileError as e:
            raise TuneError(f"{label}: the IR does not parse or verify:\n"
                            f"{e}") from None
        ops = printed.count("attn.attention ")
        if ops != 1:
            raise TuneError(f"{label}: attn-tune tunes one attn.attention op "
                            f"per file; this one has {ops}")
        funcs = re.findall(r"func\.func (?:public )?@([\w$.]+)\((.*?)\)\s*->",
                           printed)
        if len(funcs) != 1:
            raise TuneError(f"{label}: expected one public function, found "
                            f"{len(funcs)}")
        self.entry, params = funcs[0]
        args = re.findall(r"(%\w+): (tensor<[^>]*>)", params)
        # Each argument's role: q, k, v, o, lse, or an operand group of the
        # op (segments, dense_mask, kv_len), from the op's operand lists.
        roles = {}
        for group, names in re.findall(r"\b(\w+)\(([^():]*?) :",
                                       printed.split("attn.attention", 1)[1]
                                       .split("{", 1)[0]):
            for n, name in enumerate(re.findall(r"%\w+", names)):
                roles[name] = (group, n)
        self.args = []
        for name, ty in args:
            group, n = roles.get(name, ("?", 0))
            role = {"ins": ("q", "k", "v")[min(n, 2)],
                    "outs": ("o", "lse")[min(n, 1)]}.get(group, group)
            self.args.append((role, n, ty))
        core = [r for r, _, _ in self.args
                if r in ("q", "k", "v", "o", "lse")]
        extra = sorted({r for r, _, _ in self.args} - set(core))
        unknown = [r for r in extra if r not in _GENERATED]
        types = [ty for r, _, ty in self.args if r in ("q", "k", "v", "o",
                                                       "lse")]
        shapes = [t[len("tensor<"):-1].split("x") for t in types]
        if unknown or core[:4] != ["q", "k", "v", "o"] or \
                [len(s) for s in shapes[:4]] != [5, 5, 5, 5] or \
                (len(types) == 5 and len(shapes[4]) != 4):
            raise TuneError(
                f"{label}: attn-tune runs functions of q, k, v, o (and lse) "
                f"tensors with the operands it can make up "
                f"({', '.join(sorted(_GENERATED))}); @{self.entry} takes "
                f"{', '.join(r for r, _, _ in self.args) or 'nothing'}. "
                f"Tune kernels with other operands from Python: "
                f"attn.tune(spec, operands=...)")
        dense = re.search(r"#attn\.dense<block_q = (\d+), block_kv = (\d+)>",
                          printed)
        self.dense_blocks = (int(dense[1]), int(dense[2])) if dense else (1, 1)
        elem = shapes[0][-1]
        dtypes = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
        if elem not in dtypes or any(s[-1] != elem for s in shapes[:4]):
            raise TuneError(f"{label}: q, k, v and o must share one of "
                            f"f32, f16, bf16; got {', '.join(types[:4])}")
        d, dv = shapes[0][3], shapes[2][3]
        if not (d.isdigit() and dv.isdigit()):
            raise TuneError(f"{label}: head dims must be static, got D = {d}"
                            f", Dv = {dv}")
        layout = "bshd" if "#attn.layout<bshd>" in printed else "bhsd"
        super().__init__(label, dtypes[elem], int(d), int(dv), target, chip,
                         mma, openmp, layout)
        self.printed = printed
        self.has_lse = len(types) == 5
        if strip_config(printed) != printed:
            raise TuneError(f"{label}: the op pins an #attn.config; tuning "
                            f"searches it, so remove it from the file")

    def text(self, config):
        return with_config(self.printed, config)

    def compile(self, config):
        if self.target == "cpu":
            options = f"lowering=fused vector-width=0 openmp=" \
                      f"{'true' if self.openmp else 'false'}"
        else:
            options = f"chip={self.chip} mma={self.mma}"
        return A._native_kernel(self.text(config), options, self.openmp, True,
                                self.target, entry=self.entry)

    def inputs(self, shape, seed=0):
        data = super().inputs(shape, seed)
        rng = np.random.default_rng(seed + 1)
        for role, n, ty in self.args:
            if role in _GENERATED:
                data[f"{role}{n}"] = _GENERATED[role](self, shape, n, ty, rng)
        return data

    def prepare(self, native, data):
        q, k, v = data["q"], data["k"], data["v"]
        if self.layout == "bshd":
            out_shape = q.shape[:3] + (self.head_dim_v,)
            lse_shape = (q.shape[0], q.shape[2], q.shape[1])
        else:
            out_shape = q.shape[:3] + (self.head_dim_v,)
            lse_shape = q.shape[:3]
        made = {"o": np.empty(out_shape, self.np_dtype),
                "lse": np.empty(lse_shape, np.float32)}
        arrays = [data[r] if r in ("q", "k", "v") else
                  made.get(r, data.get(f"{r}{n}"))
                  for r, n, _ in self.args]
        out = made["o"]
        if self.target != "cpu":
            raise TuneError("attn-tune runs .mlir kernels on the CPU only; "
                            "tune GPU kernels from Python with attn.tune")
        packed = [(a.ctypes.data, list(a.shape)) for a in arrays]
        # The arrays must outlive the addresses.
        return (lambda keep=arrays: native.call(packed)), out


def _segments(problem, shape, n, ty, rng):
    """Document ids for `segments` (seg_q: n = 0, seg_kv: n = 1), [B, S]
    int32: DOCUMENTS documents of equal length per batch row, in key
    positions (queries are the last Sq positions)."""
    B, Sq, Skv = shape["B"], shape["Sq"], shape["Skv"]
    pos = np.arange(Sq) + (Skv - Sq) if n == 0 else np.arange(Skv)
    ids = (pos * DOCUMENTS // max(Skv, 1)).astype(np.int32)
    return np.ascontiguousarray(np.broadcast_to(ids, (B, ids.size)))


def _dense_mask(problem, shape, n, ty, rng):
    """A dense (or block-sparse, #attn.dense<block_q, block_kv>) mask with
    half its entries allowed at random, its type's size-1 dims kept."""
    dims = ty[len("tensor<"):-1].split("x")
    bq, bkv = problem.dense_blocks
    sizes = [shape["B"], shape["Hq"], -(-shape["Sq"] // bq),
             -(-shape["Skv"] // bkv)]
    out = [1 if d == "1" else sizes[i] for i, d in enumerate(dims[:4])]
    allowed = rng.random(out) < 0.5
    kind = dims[4]
    return allowed if kind == "i1" else allowed.astype(
        {"i8": np.int8, "i32": np.int32}[kind])


def _kv_len(problem, shape, n, ty, rng):
    """Every batch row sees all Skv keys."""
    return np.full(shape["B"], shape["Skv"], np.int32)


# Operands attn-tune makes up for .mlir kernels, by the op's operand group.
_GENERATED = {"segments": _segments, "dense_mask": _dense_mask,
              "kv_len": _kv_len}
# Documents per batch row in made-up `segments` (the benchmark's document
# case has 8).
DOCUMENTS = 8


# ----------------------------------------------------------------------------
# The search space
# ----------------------------------------------------------------------------


def host_vector_widths() -> list:
    """The f32 vector widths the host runs: 4 always, 8 with AVX2 and FMA,
    16 with AVX-512 (as the compiler's hostVectorWidth decides)."""
    features = set(_attn.host_cpu().split(","))
    widths = [4]
    if {"avx2", "fma"} <= features:
        widths.append(8)
    if "avx512f" in features:
        widths.append(16)
    return widths


def _cpu_candidates(mode: str, max_sq: int, max_skv: int,
                    widths: Sequence[int]):
    """(config, None) for each CPU config worth compiling, (config, why)
    for each dropped by a static rule."""
    kv_cap = max(32, DB.pow2_at_least(max_skv))
    if mode == "decode":
        for bkv in (32, 64, 96, 128, 256):
            for splits in (0, 1, 2, 4, 8, 16):
                for w in widths:
                    cfg = {"vector_width": w, "block_kv": bkv,
                           "kv_splits": splits}
                    if bkv > kv_cap:
                        yield cfg, f"block_kv {bkv} > Skv {max_skv}"
                    elif splits and splits * bkv > max(max_skv, bkv):
                        yield cfg, (f"{splits} splits of {bkv}-key tiles "
                                    f"exceed Skv {max_skv}")
                    else:
                        yield cfg, None
        return
    q_cap = max(widths[0], DB.pow2_at_least(max_sq))
    for w in widths:
        for vecs in (1, 2, 4, 8):
            bq = vecs * w
            if bq > 128:
                continue
            for bkv in (32, 48, 64, 96, 128, 192, 256):
                for unroll, qb in itertools.product((2, 3, 4, 6, 8),
                                                    (0, 1, 4)):
                    # q_blocks 0: chosen per call (not pinned).
                    cfg = {"vector_width": w, "block_q": bq,
                           "block_kv": bkv, "unroll": unroll}
                    if qb:
                        cfg["q_blocks"] = qb
                    if unroll * vecs > 32:
                        yield cfg, (f"unroll {unroll} x {vecs} vectors "
                                    f"needs over 32 accumulators")
                    elif bq > q_cap:
                        yield cfg, f"block_q {bq} > Sq {max_sq}"
                    elif qb * bq > q_cap:
                        yield cfg, (f"q_blocks {qb} x block_q {bq} > Sq "
                                    f"{max_sq}")
                    elif bkv > kv_cap:
                        yield cfg, f"block_kv {bkv} > Skv {max_skv}"
                    else:
                        yield cfg, None


def _gpu_candidates(chip: str, mode: str, max_sq: int, max_skv: int,
                    head_dim: int, head_dim_v: int):
    q_cap = max(16, DB.pow2_at_least(max_sq))
    kv_cap = max(32, DB.pow2_at_least(max_skv))
    kernels = [("sync", w, 1) for w in (1, 2, 4, 8)]
    if chip == "sm_90a" and head_dim in (64, 128) and head_dim_v in (64, 128):
        kernels += [("wgmma", 4, s) for s in (2, 3, 4)]
    for mma, warps, stages in kernels:
        for bkv in (32, 64, 96, 128):
            cfg = {"mma": mma, "warps": warps, "block_q": 16 * warps,
                   "block_kv": bkv, "stages": stages}
            if 16 * warps > q_cap:
                yield cfg, f"block_q {16 * warps} > Sq {max_sq}"
            elif bkv > kv_cap:
                yield cfg, f"block_kv {bkv} > Skv {max_skv}"
            else:
                yield cfg, None


def search_space(problem: Problem, shapes: Sequence[dict],
                 validate: bool = True):
    """(candidates, rejected) for one bucket's `shapes`: the configs to
    measure (the default plan excluded: it is always measured) and
    [(config, why)] for those dropped, by a static rule or by the
    compiler's tile-plan resolution (`validate`)."""
    mode = "decode" if max(s["Sq"] for s in shapes) <= DB.DECODE_MAX_SQ \
        else "prefill"
    max_sq = max(s["Sq"] for s in shapes)
    max_skv = max(s["Skv"] for s in shapes)
    if problem.target == "cpu":
        raw = _cpu_candidates(mode, max_sq, max_skv, host_vector_widths())
    else:
        raw = _gpu_candidates(problem.chip, mode, max_sq, max_skv,
                              problem.head_dim, problem.head_dim_v)
    default = problem.tile_plan({}) if validate else None
    candidates, rejected, plans = [], [], set()
    for cfg, why in raw:
        if why is None and validate:
            try:
                plan = problem.tile_plan(cfg)
            except CompileError as e:
                why = "compiler: " + _first_error(str(e))
            else:
                # Configs the plan resolves alike are one kernel.
                resolved = DB.canonical_config(
                    {k: plan.get(k) for k in cfg})
                if all(plan.get(k) == default.get(k) for k in cfg):
                    why = "is the default plan"
                elif resolved in plans:
                    why = "same plan as an earlier candidate"
                plans.add(resolved)
        if why is None:
            candidates.append(cfg)
        else:
            rejected.append((cfg, why))
    return candidates, rejected


def sample_order(candidates: list, default_plan: dict,
                 rng: random.Random) -> list:
    """The order in which a sweep measures `candidates`: shuffled by
    `rng`, with three candidates of the default plan's vector width
    (the host's widest) for each of another width, which rarely wins but
    is not ruled out."""
    shuffled = list(candidates)
    rng.shuffle(shuffled)
    width = default_plan.get("vector_width")
    main = [c for c in shuffled if c.get("vector_width", width) == width]
    rest = [c for c in shuffled if c.get("vector_width", width) != width]
    out = []
    while main or rest:
        out += main[:3] + rest[:1]
        main, rest = main[3:], rest[1:]
    return out


def _first_error(message: str) -> str:
    m = re.search(r"error: (.*)", message)
    return (m.group(1) if m else message.strip().splitlines()[0]).strip()


# ----------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------


def _times(run: Callable, n: int) -> list:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        run()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def _summary(times: list):
    """(median, relative spread): the interquartile range over the
    median."""
    med = statistics.median(times)
    if len(times) >= 4:
        q = statistics.quantiles(times, n=4)
        spread = (q[2] - q[0]) / med if med > 0 else 0.0
    else:
        spread = (max(times) - min(times)) / med if med > 0 else 0.0
    return med, spread


def _load() -> Optional[float]:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def decide(times: Sequence[Sequence[float]],
           spreads: Sequence[Sequence[float]]):
    """The confidence rule. times[i][r] and spreads[i][r]: config i's
    median and relative spread in round r, config 0 the default. A config
    wins round r when times[i][r] < times[0][r] * (1 - the larger of the
    two spreads). Returns (winner, its wins, its median speedup, the best
    finalist): the winner is the config of best median speedup among those
    winning at least WIN_SHARE of the rounds with a median speedup over 1,
    or 0 (the default stays); the best finalist is the one reported."""
    rounds = len(times[0])
    need = math.ceil(WIN_SHARE * rounds)
    best = None
    for i in range(1, len(times)):
        wins = sum(1 for r in range(rounds)
                   if times[i][r] < times[0][r] *
                   (1 - max(spreads[i][r], spreads[0][r])))
        ratio = statistics.median(t0 / t for t0, t in zip(times[0],
                                                          times[i]))
        ok = wins >= need and ratio > 1
        if best is None or (ok, ratio) > (best[3], best[2]):
            best = (i, wins, ratio, ok)
    if best is None:
        return 0, 0, 1.0, 0
    i, wins, ratio, ok = best
    return (i if ok else 0), wins, ratio, i


class _Stop(Exception):
    """The budget is spent."""


class _Progress:
    """tqdm when installed, else one line on stderr per trial."""

    def __init__(self, enabled: bool, label: str):
        self.enabled, self.label, self.bar = enabled, label, None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(desc=label, unit="trial", file=sys.stderr,
                                leave=False)
        self.count = 0

    def step(self, what: str):
        self.count += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(what, refresh=False)
            self.bar.update(1)
        else:
            print(f"attn-tune: {self.label}: trial {self.count}: {what}",
                  file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class BucketResult:
    """The outcome of one bucket: the default's and the chosen config's
    times in the final rounds, the rounds the choice won, and why."""

    def __init__(self, bucket, shapes):
        self.bucket, self.shapes = bucket, shapes
        self.default_plan: dict = {}
        self.config: dict = {}          # {} = the default stays
        self.default_ms: Optional[float] = None
        self.tuned_ms: Optional[float] = None
        self.rounds_won = 0
        self.rounds = 0
        self.reason = "not tuned"
        self.finalists: list = []
        self.stored = False

    @property
    def speedup(self) -> Optional[float]:
        if self.default_ms and self.tuned_ms:
            return self.default_ms / self.tuned_ms
        return None

    def as_dict(self) -> dict:
        return {"bucket": self.bucket,
                "shapes": [shape_text(s) for s in self.shapes],
                "config": dict(self.config), "default_plan": self.default_plan,
                "default_ms": self.default_ms, "tuned_ms": self.tuned_ms,
                "speedup": self.speedup, "rounds_won": self.rounds_won,
                "rounds": self.rounds, "reason": self.reason}


class TuneResult:
    """What attn.tune found: per bucket the chosen config (`best`) and its
    speedup over the default (`speedups`), the details (`buckets`), and
    every trial as a list of dicts (`trials`, `to_csv`)."""

    def __init__(self, label, key, db_path, target):
        self.label, self.key, self.db_path = label, key, db_path
        self.target = target
        self.buckets: list = []
        self.trials: list = []
        self.interrupted = False
        self.elapsed_s = 0.0

    @property
    def best(self) -> dict:
        return {b.bucket: dict(b.config) for b in self.buckets}

    @property
    def speedups(self) -> dict:
        return {b.bucket: (b.speedup if b.config else 1.0)
                for b in self.buckets}

    def summary(self) -> str:
        lines = [f"{self.label} ({self.target}): "
                 f"{len(self.trials)} trials in {self.elapsed_s:.0f} s"
                 + (", interrupted" if self.interrupted else "")]
        for b in self.buckets:
            ms = (f"default {b.default_ms:.3f} ms, tuned {b.tuned_ms:.3f} ms"
                  if b.default_ms and b.tuned_ms else "not measured")
            lines.append(f"  {b.bucket}: {DB.canonical_config(b.config)} "
                         f"({ms}; {b.reason})")
        return "\n".join(lines)

    CSV_FIELDS = ("case", "bucket", "shape", "rung", "config", "status",
                  "ms", "spread", "runs", "load", "reused", "detail")

    def to_csv(self, path: str):
        write_csv(path, [self])

    def plot(self, path: str):
        plot([self], path)


def write_csv(path: str, results: Sequence[TuneResult]):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=TuneResult.CSV_FIELDS)
        w.writeheader()
        for r in results:
            for t in r.trials:
                row = {k: t.get(k) for k in TuneResult.CSV_FIELDS}
                row["case"] = r.label
                row["config"] = DB.canonical_config(t["config"])
                w.writerow(row)


class _Tuner:
    """One problem's sweep over its buckets."""

    def __init__(self, problem: Problem, db: DB.TuningDB, key: str,
                 progress: _Progress, seed: int):
        self.problem, self.db, self.key = problem, db, key
        self.progress, self.seed = progress, seed
        self.version = _version()
        self.compiled: dict = {}
        self.compile_s: list = []
        self.result: Optional[TuneResult] = None

    def _compiled(self, config):
        name = DB.canonical_config(config)
        if name not in self.compiled:
            t0 = time.perf_counter()
            self.compiled[name] = self.problem.compile(config)
            self.compile_s.append(time.perf_counter() - t0)
        return self.compiled[name]

    def _left(self, deadline: float) -> float:
        return deadline - time.monotonic()

    def _check_time(self, deadline: float, cost: float):
        if self._left(deadline) < cost:
            raise _Stop()

    def _trial_row(self, bucket, shape, config, rung, status, ms=None,
                   spread=None, runs=0, load=None, detail="", reused=False):
        row = {"bucket": bucket, "shape": shape_text(shape),
               "config": dict(config), "rung": rung, "status": status,
               "ms": ms, "spread": spread, "runs": runs, "load": load,
               "detail": detail, "reused": reused}
        self.result.trials.append(row)
        return row

    def measure(self, bucket: str, shape: dict, data: dict, config: dict,
                rung: int, reference, deadline: float) -> dict:
        """One trial: reused from the database, or compiled, checked
        against the default's output and timed (median after a warm-up,
        more calls on later rungs)."""
        stored = self.db.trial(self.key, shape_text(shape), config, rung)
        if stored is not None:
            row = self._trial_row(bucket, shape, config, rung,
                                  stored["status"], stored["ms"],
                                  stored["spread"], stored["runs"],
                                  stored["load"], stored["detail"], True)
            self.progress.step(f"{bucket} rung {rung} (stored)")
            return row
        est_compile = statistics.median(self.compile_s) if self.compile_s \
            else 0.0
        self._check_time(deadline, est_compile)
        try:
            compiled = self._compiled(config)
        except CompileError as e:
            return self._store(bucket, shape, config, rung, "invalid",
                               detail=_first_error(str(e)))
        run, out = self.problem.prepare(compiled, data)
        t0 = time.perf_counter()
        run()  # warm-up: page faults, thread pool, caches
        first_ms = (time.perf_counter() - t0) * 1e3
        if reference is not None:
            got = out.get() if isinstance(out, _Lazy) else out
            rtol, atol = TOLERANCES[self.problem.dtype]
            if not np.allclose(np.asarray(got, np.float32),
                               np.asarray(reference, np.float32),
                               rtol=rtol, atol=atol, equal_nan=True):
                err = float(np.nanmax(np.abs(np.asarray(got, np.float64)
                                             - reference)))
                log.warning("config %s gives outputs that differ from the "
                            "default's on %s (max abs error %.3g): a "
                            "compiler bug; excluded",
                            DB.canonical_config(config), shape_text(shape),
                            err)
                return self._store(bucket, shape, config, rung, "mismatch",
                                   detail=f"max abs error {err:.3g} against "
                                          f"the default config")
        # Calls to fill about 0.1 s on rung 0, twice that per later rung.
        target_ms = 100.0 * (2 ** rung)
        n = int(min(max(3, target_ms // max(first_ms, 1e-3)), 64))
        self._check_time(deadline, n * first_ms / 1e3)
        load = _load()
        med, spread = _summary(_times(run, n))
        return self._store(bucket, shape, config, rung, "ok", med, spread, n,
                           load)

    def _store(self, bucket, shape, config, rung, status, ms=None,
               spread=None, runs=0, load=None, detail=""):
        self.db.add_trial(self.key, shape_text(shape), bucket, config, rung,
                          status, ms, spread, runs, load, detail,
                          self.version)
        self.progress.step(f"{bucket} rung {rung} "
                           f"{DB.canonical_config(config)}: "
                           + (f"{ms:.3f} ms" if ms is not None else status))
        return self._trial_row(bucket, shape, config, rung, status, ms,
                               spread, runs, load, detail)

    def tune_bucket(self, bucket: str, shapes: list,
                    deadline: float) -> BucketResult:
        res = BucketResult(bucket, shapes)
        self.result.buckets.append(res)
        start = time.monotonic()
        screen_deadline = start + 0.7 * (deadline - start)
        res.default_plan = self.problem.tile_plan({})
        candidates, _ = search_space(self.problem, shapes)
        candidates = sample_order(candidates, res.default_plan,
                                  random.Random(f"{self.seed}:{self.key}:"
                                                f"{bucket}"))
        datas = [self.problem.inputs(s, seed=i) for i, s in enumerate(shapes)]
        # The default's outputs are the reference every candidate must
        # reproduce.
        default = self._compiled({})
        refs = []
        for data in datas:
            run, out = self.problem.prepare(default, data)
            run()
            got = out.get() if isinstance(out, _Lazy) else out
            refs.append(np.asarray(got, np.float64).copy())

        bases: dict = {}

        def score(config, rung):
            """Geometric mean over the bucket's shapes of ms / default ms
            (the default measured once per shape and rung), or None when a
            trial is not ok."""
            logs = []
            for i, (shape, data, ref) in enumerate(zip(shapes, datas, refs)):
                if (i, rung) not in bases:
                    bases[i, rung] = self.measure(bucket, shape, data, {},
                                                  rung, None, deadline)
                base = bases[i, rung]
                row = self.measure(bucket, shape, data, config, rung, ref,
                                   screen_deadline)
                if row["status"] != "ok" or base["status"] != "ok":
                    return None
                logs.append(math.log(row["ms"] / base["ms"]))
            return math.exp(sum(logs) / len(logs))

        # Successive halving: rung 0 screens candidates in sample order
        # until 45% of the bucket's budget is spent (all of them in a small
        # space), each later rung measures the faster half with twice the
        # calls.
        pool = candidates
        ranked, rung, stop = [], 0, False
        while pool and not stop:
            scored = []
            rung_deadline = screen_deadline if rung else \
                start + 0.45 * (deadline - start)
            for cfg in pool:
                if time.monotonic() > rung_deadline:
                    break
                try:
                    s = score(cfg, rung)
                except _Stop:
                    stop = True
                    break
                if s is not None:
                    scored.append((s, cfg))
            scored.sort(key=lambda x: x[0])
            # A later rung cut short ranks fewer candidates on more calls:
            # it replaces the ranking only when it ranked enough of them.
            if rung == 0 or len(scored) >= min(FINALISTS, len(pool)):
                ranked = scored
            if len(scored) <= FINALISTS or time.monotonic() > screen_deadline:
                break
            pool = [cfg for _, cfg in scored[:max(FINALISTS,
                                                  len(scored) // 2)]]
            rung += 1
        res.finalists = [cfg for _, cfg in ranked[:FINALISTS]]
        if not res.finalists:
            res.reason = ("no candidate was measured within the budget"
                          if candidates else "the space has no candidate")
            return res
        self._final_rounds(res, datas, deadline)
        return res

    def _final_rounds(self, res: BucketResult, datas: list, deadline: float):
        """Interleaved rounds of the finalists against the default: a
        finalist wins a round when it is faster than the default by more
        than that round's spread (the larger of the two), and the bucket
        takes the finalist with the best median ratio among those winning
        WIN_SHARE of the rounds."""
        configs = [{}] + res.finalists
        runs = []
        for cfg in configs:
            if DB.canonical_config(cfg) not in self.compiled and \
                    self.compile_s and \
                    self._left(deadline) < 2 * max(self.compile_s):
                res.reason = ("the budget ran out before the final rounds "
                              "(finalists to compile)")
                return
            runs.append([self.problem.prepare(self._compiled(cfg), d)[0]
                         for d in datas])
        # Calls per measurement: about 50 ms each, from one timed call.
        per_call = [sum(statistics.median(_times(r, 3)) for r in rs)
                    for rs in runs]
        n = int(min(max(3, 50.0 // max(max(per_call), 1e-3)), 32))
        round_s = n * sum(per_call) / 1e3
        rounds = int(min(FINAL_ROUNDS, self._left(deadline) // max(round_s,
                                                                   1e-6)))
        if rounds < 3:
            res.reason = (f"the budget left {self._left(deadline):.1f} s, "
                          f"under the 3 final rounds of {round_s:.1f} s")
            return
        times = [[] for _ in configs]
        spreads = [[] for _ in configs]
        for r in range(rounds):
            order = list(range(len(configs)))
            order = order[r % len(order):] + order[:r % len(order)]
            for i in order:
                samples = [0.0] * n
                for rs in runs[i]:
                    for j, t in enumerate(_times(rs, n)):
                        samples[j] += t
                med, spread = _summary(samples)
                times[i].append(med)
                spreads[i].append(spread)
            # The rounds were sized from one timed call; when the machine
            # slows down meanwhile, stop at the deadline (after 3 rounds).
            if r + 1 >= 3 and self._left(deadline) <= 0:
                rounds = r + 1
                break
        res.rounds = rounds
        res.default_ms = statistics.median(times[0])
        winner, wins, ratio, best = decide(times, spreads)
        res.rounds_won = wins
        need = math.ceil(WIN_SHARE * rounds)
        if winner:
            res.config = configs[winner]
            res.tuned_ms = statistics.median(times[winner])
            res.reason = (f"beat the default by more than the spread in "
                          f"{wins}/{rounds} interleaved rounds (median "
                          f"{ratio:.2f}x)")
        else:
            res.tuned_ms = res.default_ms
            res.reason = (f"default kept: the best finalist "
                          f"{DB.canonical_config(configs[best])} won {wins}/"
                          f"{rounds} rounds (needs {need}), median "
                          f"{ratio:.2f}x")
        # Only a bucket compared in final rounds stores a choice.
        self.db.set_choice(self.key, res.bucket, res.config, res.default_ms,
                           res.tuned_ms, res.rounds_won, res.rounds,
                           res.reason, self.version)
        res.stored = True


def tune_problem(problem: Problem, shapes: Sequence, budget_s: float, *,
                 db: Union[str, DB.TuningDB, None] = None,
                 progress: Optional[bool] = None,
                 seed: int = 0) -> TuneResult:
    """Tunes `problem` on `shapes` within `budget_s` seconds (compiles
    included); see the module's docstring."""
    if not isinstance(budget_s, (int, float)) or not budget_s > 0:
        raise TuneError(f"budget_s must be a positive number of seconds, got "
                        f"{budget_s!r}")
    if not shapes:
        raise TuneError("give at least one shape to tune on")
    parsed = [parse_shape(s, problem.head_dim, problem.head_dim_v)
              for s in shapes]
    if problem.target == "cuda":
        ok, why = _attn.cuda_status()
        if not ok:
            raise TuneError(f"tuning for target='cuda' measures on the GPU, "
                            f"and none is usable here: {why}")
    elif problem.target != "cpu":
        raise TuneError(f"attn.tune measures on 'cpu' or 'cuda', not "
                        f"{problem.target!r} (the emulator's times mean "
                        f"nothing)")
    machine = problem.machine()
    if machine is None:
        raise TuneError("cannot identify the GPU (nvidia-smi) to key its "
                        "tuning")
    own_db = not isinstance(db, DB.TuningDB)
    database = DB.TuningDB(db) if own_db else db
    start = time.monotonic()
    deadline = start + float(budget_s)
    key = problem.key(machine)
    database.add_key(key, kernel_identity(problem.text({})), problem.dtype,
                     problem.head_dim, problem.head_dim_v,
                     problem.plan_target, problem.options, machine,
                     problem.label)
    result = TuneResult(problem.label, key, database.path, problem.target)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(show, problem.label)
    tuner = _Tuner(problem, database, key, bar, seed)
    tuner.result = result
    groups: dict = {}
    for s in parsed:
        groups.setdefault(DB.bucket(s["Sq"], s["Skv"]), []).append(s)
    try:
        for i, (name, group) in enumerate(groups.items()):
            share = (deadline - time.monotonic()) / (len(groups) - i)
            res = tuner.tune_bucket(name, group, time.monotonic() + share)
            log.info("%s %s: %s", problem.label, name, res.reason)
    except KeyboardInterrupt:
        result.interrupted = True
        log.warning("tuning interrupted: %d trials kept in %s",
                    len(result.trials), database.path)
    finally:
        bar.close()
        result.elapsed_s = time.monotonic() - start
        if own_db:
            database.close()
    return result


def tune(spec=None, *, shapes: Sequence, dtype: str = "float32",
         head_dim: int = 64, head_dim_v: Optional[int] = None,
         target: str = "cpu", chip: str = "sm_90a", mma: str = "auto",
         openmp: bool = True, budget_s: float = 60.0, operands=None,
         db: Optional[str] = None, progress: Optional[bool] = None,
         seed: int = 0) -> TuneResult:
    """Tunes the #attn.config of `spec` for `target` on `shapes` (strings
    like "B=1,Hq=8,Sq=1024,Skv=1024" or dicts of B, Hq, Hkv, Sq, Skv),
    within `budget_s` seconds, and stores the trials and the winner of each
    shape bucket in the tuning database (`db`, default
    attn.tuning_db.default_path()), where attn.compile finds them.

    operands: the spec's call-time operands (sink, segments, ...) as a dict
    or a function of the shape dict returning one. progress: a progress bar
    (tqdm if installed) or lines on stderr; default when stderr is a
    terminal. Raises TuneError for a request it cannot carry out."""
    if target not in ("cpu", "cuda"):
        raise TuneError(f"target must be 'cpu' or 'cuda', got {target!r}")
    if target == "cuda" and chip not in GPU_CHIPS:
        raise TuneError(f"chip must be one of {', '.join(GPU_CHIPS)}, got "
                        f"{chip!r}")
    problem = Problem.from_spec(spec, dtype=dtype, head_dim=head_dim,
                                head_dim_v=head_dim_v, target=target,
                                chip=chip, mma=mma, openmp=openmp,
                                operands=operands)
    return tune_problem(problem, shapes, budget_s, db=db, progress=progress,
                        seed=seed)


# ----------------------------------------------------------------------------
# What attn.compile reads
# ----------------------------------------------------------------------------


class Selection:
    """A compiled kernel's tuned configurations: per bucket the config and
    the native kernel compiled for it (all up front), the default for
    every other shape."""

    def __init__(self, key: str, db_path: str, default_native):
        self.key, self.db_path = key, db_path
        self.default_native = default_native
        self.buckets: dict = {}   # bucket -> choice row (config, reason...)
        self.natives: dict = {}   # canonical config -> native kernel
        self.dropped: dict = {}   # bucket -> why its choice is not used

    def pick(self, sq: int, skv: int):
        """(config, native, why) for a call of these lengths."""
        name = DB.bucket(sq, skv)
        choice = self.buckets.get(name)
        if choice is None:
            why = self.dropped.get(name, f"no tuned entry for {name}")
            return {}, self.default_native, why
        config = choice["config"]
        if not config:
            return {}, self.default_native, f"{name}: {choice['reason']}"
        return (config, self.natives[DB.canonical_config(config)],
                f"{name}: {choice['reason']}")

    def describe(self) -> dict:
        return {"database": self.db_path, "key": self.key,
                "buckets": {b: {"config": c["config"],
                                "speedup": (c["default_ms"] / c["tuned_ms"]
                                            if c["default_ms"] and
                                            c["tuned_ms"] else None),
                                "reason": c["reason"]}
                            for b, c in self.buckets.items()},
                "not used": dict(self.dropped)}


def lookup(text: str, dtype: str, head_dim: int, head_dim_v: int,
           target: str, chip: str, mma: str, openmp: bool):
    """(key, db path, {bucket: choice}) of a kernel in the tuning database,
    or None when there is no database or no choice for it. A database that
    cannot be read is warned about once and ignored."""
    path = DB.default_path()
    if not os.path.exists(path):
        log.debug("no tuning database at %s", path)
        return None
    machine = DB.cpu_identity() if target == "cpu" else DB.gpu_identity(chip)
    if machine is None:
        return None
    plan_target = "cpu" if target == "cpu" else chip
    options = (f"openmp={int(bool(openmp))}" if target == "cpu"
               else f"mma={mma}")
    key = DB.make_key(kernel_identity(text), dtype, head_dim, head_dim_v,
                      plan_target, options, machine)
    try:
        with DB.TuningDB(path, readonly=True) as database:
            choices = database.choices(key)
    except DB.TuningDBError as e:
        _warn_once(f"attn: the tuning database is not used: {e}")
        return None
    if not choices:
        log.debug("tuning database %s: no entry for this kernel", path)
        return None
    return key, path, choices


_warned: set = set()


def _warn_once(message: str):
    import warnings
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message)


# ----------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------


def plot(results: Sequence[TuneResult], path: str):
    """A heat map per bucket of the best rung-0 time over (block_q,
    block_kv) (decoding: kv_splits, block_kv), the default plan's cell
    marked, and a bar plot of the speedup of each (case, bucket). Needs
    matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TuneError("plots need matplotlib (pip install matplotlib)") \
            from None
    panels = []
    for r in results:
        for b in r.buckets:
            ykey = "kv_splits" if b.bucket.startswith("decode") else "block_q"
            cells: dict = {}
            for t in r.trials:
                if t["bucket"] != b.bucket or t["rung"] != 0 or \
                        t["status"] != "ok":
                    continue
                cfg = t["config"] or b.default_plan
                cell = (cfg.get(ykey, 0), cfg.get("block_kv", 0))
                cells[cell] = min(cells.get(cell, t["ms"]), t["ms"])
            mark = (b.default_plan.get(ykey, 0),
                    b.default_plan.get("block_kv", 0))
            panels.append((f"{r.label}\n{b.bucket}", ykey, cells, mark))
    cols = 3
    rows = max(1, math.ceil(len(panels) / cols)) + 1
    fig = plt.figure(figsize=(5 * cols, 4 * rows))
    for i, (title, ykey, cells, mark) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        ys = sorted({c[0] for c in cells})
        xs = sorted({c[1] for c in cells})
        grid = np.full((len(ys), len(xs)), np.nan)
        for (y, x), v in cells.items():
            grid[ys.index(y), xs.index(x)] = v
        if cells:
            im = ax.imshow(grid, cmap="viridis_r", aspect="auto",
                           origin="lower")
            fig.colorbar(im, ax=ax, label="best ms on rung 0")
            ax.set_xticks(range(len(xs)), [str(x) for x in xs])
            ax.set_yticks(range(len(ys)), [str(y) for y in ys])
            if mark in cells:
                ax.plot(xs.index(mark[1]), ys.index(mark[0]), marker="*",
                        color="red", markersize=14, label="default plan")
                ax.legend(loc="upper right", fontsize=7)
        ax.set_xlabel("block_kv")
        ax.set_ylabel(ykey)
        ax.set_title(title, fontsize=8)
    ax = fig.add_subplot(rows, 1, rows)
    labels, values = [], []
    for r in results:
        for b in r.buckets:
            labels.append(f"{r.label}\n{b.bucket}")
            values.append(r.speedups.get(b.bucket) or 0.0)
    ax.bar(range(len(values)), values,
           color=["tab:green" if v > 1 else "tab:gray" for v in values])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("speedup over the default config")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
