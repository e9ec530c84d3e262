"""Runs the CPU benchmark once and writes the markdown report.

Called by run.sh after it has installed the peers and built the binaries:

    python bench.py --bin-dir DIR --attn-run PATH --out FILE.md [--quick]

One run measures, in order: the FMA peak and memory bandwidth of the
machine, attn (one attn-run call per kernel file, every shape of that file
in it), attn's reference lowering where affordable, the unfused OpenBLAS
baseline and the PyTorch peers (SDPA, compiled FlexAttention). A failing
or timed-out component leaves its reason in its table cell; the run goes
on. The table goes to stdout and FILE.md, every command's output to
FILE.log. bench/README.md describes what is counted.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import numpy as np

import masks

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

FULL = {"kind": "full"}
CAUSAL = {"kind": "causal"}
WINDOW = {"kind": "window", "window": 256}
SINKS_WINDOW = {"kind": "sinks_window", "sinks": 4, "window": 1024}
DOCUMENT = {"kind": "document", "docs": 8}

# attn kernel file of each (mask kind, D); the window sizes are baked into
# the files, so the quick cases use the same windows on shorter sequences.
KERNEL_FILES = {
    ("full", 64): "full_d64.mlir", ("full", 128): "full_d128.mlir",
    ("causal", 64): "causal_d64.mlir", ("causal", 128): "causal_d128.mlir",
    ("window", 64): "sliding_window_d64.mlir",
    ("sinks_window", 64): "streaming_llm_d64.mlir",
    ("document", 64): "document_d64.mlir",
}


@dataclass
class Case:
    name: str
    B: int
    H: int
    Sq: int
    Skv: int
    D: int
    mask: dict
    decode: bool = False
    # Only run by attn, as the denominator of the masked cases' ratio.
    aux: bool = False
    cells: dict = field(default_factory=dict)
    # The smaller Case on which attn's kernel is checked (check_case).
    check: "Case" = None

    @property
    def key(self):
        return (self.B, self.H, self.Sq, self.Skv, self.D)

    @property
    def pairs(self):
        return masks.allowed_pairs(self.mask, self.Sq, self.Skv) * self.B * self.H

    @property
    def fraction(self):
        return self.pairs / (self.B * self.H * self.Sq * self.Skv)

    @property
    def flops(self):
        # QK^T and PV: 2 D + 2 Dv flops per allowed score (D == Dv here).
        return 4.0 * self.D * self.pairs

    @property
    def full_flops(self):
        return 4.0 * self.D * self.B * self.H * self.Sq * self.Skv

    @property
    def bytes(self):
        # Q and O once, K and V once: what a memory-bound decoder must move.
        return 4.0 * self.B * self.H * self.D * 2 * (self.Sq + self.Skv)

    @property
    def kernel(self):
        return KERNEL_FILES[(self.mask["kind"], self.D)]


def make_cases(dense, window, sinks_window, document, decode):
    """The case list for one size set: `dense` lists (B, H, S, D) run
    non-causal and causal; the others give (B, H, S[, Skv], D) of the masked,
    decode and full-for-the-ratio cases."""
    cases = []
    for b, h, s, d in dense:
        for mask, tag in [(FULL, ""), (CAUSAL, " causal")]:
            cases.append(Case(f"B{b} H{h} S{s} D{d}{tag}", b, h, s, s, d, mask))
    for name, (b, h, s, d), mask in [
        ("sliding window 256", window, WINDOW),
        ("sinks 4 + window 1024", sinks_window, SINKS_WINDOW),
        ("document x8 causal", document, DOCUMENT),
    ]:
        cases.append(Case(f"{name}, B{b} H{h} S{s} D{d}", b, h, s, s, d, mask))
    b, h, skv, d = decode
    cases.append(Case(f"decode B{b} H{h} Sq1 Skv{skv} D{d}", b, h, 1, skv, d,
                      FULL, decode=True))
    for b, h, s, d in (window, sinks_window):
        cases.append(Case(f"(full, for the ratio) B{b} H{h} S{s} D{d}", b, h,
                          s, s, d, FULL, aux=True))
    return cases


def full_cases():
    return make_cases(
        dense=[(1, 8, 1024, 64), (1, 8, 4096, 64), (1, 16, 2048, 128),
               (4, 8, 512, 64)],
        window=(1, 8, 8192, 64), sinks_window=(1, 8, 16384, 64),
        document=(1, 8, 8192, 64), decode=(8, 32, 4096, 128))


def quick_cases():
    """Small shapes that prove the harness in a minute or two."""
    return make_cases(
        dense=[(1, 2, 256, 64), (1, 2, 256, 128), (2, 2, 128, 64)],
        window=(1, 2, 1024, 64), sinks_window=(1, 2, 2048, 64),
        document=(1, 2, 1024, 64), decode=(2, 4, 512, 128))


# --- running commands ---------------------------------------------------------

@dataclass
class Run:
    rc: int
    out: str
    err: str
    max_rss_kib: int
    seconds: float
    timed_out: bool

    def why(self):
        """One line saying why the command failed."""
        if self.timed_out:
            return f"timeout (> {self.seconds:.0f} s)"
        lines = [l.strip() for l in (self.err + "\n" + self.out).splitlines() if l.strip()]
        errors = [l for l in lines if "error" in l.lower()]
        text = (errors or lines or [f"exit status {self.rc}"])[-1]
        text = re.sub(r"^[\w-]+: error: ", "", text)
        text = "failed: " + text
        if self.rc < 0:
            text = f"killed by signal {-self.rc}; {text}"
        return text[:160]


class Log:
    def __init__(self, path):
        self.file = open(path, "w")

    def write(self, text):
        self.file.write(text + ("" if text.endswith("\n") else "\n"))
        self.file.flush()


def progress(text):
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(cmd, log, env=None, timeout=600):
    """Runs `cmd` in its own process group; returns its output and max RSS.

    os.wait4 gives the child's own rusage (getrusage(RUSAGE_CHILDREN) would
    be the maximum over every child so far)."""
    full_env = dict(os.environ, **(env or {}))
    log.write(f"$ {' '.join(f'{k}={v}' for k, v in (env or {}).items())} {' '.join(cmd)}")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=full_env,
                                    start_new_session=True)
        except OSError as exc:
            log.write(f"cannot start: {exc}")
            return Run(127, "", str(exc), 0, 0.0, False)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        result = Run(proc.returncode, out.read().decode(errors="replace"),
                     err.read().decode(errors="replace"), usage.ru_maxrss,
                     timeout if timed_out.is_set() else seconds, timed_out.is_set())
    log.write(result.out)
    log.write(result.err)
    log.write(f"# rc={result.rc} seconds={seconds:.1f} max_rss_kib={result.max_rss_kib}")
    return result


def fields(line):
    """key=value pairs of a tool's output line."""
    return dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))


