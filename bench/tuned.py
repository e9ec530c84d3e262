"""Default against tuned configs of the CPU bench's kernels, in one run.

    python bench/tuned.py --attn-run build/bin/attn-run --db tuning.db \
        [--rounds 7] [--out bench/results/DATE-tune.md] CASE [CASE ...]

A CASE is FILE.mlir:SHAPE (attn-run's --shape syntax), e.g.
causal_d64.mlir:B=1,Hq=8,Sq=2048 (FILE relative to bench/cases). For each,
the config attn-tune stored for the shape's bucket on this machine is read
from the tuning database and pinned into a copy of the file; then attn-run
runs the default and the tuned file in alternation, round after round (the
order flipping each round), so that the machine's noise falls on both. Each
call is attn-run's median of --repeat runs after a warm-up; the table gives
the medians over rounds, their ratio, the range of the per-round ratios and
the load average. A case whose bucket has no entry, or whose entry keeps
the default, is timed all the same (both sides then run the default: the
ratio shows the noise). Needs PYTHONPATH=build/python (the attn package).
"""

import argparse
import datetime
import os
import platform
import statistics
import tempfile

import attn.tuning_db as DB
from attn.tune import Problem, parse_shape
from compare import run, write_table  # bench/compare.py, beside this file

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="+", metavar="FILE.mlir:SHAPE")
    ap.add_argument("--attn-run", required=True)
    ap.add_argument("--db", help="the tuning database (default: attn's)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", help="write the table (Markdown) here too")
    ap.add_argument("--note", default="", help="a line on what was run")
    args = ap.parse_args()
    db = DB.TuningDB(args.db)
    tmp = tempfile.mkdtemp(prefix="attn-tuned-")
    cases = []
    for case in args.cases:
        name, _, shape = case.partition(":")
        path = name if os.path.isabs(name) else os.path.join(HERE, "cases",
                                                             name)
        with open(path) as f:
            problem = Problem.from_mlir(f.read(), label=name)
        s = parse_shape(shape, problem.head_dim, problem.head_dim_v)
        bucket = DB.bucket(s["Sq"], s["Skv"])
        choice = db.choices(problem.key(DB.cpu_identity())).get(bucket)
        config = choice["config"] if choice else {}
        tuned = os.path.join(tmp, f"{len(cases)}-{os.path.basename(path)}")
        with open(tuned, "w") as f:
            f.write(problem.text(config))
        cases.append({"label": f"{name} {shape}", "bucket": bucket,
                      "default": path, "tuned": tuned, "shape": shape,
                      "config": DB.canonical_config(config),
                      "stored": "no entry" if choice is None else
                      choice["reason"], "times": {"default": [],
                                                  "tuned": []},
                      "load": []})
    for r in range(args.rounds):
        for c in cases:
            order = ["default", "tuned"] if r % 2 == 0 else \
                ["tuned", "default"]
            c["load"].append(os.getloadavg()[0])
            for side in order:
                c["times"][side].append(run(args.attn_run, c[side],
                                            c["shape"], args.repeat))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    lines = [f"# attn CPU: default against tuned configs "
             f"({datetime.date.today()})", ""]
    if args.note:
        lines += [args.note, ""]
    lines += [f"- machine: {DB.cpu_identity()}; {args.rounds} alternating "
              f"rounds of attn-run --repeat={args.repeat} (median of each), "
              f"f32", "",
              "| case | bucket | default ms | tuned ms | tuned / default | "
              "per-round ratios | load | config | attn-tune's reason |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in cases:
        d = statistics.median(c["times"]["default"])
        t = statistics.median(c["times"]["tuned"])
        ratios = [y / x for x, y in zip(c["times"]["default"],
                                        c["times"]["tuned"])]
        lines.append(
            f"| {c['label']} | {c['bucket']} | {d:.2f} | {t:.2f} | "
            f"{t / d:.3f} | {min(ratios):.2f}-{max(ratios):.2f} | "
            f"{min(c['load']):.1f}-{max(c['load']):.1f} | "
            f"`{c['config']}` | {c['stored']} |")
    write_table(lines, args.out)


if __name__ == "__main__":
    main()
