"""Compiling specs and calling the kernels on arrays.

Longer than the project's ~800-line guide: most of it is Kernel's checks
of every call-time operand (shape, dtype and value rules, each with its
own message), which belong beside the one place that binds them.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import os
import re
import tempfile
import threading
import warnings
from typing import Optional

import numpy as np

from . import _attn
from . import block_classes as BL
from . import closures as C
from . import ir as IR
from . import spec as S

from . import device as DEV
from .device import _BF16, _dtype_name

CompileError = _attn.CompileError

TARGETS = ("cpu", "cuda", "cuda-emulator")
CHIPS = ("sm_80", "sm_90a")


def _numpy_dtype(name: str):
    if name == "float32":
        return np.dtype(np.float32)
    if name == "float16":
        return np.dtype(np.float16)
    if name == "bfloat16":
        if _BF16 is None:
            raise ImportError("dtype='bfloat16' needs the ml_dtypes package "
                              "(pip install ml_dtypes)")
        return _BF16
    raise S.SpecError(f"dtype must be one of {', '.join(IR.DTYPES)}, "
                      f"got {name!r}")


def to_mlir(spec=None, *, dtype: str = "float32", head_dim: int = 64,
            head_dim_v: Optional[int] = None) -> str:
    """The MLIR function of `spec`, as attn.compile builds it; the compiler
    has parsed and verified it (a CompileError says what is wrong)."""
    text, _ = IR.build(S.as_spec(spec), dtype, head_dim, head_dim_v or head_dim)
    _attn.parse(text)
    return text


def lower(spec=None, pipeline: str = "attn-cpu-pipeline", *,
          dtype: str = "float32", head_dim: int = 64,
          head_dim_v: Optional[int] = None) -> str:
    """Runs a pass pipeline (attn-opt's syntax: a pass or pipeline name with
    options, or "builtin.module(...)") over `spec`'s module, or over IR text
    when `spec` is a string, and returns the lowered IR."""
    if isinstance(spec, str):
        text = spec
    else:
        text, _ = IR.build(S.as_spec(spec), dtype, head_dim,
                           head_dim_v or head_dim)
    return _attn.lower(text, pipeline)


def tile_plan(spec, target: str = "cpu", *, dtype: str = "float32",
              head_dim: int = 64, head_dim_v: Optional[int] = None,
              vector_width: int = 0, mma: str = "auto") -> dict:
    """The tile plan that `target`'s code generator ("cpu", "sm_80" or
    "sm_90a") resolves for `spec`: every #attn.config field it reads, the
    spec's `config` kept and the rest filled from the target (attn-opt
    --attn-print-tile-plan). Pinning the result as the spec's config gives
    the same kernel. Raises CompileError for a config the target cannot
    honour."""
    if target not in ("cpu", "sm_80", "sm_90a"):
        raise S.SpecError(f"target must be 'cpu', 'sm_80' or 'sm_90a', got "
                          f"{target!r}")
    text, _ = IR.build(S.as_spec(spec), dtype, head_dim,
                       head_dim_v or head_dim)
    return _tile_plan_of(text, target, vector_width, mma)


def _tile_plan_of(text: str, target: str, vector_width: int = 0,
                  mma: str = "auto") -> dict:
    """tile_plan of a module's IR text (one attn.attention op)."""
    options = f"target={target}"
    options += (f" vector-width={int(vector_width)}" if target == "cpu"
                else f" mma={mma}")
    remarks = _attn.lower_remarks(text, f"attn-print-tile-plan{{{options}}}")
    m = re.search(r"tile plan for \S+: #attn\.config<(.*?)>", remarks)
    if not m:
        raise CompileError(f"no tile plan in the compiler's output: {remarks}")
    plan = {}
    for key, value in re.findall(r'(\w+) = ("[^"]*"|-?\d+)', m.group(1)):
        plan[key] = value.strip('"') if value.startswith('"') else int(value)
    return plan


# ----------------------------------------------------------------------------
# Kernel cache
# ----------------------------------------------------------------------------

_MAGIC = b"ATTNOBJ1"
_lock = threading.RLock()
_memory: dict = {}
_stats = {"compiles": 0, "memory_hits": 0, "disk_hits": 0, "disk_writes": 0,
          "corrupt": 0}
_build_id = None


