"""Autotuning: the search space and its pruning, the tuning database
(round trip, concurrent writers, a tuner killed mid-sweep), attn.compile
reading it and dispatching per shape bucket, and attn-tune's command line.
Nothing here asserts a time: budgets are tiny, shapes too, and the checks
are on what was measured, stored, compiled and called."""

import csv
import importlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import attn
import attn.tuning_db as DB
from attn.tune import (Problem, TuneError, decide, host_vector_widths,
                       kernel_identity, parse_shape, search_space,
                       strip_config, with_config)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, os.pardir, os.pardir)
CLI = os.path.join(ROOT, "tools", "attn-tune", "attn-tune")
CASES = os.path.join(ROOT, "bench", "cases")
CAUSAL = attn.Spec(mask=attn.causal())
# The module; `attn.tune` is the function.
T = importlib.import_module("attn.tune")
SMALL = {"B": 1, "Hq": 1, "Hkv": 1, "Sq": 64, "Skv": 64}

# A small .mlir kernel in the bench's form: D = 16 compiles quickly.
FULL_D16 = """
!qkv = tensor<?x?x?x16xf32>
func.func @full_d16(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv) -> !qkv
  return %r : !qkv
}
"""


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    path = str(tmp_path / "tuning.db")
    monkeypatch.setenv("ATTN_TUNING_DB", path)
    return path


def _env(db):
    env = dict(os.environ)
    env["ATTN_TUNING_DB"] = db
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(attn.__file__))]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _cli(*args, db, timeout=120):
    return subprocess.run([sys.executable, CLI, *args], capture_output=True,
                          text=True, env=_env(db), timeout=timeout)


# ----------------------------------------------------------------------------
# Shapes, buckets and the kernel's identity
# ----------------------------------------------------------------------------


def test_shapes_follow_attn_run_syntax_and_defaults():
    assert parse_shape("B=1,Hq=8,Sq=1024") == {
        "B": 1, "Hq": 8, "Hkv": 8, "Sq": 1024, "Skv": 1024}
    assert parse_shape({"Sq": 1, "Skv": 4096, "Hq": 8, "Hkv": 2}) == {
        "B": 2, "Hq": 8, "Hkv": 2, "Sq": 1, "Skv": 4096}
    assert parse_shape("Sq=8,D=64", head_dim=64)["Sq"] == 8


@pytest.mark.parametrize("shape, message", [
    ("Sq=abc", "expected NAME=NON_NEGATIVE_INT"),
    ("Sq=-3", "expected NAME=NON_NEGATIVE_INT"),
    ("Q=4", "unknown size 'Q'"),
    ("Sq=4,Sq=5", "gives Sq twice"),
    ("Hq=6,Hkv=4", "multiple of Hkv"),
    ("Sq=0", "empty"),
    ("D=32", "kernel's is 64"),
    (42, "a shape is a string"),
])
def test_bad_shapes_say_what_is_wrong(shape, message):
    with pytest.raises(TuneError, match=message):
        parse_shape(shape, head_dim=64)


def test_buckets():
    assert DB.bucket(1, 4096) == DB.bucket(2, 3000) == "decode/skv4096"
    assert DB.bucket(3, 100) == "prefill/sq4/skv128"
    assert DB.bucket(1000, 1024) == DB.bucket(1024, 513) == \
        "prefill/sq1024/skv1024"
    assert DB.bucket(1025, 1024) == "prefill/sq2048/skv1024"


def test_kernel_identity_ignores_the_config_and_the_function_name():
    spec_ir = attn.to_mlir(CAUSAL, head_dim=64)
    renamed = spec_ir.replace("@attention", "@my_causal")
    assert renamed != spec_ir
    assert kernel_identity(renamed) == kernel_identity(spec_ir)
    assert kernel_identity(spec_ir) != kernel_identity(
        attn.to_mlir(attn.Spec(), head_dim=64))
    # The bench's file has no LSE output: another kernel.
    with open(os.path.join(CASES, "causal_d64.mlir")) as f:
        assert kernel_identity(f.read()) != kernel_identity(spec_ir)
    # The config is not part of the identity.
    pinned = attn.to_mlir(attn.Spec(mask=attn.causal(),
                                    config={"block_kv": 32}), head_dim=64)
    assert kernel_identity(pinned) == kernel_identity(spec_ir)


