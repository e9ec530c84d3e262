"""PyTorch CPU peers of one benchmark case: SDPA and compiled FlexAttention.

    python torch_peers.py '{"B": 1, "H": 8, "Sq": 1024, "Skv": 1024, "D": 64,
                            "mask": {"kind": "causal"}, "threads": 2}'

prints one JSON object: each peer's median time in ms (or the reason it
failed), FlexAttention's compile time, and the largest difference between
the two outputs as a cross-check. Inputs are BHSD, f32 unless the case
says "dtype" (a torch dtype name such as "bfloat16"); "peers" (default
["sdpa", "flex"]) chooses which peers run. Masks:

  SDPA: no mask for full, is_causal for causal with Sq == Skv, otherwise a
        boolean attn_mask [Sq, Skv] built once outside the timed region;
  Flex: torch.compile(flex_attention) with create_block_mask(mask_mod), the
        block mask built once outside the timed region (block-sparse work
        skipping is FlexAttention's to do).
"""

import json
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F

import masks

# Timed runs per peer: as many as fit in TARGET_S, within [MIN_RUNS, MAX_RUNS].
TARGET_S, MIN_RUNS, MAX_RUNS = 3.0, 3, 10


def median_ms(fn):
    fn()  # warm-up (and, for Flex, the first call after compiling)
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = max(MIN_RUNS, min(MAX_RUNS, int(TARGET_S / max(first, 1e-6))))
    times = [first]
    for _ in range(runs - 1):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, len(times)


def mask_mod_of(mask, sq, skv):
    """FlexAttention mask_mod for `mask` (None for full)."""
    off = skv - sq
    kind = mask["kind"]
    if kind == "full":
        return None
    if kind == "causal":
        return lambda b, h, q, kv: q + off >= kv
    if kind == "window":
        w = mask["window"]
        return lambda b, h, q, kv: (q + off >= kv) & (q + off - kv <= w)
    if kind == "sinks_window":
        w, n = mask["window"], mask["sinks"]
        return lambda b, h, q, kv: (q + off >= kv) & ((kv < n) | (q + off - kv <= w))
    if kind == "document":
        doc = torch.from_numpy(masks.doc_ids(mask, skv))
        return lambda b, h, q, kv: (q + off >= kv) & (doc[q + off] == doc[kv])
    raise ValueError(f"unknown mask kind {kind!r}")


def short(exc):
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def main():
    case = json.loads(sys.argv[1])
    torch.set_num_threads(case.get("threads", 2))
    torch.manual_seed(0)
    b, h, sq, skv, d = (case[k] for k in ("B", "H", "Sq", "Skv", "D"))
    mask = case["mask"]
    dtype = getattr(torch, case.get("dtype", "float32"))
    peers = case.get("peers", ["sdpa", "flex"])
    q = (torch.rand(b, h, sq, d) * 2 - 1).to(dtype)
    k = (torch.rand(b, h, skv, d) * 2 - 1).to(dtype)
    v = (torch.rand(b, h, skv, d) * 2 - 1).to(dtype)
    result = {"torch": torch.__version__,
              "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "threads": torch.get_num_threads()}

    outputs = {}
    with torch.no_grad():
        try:
            if "sdpa" not in peers:
                raise LookupError("not asked for")
            kind = mask["kind"]
            if kind == "full":
                sdpa = lambda: F.scaled_dot_product_attention(q, k, v)
            elif kind == "causal" and sq == skv:
                sdpa = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                attn_mask = torch.from_numpy(masks.dense(mask, sq, skv))
                sdpa = lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
            result["sdpa_ms"], result["sdpa_runs"] = median_ms(sdpa)
            outputs["sdpa"] = sdpa()
        except Exception as exc:  # reported in the table, not fatal
            result["sdpa_error"] = short(exc)
            if not isinstance(exc, LookupError):
                traceback.print_exc()

        try:
            if "flex" not in peers:
                raise LookupError("not asked for")
            from torch.nn.attention.flex_attention import (create_block_mask,
                                                           flex_attention)
            mod = mask_mod_of(mask, sq, skv)
            block_mask = (None if mod is None else
                          create_block_mask(mod, None, None, sq, skv, device="cpu"))
            flex = torch.compile(flex_attention)
            t0 = time.perf_counter()
            flex(q, k, v, block_mask=block_mask)
            result["flex_compile_s"] = round(time.perf_counter() - t0, 1)
            run = lambda: flex(q, k, v, block_mask=block_mask)
            result["flex_ms"], result["flex_runs"] = median_ms(run)
            outputs["flex"] = run()
        except Exception as exc:
            result["flex_error"] = short(exc)
            if not isinstance(exc, LookupError):
                traceback.print_exc()

    if len(outputs) == 2:
        result["flex_vs_sdpa_max_abs_diff"] = float(
            (outputs["sdpa"] - outputs["flex"]).abs().max())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
