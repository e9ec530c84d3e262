"""Building the MLIR function of a spec.

One `func.func @attention` holding one `attn.attention` op. Batch, heads and
sequence lengths are dynamic (one kernel serves them all); the head dims,
the element type and the variant are baked in. Arguments come in the op's
operand order: q, k, v, the call-time operands the spec needs, captured
arrays, then the outs O and (when the normalizer has one) LSE.

With `grad=True`, `func.func @attention_grad` holding the op's
`attn.attention_grad`: q, k, v, the forward's O, dO and (when the
normalizer has one) LSE, the same operands and captures, then the outs dQ,
dK and dV and, for each name in `wrt` (a float operand such as "sink" or
"bias", or a float32 captured array by its name), its gradient `d_<name>`
(f32 whatever the operand's type, shaped as the operand).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import spec as S
from . import closures as C
from . import trace as T

DTYPES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


@dataclass
class Arg:
    """One argument of the compiled function."""
    name: str      # q, k, v, sink, ..., a capture's parameter name, o, lse
    role: str      # "input", "operand", "capture" or "output"
    elem: str      # MLIR element type
    type: str      # the MLIR tensor type


@dataclass
class Signature:
    args: list = field(default_factory=list)
    captures: list = field(default_factory=list)   # (name, dtype) in order
    # Each traced function's own capture names, by kind ("score_mod", ...).
    capture_owners: dict = field(default_factory=dict)
    # Captures that are arrays the functions close over: name ->
    # trace.ClosureArray (its current value is read at every call).
    closures: dict = field(default_factory=dict)
    # Each traced function's fixed index arguments that it reads, by kind:
    # a subset of {"b", "h", "q_idx", "kv_idx"}.
    index_reads: dict = field(default_factory=dict)
    has_lse: bool = False

    def arg(self, name):
        for a in self.args:
            if a.name == name:
                return a
        return None


def _dims(*dims) -> str:
    return "x".join("?" if d is None else str(d) for d in dims)


def _functions(spec: S.Spec):
    """(owner, kind) of the spec's traced functions, score_mod first."""
    return [(o, k) for o, k in ((spec.score_mod_fn, "score_mod"),
                                (spec.mask_mod, "mask_mod")) if o is not None]


def _captures(spec: S.Spec, owners: dict, closures: dict) -> list:
    """(name, dtype) of every captured array: the score_mod function's extra
    parameters, then the mask_mod's (a name used by both is one array), then
    the arrays they close over. Fills `owners` with each function's own
    parameter names and `closures` with the closed-over arrays."""
    out = []
    seen = {}
    for owner, kind in _functions(spec):
        names = T.capture_names(owner.fn, kind)
        owners[kind] = names
        for key in owner.dtypes:
            if key not in names:
                raise S.SpecError(f"dtypes names '{key}', which is not a "
                                  f"parameter of the {kind} function "
                                  f"(its captures: {names})")
        for name in names:
            dtype = T.capture_dtype(owner.dtypes.get(name, "float32"))
            if name in seen and seen[name] != dtype:
                raise S.SpecError(f"capture '{name}' is {seen[name]} in one "
                                  f"function and {dtype} in the other")
            if name not in seen:
                seen[name] = dtype
                out.append((name, dtype))
    for owner, kind in _functions(spec):
        for name, ca in C.closure_arrays(owner.fn).items():
            if name in seen and name not in closures:
                raise S.SpecError(
                    f"the {kind} function closes over an array named "
                    f"'{name}', which is also a captured parameter: rename "
                    f"one of them")
            if name in closures:
                if closures[name].key != ca.key:
                    raise S.SpecError(f"the score_mod and mask_mod functions "
                                      f"close over two different arrays "
                                      f"named '{name}': rename one")
                continue
            closures[name] = ca
            seen[name] = C.closure_dtype(name, ca.read())
            out.append((name, seen[name]))
    return out