@pytest.mark.parametrize("case", ["full_d64.mlir", "causal_d64.mlir"])
def test_config_injection_reaches_the_tile_plan(case):
    with open(os.path.join(CASES, case)) as f:
        problem = Problem.from_mlir(f.read(), label=case)
    config = {"block_q": 32, "block_kv": 48, "unroll": 3,
              "vector_width": host_vector_widths()[-1]}
    text = problem.text(config)
    assert "#attn.config<" in text and strip_config(text) == problem.text({})
    assert {k: problem.tile_plan(config)[k] for k in config} == config
    assert with_config(text, {"block_kv": 64}).count("attn.config") == 1


def _run_problem(problem, shape):
    data = problem.inputs(shape)
    native = problem.compile({})
    run, out = problem.prepare(native, data)
    run()
    return data, np.array(out)


@pytest.mark.parametrize("case,spec,operands", [
    ("document_d64.mlir", attn.Spec(attn.document() & attn.causal()),
     lambda d: {"segments": (d["segments0"], d["segments1"])}),
    ("block_sparse_d64.mlir", attn.Spec(attn.block_sparse(128, 128)),
     lambda d: {"block_mask": d["dense_mask0"]}),
])
def test_mlir_kernels_with_operands_get_made_up_inputs(case, spec, operands):
    # attn-tune makes up the operands the bench's kernels take (document
    # ids, block masks) and passes them in the function's argument order:
    # the same kernel from a spec on the same operands gives the same out.
    with open(os.path.join(CASES, case)) as f:
        problem = Problem.from_mlir(f.read(), label=case)
    shape = parse_shape("B=2,Hq=2,Sq=300,Skv=300")
    data, out = _run_problem(problem, shape)
    kernel = attn.compile(spec, head_dim=64)
    want = kernel(data["q"], data["k"], data["v"], **operands(data))
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)
    if case.startswith("document"):
        seg = data["segments1"]
        assert seg.dtype == np.int32 and len(np.unique(seg[0])) == 8


def test_every_bench_case_can_be_tuned_from_the_cli():
    # Every CPU case of the benchmark builds a Problem with inputs it runs.
    shape = parse_shape("B=1,Hq=2,Sq=64")
    for case in sorted(os.listdir(CASES)):
        with open(os.path.join(CASES, case)) as f:
            problem = Problem.from_mlir(f.read(), label=case)
        _, out = _run_problem(problem, shape)
        assert np.isfinite(out.astype(np.float32)).all(), case


# ----------------------------------------------------------------------------
# The search space
# ----------------------------------------------------------------------------


def test_cpu_space_is_pruned_before_compiling():
    problem = Problem.from_spec(CAUSAL, head_dim=64)
    shapes = [parse_shape("B=1,Hq=2,Sq=256")]
    cands, rejected = search_space(problem, shapes)
    widths = host_vector_widths()
    default = problem.tile_plan({})
    assert cands
    seen = set()
    for cfg in cands:
        assert cfg["vector_width"] in widths
        vecs = cfg["block_q"] // cfg["vector_width"]
        assert cfg["block_q"] % cfg["vector_width"] == 0
        assert cfg["unroll"] * vecs <= 32
        assert cfg["block_q"] <= 256 and cfg["block_kv"] <= 256
        # The default plan leaves q_blocks unset (chosen per call).
        assert {k: default.get(k, 0) for k in cfg} != cfg
        seen.add(json.dumps(cfg, sort_keys=True))
    assert len(seen) == len(cands)
    assert {c.get("q_blocks", 0) for c in cands} == {0, 1, 4}
    whys = [why for _, why in rejected]
    assert any("accumulators" in w for w in whys)
    assert any(w == "is the default plan" for w in whys)
    # A short sequence drops the large tiles.
    short, rejected = search_space(problem, [parse_shape("Sq=40")])
    assert all(c["block_q"] <= 64 and c["block_kv"] <= 64 for c in short)
    assert all(c.get("q_blocks", 1) * c["block_q"] <= 64 for c in short)
    assert any("> Sq 40" in w for _, w in rejected)


