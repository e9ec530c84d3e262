"""Runs every example script in examples/python/ as its own process.

Each example checks itself against a float64 numpy computation, prints one
line ending in "OK", and exits non-zero when the check fails. New scripts
dropped into examples/python/ are picked up automatically. Scripts that
import torch (train_tiny.py) are skipped only where PyTorch is not
installed."""

import glob
import os
import re
import subprocess
import sys

import pytest

import attn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "python", "*.py")))


def test_examples_exist():
    assert EXAMPLES, "no scripts found in examples/python/"


def _needs_torch(script):
    with open(script) as f:
        return re.search(r"^(import torch|from torch|import attn\.torch)",
                         f.read(), re.M) is not None


@pytest.mark.parametrize("script", EXAMPLES, ids=os.path.basename)
def test_example(script, tmp_path):
    if _needs_torch(script):
        pytest.importorskip("torch")
    env = dict(os.environ)
    # The scripts import the same attn package this test imported (the source
    # tree, a build tree or an installed wheel), ahead of the inherited path.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(
        attn.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["ATTN_CACHE_DIR"] = str(tmp_path / "attn-cache")
    result = subprocess.run([sys.executable, script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    assert "OK" in result.stdout, output
