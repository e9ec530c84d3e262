"""The host code of target='cuda' kernels against a fake CUDA driver (a
libcuda.so.1 built with the tests that records calls and runs no kernel):
the launch geometry and the TMA tensor maps the generated code asks for,
for both layouts, checked against values worked out here. Runs in a
subprocess, as the driver is found through LD_LIBRARY_PATH at start-up."""

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

import attn

FAKE_DIR = pathlib.Path(attn.__file__).resolve().parents[2] / "test" / \
    "Unit" / "FakeCuda"
SCRIPT = pathlib.Path(__file__).with_name("fake_cuda_launch.py")

pytestmark = pytest.mark.skipif(
    not (FAKE_DIR / "libcuda.so.1").exists(),
    reason="the fake driver is built with the tests (build/test/Unit)")


def run_fake(*args):
    env = dict(os.environ, LD_LIBRARY_PATH=str(FAKE_DIR))
    out = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("layout", ["bhsd", "bshd"])
def test_wgmma_host_code_launches_with_tensor_maps(layout):
    b, hq, hkv, sq, skv, d = 2, 6, 3, 130, 77, 128
    rec = run_fake(layout, "auto", b, hq, hkv, sq, skv, d)
    assert rec["launches"] == 1
    assert rec["grid"] == [math.ceil(sq / 64), b * hq, 1]
    assert rec["block"] == [128, 1, 1]
    # Two stages of K and V tiles of 64 keys (D = 128 with no score
    # modifier), 1024 bytes of alignment slack, two 8-byte mbarriers.
    block_kv = 64
    assert rec["shared"] == 1024 + 2 * block_kv * (d + d) * 2 + 16
    # One map for K and one for V, the last (V's) as the runtime got it:
    # bf16, dims innermost first, byte strides, a box of 64 columns by
    # block_kv keys.
    assert rec["encodes"] == 2
    assert rec["dataType"] == 9
    assert rec["swizzle"] == 3
    row = d * 2
    if layout == "bhsd":
        assert rec["dims"] == [d, skv, hkv, b]
        assert rec["strides"] == [row, skv * row, hkv * skv * row]
        assert rec["box"] == [64, block_kv, 1, 1]
    else:
        assert rec["dims"] == [d, hkv, skv, b]
        assert rec["strides"] == [row, hkv * row, skv * hkv * row]
        assert rec["box"] == [64, 1, block_kv, 1]


def test_sync_host_code_needs_no_tensor_maps():
    rec = run_fake("bhsd", "sync", 1, 4, 4, 65, 65, 64)
    assert rec["launches"] == 1
    assert rec["grid"] == [2, 4, 1]
    assert rec["encodes"] == 0