def test_cpu_decode_space_tunes_splits_and_kv_tiles():
    problem = Problem.from_spec(attn.Spec(), head_dim=64)
    cands, rejected = search_space(problem, [parse_shape("Sq=1,Skv=512")])
    assert cands and all(set(c) == {"vector_width", "block_kv", "kv_splits"}
                         for c in cands)
    assert {c["kv_splits"] for c in cands} >= {0, 1, 2, 4}
    assert all(c["kv_splits"] * c["block_kv"] <= 512 for c in cands)
    assert any("exceed Skv" in w for _, w in rejected)


@pytest.mark.parametrize("chip", ["sm_80", "sm_90a"])
def test_gpu_space_uses_the_compilers_limits(chip):
    spec = attn.Spec(mask=attn.causal(), score_mod=attn.alibi())
    problem = Problem.from_spec(spec, dtype="float16", head_dim=128,
                                target="cuda", chip=chip)
    cands, rejected = search_space(problem, [parse_shape("Sq=4096")])
    assert cands
    for cfg in cands:
        plan = attn.tile_plan(attn.Spec(mask=attn.causal(),
                                        score_mod=attn.alibi(), config=cfg),
                              chip, dtype="float16", head_dim=128)
        assert plan["block_kv"] == cfg["block_kv"]
        assert plan["block_q"] == 16 * cfg["warps"] == cfg["block_q"]
        # Score modifiers keep the kernels at 64 keys (their ptxas limit).
        assert cfg["block_kv"] <= 64
    compiler = [w for _, w in rejected if w.startswith("compiler:")]
    assert any("block_kv = 128" in w for w in compiler), compiler
    kinds = {c["mma"] for c in cands}
    assert kinds == ({"sync", "wgmma"} if chip == "sm_90a" else {"sync"})
    if chip == "sm_90a":
        assert all(c["stages"] >= 2 and c["warps"] == 4
                   for c in cands if c["mma"] == "wgmma")
        # wgmma takes head dims of 64 or 128 only.
        d96 = Problem.from_spec(spec, dtype="float16", head_dim=96,
                                target="cuda", chip=chip)
        assert {c["mma"] for c in search_space(
            d96, [parse_shape("Sq=4096")])[0]} == {"sync"}


# ----------------------------------------------------------------------------
# The confidence rule
# ----------------------------------------------------------------------------


def test_a_candidate_must_win_a_clear_majority_by_more_than_the_spread():
    default = [10.0] * 7
    quiet = [[0.01] * 7] * 3
    # 6 of 7 rounds 20% faster: wins.
    fast = [8.0] * 6 + [11.0]
    assert decide([default, fast], quiet[:2])[:2] == (1, 6)
    # 4 of 7: not a clear majority.
    some = [8.0] * 4 + [11.0] * 3
    assert decide([default, some], quiet[:2])[0] == 0
    # Always 3% faster, but the rounds' spread is 5%: noise.
    slight = [9.7] * 7
    assert decide([default, slight], [[0.05] * 7, [0.01] * 7])[0] == 0
    assert decide([default, slight], quiet[:2])[0] == 1
    # The faster of two qualifying finalists.
    assert decide([default, fast, [7.0] * 7], quiet)[0] == 2


# ----------------------------------------------------------------------------
# The database
# ----------------------------------------------------------------------------


