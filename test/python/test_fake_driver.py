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
    out = subprocess.run([sys.executable, str(SCRIPT), "launch",
                          *map(str, args)],
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


# -- arrays that stay on the GPU ---------------------------------------------


@pytest.fixture(scope="module")
def device_calls():
    env = dict(os.environ, LD_LIBRARY_PATH=str(FAKE_DIR))
    out = subprocess.run([sys.executable, str(SCRIPT), "device"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_to_device_round_trips(device_calls):
    assert device_calls["round_trip"]


def test_host_calls_copy_inputs_in_and_outputs_back(device_calls):
    # q, k, v in; O and LSE get device buffers that are only copied back.
    assert device_calls["host_call"] == {"allocs": 5, "copies": 5,
                                         "launches": 1}


def test_device_arrays_are_passed_without_copies(device_calls):
    # Only the new O and LSE are allocated; nothing is copied.
    assert device_calls["device_call"] == {"allocs": 2, "copies": 0,
                                           "launches": 1}
    assert device_calls["device_out"] == ["DeviceArray", [2, 4, 70, 64]]
    # Given outputs: nothing is allocated, and they come back.
    assert device_calls["given_outputs"] == {"allocs": 0, "copies": 0,
                                             "launches": 1}
    assert device_calls["given_returned"]
    # The TMA maps are made over the caller's K and V.
    assert device_calls["map_base_is_v"]
    # Arrays of other libraries (__cuda_array_interface__) work too.
    assert device_calls["foreign_out"] == "DeviceArray"


def test_operands_are_checked_on_the_host(device_calls):
    # Host document ids: two allocations and copies; ids on the GPU are
    # copied to the host first (two more copies) to be checked.
    assert device_calls["host_ids"] == {"allocs": 4, "copies": 2,
                                        "launches": 1}
    assert device_calls["device_ids"] == {"allocs": 4, "copies": 4,
                                          "launches": 1}
    assert "kv_len values must lie in [0, Skv = 70], got 3..75" in \
        device_calls["kv_len_checked"]


def test_torch_tensors_stay_torch_tensors(device_calls):
    # (A stand-in torch module: PyTorch is not installed here.)
    assert device_calls["torch_call"] == {"allocs": 2, "copies": 0,
                                          "launches": 1}
    assert device_calls["torch_out"] == ["torch", "bfloat16",
                                         [2, 4, 70, 64], "float32", 1]


@pytest.mark.parametrize("case,message", [
    ("foreign_bf16", "TypeError: k has typestr '<V2' (raw bytes)"),
    ("strided", "ValueError: k must be C-contiguous on the GPU"),
    ("host_address", "k cannot be given to the kernel: it is not memory the "
                     "CUDA driver knows"),
    ("short_buffer", "k cannot be given to the kernel: its allocation ends "
                     "71680 bytes after it, and the kernel reads 72704"),
    ("mixed", "q, k and v must all be on the GPU or all on the host; on the "
              "GPU: q"),
    ("host_operand_on_gpu", "segments[0] (query ids) is on the GPU; with "
                            "host q, k and v"),
    ("strided_operand", "segments[0] must be C-contiguous on the GPU"),
    ("cpu_target", "kernel was compiled for target='cpu'"),
    ("out_shape", "out must be bfloat16 of shape (2, 4, 70, 64), got "
                  "bfloat16 (2, 4, 70, 65)"),
    ("out_on_host", "out= must be a GPU array like q"),
    ("out_readonly", "out is read-only"),
    ("out_for_host_call", "out= and lse= take GPU arrays"),
    ("torch_device_1", "k is on cuda:1, but attn runs on device 0"),
    ("torch_strided", "k must be contiguous on the GPU; call .contiguous()"),
])
def test_bad_device_arguments_are_errors(device_calls, case, message):
    assert device_calls[case] is not None, f"{case} raised nothing"
    assert message in device_calls[case]