# --- the machine ----------------------------------------------------------------

def cpu_snapshot():
    """(busy CPU s of the whole machine, its steal s, CPU s of this process
    and its reaped children, wall s): the difference of two tells how much
    of the machine other processes took during the run."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    t = os.times()
    return ((user + nice + system + irq + softirq) / tick, steal / tick,
            t.user + t.system + t.children_user + t.children_system, time.monotonic())


def contention_note(start, end):
    busy, steal, ours, wall = (b - a for a, b in zip(start, end))
    capacity = (os.cpu_count() or 1) * wall
    others = max(busy - ours, 0.0)
    text = (f"CPU time of other processes during the run: {others:.0f} s "
            f"({100 * others / capacity:.1f}% of {os.cpu_count()} CPUs x {wall:.0f} s); "
            f"hypervisor steal {steal:.0f} s.")
    if others > 0.05 * capacity or steal > 0.05 * capacity:
        text = "**The machine was not idle: timings are unreliable.** " + text
    return text


NOTABLE_FLAGS = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                 "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16",
                 "amx_int8"]


def describe_machine(log):
    info = {}
    lscpu = run(["lscpu"], log).out
    get = lambda key: next((l.split(":", 1)[1].strip() for l in lscpu.splitlines()
                            if l.split(":", 1)[0].strip() == key), "?")
    info["cpu"] = get("Model name")
    info["cores"] = (f"{get('CPU(s)')} CPUs = {get('Socket(s)')} socket x "
                     f"{get('Core(s) per socket')} cores x {get('Thread(s) per core')} threads")
    hv = get("Hypervisor vendor")
    if hv != "?":
        info["cpu"] += f" (under {hv})"
    flags = get("Flags").split()
    info["flags"] = " ".join(f for f in NOTABLE_FLAGS if f in flags) or "none of note"
    info["caches"] = f"L2 {get('L2 cache')}, L3 {get('L3 cache')}"
    try:
        mem = next(l for l in open("/proc/meminfo") if l.startswith("MemTotal"))
        info["memory"] = f"{int(mem.split()[1]) / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        info["memory"] = "?"
    info["kernel"] = platform.release()
    info["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    dpkg = run(["dpkg-query", "-W", "-f", "${Version}", "libopenblas0-pthread"], log)
    info["openblas_package"] = dpkg.out.strip() if dpkg.rc == 0 else "?"
    cc = os.environ.get("BENCH_CC", "cc")
    info["compiler"] = (run([cc, "--version"], log).out.splitlines() or ["?"])[0]
    head = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], log).out.strip()
    dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], log).out.strip()
    info["attn"] = f"{head or '?'}{' + uncommitted changes' if dirty else ''}"
    info["load"] = " ".join(open("/proc/loadavg").read().split()[:3])
    return info


# --- the measurements -------------------------------------------------------------

def measure_peaks(bin_dir, log):
    peaks = {}
    # tool, key prefix, the field that names a line's variant, its value
    for tool, prefix, variant, value in (("fma_peak", "fma", "isa", "gflops"),
                                         ("bandwidth", "bw", "kernel", "gbps")):
        r = run([os.path.join(bin_dir, tool)], log, timeout=300)
        for line in r.out.splitlines():
            f = fields(line)
            if value in f:
                peaks[f"{prefix}_{f[variant]}_{f['threads']}t"] = float(f[value])
        if r.rc != 0:
            peaks[f"{prefix}_error"] = r.why()
    return peaks


def attn_run_problem(attn_run, log):
    """Why `attn_run` cannot be benchmarked, or None."""
    if not os.access(attn_run, os.X_OK):
        return f"no attn-run at {attn_run}"
    text = run([attn_run, "--help"], log, timeout=60).out
    if "--lowering" not in text or "--no-reference" not in text:
        return f"{attn_run} predates --lowering / --no-reference; rebuild it"
    return None


def write_doc_ids(case, work_dir):
    """seg_q / seg_kv .npy files with equal documents (i32 [B, S])."""
    ids = masks.doc_ids(case.mask, case.Skv).astype(np.int32)
    seg_kv = np.tile(ids, (case.B, 1))
    seg_q = np.tile(ids[case.Skv - case.Sq:], (case.B, 1))
    paths = []
    for role, arr in (("seg_q", seg_q), ("seg_kv", seg_kv)):
        path = os.path.join(work_dir, f"{role}_B{case.B}_Sq{case.Sq}_Skv{case.Skv}.npy")
        np.save(path, arr)
        paths += ["--input", f"{role}={path}"]
    return paths


def attn_groups(cases, work_dir):
    """attn-run calls: one per kernel file (per document-id shape for the
    document kernel, whose ids come from files of one shape)."""
    groups = {}
    for c in cases:
        inputs = write_doc_ids(c, work_dir) if c.mask["kind"] == "document" else []
        groups.setdefault((c.kernel, tuple(inputs)), []).append(c)
    return groups


def run_attn(cases, attn_run, lowering, column, repeat, threads, work_dir, log,
             timeout, check=False):
    """Fills case.cells[column] with {ms, rss_kib, gflops_tool, check,
    max_rel_err} or {error}. With `check`, attn-run compares with its
    float64 reference (--check); otherwise it skips it where it can."""
    env = {"OMP_NUM_THREADS": str(threads)}

    def call(kernel, inputs, group):
        # Files holding a shape of more than 100 GFLOP get at most 3 timed runs.
        reps = repeat if max(c.full_flops for c in group) < 100e9 else min(repeat, 3)
        cmd = [attn_run, os.path.join(HERE, "cases", kernel), f"--repeat={reps}"]
        cmd += list(inputs) + [f"--lowering={lowering}"]
        cmd.append("--check" if check else "--no-reference")
        for c in group:
            cmd.append(f"--shape=B={c.B},Hq={c.H},Sq={c.Sq},Skv={c.Skv}")
        progress(f"attn ({column}): {kernel}, {len(group)} shape(s)")
        r = run(cmd, log, env=env, timeout=timeout)
        for line in r.out.splitlines():
            if not line.startswith("attn-run: shape="):
                continue
            f = fields(line)
            shape = dict(kv.split("=") for kv in line.split()[1][len("shape="):].split(","))
            key = tuple(int(shape[n]) for n in ("B", "Hq", "Sq", "Skv", "D"))
            for c in group:
                if c.key == key:
                    c.cells[column] = {"ms": float(f["ms"]), "rss_kib": r.max_rss_kib}
                    if "gflops" in f:
                        c.cells[column]["gflops_tool"] = float(f["gflops"])
                    if "check" in f:
                        c.cells[column]["check"] = f["check"]
                        c.cells[column]["max_rel_err"] = float(f["max_rel_err"])
        missing = [c for c in group if column not in c.cells]
        for c in missing:
            c.cells[column] = {"error": r.why()}
        return r, missing

    for (kernel, inputs), group in attn_groups(cases, work_dir).items():
        r, missing = call(kernel, inputs, group)
        # One failing shape (a crash) ends the call; the shapes it did not
        # reach get a call of their own, unless the call ran out of time.
        if missing and len(group) > 1 and not r.timed_out:
            for c in missing:
                del c.cells[column]
                call(kernel, inputs, [c])


def check_case(c):
    """The shape on which attn's kernel for `c` is checked against attn-run's
    float64 reference, which is O(S^2) on one thread: at most B2 H2 S2048."""
    return Case("check " + c.name, min(c.B, 2), min(c.H, 2), min(c.Sq, 2048),
                min(c.Skv, 2048), c.D, c.mask, c.decode)


def run_openblas(cases, bin_dir, threads, log, timeout):
    env = {"OPENBLAS_NUM_THREADS": str(threads)}
    # OpenBLAS's idle threads spin after each GEMM and would steal the cores
    # from the OpenMP softmax threads; both are told to sleep soon instead.
    for k, v in (("OMP_WAIT_POLICY", "passive"), ("OPENBLAS_THREAD_TIMEOUT", "4")):
        env[k] = os.environ.get(k, v)
    info = {"env": " ".join(f"{k}={v}" for k, v in env.items())}
    for c in cases:
        repeat = 3 if c.full_flops > 50e9 else 5
        progress(f"OpenBLAS: {c.name}")
        r = run([os.path.join(bin_dir, "openblas_attn"), str(c.B), str(c.H), str(c.Sq),
                 str(c.Skv), str(c.D), masks.spec(c.mask), str(repeat)],
                log, env=env, timeout=timeout)
        line = next((l for l in r.out.splitlines() if l.startswith("openblas_attn:")), None)
        if r.rc == 0 and line:
            f = fields(line)
            c.cells["openblas"] = {"ms": float(f["ms"]), "err": float(f["max_abs_err"])}
            info["corename"] = f["corename"]
            info["config"] = f["config"].strip('"')
        else:
            c.cells["openblas"] = {"error": r.why()}
    return info


def run_torch(cases, python, threads, log, timeout):
    info = {}
    for c in cases:
        progress(f"PyTorch SDPA + FlexAttention: {c.name}")
        arg = json.dumps({"B": c.B, "H": c.H, "Sq": c.Sq, "Skv": c.Skv, "D": c.D,
                          "mask": c.mask, "threads": threads})
        r = run([python, os.path.join(HERE, "torch_peers.py"), arg], log, timeout=timeout)
        lines = [l for l in r.out.splitlines() if l.startswith("{")]
        if r.rc != 0 or not lines:
            c.cells["sdpa"] = c.cells["flex"] = {"error": r.why()}
            continue
        res = json.loads(lines[-1])
        info.update(torch=res["torch"], cpu_capability=res["cpu_capability"])
        for peer in ("sdpa", "flex"):
            c.cells[peer] = ({"ms": res[f"{peer}_ms"]} if f"{peer}_ms" in res
                             else {"error": "failed: " + res.get(f"{peer}_error", "?")})
        if "flex_compile_s" in res:
            c.cells["flex"]["compile_s"] = res["flex_compile_s"]
        if "flex_vs_sdpa_max_abs_diff" in res:
            c.cells["flex"]["diff"] = res["flex_vs_sdpa_max_abs_diff"]
    return info


# --- the report ---------------------------------------------------------------------

def cell_ms(cell):
    if cell is None:
        return "—"
    if "ms" in cell:
        return f"{cell['ms']:.2f}"
    return cell["error"].replace("|", "\\|")


def report(cases, machine, peaks, openblas, torch_info, notes, args, elapsed):
    peak = peaks.get("fma_avx512_2t") or peaks.get("fma_avx2_2t")
    read_bw = peaks.get("bw_read_2t")
    full_ms = {c.key: c.cells["attn"]["ms"] for c in cases
               if c.mask["kind"] == "full" and "ms" in c.cells.get("attn", {})}
    lines = []
    w = lines.append
    today = datetime.datetime.now(datetime.timezone.utc)
    w(f"# attn CPU benchmark, {today:%Y-%m-%d %H:%M} UTC{' (quick run)' if args.quick else ''}")
    w("")
    w("## Machine")
    w("")
    w(f"- CPU: {machine['cpu']}; {machine['cores']}; {machine['caches']}; memory {machine['memory']}")
    w(f"- flags of note: {machine['flags']}")
    w(f"- OPENBLAS_CORETYPE: {machine['OPENBLAS_CORETYPE']}; OpenBLAS "
      f"{machine['openblas_package']} (Debian libopenblas0-pthread), core used: "
      f"{openblas.get('corename', '?')}, config: `{openblas.get('config', '?')}`; "
      f"run with {openblas.get('env') or '(not run)'}")
    w(f"- PyTorch {torch_info.get('torch', '?')} (CPU capability "
      f"{torch_info.get('cpu_capability', '?')}), numpy {np.__version__}, Python "
      f"{platform.python_version()}")
    w(f"- C compiler: {machine['compiler']}; kernel {machine['kernel']}")
    built = (f", built {datetime.datetime.fromtimestamp(os.path.getmtime(args.attn_run)):%Y-%m-%d %H:%M}"
             if os.path.exists(args.attn_run) else "")
    w(f"- attn: {machine['attn']}; attn-run `{os.path.relpath(args.attn_run, ROOT)}`{built}")
    w(f"- threads: {args.threads} everywhere; load average at the start: {machine['load']}")
    w("")
    w("## Peaks")
    w("")
    fmt = lambda key, unit: f"{peaks[key]:.1f} {unit}" if key in peaks else "n/a"
    w(f"- fp32 FMA peak: AVX-512 {fmt('fma_avx512_1t', 'GFLOP/s')} (1 thread), "
      f"{fmt('fma_avx512_2t', 'GFLOP/s')} (2 threads); AVX2 {fmt('fma_avx2_1t', 'GFLOP/s')}"
      f" / {fmt('fma_avx2_2t', 'GFLOP/s')}" + (f"; {peaks['fma_error']}" if "fma_error" in peaks else ""))
    w(f"- memory bandwidth (2 threads): read {fmt('bw_read_2t', 'GB/s')}, copy "
      f"{fmt('bw_copy_2t', 'GB/s')}, triad {fmt('bw_triad_2t', 'GB/s')} (1 thread: read "
      f"{fmt('bw_read_1t', 'GB/s')}); read of a buffer in 2 MiB pages "
      f"{fmt('bw_read-huge_2t', 'GB/s')} (decode rows here run on attn-run's buffers, "
      f"in 4 KiB pages; bench/decode.py compares caches in 2 MiB pages)"
      + (f"; {peaks['bw_error']}" if "bw_error" in peaks else ""))
    w("")
    w("## Results")
    w("")
    w("Times are medians in ms. attn GFLOP/s counts unmasked work only (4 D flops per "
      "allowed score); decode rows give GB/s of Q+K+V+O instead, against the measured read "
      "bandwidth. \"vs full\" is attn_ms / (allowed fraction x attn_ms of the full mask on "
      "the same shape). Speedup = best peer ms / attn ms (peers: OpenBLAS, SDPA, Flex).")
    w("")
    w("| case | allowed | attn ms | attn GFLOP/s | % of FMA peak | vs full | "
      "reference-path ms | OpenBLAS ms | SDPA ms | Flex ms | attn speedup vs best peer |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for c in cases:
        attn = c.cells.get("attn", {})
        rate = pct = ratio = speedup = "—"
        if "ms" in attn:
            sec = attn["ms"] / 1e3
            if c.decode:
                gbps = c.bytes / sec / 1e9
                rate = f"{gbps:.1f} GB/s"
                pct = f"{100 * gbps / read_bw:.0f}% of read BW" if read_bw else "n/a"
            else:
                gflops = c.flops / sec / 1e9
                rate = f"{gflops:.1f}"
                pct = f"{100 * gflops / peak:.1f}%" if peak else "n/a"
            if c.mask["kind"] != "full" and c.key in full_ms:
                ratio = f"{attn['ms'] / (c.fraction * full_ms[c.key]):.2f}"
            peer_ms = [c.cells[p]["ms"] for p in ("openblas", "sdpa", "flex")
                       if "ms" in c.cells.get(p, {})]
            if peer_ms:
                speedup = f"{min(peer_ms) / attn['ms']:.2f}x"
        attn_text = cell_ms(attn or None)
        if c.check and c.check.cells.get("check", {}).get("check", "ok") != "ok":
            attn_text += " (check FAIL)"
        w(f"| {c.name} | {c.fraction:.3f} | {attn_text} | {rate} | {pct} | {ratio} | "
          f"{cell_ms(c.cells.get('ref'))} | {cell_ms(c.cells.get('openblas'))} | "
          f"{cell_ms(c.cells.get('sdpa'))} | {cell_ms(c.cells.get('flex'))} | {speedup} |")
    w("")
    w("## Notes")
    w("")
    for c in cases:
        attn = c.cells.get("attn", {})
        if c.mask["kind"] == "sinks_window" and "rss_kib" in attn:
            w(f"- attn-run peak memory (max RSS) at \"{c.name}\": "
              f"{attn['rss_kib'] / 1024:.0f} MiB for the whole process (JIT, inputs, and the "
              "float64 copies attn-run keeps for input validation).")
    compile_s = [c.cells["flex"]["compile_s"] for c in cases if "compile_s" in c.cells.get("flex", {})]
    if compile_s:
        span = f"{min(compile_s):.0f}-{max(compile_s):.0f}"
        if round(min(compile_s)) == round(max(compile_s)):
            span = f"{min(compile_s):.0f}"
        w(f"- FlexAttention compile time per case (excluded from its ms; the inductor "
          f"cache shortens later runs): {span} s.")
    diffs = [c.cells["flex"]["diff"] for c in cases if "diff" in c.cells.get("flex", {})]
    if diffs:
        w(f"- Flex vs SDPA outputs: max |difference| {max(diffs):.1e} over all cases.")
    errs = [c.cells["openblas"]["err"] for c in cases if "err" in c.cells.get("openblas", {})]
    if errs:
        w(f"- OpenBLAS baseline vs float64 on sampled rows: max abs error {max(errs):.1e}.")
    checks = list({id(c.check): c.check for c in cases if c.check}.values())
    if checks:
        done = [k for k in checks if "check" in k.cells.get("check", {})]
        bad = [k for k in done if k.cells["check"]["check"] != "ok"]
        failed = [k for k in checks if k not in done]
        text = (f"attn's kernels vs attn-run's float64 reference (--check, shapes cut to "
                f"B<=2 H<=2 S<=2048): {len(done) - len(bad)} of {len(checks)} shapes ok")
        if done:
            text += f", max_rel_err {max(k.cells['check']['max_rel_err'] for k in done):.1e}"
        for k in bad:
            text += f"; FAIL at {k.name[len('check '):]} (B{k.B} H{k.H} S{k.Skv})"
        for k in failed:
            text += f"; not run at {k.name[len('check '):]}: {k.cells['check']['error']}"
        w(f"- {text}.")
    for c, column in [(c, "attn") for c in cases] + [(k, "check") for k in checks]:
        tool = c.cells.get(column, {}).get("gflops_tool")
        if tool:
            counted = c.flops / (c.cells[column]["ms"] / 1e3) / 1e9
            if abs(tool - counted) > 0.02 * counted + 0.01:
                w(f"- FLOP count mismatch at {c.name} (B{c.B} H{c.H} S{c.Skv}): attn-run "
                  f"says {tool:.2f} GFLOP/s, the harness {counted:.2f}.")
    for n in notes:
        w(f"- {n}")
    w(f"- Total benchmark time: {elapsed / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True, help="fma_peak, bandwidth, openblas_attn")
    ap.add_argument("--attn-run", required=True)
    ap.add_argument("--out", required=True, help="report .md (the log goes beside it)")
    ap.add_argument("--quick", action="store_true", help="small shapes, to test the harness")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "2")))
    ap.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "5")),
                    help="attn-run --repeat (timed runs after one warm-up)")
    ap.add_argument("--ref-max-s", type=int, default=int(os.environ.get("BENCH_REF_MAX_S", "4096")),
                    help="run the reference lowering only up to this sequence length")
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("BENCH_TIMEOUT", "600")),
                    help="seconds allowed to one command")
    ap.add_argument("--skip", default=os.environ.get("BENCH_SKIP", ""),
                    help="comma-separated components to leave out: attn,ref,openblas,torch")
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the report's notes (run.sh: build problems)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    start = time.monotonic()
    cpu_start = cpu_snapshot()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    log = Log(os.path.splitext(args.out)[0] + ".log")
    work_dir = tempfile.mkdtemp(prefix="attn-bench-")
    notes = list(args.note)

    machine = describe_machine(log)
    cases = quick_cases() if args.quick else full_cases()
    progress("FMA peak and memory bandwidth")
    peaks = measure_peaks(args.bin_dir, log)

    problem = attn_run_problem(args.attn_run, log)
    if problem:
        notes.append(problem + ": the attn columns are empty.")
        for c in cases:
            c.cells["attn"] = c.cells["ref"] = {"error": "not run (see notes)"}
    if not problem and "attn" not in skip:
        run_attn(cases, args.attn_run, "fused", "attn", args.repeat, args.threads,
                 work_dir, log, args.timeout)
        checks = {}
        for c in cases:
            k = check_case(c)
            checks.setdefault((c.kernel, k.key), k)
        progress("attn: checking against the float64 reference")
        run_attn(list(checks.values()), args.attn_run, "fused", "check", 1,
                 args.threads, work_dir, log, args.timeout, check=True)
        for c in cases:
            c.check = checks[(c.kernel, check_case(c).key)]

    if not problem and "ref" not in skip:
        affordable = [c for c in cases if max(c.Sq, c.Skv) <= args.ref_max_s]
        for c in cases:
            if c not in affordable:
                c.cells["ref"] = {"error": "skipped"}
        run_attn(affordable, args.attn_run, "reference", "ref", 1, args.threads,
                 work_dir, log, args.timeout)
        notes.append(f"The reference path runs once after a warm-up (--repeat=1), "
                     f"only up to S={args.ref_max_s}.")

    peer_cases = [c for c in cases if not c.aux]
    openblas = {}
    if "openblas" not in skip:
        openblas = run_openblas(peer_cases, args.bin_dir, args.threads, log, args.timeout)
    torch_info = {}
    if "torch" not in skip:
        torch_info = run_torch(peer_cases, sys.executable, args.threads, log, args.timeout)
    if skip:
        notes.append(f"Left out on request: {', '.join(sorted(skip))}.")

    notes.append(contention_note(cpu_start, cpu_snapshot()))
    text = report(cases, machine, peaks, openblas, torch_info, notes, args,
                  time.monotonic() - start)
    with open(args.out, "w") as f:
        f.write(text)
    shutil.rmtree(work_dir, ignore_errors=True)
    print(text)
    progress(f"report: {os.path.relpath(args.out, os.getcwd())}, log: "
             f"{os.path.relpath(log.file.name, os.getcwd())}")


if __name__ == "__main__":
    main()