def test_default_path_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_TUNING_DB", str(tmp_path / "x.db"))
    assert DB.default_path() == str(tmp_path / "x.db")
    monkeypatch.delenv("ATTN_TUNING_DB")
    monkeypatch.delenv("ATTN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert DB.default_path() == str(tmp_path / "xdg" / "attn" / "tuning.db")


def test_database_round_trip_and_export_import(tmp_path):
    a = DB.TuningDB(str(tmp_path / "a.db"))
    a.add_key("k", "kern", "float32", 64, 64, "cpu", "openmp=1", "m", "lbl")
    assert a.add_trial("k", "B=1", "prefill/sq64/skv64",
                       {"block_kv": 64, "unroll": 0}, 0, "ok", 1.5, 0.1, 5,
                       0.3, version="v")
    # (key, shape, config, rung) is stored once; zero fields do not count.
    assert not a.add_trial("k", "B=1", "prefill/sq64/skv64",
                           {"block_kv": 64}, 0, "ok", 9.9)
    assert a.add_trial("k", "B=1", "prefill/sq64/skv64", {"block_kv": 64}, 1,
                       "ok", 1.4)
    a.add_trial("k", "B=1", "prefill/sq64/skv64", {"block_kv": 32}, 0,
                "invalid", detail="why")
    assert a.trial("k", "B=1", {"block_kv": 64}, 0)["ms"] == 1.5
    assert a.trial("k", "B=1", {"block_kv": 48}, 0) is None
    a.set_choice("k", "prefill/sq64/skv64", {"block_kv": 64}, 2.0, 1.4, 6, 7,
                 "won")
    a.set_choice("k", "prefill/sq64/skv64", {"block_kv": 32}, 2.0, 1.3, 7, 7,
                 "won again")
    choice = a.choices("k")["prefill/sq64/skv64"]
    assert choice["config"] == {"block_kv": 32} and choice["rounds_won"] == 7
    a.export_json(str(tmp_path / "x.json"))

    b = DB.TuningDB(str(tmp_path / "b.db"))
    assert b.import_json(str(tmp_path / "x.json")) == {
        "keys": 1, "trials": 3, "choices": 1}
    assert b.import_json(str(tmp_path / "x.json")) == {
        "keys": 0, "trials": 0, "choices": 0}
    strip = [{k: v for k, v in t.items() if k != "id"} for t in a.trials()]
    assert [{k: v for k, v in t.items() if k != "id"}
            for t in b.trials()] == strip
    assert b.choices("k") == a.choices("k") and b.keys() == a.keys()

    (tmp_path / "bad.json").write_text("{\"attn_tuning_db\": 99}")
    with pytest.raises(DB.TuningDBError, match="not an attn tuning"):
        b.import_json(str(tmp_path / "bad.json"))
    with pytest.raises(DB.TuningDBError, match="cannot read"):
        b.import_json(str(tmp_path / "missing.json"))
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(DB.TuningDBError, match="cannot open"):
        DB.TuningDB(str(tmp_path / "junk.db"))


def test_a_read_only_database_serves_lookups(tmp_path):
    path = str(tmp_path / "r.db")
    with DB.TuningDB(path) as db:
        db.set_choice("k", "b", {"block_kv": 32}, 2.0, 1.0, 7, 7, "why")
    ro = DB.TuningDB(path, readonly=True)
    assert ro.choices("k")["b"]["config"] == {"block_kv": 32}
    with pytest.raises(DB.TuningDBError, match="cannot write"):
        ro.set_choice("k", "c", {}, 1.0, 1.0, 0, 0, "")
    with pytest.raises(DB.TuningDBError, match="cannot open"):
        DB.TuningDB(str(tmp_path / "absent.db"), readonly=True)
    other = sqlite3.connect(str(tmp_path / "other.db"))
    other.execute("CREATE TABLE t (x)")
    other.commit()
    with pytest.raises(DB.TuningDBError, match="no such table: meta"):
        DB.TuningDB(str(tmp_path / "other.db"), readonly=True)


_WRITER = textwrap.dedent("""
    import sys, attn.tuning_db as DB
    db = DB.TuningDB(sys.argv[1])
    me = sys.argv[2]
    for i in range(1, 151):  # 0 is a default field, dropped from configs
        db.add_trial("k", "B=1", "b", {"block_kv": i}, 0, "ok", float(i))
        db.add_trial("k", "B=1", "b", {"block_q": i}, 0, "ok", 1.0,
                     detail=me)
        db.set_choice("k", "b" + str(i % 3), {"unroll": i}, 1.0, 1.0, 0, 0,
                      me)
""")


def test_two_concurrent_writer_processes(tmp_path):
    path = str(tmp_path / "t.db")
    DB.TuningDB(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, path, name],
                              env=_env(path), stderr=subprocess.PIPE,
                              text=True) for name in ("one", "two")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    db = DB.TuningDB(path)
    trials = db.trials("k")
    # Both wrote the same 300 (key, shape, config, rung): each stored once.
    assert len(trials) == 300
    assert sorted(t["ms"] for t in trials if "block_kv" in t["config"]) == \
        [float(i) for i in range(1, 151)]
    assert {t["detail"] for t in trials if "block_q" in t["config"]} <= \
        {"one", "two"}
    assert set(db.choices("k")) == {"b0", "b1", "b2"}
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ----------------------------------------------------------------------------
# attn.compile reads the database
# ----------------------------------------------------------------------------