def cache_dir() -> str:
    """$ATTN_CACHE_DIR, or ~/.cache/attn (under $XDG_CACHE_HOME if set)."""
    explicit = os.environ.get("ATTN_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "attn")


def cache_info() -> dict:
    """Counters since start (or `clear_cache`): native compilations, memory
    and disk hits, disk writes, and corrupt disk entries rebuilt."""
    with _lock:
        return dict(_stats)


def clear_cache(disk: bool = False):
    """Forgets the in-memory kernels and resets the counters; with
    `disk=True` also deletes the cache directory's entries."""
    with _lock:
        _memory.clear()
        for k in _stats:
            _stats[k] = 0
        if disk and os.path.isdir(cache_dir()):
            for name in os.listdir(cache_dir()):
                if name.endswith(".attnobj"):
                    try:
                        os.remove(os.path.join(cache_dir(), name))
                    except OSError:
                        pass


def _native_build_id() -> str:
    """The host CPU (name and features) and a hash of the native module:
    object code from another CPU or another build of the compiler must not
    be reused. Computed once per process."""
    global _build_id
    if _build_id is None:
        h = hashlib.sha256()
        with open(_attn.__file__, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _build_id = _attn.host_cpu() + "\0" + h.hexdigest()
    return _build_id


def _read_entry(path: str) -> Optional[bytes]:
    """The payload of a cache file; None when absent. Raises ValueError
    when the file is corrupt."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:  # absent, or a cache directory that cannot be read
        return None
    head = len(_MAGIC) + 32
    if len(data) < head or data[:len(_MAGIC)] != _MAGIC:
        raise ValueError("bad header")
    payload = data[head:]
    if hashlib.sha256(payload).digest() != data[len(_MAGIC):head]:
        raise ValueError("checksum mismatch")
    return payload


def _write_entry(path: str, payload: bytes):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see all or nothing
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _native_kernel(text: str, options: str, openmp: bool, use_disk: bool,
                   target: str = "cpu", entry: str = "attention"):
    """The compiled kernel for `text`, from memory, the disk cache (CPU
    only: a CUDA kernel's host code is not cached on disk) or the compiler,
    bound to its function `entry`."""
    use_disk = use_disk and target == "cpu"
    parts = [f"attn-{target}-1", text, options, _native_build_id()]
    if entry != "attention":  # keeps the keys of attn.compile's kernels
        parts.append(entry)
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    with _lock:
        kernel = _memory.get(key)
        if kernel is not None:
            _stats["memory_hits"] += 1
            return kernel
        path = os.path.join(cache_dir(), key + ".attnobj")
        if use_disk:
            try:
                payload = _read_entry(path)
                if payload is not None:
                    kernel = _attn.Kernel.load(payload, openmp)
                    kernel.bind(entry)
                    _stats["disk_hits"] += 1
            except (ValueError, CompileError) as e:
                _stats["corrupt"] += 1
                warnings.warn(f"attn: cache entry {path} is corrupt ({e}); "
                              f"rebuilding it")
                kernel = None
                try:
                    os.remove(path)
                except OSError:
                    pass
        if kernel is None:
            kernel = (_attn.Kernel.compile if target == "cpu" else
                      _attn.Kernel.compile_cuda)(text, options)
            kernel.bind(entry)
            _stats["compiles"] += 1
            if use_disk:
                try:
                    _write_entry(path, kernel.object_code())
                    _stats["disk_writes"] += 1
                except OSError as e:
                    warnings.warn(f"attn: cannot write the kernel cache in "
                                  f"{cache_dir()}: {e}")
        _memory[key] = kernel
        return kernel


# ----------------------------------------------------------------------------
# Compiled kernels
# ----------------------------------------------------------------------------


def compile(spec=None, *, target: str = "cpu", dtype: str = "float32",
            head_dim: int = 64, head_dim_v: Optional[int] = None,
            lowering: str = "fused", vector_width: int = 0,
            openmp: bool = True, cache: bool = True, chip: str = "sm_90a",
            mma: str = "auto", tuning: bool = True) -> "Kernel":
    """Compiles `spec` (an attn.Spec, a mask, or a mask_mod function) for
    `target` and returns a callable `Kernel`.

    dtype:        "float32", "float16" or "bfloat16" for Q, K, V and O.
    head_dim:     D of Q and K; head_dim_v: Dv of V and O (default D).
    lowering:     "fused" (flash-attention loops) or "reference".
    vector_width: f32 lanes, 16 (AVX-512), 8 (AVX2) or 4 (SSE); 0 picks
        the host's.
    openmp:       run on all cores through libomp (OMP_NUM_THREADS).
    cache:        also use the disk cache ($ATTN_CACHE_DIR); the in-memory
                  cache is always used.
    chip, mma:    target="cuda": "sm_80" or "sm_90a", and the tensor-core
                  instructions ("auto": wgmma + TMA on sm_90a; "sync":
                  mma.sync). CUDA kernels take float16 or bfloat16 and are
                  cached in memory only. Compiling needs no GPU; calling
                  one raises RuntimeError saying why when none is usable.
                  target="cuda-emulator" compiles the same kernels and host
                  code but runs them on the CPU in the GPU emulator, on
                  numpy arrays (for correctness and debugging: many times
                  slower than target="cpu"); a race, out-of-bounds access or
                  other emulator report raises RuntimeError listing them.
    tuning:       use the configs attn.tune stored for this kernel and
                  machine in the tuning database (attn.tuning_db), one per
                  shape bucket, all compiled now; `Kernel.config` says
                  what runs and why. Not consulted for a spec that pins a
                  config, lowering="reference", an explicit vector_width,
                  or target="cuda-emulator"; without an entry the kernel
                  is exactly the untuned one.

    Batch size, head counts and sequence lengths are not compiled in: one
    kernel serves them all.
    """
    if target not in TARGETS:
        raise S.SpecError(f"unknown target {target!r}; available: "
                          f"{', '.join(TARGETS)}")
    if target != "cpu":
        if dtype not in ("float16", "bfloat16"):
            raise S.SpecError(f"target='{target}' runs on tensor cores: dtype "
                              f"must be 'float16' or 'bfloat16', got "
                              f"{dtype!r}")
        if chip not in CHIPS:
            raise S.SpecError(f"chip must be one of {', '.join(CHIPS)}, "
                              f"got {chip!r}")
        if mma not in ("auto", "sync", "wgmma"):
            raise S.SpecError(f"mma must be 'auto', 'sync' or 'wgmma', got "
                              f"{mma!r}")
    if lowering not in ("fused", "reference"):
        raise S.SpecError(f"lowering must be 'fused' or 'reference', "
                          f"got {lowering!r}")
    if vector_width not in S.Spec.VECTOR_WIDTHS:
        raise S.SpecError(f"vector_width must be one of "
                          f"{list(S.Spec.VECTOR_WIDTHS)} (0: the host's), "
                          f"got {vector_width!r}")
    spec = S.as_spec(spec)
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    text, sig = IR.build(spec, dtype, head_dim, head_dim_v)
    if target != "cpu":
        options = f"chip={chip} mma={mma}"
        if target == "cuda-emulator":
            options += " emulate=true"
    else:
        options = (f"lowering={lowering} vector-width={int(vector_width)} "
                   f"openmp={'true' if openmp else 'false'}")
    native = _native_kernel(text, options, openmp, cache, target)
    kernel = Kernel(spec, sig, text, native, _numpy_dtype(dtype), dtype,
                    int(head_dim), int(head_dim_v), target)
    if not tuning:
        kernel._why_untuned = "tuning=False"
    elif spec.config:
        kernel._why_untuned = "the spec pins a config"
    elif spec.paged:
        kernel._why_untuned = "paged caches are not tuned"
    elif spec.quant:
        kernel._why_untuned = "quantized caches are not tuned"
    elif lowering != "fused" or vector_width or target == "cuda-emulator":
        kernel._why_untuned = ("not tuned for lowering='reference', an "
                               "explicit vector_width or the emulator")
    else:
        kernel._tuned = _tuned_selection(spec, text, native, options, openmp,
                                         cache, target, dtype, head_dim,
                                         head_dim_v, chip, mma)
        if kernel._tuned is None:
            kernel._why_untuned = "no entry in the tuning database"
    kernel._compile_args = (options, openmp, cache)
    if target == "cpu" and lowering == "fused" and kernel._tuned is None:
        kernel._builtin_spec = _builtin_spec(spec)
        if kernel._builtin_spec is None:
            kernel._builtin_docs = _builtin_document_spec(spec)
            kernel._compile_kwargs = dict(
                dtype=dtype, head_dim=head_dim, head_dim_v=head_dim_v,
                vector_width=vector_width, openmp=openmp, cache=cache,
                tuning=False)
            if kernel._builtin_docs is None and \
                    BL.AutoBlocks.applies(spec, sig):
                kernel._auto_blocks = BL.AutoBlocks(spec,
                                                    kernel._compile_kwargs)
    return kernel


def _builtin_spec(spec):
    """`spec` with its mask_mod function replaced by the builtin mask it
    computes (attn.recognise) for calls with Sq == Skv (positions p =
    q_idx + q_offset), or None: no mask_mod, cache lengths (kv_len) that
    move positions per batch row, a mask_mod that is not recognised or
    reads arrays (its captures would leave the kernel's signature)."""
    from . import recognise
    leaves = [m for m in spec.mask.leaves() if isinstance(m, S.MaskMod)]
    if not leaves or spec.kv_len:
        return None
    try:
        if C.closure_arrays(leaves[0].fn):
            return None
    except Exception:  # the tracer reports such functions itself
        return None
    builtin, operands = recognise.declarative(leaves[0].fn, spec.q_offset)
    if builtin is None or operands:
        return None
    return _swap_mask_mod(spec, builtin)


def _swap_mask_mod(spec, builtin):
    """`spec` with its (one) mask_mod leaf replaced by `builtin`."""
    def swap(m):
        if isinstance(m, S.MaskMod):
            return builtin
        if isinstance(m, (S.And, S.Or)):
            return type(m)(*[swap(o) for o in m.operands])
        if isinstance(m, S.Not):
            return S.Not(swap(m.operand))
        return m
    out = copy.copy(spec)
    out.mask = swap(spec.mask)
    return out


def _builtin_document_spec(spec):
    """For a mask_mod recognised as a document mask over the id arrays it
    closes over (attn.recognise; attention-gym's generate_doc_mask_mod
    among them): (the builtin spec, the function, the builtin's text), or
    None. Calls with Sq == Skv that give no capture by hand run the
    builtin with segment operands made from the arrays' values at the
    call (Kernel._call_builtin_document). Not for specs that have a
    document mask, segments or kv_len of their own."""
    from . import recognise
    leaves = [m for m in spec.mask.leaves() if isinstance(m, S.MaskMod)]
    if len(leaves) != 1 or spec.kv_len or \
            any(isinstance(m, S.Document) for m in spec.mask.leaves()):
        return None
    fn = leaves[0].fn
    try:
        if not C.closure_arrays(fn):
            return None
    except Exception:  # the tracer reports such functions itself
        return None
    builtin, operands = recognise.declarative(fn, spec.q_offset, (0, 0))
    if builtin is None or "segments" not in operands:
        return None
    out = _swap_mask_mod(spec, builtin)
    if out.operands() != ["segments"]:
        return None
    return out, fn, builtin.attr()


def _tuned_selection(spec, text, native, options, openmp, cache, target,
                     dtype, head_dim, head_dim_v, chip, mma):
    """The tuning database's configs for this kernel, each compiled (at
    most tune.MAX_TUNED_CONFIGS of them, the fastest first), or None."""
    import copy
    import logging
    # attn.tune is the function; these come from the module of that name.
    from .tune import MAX_TUNED_CONFIGS, Selection, _warn_once, lookup
    from .tuning_db import canonical_config
    log = logging.getLogger("attn.tune")
    found = lookup(text, dtype, head_dim, head_dim_v, target, chip, mma,
                   openmp)
    if found is None:
        return None
    key, path, choices = found
    selection = Selection(key, path, native)
    buckets_of: dict = {}  # canonical config -> the buckets choosing it
    for bucket, choice in choices.items():
        buckets_of.setdefault(canonical_config(choice["config"]),
                              []).append(bucket)
    speedup = {c: max((choices[b]["default_ms"] or 0) /
                      (choices[b]["tuned_ms"] or float("inf"))
                      for b in buckets) for c, buckets in buckets_of.items()}
    ranked = sorted((c for c in buckets_of if c != "{}"),
                    key=lambda c: -speedup[c])
    for rank, name in enumerate(ranked):
        if rank >= MAX_TUNED_CONFIGS:
            for b in buckets_of[name]:
                selection.dropped[b] = (f"over the {MAX_TUNED_CONFIGS} "
                                        f"configs a kernel holds")
            continue
        tuned_spec = copy.copy(spec)
        tuned_spec.config = dict(choices[buckets_of[name][0]]["config"])
        tuned_text, _ = IR.build(tuned_spec, dtype, head_dim, head_dim_v)
        try:
            selection.natives[name] = _native_kernel(
                tuned_text, options, openmp, cache, target)
        except CompileError as e:
            _warn_once(f"attn: tuned config {name} of {path} does not "
                       f"compile with this attn ({e}); the default runs "
                       f"instead")
            for b in buckets_of[name]:
                selection.dropped[b] = f"config {name} does not compile"
    for bucket, choice in choices.items():
        if bucket not in selection.dropped:
            selection.buckets[bucket] = choice
    log.debug("attn.compile: tuning database %s: %d bucket(s), %d tuned "
              "config(s) compiled", path, len(selection.buckets),
              len(selection.natives))
    return selection


def _to_numpy(x, name: str):
    """`x` as a numpy array without copying where possible; DLPack producers
    (PyTorch CPU tensors, ...) are viewed in place. Returns (array, kind):
    kind is "torch" when results should go back as torch tensors."""
    if isinstance(x, np.ndarray):
        return x, None
    mod = type(x).__module__.split(".")[0]
    if mod != "torch" and DEV.view(x, name) is not None:
        raise ValueError(f"{name} is on the GPU; with host q, k and v every "
                         f"array must be on the host")
    if mod == "torch":
        DEV.check_no_grad(x, name)
        import torch
        if x.device.type != "cpu":
            raise ValueError(f"{name} is on {x.device}; target='cpu' kernels "
                             f"and host q, k, v take host tensors")
        if x.dtype == torch.bfloat16:
            if _BF16 is None:
                raise ImportError("bfloat16 tensors need ml_dtypes")
            arr = np.from_dlpack(x.detach().view(torch.int16)).view(_BF16)
            return arr, "torch"
        return np.from_dlpack(x.detach()), "torch"
    if hasattr(x, "__dlpack__"):
        return np.from_dlpack(x), None
    return np.asarray(x), None


def _to_torch(a: np.ndarray):
    import torch
    if _BF16 is not None and a.dtype == _BF16:
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


# Call-time operands whose gradients Kernel.backward computes (`wrt`).
OPERAND_GRADS = ("sink", "bias", "rel_bias_table", "temperature")


class Kernel:
    """A compiled spec. Call it as

        out = fn(q, k, v, *captures, **operands)
        out, lse = fn(q, k, v, *captures, return_lse=True, **operands)
        dq, dk, dv = fn.backward(q, k, v, out, lse, grad_out, *captures,
                                 **operands)

    on numpy arrays (bf16 via ml_dtypes) or DLPack tensors. With
    Spec(paged=attn.Paged(...)), k and v are the page pools and the call
    takes page_table=[B, max_pages] int32 and kv_len=[B] (attn.Paged says
    how they are read; a table entry that a row reads and that names no
    page of the pool, or a kv_len beyond the table, raises ValueError
    before the kernel runs). Operands, as the
    spec needs them: sink=[Hq] f32, kv_len=[B] int, segments=(seg_q [B, Sq],
    seg_kv [B, Skv]), tree=[T] or [B, T] int, dense_mask=bool broadcasting
    to [B, Hq, Sq, Skv], block_mask=bool [B|1, Hq|1, ceil(Sq / block_q),
    ceil(Skv / block_kv)], bias=(input dtype) broadcasting likewise,
    rel_bias_table=[Hq, buckets] f32, temperature=[B, Hq, Sq] f32. Captured
    arrays may also be passed by their parameter names.
    """

    def __init__(self, spec, sig, text, native, np_dtype, dtype, d, dv,
                 target="cpu"):
        self.spec, self.signature, self.ir = spec, sig, text
        self.target = target
        self._native, self._np_dtype, self.dtype = native, np_dtype, dtype
        self.head_dim, self.head_dim_v = d, dv
        self._tuned = None            # a tune.Selection, from attn.compile
        self._why_untuned = "compiled without tuning"
        self._last = threading.local()
        self._compile_args = ("", True, True)
        # (signature, native kernel) of the backward, by its `wrt` tuple
        self._grad = {}
        # A recognised mask_mod: the builtin's spec, and its kernel once a
        # call with Sq == Skv has compiled it (see _builtin_spec).
        self._builtin_spec = None
        self._builtin_native = None
        # A mask_mod recognised as a document mask over closed-over id
        # arrays: (spec, fn, attr) and its kernel (_call_builtin_document).
        self._builtin_docs = None
        self._builtin_docs_kernel = None
        # (Sq, Skv, B, digest of the arrays) -> segments operand, or None
        # where the arrays no longer make the document mask.
        self._builtin_docs_seen = collections.OrderedDict()
        self._builtin_docs_lock = threading.Lock()
        # Any other mask_mod over closed-over arrays: block classes by
        # generated code at each call (attn.block_classes.AutoBlocks).
        self._auto_blocks = None

    @property
    def config(self) -> dict:
        """What configs run: "source" is "tuning database" (then
        "buckets" maps each tuned shape bucket to its config, speedup and
        the reason it was chosen; other shapes run the default) or
        "default" with "reason"; "spec" is the spec's own config."""
        if self._tuned is None:
            return {"source": "default", "reason": self._why_untuned,
                    "spec": dict(self.spec.config)}
        out = {"source": "tuning database", "spec": dict(self.spec.config)}
        out.update(self._tuned.describe())
        return out

    def config_for(self, sq: int, skv: int) -> dict:
        """The config a call with these query and key lengths runs
        ({} = the default plan) and why."""
        if self._tuned is None:
            return {"config": dict(self.spec.config),
                    "why": self._why_untuned}
        config, _, why = self._tuned.pick(int(sq), int(skv))
        return {"config": dict(config), "why": why}

    @property
    def last_config(self) -> Optional[dict]:
        """config_for() of this thread's last call, None before one."""
        return getattr(self._last, "pick", None)

    def __repr__(self):
        where = "" if self.target == "cpu" else f", target={self.target}"
        return (f"attn.Kernel({self.spec!r}, dtype={self.dtype}, "
                f"head_dim={self.head_dim}, head_dim_v={self.head_dim_v}"
                f"{where})")

    # -- argument checks -----------------------------------------------------

    def _qkv(self, x, name, last):
        a, kind = (x, "device") if isinstance(x, DEV.View) else \
            _to_numpy(x, name)
        if a.ndim != 4:
            lay = self.spec.layout.upper()
            raise ValueError(f"{name} must be a 4-D {lay} array, got shape "
                             f"{tuple(a.shape)}")
        if a.dtype != self._np_dtype:
            got = _dtype_name(a.dtype)
            hint = (f" or compile with dtype='{got}'" if got in IR.DTYPES
                    else "")
            raise TypeError(f"{name} has dtype {got}, but the kernel was "
                            f"compiled for {self.dtype}; convert it{hint}")
        if a.shape[3] != last:
            raise ValueError(f"{name} has head dim {a.shape[3]}, but the "
                             f"kernel was compiled for {last}")
        return (a if kind == "device" else np.ascontiguousarray(a)), kind

    @staticmethod
    def _exact(x, name, shape, dtype, what):
        a, _ = _to_numpy(x, name)
        if dtype.kind == "i" and a.dtype.kind in "iu":
            if a.size and (a.min() < np.iinfo(dtype).min
                           or a.max() > np.iinfo(dtype).max):
                raise ValueError(f"{name} has values outside int32")
            a = a.astype(dtype, copy=False)
        if a.dtype != dtype:
            raise TypeError(f"{name} must be {what}, got dtype {a.dtype}")
        if tuple(a.shape) != tuple(shape):
            raise ValueError(f"{name} must have shape {tuple(shape)}, got "
                             f"{tuple(a.shape)}")
        return np.ascontiguousarray(a)

    @staticmethod
    def _broadcast(x, name, full, dtype, what):
        a, _ = _to_numpy(x, name)
        if dtype == np.bool_ and a.dtype != np.bool_:
            if a.dtype.kind not in "iub":
                raise TypeError(f"{name} must be boolean, got dtype {a.dtype}")
            a = a != 0
        if a.dtype != dtype:
            raise TypeError(f"{name} must be {what}, got dtype "
                            f"{_dtype_name(a.dtype)}")
        if not 2 <= a.ndim <= 4:
            raise ValueError(f"{name} must have 2 to 4 dims broadcasting to "
                             f"[B, Hq, Sq, Skv] = {list(full)}, got shape "
                             f"{tuple(a.shape)}")
        a = a.reshape((1,) * (4 - a.ndim) + a.shape)
        for i, (got, want) in enumerate(zip(a.shape, full)):
            if got != want and not (got == 1 and i < 2):
                raise ValueError(f"{name} of shape {tuple(a.shape)} does not "
                                 f"broadcast to [B, Hq, Sq, Skv] = "
                                 f"{list(full)}")
        return np.ascontiguousarray(a)

    def __call__(self, q, k, v, *captures, return_lse: bool = False,
                 out=None, lse=None, **operands):
        if self._builtin_docs is not None and not captures and not operands:
            done = self._call_builtin_document(q, k, v, return_lse, out, lse)
            if done is not None:
                return done
        if self._auto_blocks is not None and not captures and not operands:
            done = self._auto_blocks(self.spec.layout, q, k, v, return_lse,
                                     out, lse)
            if done is not None:
                return done
        args, kind = self.arguments(q, k, v, *captures,
                                    return_lse=return_lse, out=out, lse=lse,
                                    **operands)
        o = args[-2] if self.signature.has_lse else args[-1]
        l = args[-1] if self.signature.has_lse else None
        native = self._native
        bad = 0  # the 1-based number of a capture read out of range
        if self._tuned is not None:
            seq = 1 if self.spec.layout == "bshd" else 2
            sq, skv = args[0].shape[seq], args[1].shape[seq]
            config, native, why = self._tuned.pick(sq, skv)
            self._last.pick = {"config": dict(config), "why": why}
        elif self._builtin_spec is not None:
            seq = 1 if self.spec.layout == "bshd" else 2
            if args[0].shape[seq] == args[1].shape[seq]:
                native = self._builtin_kernel()
        if self.target != "cpu":
            if self.target == "cuda":
                ok, why = _attn.cuda_status()
                if not ok:
                    raise RuntimeError(f"target='cuda': cannot run here: "
                                       f"{why}")
            views = [a for a in args if isinstance(a, DEV.View)]
            DEV.check_ranges(views)
            DEV.wait_for_producers(views)
            if o.nbytes or (l is not None and l.nbytes):
                bad = native.call_cuda([
                    (a.ptr, list(a.shape), 0, False)
                    if isinstance(a, DEV.View) else
                    (a.ctypes.data, list(a.shape), a.nbytes,
                     a is o or a is l) for a in args])
        elif o.size or (l is not None and l.size):
            bad = native.call([(a.ctypes.data, list(a.shape))
                               for a in args])
        if bad:
            name, _ = self.signature.captures[bad - 1]
            raise IndexError(
                f"captured array '{name}' was indexed out of range by "
                f"the spec's score_mod/mask_mod; the outputs are not valid")
        if kind == "device":
            o = o.owner
            l = l.owner if l is not None else None
        elif kind == "torch":
            o = _to_torch(o)
            l = _to_torch(l) if l is not None else None
        return (o, l) if return_lse else o

    def backward(self, q, k, v, out, lse, grad_out, *captures, wrt=(),
                 **operands):
        """The gradients (dq, dk, dv) of a loss with respect to q, k and v,
        given the forward's `out` and `lse` (from `fn(q, k, v, ...,
        return_lse=True)`; None for normalizers without an LSE, such as
        sigmoid) and `grad_out`, the loss's gradient with respect to `out`.
        q, k, v, captures and operands as for the forward call; `out` and
        `grad_out` shaped and typed as the forward's output, `lse` float32
        [B, Hq, Sq]. dq, dk and dv have the shapes and dtype of q, k and v;
        with GQA, dk and dv sum over the query heads of each group.

        On the CPU, the fused backward (FlashAttention-2 style: P
        recomputed tile by tile, memory O(B * Hq * Sq) besides the
        gradients) for head dims up to 256; larger ones, and kernels
        compiled with lowering="reference", the reference lowering
        (materialised scores: O(Sq * Skv) memory per head);
        `backward_lowering` says which and why. On target="cuda" and
        "cuda-emulator" (host arrays, copied there and back), the mma.sync
        backward kernels (README, "Gradients"). Every mask and normalizer;
        every score modifier (a traced score_mod function is differentiated
        by the compiler).

        `wrt` names float operands whose gradients to return too, after dq,
        dk and dv and in its order, shaped as the operand and float32
        whatever the operand's dtype (sums in float32): "sink" (sink
        softmax's logits), "bias" (of the input dtype, so float16 or
        bfloat16 in those kernels), "rel_bias_table", "temperature", and
        float32 arrays captured by the score_mod function (by parameter
        name; the function is differentiated with respect to each value it
        reads, and the gradients are added at the indices read,
        out-of-range reads adding nothing). Their sums run in a fixed
        order, so they are bitwise reproducible. On every target (README,
        "Gradients")."""
        wrt = (wrt,) if isinstance(wrt, str) else tuple(wrt)
        if self.target == "cuda":
            ok, why = _attn.cuda_status()
            if not ok:
                raise RuntimeError(f"target='cuda': cannot run here: {why}")
        sig, native = self._grad_kernel(wrt)
        args, kind = self.arguments(q, k, v, *captures, **operands)
        if kind == "device":
            raise ValueError("backward takes host arrays")
        n_out = 2 if self.signature.has_lse else 1
        fwd_out = args[-n_out]
        args = args[:-n_out]
        q, k, v = args[:3]
        o = self._like(out, "out", fwd_out.shape, self._np_dtype, self.dtype)
        do = self._like(grad_out, "grad_out", fwd_out.shape, self._np_dtype,
                        self.dtype)
        given = [o, do]
        lse_shape = (fwd_out.shape[0],) + (
            (fwd_out.shape[2], fwd_out.shape[1]) if self.spec.layout == "bshd"
            else fwd_out.shape[1:3])
        if self.signature.has_lse:
            if lse is None:
                raise ValueError("backward needs the forward's lse: call the "
                                 "kernel with return_lse=True")
            given.append(self._like(lse, "lse", lse_shape,
                                    np.dtype(np.float32), "float32"))
        elif lse is not None:
            raise ValueError(f"normalizer {self.spec.normalizer.attr()} has "
                             f"no LSE; pass lse=None")
        grads = [np.zeros(a.shape, self._np_dtype) for a in (q, k, v)]
        names = [a.name for a in self.signature.args]
        grads += [np.zeros(args[names.index(n)].shape, np.float32)
                  for n in wrt]
        args = args[:3] + given + args[3:] + grads
        if q.size and k.size:
            if self.target == "cpu":
                bad = native.call([(a.ctypes.data, list(a.shape))
                                   for a in args])
            else:
                outs = {id(g) for g in grads}
                bad = native.call_cuda([
                    (a.ctypes.data, list(a.shape), a.nbytes, id(a) in outs)
                    for a in args])
            if bad:
                name, _ = sig.captures[bad - 1]
                raise IndexError(
                    f"captured array '{name}' was indexed out of range by "
                    f"the spec's score_mod/mask_mod; the gradients are not "
                    f"valid")
        # Shaped as given (a 2-D or 3-D bias is passed on as 4-D).
        for i, name in enumerate(wrt):
            if name in operands:
                grads[3 + i] = grads[3 + i].reshape(np.shape(operands[name]))
        if kind == "torch":
            grads = [_to_torch(g) for g in grads]
        return tuple(grads)

    @property
    def builtin_mask(self) -> Optional[str]:
        """The builtin mask calls with Sq == Skv run instead of the traced
        mask_mod (attn.recognise), or None. A document mask takes its
        segment ids from the arrays the mask_mod closes over, read at each
        call (calls that give captures by hand run the traced kernel)."""
        if self._builtin_spec:
            return self._builtin_spec.mask.attr()
        if self._builtin_docs:
            return self._builtin_docs[0].mask.attr()
        return None

    @property
    def block_classes(self) -> Optional[str]:
        """How tiles of a traced mask_mod are skipped: "builtin" (it is
        recognised: builtin_mask), "generated" (a classification kernel of
        the function computes each call's block table, cached by lengths
        and the closed-over arrays' contents; attn.block_classes), or None
        (every tile evaluates the function)."""
        if self.builtin_mask is not None:
            return "builtin"
        return "generated" if self._auto_blocks is not None else None

    def _call_builtin_document(self, q, k, v, return_lse, out, lse):
        """The call on the builtin document kernel, or None to run the
        traced one: Sq != Skv, arrays that no longer make the document mask
        (attn.recognise checks their values at every call: lengths, id
        ranges, int32), or inputs the builtin kernel's checks reject (the
        traced kernel then reports them in its own terms)."""
        from . import recognise
        spec, fn, attr = self._builtin_docs
        seq = 1 if self.spec.layout == "bshd" else 2
        shape = getattr(q, "shape", ())
        kshape = getattr(k, "shape", ())
        if len(shape) != 4 or len(kshape) != 4 or shape[seq] != kshape[seq]:
            return None
        # Recognised again only when the lengths, the batch or the arrays'
        # contents change (the last few outcomes are kept).
        key = (shape[seq], kshape[seq], shape[0],
               C.arrays_digest(C.current_arrays(fn)))
        with self._builtin_docs_lock:
            segments = self._builtin_docs_seen.get(key, ())
            if segments != ():
                self._builtin_docs_seen.move_to_end(key)
        if segments == ():
            builtin, operands = recognise.declarative(
                fn, self.spec.q_offset, (shape[seq], kshape[seq]),
                batch=shape[0])
            segments = (operands["segments"] if builtin is not None and
                        builtin.attr() == attr else None)
            with self._builtin_docs_lock:
                self._builtin_docs_seen[key] = segments
                while len(self._builtin_docs_seen) > 8:
                    self._builtin_docs_seen.popitem(last=False)
        if segments is None:
            return None
        if self._builtin_docs_kernel is None:
            self._builtin_docs_kernel = compile(spec, **self._compile_kwargs)
        try:
            return self._builtin_docs_kernel(
                q, k, v, return_lse=return_lse, out=out, lse=lse,
                segments=segments)
        except (TypeError, ValueError):
            return None

    def _builtin_kernel(self):
        """The native kernel of _builtin_spec, compiled on first use with
        the kernel's own options; the traced kernel's when the two would
        not take the same arguments (they do: the recognised mask_mod
        reads no arrays)."""
        if self._builtin_native is None:
            text, sig = IR.build(self._builtin_spec, self.dtype,
                                 self.head_dim, self.head_dim_v)
            if sig.args != self.signature.args:
                self._builtin_spec = None
                return self._native
            options, openmp, cache = self._compile_args
            self._builtin_native = _native_kernel(text, options, openmp,
                                                  cache, "cpu")
        return self._builtin_native

    @property
    def backward_lowering(self) -> dict:
        """How `backward` computes, as the compiler resolves it
        (attn-print-tile-plan): {"lowering": "fused", "config": {...}} for
        the fused CPU backward (its "dot": "amx" where bf16 runs on AMX
        tiles, else "fma"), or {"lowering": "reference", "reason":
        why} for the reference lowering; on the GPU targets {"lowering":
        "mma.sync", "chip": chip, "config": {"block_q": 64, "block_kv":
        32, "warps": 4}} (rows per CTA, rows of the other side per tile)."""
        options, _, _ = self._compile_args
        if self.target != "cpu":
            chip = re.search(r"chip=(\w+)", options).group(1)
            text, _ = IR.build(self.spec, self.dtype, self.head_dim,
                               self.head_dim_v, grad=True)
            remarks = _attn.lower_remarks(
                text, f"attn-print-tile-plan{{target={chip}}}")
            m = re.search(rf"backward for {chip}: mma\.sync "
                          rf"#attn\.config<(.*?)>", remarks)
            if not m:
                raise CompileError(f"no backward plan in the compiler's "
                                   f"output: {remarks}")
            config = {k: int(v) for k, v in
                      re.findall(r"(block_q|block_kv|warps) = (\d+)",
                                 m.group(1))}
            return {"lowering": "mma.sync", "chip": chip, "config": config}
        if "lowering=reference" in options:
            return {"lowering": "reference",
                    "reason": "compiled with lowering='reference'"}
        text, _ = IR.build(self.spec, self.dtype, self.head_dim,
                           self.head_dim_v, grad=True)
        vw = re.search(r"vector-width=(\d+)", options)
        remarks = _attn.lower_remarks(
            text, f"attn-print-tile-plan{{target=cpu vector-width="
                  f"{vw.group(1) if vw else 0}}}")
        m = re.search(r"backward for cpu: (fused|reference lowering) "
                      r"(?:#attn\.config<(.*?)>|\((.*)\))", remarks)
        if not m:
            raise CompileError(f"no backward plan in the compiler's output: "
                               f"{remarks}")
        if m.group(1) == "fused":
            config = {k: int(v) for k, v in
                      re.findall(r"(block_q|block_kv|vector_width|unroll) = "
                                 r"(\d+)", m.group(2))}
            dot = re.search(r'dot = "(\w+)"', m.group(2))
            config["dot"] = dot.group(1) if dot else "fma"
            return {"lowering": "fused", "config": config}
        return {"lowering": "reference", "reason": m.group(3)}

    def _grad_kernel(self, wrt=()):
        """(Signature, native kernel) of the backward that also computes
        the gradients of the operands in `wrt`, compiled on first use with
        the forward's options."""
        if wrt not in self._grad:
            captures = dict(self.signature.captures)
            for name in wrt:
                if name in captures:
                    if captures[name] != "float32":
                        raise NotImplementedError(
                            f"captured array '{name}' is {captures[name]}; "
                            f"gradients are computed for float32 captures "
                            f"only")
                    if name in self.signature.closures:
                        raise NotImplementedError(
                            f"'{name}' is an array the function closes "
                            f"over; pass it as a parameter of the function "
                            f"to take its gradient")
                elif name not in OPERAND_GRADS:
                    raise NotImplementedError(
                        f"no gradient of '{name}': attn differentiates q, k, "
                        f"v, the operands {', '.join(OPERAND_GRADS)} and "
                        f"float32 arrays captured by a score_mod function "
                        f"only")
                elif self.signature.arg(name) is None:
                    raise ValueError(f"wrt names '{name}', which this "
                                     f"kernel does not take")
            if len(set(wrt)) != len(wrt):
                raise ValueError(f"wrt names an operand twice: {wrt}")
            text, sig = IR.build(self.spec, self.dtype, self.head_dim,
                                 self.head_dim_v, grad=True, wrt=wrt)
            options, openmp, cache = self._compile_args
            native = _native_kernel(text, options, openmp, cache,
                                    self.target, entry="attention_grad")
            self._grad[wrt] = (sig, native)
        return self._grad[wrt]

    @staticmethod
    def _like(x, name, shape, dtype, what):
        """`x` as a C-contiguous array of exactly `shape` and `dtype`."""
        a, _ = _to_numpy(x, name)
        if a.dtype != dtype:
            raise TypeError(f"{name} must be {what}, got dtype "
                            f"{_dtype_name(a.dtype)}")
        if tuple(a.shape) != tuple(shape):
            raise ValueError(f"{name} must have shape {tuple(shape)}, got "
                             f"{tuple(a.shape)}")
        return np.ascontiguousarray(a)

    def arguments(self, q, k, v, *captures, return_lse: bool = False,
                  out=None, lse=None, **operands):
        """The checked arguments the compiled function takes, in its
        argument order, with the O (and LSE) buffers last, and the kind of
        the inputs: "torch" for host torch tensors, "device" when q, k and
        v are on the GPU (then they, and the outputs, are device.View
        objects; the other operands are host arrays), else None. This is
        what a call passes to the native code (bench/gpu uses it to prepare
        GPU checks)."""
        views = [DEV.view(x, n) for x, n in ((q, "q"), (k, "k"), (v, "v"))]
        on_gpu = [n for n, w in zip("qkv", views) if w is not None]
        if on_gpu and self.target != "cuda":
            raise ValueError(f"{', '.join(on_gpu)} on the GPU, but the "
                             f"kernel was compiled for target="
                             f"'{self.target}'; pass host arrays or compile "
                             f"with target='cuda'")
        if on_gpu and len(on_gpu) < 3:
            raise ValueError(f"q, k and v must all be on the GPU or all on "
                             f"the host; on the GPU: {', '.join(on_gpu)}")
        if on_gpu:
            q, k, v = views
            # Operands (ids, masks, biases, ...) are checked on the host
            # and copied in; q, k, v and the outputs stay where they are.
            captures = DEV.stage(captures, "captures")
            operands = {n: DEV.stage(x, n) for n, x in operands.items()}
        elif out is not None or lse is not None:
            raise ValueError("out= and lse= take GPU arrays, for calls "
                             "with q, k and v on the GPU")
        spec, sig = self.spec, self.signature
        q, kind = self._qkv(q, "q", self.head_dim)
        if spec.quant:
            if kind == "device":
                raise ValueError("quantized caches take host arrays: k and "
                                 "v on the GPU are not supported yet")
            k = self._codes(k, "k", self.head_dim)
            v = self._codes(v, "v", self.head_dim_v)
        else:
            k, _ = self._qkv(k, "k", self.head_dim)
            v, _ = self._qkv(v, "v", self.head_dim_v)
        bshd = spec.layout == "bshd"
        B, Sq, Hq = (q.shape[0], q.shape[1], q.shape[2]) if bshd else \
            (q.shape[0], q.shape[2], q.shape[1])
        axes = "[B, S, H, D]" if bshd else "[B, H, S, D]"
        table = None
        if spec.paged:
            if kind == "device":
                raise ValueError("paged caches run on target='cpu' only")
            Hkv, table = self._pages(k, v, operands.get("page_table"), B)
            axes = ("[pages, page_size, Hkv, D]" if spec.paged.layout == "nhd"
                    else "[pages, Hkv, page_size, D]")
            Skv = table.shape[1] * spec.paged.page_size
        else:
            Skv, Hkv = (k.shape[1], k.shape[2]) if bshd else (k.shape[2],
                                                              k.shape[1])
            if k.shape[0] != B or v.shape[0] != B:
                raise ValueError(f"batch sizes differ: q {B}, k "
                                 f"{k.shape[0]}, v {v.shape[0]}")
            if v.shape[:3] != k.shape[:3]:
                raise ValueError(f"k and v must agree on batch, heads and "
                                 f"length (layout {axes}): k "
                                 f"{tuple(k.shape)}, v {tuple(v.shape)}")
        if Hkv == 0 or Hq % Hkv:
            raise ValueError(f"query heads ({Hq}) must be a multiple of "
                             f"key/value heads ({Hkv}) (layout {axes})")
        if spec.static_heads is not None and Hq != spec.static_heads:
            raise ValueError(f"the spec's per-head parameters fix Hq = "
                             f"{spec.static_heads}, but q has {Hq} heads")
        if return_lse and not sig.has_lse:
            raise ValueError(f"normalizer {spec.normalizer.attr()} has no "
                             f"LSE output")

        args = [q, k, v]
        given = dict(operands)
        for name in spec.operands():
            if name not in given or given[name] is None:
                raise TypeError(f"this spec needs the '{name}' operand "
                                f"({_OPERAND_HELP[name]})")
            x = given.pop(name)
            if name == "sink":
                args.append(self._exact(x, "sink", (Hq,), np.dtype(np.float32),
                                        "float32 [Hq]"))
            elif name == "page_table":
                args.append(table)
            elif name == "kv_quant":
                args += self._kv_quant(x, k, v, B)
            elif name == "kv_len":
                a = self._exact(x, "kv_len", (B,), np.dtype(np.int32),
                                "int32 [B]")
                if table is not None:
                    self._check_page_table(table, a, k.shape[0])
                elif a.size and (a.min() < 0 or a.max() > Skv):
                    raise ValueError(f"kv_len values must lie in [0, Skv = "
                                     f"{Skv}], got {a.min()}..{a.max()}")
                args.append(a)
            elif name == "segments":
                if not isinstance(x, (tuple, list)) or len(x) != 2:
                    raise TypeError("segments must be a pair (seg_q [B, Sq], "
                                    "seg_kv [B, Skv])")
                args.append(self._exact(x[0], "segments[0] (query ids)",
                                        (B, Sq), np.dtype(np.int32),
                                        "integer [B, Sq]"))
                args.append(self._exact(x[1], "segments[1] (key ids)",
                                        (B, Skv), np.dtype(np.int32),
                                        "integer [B, Skv]"))
            elif name == "tree":
                args.append(self._tree(x, B, Sq, Skv))
            elif name == "dense_mask":
                args.append(self._broadcast(x, "dense_mask", (B, Hq, Sq, Skv),
                                            np.dtype(np.bool_), "bool"))
            elif name == "block_mask":
                block = next(m for m in spec.mask.leaves()
                             if isinstance(m, S.BlockSparse))
                args.append(self._block_mask(x, block, B, Hq, Sq, Skv))
            elif name == "block_table":
                table = next(m for m in spec.mask.leaves()
                             if isinstance(m, S.Blocks))
                args.append(self._block_table(x, table, B, Hq, Sq, Skv))
            elif name == "bias":
                args.append(self._broadcast(x, "bias", (B, Hq, Sq, Skv),
                                            self._np_dtype, self.dtype))
            elif name == "rel_bias_table":
                nb = next(m for m in spec.score_mods
                          if isinstance(m, S.RelBias)).num_buckets
                args.append(self._exact(x, "rel_bias_table", (Hq, nb),
                                        np.dtype(np.float32),
                                        "float32 [Hq, num_buckets]"))
            elif name == "temperature":
                args.append(self._exact(x, "temperature", (B, Hq, Sq),
                                        np.dtype(np.float32),
                                        "float32 [B, Hq, Sq]"))
        args += self._captures(captures, given)
        if given:
            raise TypeError(f"unexpected operand(s) {sorted(given)}; this "
                            f"spec takes {spec.operands() or 'none'} and "
                            f"captures {[c for c, _ in sig.captures] or 'none'}")

        out_shape = (B, Sq, Hq, self.head_dim_v) if bshd else \
            (B, Hq, Sq, self.head_dim_v)
        if kind == "device":
            args.append(self._device_output(out, "out", q, out_shape,
                                            self._np_dtype))
            if sig.has_lse:
                args.append(self._device_output(lse, "lse", q, (B, Hq, Sq),
                                                np.dtype(np.float32)))
            elif lse is not None:
                raise ValueError(f"normalizer {spec.normalizer.attr()} has "
                                 f"no LSE output")
            return args, kind
        args.append(np.empty(out_shape, self._np_dtype))
        if sig.has_lse:
            args.append(np.empty((B, Hq, Sq), np.float32))
        return args, kind

    def _codes(self, x, name, last):
        """Quantized codes `x`: a 4-D uint8 (or int8) array whose last axis
        packs `last` channels, as the kernel reads it (uint8 bytes)."""
        quant = self.spec.quant
        a, _ = _to_numpy(x, name)
        lay = "[B, S, H, D * bits / 8]" if self.spec.layout == "bshd" else \
            "[B, H, S, D * bits / 8]"
        if a.ndim != 4 or a.dtype not in (np.uint8, np.int8):
            raise TypeError(f"{name} must be the 4-D uint8 codes {lay} of a "
                            f"quantized cache (attn.quantize_kv), got dtype "
                            f"{_dtype_name(a.dtype)} shape {tuple(a.shape)}")
        want = last // quant.codes_per_byte
        if a.shape[3] != want:
            raise ValueError(f"{name} packs {a.shape[3]} bytes per token, "
                             f"but head dim {last} in {quant.bits}-bit codes "
                             f"takes {want}")
        seq = 1 if self.spec.layout == "bshd" else 2
        if not self.spec.paged and a.shape[seq] % quant.group_size:
            raise ValueError(f"{name} holds {a.shape[seq]} token slots, not "
                             f"a multiple of group_size {quant.group_size}")
        return np.ascontiguousarray(a.view(np.uint8))

    def _kv_quant(self, x, k, v, batch):
        """The checked kv_quant operands: the scales, zeros and residual
        rows of a quantized cache (an attn.QuantizedKV or a tuple of 4, or
        6 with a residual window), for codes k and v."""
        from .quant import QuantizedKV
        quant, paged = self.spec.quant, self.spec.paged
        if isinstance(x, QuantizedKV):
            if x.quant.attr() != quant.attr() or x.layout != self.spec.layout \
                    or repr(x.paged) != repr(paged):
                raise ValueError(f"kv_quant is a cache for {x.quant!r} "
                                 f"({x.layout}, paged={x.paged!r}), but the "
                                 f"kernel was compiled for {quant!r} "
                                 f"({self.spec.layout}, paged={paged!r})")
            x = x.operands()
        bshd = self.spec.layout == "bshd"
        B = batch
        if paged:
            H = k.shape[paged.head_axis]
            S = paged.page_size
        else:
            H = k.shape[2 if bshd else 1]
            S = k.shape[1 if bshd else 2]
            if v.shape[:3] != k.shape[:3]:
                raise ValueError(f"k and v codes must agree on batch, heads "
                                 f"and length: k {tuple(k.shape)}, v "
                                 f"{tuple(v.shape)}")

        def shape(seq, last, pooled=True):
            """[B, H, seq, last] in the layout; a page pool of `seq` slots
            for the pooled operands of a paged cache."""
            if paged and pooled:
                dims = [k.shape[0], H, H, last]
                dims[paged.slot_axis] = seq
                return tuple(dims)
            return (B, seq, H, last) if bshd else (B, H, seq, last)

        G, R = quant.group_size, quant.residual
        D, Dv = self.head_dim, self.head_dim_v
        st = np.dtype(quant.scale_dtype)
        if quant.fp8:
            names = [("k_scale", (H,), st), ("v_scale", (H,), st)]
        else:
            names = [("k_scale", shape(S // G, D), st),
                     ("k_zero", shape(S // G, D), st),
                     ("v_scale", shape(S, Dv // G), st),
                     ("v_zero", shape(S, Dv // G), st)]
        names += [("k_residual", shape(R, D, False), self._np_dtype),
                  ("v_residual", shape(R, Dv, False), self._np_dtype)]
        want = len(names) - (0 if R else 2)
        if not isinstance(x, (tuple, list)) or len(x) != want:
            raise TypeError(_OPERAND_HELP["kv_quant"] + f" ({want} arrays)")
        return [self._exact(a, f"kv_quant {n}", dims, dt,
                            f"{_dtype_name(dt)}")
                for a, (n, dims, dt) in zip(x, names)]

    def _pages(self, k, v, page_table, B):
        """(Hkv, the checked page table) of a paged call, whose k and v are
        page pools."""
        paged = self.spec.paged
        lay = ("[pages, page_size, Hkv, D]" if paged.layout == "nhd"
               else "[pages, Hkv, page_size, D]")
        for name, pool in (("k", k), ("v", v)):
            if pool.shape[paged.slot_axis] != paged.page_size:
                raise ValueError(
                    f"{name} must be a page pool {lay} with page_size = "
                    f"{paged.page_size}, got shape {tuple(pool.shape)}")
        if k.shape[:3] != v.shape[:3]:
            raise ValueError(f"k and v page pools must agree on pages, "
                             f"page size and heads ({lay}): k "
                             f"{tuple(k.shape)}, v {tuple(v.shape)}")
        if page_table is None:
            raise TypeError(f"this spec needs the 'page_table' operand "
                            f"({_OPERAND_HELP['page_table']})")
        t, _ = _to_numpy(page_table, "page_table")
        if t.ndim != 2:
            raise ValueError(f"page_table must be [B, max_pages] int32, got "
                             f"shape {tuple(t.shape)}")
        t = self._exact(t, "page_table", (B, t.shape[1]), np.dtype(np.int32),
                        "int32 [B, max_pages]")
        return k.shape[paged.head_axis], t

    def _check_page_table(self, table, kv_len, pages):
        """Raises ValueError unless every batch row's kv_len fits its row of
        the page table and every entry it reads names a page of the pool:
        the kernel would read a wrong page (clamped into the pool) for a
        bad one. Costs O(B * max_pages)."""
        size = self.spec.paged.page_size
        capacity = table.shape[1] * size
        if kv_len.size and kv_len.min() < 0:
            b = int(np.argmin(kv_len))
            raise ValueError(f"kv_len[{b}] = {kv_len[b]} is negative")
        if kv_len.size and kv_len.max() > capacity:
            b = int(np.argmax(kv_len))
            raise ValueError(
                f"kv_len[{b}] = {kv_len[b]} is beyond the page table's "
                f"capacity: max_pages {table.shape[1]} x page_size {size} = "
                f"{capacity} keys")
        used = (np.arange(table.shape[1])[None, :] * size
                < kv_len[:, None])
        bad = used & ((table < 0) | (table >= pages))
        if bad.any():
            b, i = (int(x) for x in np.argwhere(bad)[0])
            raise ValueError(
                f"page_table[{b}, {i}] = {table[b, i]} is not a page of the "
                f"pool (pages 0..{pages - 1}), and batch row {b} reads it "
                f"(kv_len[{b}] = {kv_len[b]})")

    @staticmethod
    def _device_output(x, name, q, shape, dtype):
        """The View of output `name`: the caller's GPU array `x`, checked,
        or a new one of q's kind (a torch tensor or an attn.DeviceArray)."""
        if x is None:
            return DEV.new_output(name, q, shape, dtype)
        v = DEV.view(x, name)
        if v is None:
            raise ValueError(f"{name}= must be a GPU array like q")
        if v.dtype != dtype or v.shape != tuple(shape):
            raise ValueError(f"{name} must be {_dtype_name(dtype)} of shape "
                             f"{tuple(shape)}, got {_dtype_name(v.dtype)} "
                             f"{v.shape}")
        if v.readonly:
            raise ValueError(f"{name} is read-only")
        return v

    def _tree(self, x, B, Sq, Skv):
        per_batch = any(isinstance(m, S.Tree) and m.per_batch
                        for m in self.spec.mask.leaves())
        a, _ = _to_numpy(x, "tree")
        if a.dtype.kind not in "iu":
            raise TypeError(f"tree must hold integer parent indices, got "
                            f"dtype {a.dtype}")
        want = 2 if per_batch else 1
        if a.ndim != want or (per_batch and a.shape[0] != B):
            raise ValueError(f"tree must have shape "
                             f"{'[B, T]' if per_batch else '[T]'} (compiled "
                             f"with per_batch={per_batch}), got "
                             f"{tuple(a.shape)}")
        T = a.shape[-1]
        if T > min(Sq, Skv):
            raise ValueError(f"a draft tree of {T} tokens needs Sq and Skv "
                             f">= {T}, got Sq={Sq}, Skv={Skv}")
        if a.size:
            idx = np.arange(T)
            if (a < -1).any() or (a >= idx).any():
                raise ValueError("tree parents must be -1 (a root) or the "
                                 "index of an earlier draft token")
        return np.ascontiguousarray(a.astype(np.int32))

    def _captures(self, positional, given):
        sig = self.signature
        # Closed-over arrays are read from their variables at each call,
        # unless given by name; positional captures are the parameters.
        names = [n for n, _ in sig.captures if n not in sig.closures]
        if len(positional) > len(names):
            raise TypeError(f"{len(positional)} captured arrays given, but "
                            f"the spec captures {len(names)}: {names}")
        owners = sig.capture_owners
        if positional and sum(bool(n) for n in owners.values()) > 1 and \
                all(list(n) != names for n in owners.values()):
            # Positionally, score_mod's captures come first: a FlexAttention
            # habit (mask first) would swap same-shaped arrays silently.
            # Unambiguous only when one function's parameters are the
            # whole list (the other reads a subset, as with shared arrays).
            raise TypeError(
                "this spec's score_mod and mask_mod both take captured "
                "arrays (" + "; ".join(f"{k}: {v}" for k, v in owners.items())
                + "): pass them by name, e.g. fn(q, k, v, "
                + ", ".join(f"{n}=..." for n in names) + ")")
        values = dict(zip(names, positional))
        for n in names[len(positional):]:
            if n in given:
                values[n] = given.pop(n)
        out = []
        for (n, dtype), arg in zip(sig.captures,
                                   [a for a in sig.args
                                    if a.role == "capture"]):
            if n in sig.closures:
                value = given.pop(n) if n in given else sig.closures[n].read()
                out.append(C.closure_capture(n, value, dtype,
                                             arg.type.count("?")))
                continue
            if n not in values:
                raise TypeError(f"missing captured array '{n}' (the spec "
                                f"captures {names}, in that order)")
            a, _ = _to_numpy(values[n], n)
            rank = arg.type.count("?")
            if a.dtype != np.dtype(dtype):
                raise TypeError(f"captured array '{n}' must be {dtype}, got "
                                f"{_dtype_name(a.dtype)}")
            if a.ndim != rank:
                raise ValueError(f"captured array '{n}' is indexed with "
                                 f"{rank} indices, so it must have {rank} "
                                 f"dims; got shape {tuple(a.shape)}")
            out.append(np.ascontiguousarray(a))
        return out

    @staticmethod
    def _per_block(x, name, blocks, B, Hq, Sq, Skv, kinds, desc):
        """Operand `name` with one entry per block of `blocks` (block_q x
        block_kv scores): [B or 1, Hq or 1, ceil(Sq / block_q), ceil(Skv /
        block_kv)], of a dtype kind in `kinds`; size-1 dims broadcast in
        the kernel."""
        a, _ = _to_numpy(x, name)
        nq = -(-Sq // blocks.block_q)
        nkv = -(-Skv // blocks.block_kv)
        if a.dtype.kind not in kinds:
            raise TypeError(f"{name} must be {desc}, got {a.dtype}")
        if a.ndim != 4 or a.shape[2:] != (nq, nkv) or a.shape[0] not in \
                (1, B) or a.shape[1] not in (1, Hq):
            raise ValueError(f"{name} must have shape [B or 1, Hq or 1, "
                             f"ceil(Sq/{blocks.block_q}), ceil(Skv/"
                             f"{blocks.block_kv})] = [{B}, {Hq}, {nq}, {nkv}], "
                             f"got {tuple(a.shape)}")
        return a

    @classmethod
    def _block_table(cls, x, table, B, Hq, Sq, Skv):
        """The block table as the kernel reads it: int8 of 0, 1 and 2."""
        a = cls._per_block(x, "block_table", table, B, Hq, Sq, Skv, "biu",
                           "integers 0, 1 and 2")
        if a.size and (a.min() < 0 or a.max() > 2):
            raise ValueError("block_table entries must be 0 (nothing), 1 "
                             "(the mask decides) or 2 (the whole block)")
        return np.ascontiguousarray(a.astype(np.int8))

    @classmethod
    def _block_mask(cls, x, block, B, Hq, Sq, Skv):
        """The block mask as the kernel reads it: bool."""
        return np.ascontiguousarray(cls._per_block(
            x, "block_mask", block, B, Hq, Sq, Skv, "b", "bool"))


_OPERAND_HELP = {
    "page_table": "page_table=[B, max_pages] int32 page ids, for "
                  "Spec(paged=attn.Paged(...))",
    "kv_quant": "kv_quant=an attn.QuantizedKV (attn.quantize_kv) or "
                "(k_scale, k_zero, v_scale, v_zero[, k_residual, "
                "v_residual]) (fp8: (k_scale, v_scale[, k_residual, "
                "v_residual])), for Spec(quant=attn.Quant(...))",
    "sink": "sink=[Hq] float32 logits, for attn.sink_softmax()",
    "kv_len": "kv_len=[B] int cache lengths, for Spec(kv_len=True)",
    "segments": "segments=(seg_q [B, Sq], seg_kv [B, Skv]) document ids",
    "tree": "tree=[T] parent indices of the draft tree",
    "dense_mask": "dense_mask=bool array broadcasting to [B, Hq, Sq, Skv]",
    "block_mask": "block_mask=bool [B or 1, Hq or 1, ceil(Sq / block_q), "
                  "ceil(Skv / block_kv)], for attn.block_sparse()",
    "block_table": "block_table=int8 [B or 1, Hq or 1, ceil(Sq / block_q), "
                   "ceil(Skv / block_kv)] of 0, 1, 2, for attn.blocks()",
    "bias": "bias=array broadcasting to [B, Hq, Sq, Skv]",
    "rel_bias_table": "rel_bias_table=[Hq, num_buckets] float32",
    "temperature": "temperature=[B, Hq, Sq] float32",
}


def block_mask_from_lists(kv_num_blocks, kv_indices, num_kv_blocks: int):
    """A dense block mask [B, H, nq, num_kv_blocks] from per-(b, h, q-block)
    lists: `kv_indices[b, h, i, :kv_num_blocks[b, h, i]]` are the kv blocks
    that q-block i attends to (FlexAttention's BlockMask layout)."""
    counts = np.asarray(kv_num_blocks)
    idx = np.asarray(kv_indices)
    if counts.ndim != 3 or idx.ndim != 4 or idx.shape[:3] != counts.shape:
        raise ValueError("kv_num_blocks must be [B, H, nq] and kv_indices "
                         "[B, H, nq, max_blocks]")
    if (counts < 0).any() or (counts > idx.shape[3]).any():
        raise ValueError("kv_num_blocks entries must lie in "
                         f"[0, {idx.shape[3]}]")
    mask = np.zeros(counts.shape + (int(num_kv_blocks),), np.bool_)
    for pos in np.ndindex(*counts.shape):
        listed = idx[pos][:counts[pos]]
        if listed.size and (listed.min() < 0 or
                            listed.max() >= num_kv_blocks):
            raise ValueError(f"kv block id out of range [0, {num_kv_blocks}) "
                             f"at (b, h, q_block) = {pos}: {listed.tolist()}")
        mask[pos + (listed,)] = True
    return mask
