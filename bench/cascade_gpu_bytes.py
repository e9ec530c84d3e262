"""Global-memory bytes the GPU kernels of a shared-prefix cascade request,
against plain attention over the concatenated cache (counts, not timings;
no GPU needed).

The counts follow the kernels as generated: one CTA per block_q query rows
of one (batch row, query head) for the plain op and the suffix op, one per
block_q stacked rows of a kv head for the prefix op (attn.cascade_ir
stacks the G * B * Sq queries of each kv head's group); every CTA copies
each kv tile it visits (K and V rows up to its last key, block_kv keys a
tile, from attn.tile_plan) from global memory once, reads its Q rows once
and writes O and the LSE. The elementwise kernels (query gather, result
gathers, the merge's LSE and O) read and write each element once. L2 hits
between CTAs that read the same tiles are not modelled: on a GPU the
plain op's repeated prefix reads partly hit L2, which only a GPU measures.

    PYTHONPATH=build/python .venv/bin/python bench/cascade_gpu_bytes.py \\
        --b 8 --hq 32 --hkv 8 --sq 1 --prefix 4096 --suffix 64 --d 128
"""

from __future__ import annotations

import argparse
import math

import attn


def attention_bytes(plan, rows_per_head, heads, kv_len, sq, d, dv, e,
                    causal):
    """Bytes of one attention op: `heads` CTA columns of `rows_per_head`
    query rows over `kv_len` keys (causal: rows_per_head == sq, and row i
    sees the keys up to position kv_len - sq + i)."""
    bq, bkv = plan["block_q"], plan["block_kv"]
    total = 0
    for q0 in range(0, rows_per_head, bq):
        rows = min(bq, rows_per_head - q0)
        last = kv_len
        if causal:   # the CTA's last query sits at kv_len - sq + q0 + rows - 1
            last = kv_len - sq + q0 + rows
        keys = min(kv_len, math.ceil(last / bkv) * bkv)
        total += rows * d * e + keys * (d + dv) * e + rows * (dv * e + 4)
    return heads * total


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("b", 8), ("hq", 32), ("hkv", 8), ("sq", 1),
                          ("prefix", 4096), ("suffix", 64), ("d", 128)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--chip", default="sm_90a", choices=("sm_80", "sm_90a"))
    a = p.parse_args()
    e, d = 2, a.d
    group = a.hq // a.hkv

    def plan(mask):
        return attn.tile_plan(attn.Spec(mask, kv_len=True), target=a.chip,
                              dtype="bfloat16", head_dim=d)
    causal = plan(attn.causal())
    full = plan(None)
    q_elems, o_elems, l_elems = (a.b * a.hq * a.sq * d, a.b * a.hq * a.sq * d,
                                 a.b * a.hq * a.sq)
    plain = attention_bytes(causal, a.sq, a.b * a.hq, a.prefix + a.suffix,
                            a.sq, d, d, e, True)
    kernels = {
        "query gather": 2 * q_elems * e,
        "prefix attention": attention_bytes(full, group * a.b * a.sq, a.hkv,
                                            a.prefix, a.sq, d, d, e, False),
        "O gather": 2 * o_elems * e,
        "LSE gather": 2 * l_elems * 4,
        "suffix attention": attention_bytes(causal, a.sq, a.b * a.hq,
                                            a.suffix, a.sq, d, d, e, True),
        "merge LSE": 3 * l_elems * 4,
        "merge O": o_elems * (3 * e + 12),
    }
    cascade = sum(kernels.values())
    kv_plain = a.b * a.hq * math.ceil(a.sq / causal["block_q"]) * \
        a.prefix * 2 * d * e
    kv_prefix = a.hkv * math.ceil(group * a.b * a.sq / full["block_q"]) * \
        a.prefix * 2 * d * e
    print(f"# B{a.b} H{a.hq}/{a.hkv} Sq{a.sq} prefix {a.prefix} + suffix "
          f"{a.suffix}, D{d} bf16, {a.chip} (plans: causal {causal}, full "
          f"{full})")
    print("| kernel | MB requested |")
    print("|---|---|")
    print(f"| plain attention (1 kernel) | {plain / 1e6:.2f} |")
    for name, n in kernels.items():
        print(f"| cascade: {name} | {n / 1e6:.2f} |")
    print(f"| cascade (7 kernels) | {cascade / 1e6:.2f} |")
    print(f"\nplain / cascade bytes: {plain / cascade:.1f}; prefix K/V "
          f"requests: {kv_plain / 1e6:.1f} MB in the plain kernel, "
          f"{kv_prefix / 1e6:.1f} MB in the cascade")


if __name__ == "__main__":
    main()