class _Counting:
    """A native kernel that counts its calls."""

    def __init__(self, native):
        self.native, self.calls = native, 0

    def call(self, args):
        self.calls += 1
        return self.native.call(args)


def _store_choices(spec, choices, head_dim=16):
    problem = Problem.from_spec(spec, head_dim=head_dim)
    key = problem.key(DB.cpu_identity())
    with DB.TuningDB() as db:
        for bucket, config in choices.items():
            db.set_choice(key, bucket, config, 2.0, 1.0, 7, 7,
                          "stored by the test")
    return key


def test_compile_without_an_entry_is_unchanged(db_path):
    fn = attn.compile(CAUSAL, head_dim=16)
    assert fn.config["source"] == "default"
    assert "no entry" in fn.config["reason"]
    assert not os.path.exists(db_path)  # looking does not create it
    assert fn.config_for(64, 64)["config"] == {}


def test_compile_compiles_every_stored_config_and_dispatches(db_path):
    w = host_vector_widths()[-1]
    prefill = {"vector_width": w, "block_q": w, "block_kv": 32, "unroll": 2}
    decode = {"vector_width": w, "block_kv": 32, "kv_splits": 2}
    key = _store_choices(CAUSAL, {"prefill/sq64/skv64": prefill,
                                  "decode/skv128": decode,
                                  "prefill/sq128/skv128": {}})
    attn.clear_cache()
    fn = attn.compile(CAUSAL, head_dim=16, cache=False)
    # The default and the two tuned configs, all compiled up front.
    assert attn.cache_info()["compiles"] == 3
    cfg = fn.config
    assert cfg["source"] == "tuning database" and cfg["key"] == key
    assert cfg["buckets"]["prefill/sq64/skv64"]["config"] == prefill
    assert cfg["buckets"]["prefill/sq64/skv64"]["speedup"] == 2.0
    assert fn.config_for(60, 64)["config"] == prefill
    assert fn.config_for(1, 100)["config"] == decode
    assert fn.config_for(128, 128) == {
        "config": {}, "why": "prefill/sq128/skv128: stored by the test"}
    assert "no tuned entry" in fn.config_for(500, 500)["why"]

    sel = fn._tuned
    counters = {name: _Counting(n) for name, n in sel.natives.items()}
    sel.natives.update(counters)
    sel.default_native = default = _Counting(sel.default_native)
    rng = np.random.default_rng(0)
    for sq, skv, want in ((64, 64, prefill), (1, 128, decode),
                          (500, 500, {}), (64, 64, prefill)):
        q = rng.standard_normal((1, 2, sq, 16), dtype=np.float32)
        k = rng.standard_normal((1, 2, skv, 16), dtype=np.float32)
        v = rng.standard_normal((1, 2, skv, 16), dtype=np.float32)
        out = fn(q, k, v)
        assert fn.last_config["config"] == want
        ref = attn.reference.attention(CAUSAL, q, k, v)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    assert counters[DB.canonical_config(prefill)].calls == 2
    assert counters[DB.canonical_config(decode)].calls == 1
    assert default.calls == 1

    # A second compile in the process reuses the compiled kernels.
    attn.compile(CAUSAL, head_dim=16, cache=False)
    assert attn.cache_info()["compiles"] == 3
    # Off, pinned or another kernel: the database is not consulted.
    assert attn.compile(CAUSAL, head_dim=16,
                        tuning=False).config["reason"] == "tuning=False"
    pinned = attn.Spec(mask=attn.causal(), config={"block_kv": 64})
    assert attn.compile(pinned, head_dim=16).config["source"] == "default"
    assert attn.compile(attn.Spec(), head_dim=16).config["source"] == \
        "default"


def test_a_kernel_holds_the_fastest_few_configs(db_path):
    w = host_vector_widths()[-1]
    key = _store_choices(CAUSAL, {})
    with DB.TuningDB() as db:
        for i, bkv in enumerate((32, 48, 64, 96, 128)):
            db.set_choice(key, f"prefill/sq{64 << i}/skv{64 << i}",
                          {"vector_width": w, "block_kv": bkv}, 2.0 + i, 1.0,
                          7, 7, "stored")
    attn.clear_cache()
    fn = attn.compile(CAUSAL, head_dim=16, cache=False)
    assert attn.cache_info()["compiles"] == 1 + T.MAX_TUNED_CONFIGS
    assert fn.config["not used"] == {
        "prefill/sq64/skv64": "over the 4 configs a kernel holds"}
    assert fn.config_for(64, 64)["config"] == {}
    assert fn.config_for(1024, 1024)["config"]["block_kv"] == 128