def _trace_regions(spec: S.Spec, captures: list, closures: dict):
    regions = [T.trace(owner.fn, kind, owner.dtypes, captures, closures)
               for owner, kind in _functions(spec)]
    # A closed-over array that no traced path indexes is not an operand.
    unused = [i for i, (name, _) in enumerate(captures)
              if name in closures and
              all(r.captures[i].rank is None for r in regions)]
    for i in reversed(unused):
        del closures[captures[i][0]]
        del captures[i]
        for r in regions:
            del r.captures[i]
    # Each region saw the captures it indexed; all regions take all of them.
    ranks = []
    for i, (name, _) in enumerate(captures):
        seen = {r.captures[i].rank for r in regions} - {None}
        if not seen:
            raise T.TraceError(f"captured array '{name}' is never indexed")
        if len(seen) > 1:
            raise T.TraceError(f"captured array '{name}' is indexed with "
                               f"{sorted(seen)} indices in different "
                               f"functions")
        ranks.append(seen.pop())
    for r in regions:
        for c, rank in zip(r.captures, ranks):
            c.rank = rank
    return regions


def build(spec: S.Spec, dtype: str, head_dim: int, head_dim_v: int,
          grad: bool = False, wrt: tuple = (), blocks=None):
    """Returns (module text, Signature); with `grad`, of the backward, which
    also computes the gradients of the operands named in `wrt`; with
    `blocks` = (block_q, block_kv), of `func.func @mask_blocks` holding an
    attn.mask_blocks op, which classifies the spec's mask by blocks into an
    i8 output `table` (q, k, v only give the shapes; the spec has a mask
    and nothing else)."""
    if dtype not in DTYPES:
        raise S.SpecError(f"dtype must be one of {', '.join(DTYPES)}, "
                          f"got {dtype!r}")
    et = DTYPES[dtype]
    d, dv = int(head_dim), int(head_dim_v)
    if d < 1 or dv < 1:
        raise S.SpecError(f"head dims must be positive, got {d} and {dv}")
    hq = spec.static_heads
    bshd = spec.layout == "bshd"

    def qo_type(last):
        dims = (None, None, hq, last) if bshd else (None, hq, None, last)
        return f"tensor<{_dims(*dims)}x{et}>"

    paged = spec.paged
    if paged and grad:
        raise S.SpecError("paged caches have no backward: gradients take "
                          "contiguous K and V")

    quant = spec.quant
    if quant and grad:
        raise S.SpecError("quantized caches have no backward: gradients take "
                          "float K and V")
    if quant:
        for what, n in (("head_dim", d), ("head_dim_v", dv)):
            if n % quant.codes_per_byte:
                raise S.SpecError(
                    f"{what} {n} must be a multiple of "
                    f"{quant.codes_per_byte} ({quant.bits}-bit codes, "
                    f"{quant.codes_per_byte} to a byte)")
        if dv % quant.group_size:
            raise S.SpecError(f"head_dim_v {dv} must be a multiple of "
                              f"group_size {quant.group_size} (values are "
                              f"grouped along channels)")

    def pool_type(last, elem, slots=None):
        """A K-like operand [B, Hkv, Skv, last], or a page pool of `slots`
        (default page_size) rows a page."""
        if not paged:
            return f"tensor<?x?x?x{last}x{elem}>"
        dims = [None, None, None, last]
        dims[paged.slot_axis] = slots or paged.page_size
        return f"tensor<{_dims(*dims)}x{elem}>"

    def kv_type(last):
        if quant:
            return pool_type(last // quant.codes_per_byte, "i8")
        return pool_type(last, et)

    if blocks is not None and (grad or paged or quant or spec.score_mods or
                               spec.score_mod_fn is not None or
                               spec.normalizer.attr() != "#attn.softmax"):
        raise S.SpecError("mask_blocks classifies a mask: the spec must have "
                          "no normalizer, score modifiers, paged or "
                          "quantized cache")
    sig = Signature()
    kv_et = "i8" if quant else et
    sig.args += [Arg("q", "input", et, qo_type(d)),
                 Arg("k", "input", kv_et, kv_type(d)),
                 Arg("v", "input", kv_et, kv_type(dv))]
    lse_type = f"tensor<{_dims(None, hq, None)}xf32>"
    sig.has_lse = spec.normalizer.has_lse
    if grad:
        # The forward's results, and the gradient of O.
        sig.args += [Arg("o", "input", et, qo_type(dv)),
                     Arg("do", "input", et, qo_type(dv))]
        if sig.has_lse:
            sig.args.append(Arg("lse", "input", "f32", lse_type))
    def operand_args(name):
        """(argument, element, type) of each tensor of an operand group."""
        if name == "segments":
            return [("seg_q", "i32", "tensor<?x?xi32>"),
                    ("seg_kv", "i32", "tensor<?x?xi32>")]
        if name == "sink":
            return [(name, "f32", f"tensor<{_dims(hq)}xf32>")]
        if name == "page_table":
            return [(name, "i32", "tensor<?x?xi32>")]
        if name == "kv_quant":
            st = S.Quant.SCALE_DTYPES[quant.scale_dtype]
            g, r = quant.group_size, quant.residual
            res = "?x?x%d" % r if not bshd else "?x%dx?" % r
            if quant.fp8:       # one scale per kv head
                args = [("k_scale", st, f"tensor<?x{st}>"),
                        ("v_scale", st, f"tensor<?x{st}>")]
            else:
                kst = pool_type(d, st,
                                paged.page_size // g if paged else None)
                vst = pool_type(dv // g, st)
                args = [("k_scale", st, kst), ("k_zero", st, kst),
                        ("v_scale", st, vst), ("v_zero", st, vst)]
            if r:
                args += [("k_residual", et, f"tensor<{res}x{d}x{et}>"),
                         ("v_residual", et, f"tensor<{res}x{dv}x{et}>")]
            return args
        if name == "kv_len":
            return [(name, "i32", "tensor<?xi32>")]
        if name == "tree":
            per_batch = any(isinstance(m, S.Tree) and m.per_batch
                            for m in spec.mask.leaves())
            return [(name, "i32",
                     "tensor<?x?xi32>" if per_batch else "tensor<?xi32>")]
        if name in ("dense_mask", "block_mask"):
            return [(name, "i1", "tensor<?x?x?x?xi1>")]
        if name == "block_table":
            return [(name, "i8", "tensor<?x?x?x?xi8>")]
        if name == "bias":
            return [(name, et, f"tensor<?x?x?x?x{et}>")]
        if name == "rel_bias_table":
            rel = next(m for m in spec.score_mods if isinstance(m, S.RelBias))
            return [(name, "f32",
                     f"tensor<{_dims(hq)}x{rel.num_buckets}xf32>")]
        assert name == "temperature", name
        return [(name, "f32", f"tensor<?x{_dims(hq)}x?xf32>")]

    # One `keyword(%args : types)` group per operand, in the op's order.
    groups = []
    for name in spec.operands():
        args = [Arg(n, "operand", e, t) for n, e, t in operand_args(name)]
        sig.args += args
        # A block mask or table is the op's dense_mask operand at block
        # granularity.
        keyword = "dense_mask" if name in ("block_mask", "block_table") \
            else name
        groups.append(f"{keyword}(" + ", ".join(f"%{a.name}" for a in args)
                      + " : " + ", ".join(a.type for a in args) + ")")

    sig.captures = _captures(spec, sig.capture_owners, sig.closures)
    regions = _trace_regions(spec, sig.captures, sig.closures)
    sig.index_reads = {r.kind: r.reads for r in regions}
    cap_types = []
    if regions:
        for i, (name, dtype) in enumerate(sig.captures):
            ttype = regions[0].captures[i].tensor_type()
            cap_types.append(ttype)
            sig.args.append(Arg(name, "capture", T._ELEM[dtype], ttype))

    wrt_names = []
    if grad:
        sig.args += [Arg("dq", "output", et, qo_type(d)),
                     Arg("dk", "output", et, f"tensor<?x?x?x{d}x{et}>"),
                     Arg("dv", "output", et, f"tensor<?x?x?x{dv}x{et}>")]
        capture_names = [a.name for a in sig.args if a.role == "capture"]
        for name in wrt:
            a = sig.arg(name)
            if a is None or a.role not in ("operand", "capture") or \
                    a.elem not in ("f32", "f16", "bf16"):
                raise S.SpecError(f"no float operand or captured array "
                                  f"'{name}' to take the gradient of")
            # The gradient is f32 whatever the operand's element type.
            grad_type = a.type[:-len(a.elem) - 1] + "f32>"
            sig.args.append(Arg(f"d_{name}", "param_grad", "f32", grad_type))
            # The op names captured arrays by their number.
            wrt_names.append(name if a.role == "operand" else
                             f"capture{capture_names.index(name)}")
    elif blocks is not None:
        sig.has_lse = False
        sig.args.append(Arg("table", "output", "i8", "tensor<?x?x?x?xi8>"))
    else:
        sig.args.append(Arg("o", "output", et, qo_type(dv)))
        if sig.has_lse:
            sig.args.append(Arg("lse", "output", "f32", lse_type))

    # -- the text ------------------------------------------------------------
    types = {a.name: a.type for a in sig.args}
    params = ", ".join(f"%{_ssa(a)}: {a.type}" for a in sig.args)
    outs = [a for a in sig.args if a.role == "output"]
    param_grads = [a for a in sig.args if a.role == "param_grad"]
    result_types = ", ".join(a.type for a in outs + param_grads)
    name = "attention_grad" if grad else \
        "mask_blocks" if blocks is not None else "attention"
    lines = [f"func.func @{name}({params}) -> ({result_types}) {{"]
    op = [f"  %r:{len(outs) + len(param_grads)} = attn.{name} "
          f"ins(%q, %k, %v : {types['q']}, {types['k']}, {types['v']})"]
    if grad:
        op += [f"      out(%o : {types['o']}) grad_out(%do : {types['do']})"]
        if sig.has_lse:
            op += [f"      lse(%lse : {types['lse']})"]
    op += [f"      {g}" for g in groups]
    caps = [a for a in sig.args if a.role == "capture"]
    if caps:
        op.append("      captures(" + ", ".join(f"%{_ssa(a)}" for a in caps)
                  + " : " + ", ".join(a.type for a in caps) + ")")
    op.append("      outs(" + ", ".join(f"%{a.name}" for a in outs) + " : "
              + ", ".join(a.type for a in outs) + ")")
    if param_grads:
        op.append("      grads(" + ", ".join(f"%{a.name}" for a in param_grads)
                  + " : " + ", ".join(a.type for a in param_grads) + ")")
    for r in regions:
        fixed = "%s: f32, " if r.kind == "score_mod" else ""
        cap_args = "".join(f", {c.name}: {t}"
                           for c, t in zip(r.captures, cap_types))
        op.append(f"      {r.kind} {{")
        op.append(f"      ^bb0({fixed}%b: index, %h: index, %i: index, "
                  f"%j: index{cap_args}):")
        op += [f"        {line}" for line in r.body]
        op.append("      }")
    attrs = [f"mask = {spec.mask.attr()}"]
    if blocks is not None:
        attrs += [f"block_q = {int(blocks[0])} : i64",
                  f"block_kv = {int(blocks[1])} : i64"]
    else:
        attrs.append(f"normalizer = {spec.normalizer.attr()}")
    if spec.score_mods:
        attrs.append("score_mods = [" + ", ".join(m.attr()
                                                   for m in spec.score_mods)
                     + "]")
    if spec.scale is not None:
        attrs.append(f"scale = {S._fmt(spec.scale)} : f64")
    if spec.q_offset:
        attrs.append(f"q_offset = {spec.q_offset} : i64")
    if bshd:
        attrs.append("layout = #attn.layout<bshd>")
    if paged:
        attrs.append(f"paged = {paged.attr()}")
    if quant:
        attrs.append(f"quant = {quant.attr()}")
    if spec.config:
        attrs.append("config = #attn.config<" + ", ".join(
            f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {int(v)}"
            for k, v in spec.config.items()) + ">")
    if param_grads:
        attrs.append("wrt = [" + ", ".join(f'"{n}"' for n in wrt_names)
                     + "]")
    op.append("      {" + ", ".join(attrs) + "}")
    op.append(f"      -> {result_types}")
    lines += op
    n_results = len(outs) + len(param_grads)
    lines.append("  return " + ", ".join(f"%r#{i}" for i in range(n_results))
                 + f" : {result_types}")
    lines.append("}")
    return "\n".join(lines) + "\n", sig


def _ssa(arg: Arg) -> str:
    """Captures are named after Python parameters: keep them apart from the
    fixed argument names."""
    return f"cap_{arg.name}" if arg.role == "capture" else arg.name
