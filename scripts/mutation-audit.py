#!/usr/bin/env python3
"""Mutation audit: does the test suite notice plausible bugs?

For each source mutation listed in MUTATIONS below (a file, an exact text
that must occur there once, its replacement, a short name), this script

  1. creates a git worktree of HEAD (the commit HEAD names when the script
     starts) under the work directory (default /tmp/attn-mutation-audit/wt),
     and copies over it the test files that differ from HEAD in this
     checkout, as they were when the script started (so that uncommitted
     tests are the ones audited; --overlay / --no-overlay change that),
  2. applies the mutation,
  3. builds there with scripts/build.sh into a build directory of its own
     (ATTN_BUILD_DIR=<work>/build, the same for every mutation, so ccache
     turns every rebuild but the mutated file's into cache hits),
  4. runs the chosen part of the suite (pytest and/or lit, configurable),
  5. reports the mutation as CAUGHT (some test failed, crashed or timed out)
     or MISSED (everything passed), and removes the worktree.

Before the mutations it runs the same build and suite on the unmutated
worktree (--no-baseline skips this): a suite that fails without any
mutation would "catch" everything, so the audit stops there.

Not part of CI: it is slow (one build and one test run per mutation; on a
2-core machine, minutes each). Run it at low priority, e.g.

    nice -n 19 python3 scripts/mutation-audit.py --list
    nice -n 19 python3 scripts/mutation-audit.py window_full_hi kv_swap_python
    nice -n 19 python3 scripts/mutation-audit.py --suite both \\
        --pytest "test/python/test_differential.py -x" --lit test/Unit

Exit status: 0 when every mutation run was caught, 1 when one was missed,
2 when the baseline failed or a mutation could not be applied or built.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIT = "/usr/lib/llvm-22/bin/lit"


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    file: str        # relative to the repository root
    old: str         # must occur exactly once in HEAD's version of `file`
    new: str
    why: str         # what bug it imitates


MUTATIONS = [
    Mutation(
        "window_full_hi",
        "lib/Dialect/Attn/Analysis/TileClasses.cpp",
        "{{t.last - cst(left), t.p0 + cst(right + 1)}}",
        "{{t.last - cst(left), t.p0 + cst(right + 2)}}",
        "sliding_window's full interval one key too long at its upper end: "
        "a kv tile holding key p0 + right + 1 (disallowed for the tile's "
        "first query) runs unmasked"),
    Mutation(
        "window_full_lo",
        "lib/Dialect/Attn/Analysis/TileClasses.cpp",
        "{{t.last - cst(left), t.p0 + cst(right + 1)}}",
        "{{t.last - cst(left + 1), t.p0 + cst(right + 1)}}",
        "sliding_window's full interval one key too long at its lower end"),
    Mutation(
        "causal_bound",
        "lib/Dialect/Attn/Analysis/TileClasses.cpp",
        "return {{{cst(0), t.p1}}, {{cst(0), t.p0 + cst(1)}}};",
        "return {{{cst(0), t.p1 + cst(1)}}, {{cst(0), t.p0 + cst(1)}}};",
        "causal's bound one key too far: each query also sees the next key "
        "(the bound of a one-row tile is the row's exact mask)"),
    Mutation(
        "causal_full_hi",
        "lib/Dialect/Attn/Analysis/TileClasses.cpp",
        "return {{{cst(0), t.p1}}, {{cst(0), t.p0 + cst(1)}}};",
        "return {{{cst(0), t.p1}}, {{cst(0), t.p0 + cst(2)}}};",
        "causal's full interval one key too long"),
    Mutation(
        "sinks_full_hi",
        "lib/Dialect/Attn/Analysis/TileClasses.cpp",
        "SymInterval sinks = {cst(0), cst(m.getCount())};\n"
        "        return both(sinks, sinks);",
        "SymInterval sinks = {cst(0), cst(m.getCount())};\n"
        "        return both(sinks, SymInterval{cst(0), "
        "cst(m.getCount() + 1)});",
        "sinks' full interval one key too long"),
    Mutation(
        "kv_swap_python",
        "python/attn/api.py",
        "args = [q, k, v]",
        "args = [q, v, k]",
        "K and V passed to the native kernel in each other's place"),
    Mutation(
        "lse_formula",
        "lib/Dialect/Attn/Utils/Normalizer.cpp",
        "base = o.fadd(base, o.select(o.isNegInf(mv), zeroV, mv));",
        "base = o.fsub(base, o.select(o.isNegInf(mv), zeroV, mv));",
        "LSE = log Z - m instead of m + log Z"),
    Mutation(
        "gqa_head_mapping",
        "lib/Conversion/AttnToCPU/FlashTileKernel.cpp",
        "it.kvh = o.divU(it.hi, group);",
        "it.kvh = o.remU(it.hi, o.divU(qHeads, group));",
        "GQA: query head h reads kv head h mod Hkv instead of h / group "
        "(tiled kernel only)"),
    Mutation(
        "sigmoid_beta_default",
        "lib/Dialect/Attn/Utils/Normalizer.cpp",
        "beta ? o.f32(*beta) : arith::NegFOp::create(b, "
        "o.log(o.toF32(kvLenB)));",
        "beta ? o.f32(*beta) : o.log(o.toF32(kvLenB));",
        "sigmoid's default beta +log(Skv) instead of -log(Skv)"),
    # Run-time tile classes (Conversion/RuntimeSkipping and the readers).
    Mutation(
        "document_kept_strict",
        "lib/Conversion/RuntimeSkipping/RuntimeSkipping.cpp",
        "{{P::sge, rows.segMin}, {P::sle, rows.segMax}",
        "{{P::sgt, rows.segMin}, {P::sle, rows.segMax}",
        "document: a kv tile whose greatest key id equals the rows' least "
        "is skipped"),
    Mutation(
        "document_full_mixed",
        "lib/Conversion/RuntimeSkipping/RuntimeSkipping.cpp",
        "o.land(o.eq(rows.segMin, rows.segMax), o.lnot(some[2]))",
        "o.eq(rows.segMin, rows.segMax)",
        "document: a tile is full whenever the rows hold one id, even when "
        "some of its keys have another"),
    Mutation(
        "dense_full_any",
        "lib/Conversion/RuntimeSkipping/RuntimeSkipping.cpp",
        "scf::YieldOp::create(b, ValueRange{on, allOn});",
        "scf::YieldOp::create(b, ValueRange{on, on});",
        "dense (behind another conjunct): a kept tile counts as full, so "
        "its masked entries are not applied"),
    Mutation(
        "cpu_key_ne",
        "lib/Conversion/AttnToCPU/RuntimeSkipping.cpp",
        "some.push_back(o.lor(o.lnot(o.eq(kMin, test.bound)),",
        "some.push_back(o.land(o.lnot(o.eq(kMin, test.bound)),",
        "CPU reader: 'some key id differs' answered as 'both ends of the "
        "tile's id range differ'"),
    Mutation(
        "blocks_full_level",
        "lib/Conversion/RuntimeSkipping/RuntimeSkipping.cpp",
        "entries(blocks.getBlockQ(), blocks.getBlockKv(), 2)",
        "entries(blocks.getBlockQ(), blocks.getBlockKv(), 1)",
        "#attn.blocks: a tile whose entries are all 1 counts as whole, so "
        "the mask inside is not applied"),
]


# -----------------------------------------------------------------------------


def log(msg: str):
    print(f"[mutation-audit {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def git(*args, cwd=REPO, check=True) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=check, text=True,
                          capture_output=True).stdout


def remove_worktree(wt: Path):
    if wt.exists():
        git("worktree", "remove", "--force", str(wt), check=False)
    if wt.exists():
        shutil.rmtree(wt, ignore_errors=True)
    git("worktree", "prune", check=False)


def default_overlay() -> list[str]:
    """Tracked test files that differ from HEAD in this checkout."""
    out = git("diff", "--name-only", "HEAD", "--", "test")
    return [p for p in out.split() if (REPO / p).is_file()]


def snapshot_overlay(overlay: list[str], dest: Path):
    """Copies the overlay files now, so that every worktree gets the same
    ones even if the checkout changes while the audit runs."""
    shutil.rmtree(dest, ignore_errors=True)
    for rel in overlay:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)


def make_worktree(wt: Path, commit: str, overlay: list[str], saved: Path):
    remove_worktree(wt)
    wt.parent.mkdir(parents=True, exist_ok=True)
    git("worktree", "add", "--detach", str(wt), commit)
    for rel in overlay:
        dst = wt / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(saved / rel, dst)
    # The checkout's virtual environment: scripts/build.sh then finds it
    # up to date and installs nothing.
    venv = REPO / ".venv"
    if venv.exists() and not (wt / ".venv").exists():
        (wt / ".venv").symlink_to(venv)


def apply(m: Mutation, wt: Path) -> str | None:
    """Applies `m` in the worktree; returns why it cannot, or None."""
    path = wt / m.file
    if not path.is_file():
        return f"{m.file} does not exist at this commit"
    text = path.read_text()
    n = text.count(m.old)
    if n != 1:
        return f"the old text occurs {n} times in {m.file} (need 1)"
    path.write_text(text.replace(m.old, m.new))
    return None


def run_logged(cmd, cwd, env, logfile: Path, timeout=None):
    """Runs cmd with stdout+stderr to logfile; returns (rc, seconds,
    timed_out)."""
    t0 = time.time()
    with open(logfile, "w") as f:
        f.write(f"$ {shlex.join(cmd)}\n")
        f.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=f,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            # Only the process group this script started.
            os.killpg(proc.pid, 9)
            rc = proc.wait()
            timed_out = True
    return rc, time.time() - t0, timed_out


def failing_tests(logfile: Path, limit=8) -> list[str]:
    out = []
    for line in logfile.read_text(errors="replace").splitlines():
        mm = re.match(r"(FAILED|ERROR) (\S+)", line)          # pytest -rfE
        if not mm:
            mm = re.match(r"\s*(FAIL|UNRESOLVED|TIMEOUT): (.+?) \(", line)
        if mm and mm.group(2) not in out:
            out.append(mm.group(2))
    return out[:limit] + ([f"... {len(out) - limit} more"]
                          if len(out) > limit else [])


def build_and_test(label: str, wt: Path, args, logdir: Path) -> dict:
    env = dict(os.environ)
    env["ATTN_BUILD_DIR"] = str(args.build_dir)
    env.setdefault("CCACHE_BASEDIR", str(args.work))
    res = {"name": label}
    targets = args.targets
    if targets is None:
        targets = [] if args.suite != "pytest" else \
            ["_attn", "AttnPythonSources"]
    build_log = logdir / f"{label}.build.log"
    rc, secs, _ = run_logged(
        ["bash", "scripts/build.sh", f"-j{args.jobs}", *targets], wt, env,
        build_log)
    res["build_s"] = round(secs, 1)
    if rc != 0:
        res["result"] = "BUILD FAILED"
        res["detail"] = f"see {build_log}"
        return res

    failures, test_s, caught_by = [], 0.0, []
    if args.suite in ("pytest", "both"):
        cache = tempfile.mkdtemp(prefix="attn-cache-", dir=args.work)
        penv = dict(env, PYTHONPATH=str(args.build_dir / "python"),
                    ATTN_CACHE_DIR=cache)
        plog = logdir / f"{label}.pytest.log"
        cmd = [str(wt / ".venv/bin/python"), "-m", "pytest", "-q", "-rfE",
               "-p", "no:cacheprovider", *shlex.split(args.pytest)]
        rc, secs, timed_out = run_logged(cmd, wt, penv, plog, args.timeout)
        shutil.rmtree(cache, ignore_errors=True)
        test_s += secs
        summary = plog.read_text(errors="replace").strip().splitlines()
        res["pytest_summary"] = summary[-1] if summary else ""
        if timed_out:
            caught_by.append("pytest (timeout)")
        elif rc != 0:
            caught_by.append(f"pytest (rc {rc})")
            failures += failing_tests(plog)
    if args.suite in ("lit", "both"):
        llog = logdir / f"{label}.lit.log"
        paths = [str(args.build_dir / p) for p in shlex.split(args.lit)]
        rc, secs, timed_out = run_logged([LIT, "-q", *paths], wt, env, llog,
                                         args.timeout)
        test_s += secs
        if timed_out:
            caught_by.append("lit (timeout)")
        elif rc != 0:
            caught_by.append(f"lit (rc {rc})")
            failures += failing_tests(llog)
    res["test_s"] = round(test_s, 1)
    if label == "baseline":
        res["result"] = "FAILED" if caught_by else "PASSED"
    else:
        res["result"] = "CAUGHT" if caught_by else "MISSED"
    res["caught_by"] = caught_by
    res["failing"] = failures
    return res


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*",
                   help="mutations to run (default: all; see --list)")
    p.add_argument("--list", action="store_true",
                   help="list the mutations and exit")
    p.add_argument("--suite", choices=("pytest", "lit", "both"),
                   default="pytest")
    p.add_argument("--pytest", default="test/python/test_differential.py "
                   "test/python/test_api.py -x",
                   help="pytest arguments, run in the worktree "
                   "(default: %(default)s)")
    p.add_argument("--lit", default="test test/Unit",
                   help="lit paths relative to the build directory "
                   "(default: %(default)s, the whole lit suite as "
                   "scripts/test.sh runs it)")
    p.add_argument("--targets", nargs="*", default=None,
                   help="ninja targets (default: the Python module for "
                   "--suite pytest, everything otherwise)")
    p.add_argument("--work", type=Path,
                   default=Path("/tmp/attn-mutation-audit"),
                   help="work directory: worktree, build, logs")
    p.add_argument("--overlay", nargs="*", default=None,
                   help="files copied from this checkout over the worktree "
                   "(default: tracked files under test/ that differ from "
                   "HEAD)")
    p.add_argument("--no-overlay", action="store_true",
                   help="audit HEAD's tests as they are")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the unmutated build and run")
    p.add_argument("--baseline-only", action="store_true",
                   help="only build and test the unmutated worktree")
    p.add_argument("--timeout", type=float, default=3600,
                   help="seconds per test run; a timeout counts as caught")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--keep", action="store_true",
                   help="keep the last worktree")
    p.add_argument("--json", type=Path, help="also write the report here")
    args = p.parse_args()

    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:22} {m.file}\n{'':22} {m.why}")
        return 0
    by_name = {m.name: m for m in MUTATIONS}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        p.error(f"unknown mutation(s) {unknown}; see --list")
    chosen = [by_name[n] for n in args.names] if args.names else MUTATIONS
    if args.baseline_only:
        if args.no_baseline:
            p.error("--baseline-only and --no-baseline exclude each other")
        chosen = []

    args.work = args.work.resolve()
    args.build_dir = args.work / "build"
    wt = args.work / "wt"
    logdir = args.work / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    overlay = [] if args.no_overlay else (
        args.overlay if args.overlay is not None else default_overlay())
    commit = git("rev-parse", "HEAD").strip()
    saved = args.work / "overlay"
    snapshot_overlay(overlay, saved)
    log(f"HEAD {commit[:12]}, overlay {overlay or 'none'}, suite "
        f"{args.suite}, logs in {logdir}")

    report = []
    try:
        if not args.no_baseline:
            log("baseline (no mutation): building and testing")
            make_worktree(wt, commit, overlay, saved)
            res = build_and_test("baseline", wt, args, logdir)
            report.append(res)
            log(f"baseline: {res['result']} (build {res['build_s']} s, "
                f"tests {res.get('test_s', '-')} s)")
            if res["result"] != "PASSED":
                log("the suite does not pass without a mutation; stopping "
                    f"(failing: {res.get('failing')})")
                return 2
        for m in chosen:
            log(f"{m.name}: {m.why}")
            make_worktree(wt, commit, overlay, saved)
            why = apply(m, wt)
            if why:
                res = {"name": m.name, "result": "NOT APPLIED",
                       "detail": why}
            else:
                res = build_and_test(m.name, wt, args, logdir)
            res["file"] = m.file
            report.append(res)
            log(f"{m.name}: {res['result']} "
                f"{res.get('caught_by') or res.get('detail') or ''} "
                f"(build {res.get('build_s', '-')} s, tests "
                f"{res.get('test_s', '-')} s)")
            for f in res.get("failing", []):
                log(f"    {f}")
    finally:
        if not args.keep:
            remove_worktree(wt)

    print("\nmutation                 result        build s  tests s  "
          "caught by / first failures")
    for r in report:
        detail = ", ".join(r.get("caught_by", [])) or r.get("detail", "")
        first = r.get("failing", [])[:3]
        print(f"{r['name']:24} {r['result']:13} {r.get('build_s', '-'):>7} "
              f"{r.get('test_s', '-'):>8}  {detail}"
              + (f"; {', '.join(first)}" if first else ""))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    results = [r["result"] for r in report if r["name"] != "baseline"]
    if any(r in ("NOT APPLIED", "BUILD FAILED") for r in results):
        return 2
    return 1 if "MISSED" in results else 0


if __name__ == "__main__":
    sys.exit(main())