def test_a_stored_config_this_compiler_rejects_falls_back(db_path):
    _store_choices(CAUSAL, {"prefill/sq64/skv64": {"block_q": 3}})
    with pytest.warns(UserWarning, match="does not compile"):
        fn = attn.compile(CAUSAL, head_dim=16)
    assert fn.config_for(64, 64)["config"] == {}
    assert "does not compile" in fn.config_for(64, 64)["why"]


# ----------------------------------------------------------------------------
# attn.tune
# ----------------------------------------------------------------------------


def test_tune_measures_checks_stores_and_compile_uses_it(db_path, tmp_path):
    spec = attn.Spec(mask=attn.causal())
    result = attn.tune(spec, head_dim=16, shapes=["B=1,Hq=2,Sq=64",
                                                  "B=1,Hq=2,Sq=1,Skv=64"],
                       budget_s=14, progress=False)
    assert [b.bucket for b in result.buckets] == ["prefill/sq64/skv64",
                                                  "decode/skv64"]
    ok = [t for t in result.trials if t["status"] == "ok"]
    assert ok and all(t["ms"] > 0 and t["runs"] >= 3 for t in ok)
    assert any(t["config"] == {} for t in ok)  # the default is measured
    cands = {b.bucket: search_space(Problem.from_spec(spec, head_dim=16),
                                    b.shapes)[0] for b in result.buckets}
    for t in result.trials:
        assert t["config"] == {} or t["config"] in cands[t["bucket"]]
    stored = DB.TuningDB(db_path).trials(result.key)
    assert len(stored) == len(result.trials)
    for b in result.buckets:
        assert b.config == {} or b.config in cands[b.bucket]
        assert b.stored == (b.rounds >= 3)
    result.to_csv(str(tmp_path / "t.csv"))
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].startswith("case,bucket,shape,rung,config,status,ms")
    assert len(lines) == len(result.trials) + 1

    fn = attn.compile(spec, head_dim=16)
    chosen = {b.bucket: b.config for b in result.buckets if b.stored}
    if chosen:
        assert {b: c["config"] for b, c in
                fn.config["buckets"].items()} == chosen
    else:
        assert fn.config["source"] == "default"
    # A second sweep reuses the stored trials and measures only new ones.
    again = attn.tune(spec, head_dim=16, shapes=["B=1,Hq=2,Sq=64"],
                      budget_s=3, progress=False)

    def name(t):
        return t["shape"], DB.canonical_config(t["config"]), t["rung"]
    first = {name(t): t for t in result.trials}
    assert again.trials[0]["reused"]
    for t in again.trials:
        assert t["reused"] == (name(t) in first)
        if t["reused"]:
            assert t["ms"] == first[name(t)]["ms"]


def test_a_config_whose_output_differs_never_wins(db_path, monkeypatch):
    real = T._SpecProblem.prepare

    def broken(self, kernel, data):
        run, out = real(self, kernel, data)
        if kernel.spec.config.get("block_kv") == 32:
            return run, out + 1.0  # what a miscompiled kernel would give
        return run, out
    monkeypatch.setattr(T._SpecProblem, "prepare", broken)
    monkeypatch.setattr(T, "search_space", lambda p, s: ([
        {"block_kv": 32}, {"block_kv": 48}], []))
    result = attn.tune(CAUSAL, head_dim=16, shapes=["B=1,Hq=1,Sq=64"],
                       budget_s=10, progress=False)
    status = {json.dumps(t["config"]): t["status"] for t in result.trials
              if t["rung"] == 0}
    assert status['{"block_kv": 32}'] == "mismatch"
    assert status['{"block_kv": 48}'] == "ok"
    assert result.buckets[0].config != {"block_kv": 32}
    assert {"block_kv": 32} not in result.buckets[0].finalists


def test_ctrl_c_keeps_the_measured_trials(db_path, monkeypatch):
    real, seen = T._Tuner.measure, []

    def interrupted(self, *a, **k):
        if len(seen) == 3:
            raise KeyboardInterrupt
        seen.append(1)
        return real(self, *a, **k)
    monkeypatch.setattr(T._Tuner, "measure", interrupted)
    result = attn.tune(CAUSAL, head_dim=16, shapes=["B=1,Hq=1,Sq=64"],
                       budget_s=30, progress=False)
    assert result.interrupted and len(result.trials) == 3
    assert len(DB.TuningDB(db_path).trials(result.key)) == 3
    assert not DB.TuningDB(db_path).choices(result.key)


def test_tune_rejects_what_it_cannot_do():
    with pytest.raises(TuneError, match="target must be"):
        attn.tune(CAUSAL, shapes=["Sq=8"], target="cuda-emulator")
    with pytest.raises(TuneError, match="budget_s"):
        attn.tune(CAUSAL, shapes=["Sq=8"], budget_s=0)
    with pytest.raises(TuneError, match="at least one shape"):
        attn.tune(CAUSAL, shapes=[])
    with pytest.raises(TuneError, match="pins config"):
        attn.tune(attn.Spec(config={"block_kv": 64}), shapes=["Sq=8"])
    with pytest.raises(TuneError, match="operand"):
        attn.tune(attn.Spec(normalizer=attn.sink_softmax()), shapes=["Sq=8"])
    if not attn.api._attn.cuda_status()[0]:
        with pytest.raises(TuneError, match="none is usable"):
            attn.tune(CAUSAL, shapes=["Sq=8"], target="cuda",
                      dtype="float16")


def test_plot_or_a_clear_message(tmp_path, monkeypatch, db_path):
    result = T.TuneResult("x", "k", db_path, "cpu")
    b = T.BucketResult("prefill/sq64/skv64", [SMALL])
    b.config, b.default_ms, b.tuned_ms = {"block_kv": 32}, 2.0, 1.0
    result.buckets.append(b)
    for bkv, ms in ((0, 2.0), (32, 1.0), (64, 1.5)):
        cfg = {"block_q": 16, "block_kv": bkv} if bkv else {}
        result.trials.append({"bucket": b.bucket, "shape": "B=1", "rung": 0,
                              "status": "ok", "config": cfg, "ms": ms})
    try:
        import matplotlib  # noqa: F401
        result.plot(str(tmp_path / "p.png"))
        assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    except ImportError:
        pass
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(TuneError, match="need matplotlib"):
        result.plot(str(tmp_path / "q.png"))


# ----------------------------------------------------------------------------
# attn-tune
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("args, code, message", [
    (["missing.mlir", "--shape", "Sq=8"], 1, "missing.mlir: no such file"),
    (["{case}", "--shape", "Sq=abc"], 1, "expected NAME=NON_NEGATIVE_INT"),
    (["{case}", "--shape", "Sq=8,D=32"], 1, "kernel's is 64"),
    (["{case}", "--shape", "Sq=8", "--target", "tpu"], 2,
     "invalid choice: 'tpu'"),
    (["{case}"], 2, "at least one --shape"),
    (["{case}", "--shape", "Sq=8", "--budget", "-1"], 2, "--budget must"),
    (["{sink}", "--shape", "Sq=8"], 1,
     "with the operands it can make up (dense_mask, kv_len, segments)"),
    (["--import", "missing.json"], 1, "cannot read missing.json"),
])
def test_cli_errors_are_messages_not_tracebacks(args, code, message, db_path,
                                                tmp_path):
    # A sink softmax takes the sink logits, which attn-tune does not make up.
    sink = tmp_path / "sink.mlir"
    sink.write_text(attn.to_mlir(attn.Spec(normalizer=attn.sink_softmax()),
                                 head_dim=64))
    subst = {"case": os.path.join(CASES, "full_d64.mlir"), "sink": str(sink)}
    out = _cli(*[a.format(**subst) for a in args], db=db_path)
    assert out.returncode == code, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def _wait_for_trials(db_path, count, timeout=60):
    """The number of trials stored once at least `count` are, or at the
    timeout."""
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline and stored < count:
        time.sleep(0.2)
        if os.path.exists(db_path):
            try:
                con = sqlite3.connect(db_path, timeout=5)
                stored = con.execute(
                    "SELECT COUNT(*) FROM trials").fetchone()[0]
                con.close()
            except sqlite3.OperationalError:
                pass  # the schema is being created
    return stored


def test_cli_ctrl_c_stops_cleanly(tmp_path, db_path):
    kernel = tmp_path / "full_d16.mlir"
    kernel.write_text(FULL_D16)
    proc = subprocess.Popen([sys.executable, CLI, str(kernel), "--shape",
                             "B=1,Hq=2,Sq=64", "--budget", "300", "--quiet",
                             "--csv", str(tmp_path / "t.csv")],
                            env=_env(db_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stored = _wait_for_trials(db_path, 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert stored >= 2
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    rows = (tmp_path / "t.csv").read_text().splitlines()[1:]
    assert len(rows) == len(DB.TuningDB(db_path).trials()) >= stored


def test_cli_killed_mid_sweep_resumes(tmp_path, db_path):
    kernel = tmp_path / "full_d16.mlir"
    kernel.write_text(FULL_D16)
    args = [str(kernel), "--shape", "B=1,Hq=2,Sq=64", "--quiet"]
    proc = subprocess.Popen([sys.executable, CLI, *args, "--budget", "300"],
                            env=_env(db_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    stored = _wait_for_trials(db_path, 4)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert stored >= 4, proc.stderr.read().decode()
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    before = [tuple(r) for r in con.execute(
        "SELECT shape, config, rung, ms FROM trials ORDER BY id")]
    con.close()
    assert not DB.TuningDB(db_path).choices(
        DB.TuningDB(db_path).keys()[0]["key"])

    out = _cli(*args, "--budget", "6", "--csv", str(tmp_path / "t.csv"),
               db=db_path)
    assert out.returncode == 0, out.stderr
    assert "full_d16 prefill/sq64/skv64: config" in out.stdout
    with open(tmp_path / "t.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # The stored trials come back first, reused, with their times.
    assert len(rows) >= len(before)
    for row, (shape, config, rung, ms) in zip(rows, before):
        assert (row["reused"], row["shape"], row["config"], row["rung"],
                row["ms"]) == ("True", shape, config, str(rung),
                               "" if ms is None else str(ms))
    con = sqlite3.connect(db_path)
    after = [tuple(r) for r in con.execute(
        "SELECT shape, config, rung, ms FROM trials ORDER BY id")]
    assert after[:len(before)] == before
    assert len(after) == len(set((s, c, r) for s, c, r, _ in after))

    exported = tmp_path / "db.json"
    out = _cli("--export", str(exported), db=db_path)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(exported.read_text())["trials"]) == len(after)


def test_sampling_is_seeded_and_favours_the_default_width():
    import random
    cands = [{"vector_width": w, "block_kv": k} for w in (4, 8, 16)
             for k in range(32, 32 + 16 * 12, 16)]
    plan = {"vector_width": 16}
    a = T.sample_order(cands, plan, random.Random("s"))
    assert a == T.sample_order(cands, plan, random.Random("s"))
    assert a != T.sample_order(cands, plan, random.Random("t"))
    assert sorted(map(str, a)) == sorted(map(str, cands))
    assert [c["vector_width"] == 16 for c in a[:8]] == [True] * 3 + [False] \
        + [True] * 3 + [False]


def test_pruned_gpu_candidates_run_on_the_emulator():
    """Candidates the GPU space keeps compile and compute the default's
    output (on the GPU emulator: correctness only, nothing timed)."""
    spec = attn.Spec(mask=attn.causal())
    problem = Problem.from_spec(spec, dtype="float16", head_dim=64,
                                target="cuda", chip="sm_90a")
    cands, _ = search_space(problem, [parse_shape("Sq=40")])
    picks = [next(c for c in cands if c["mma"] == "wgmma" and
                  c["stages"] == 3),
             next(c for c in cands if c["mma"] == "sync" and
                  c["warps"] == 2 and c["block_kv"] == 32)]
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 1, 40, 64)).astype(np.float16)
               for _ in range(3))
    ref = attn.reference.attention(spec, q, k, v)
    for cfg in [{}] + picks:
        fn = attn.compile(problem.spec_with(cfg), target="cuda-emulator",
                          chip="sm_90a", dtype="float16", head_dim=64)
        np.testing.assert_allclose(fn(q, k, v).astype(np.float32), ref,
                                   rtol=1e-2, atol=1e-2)
