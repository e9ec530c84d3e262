"""Shared fixtures for the Python package's tests."""

import os
import sys

import pytest

try:
    import attn  # noqa: F401  (installed, or PYTHONPATH=build/python)
except ImportError:  # run against the package scripts/build.sh built
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), os.pardir, os.pardir, "build", "python"))


@pytest.fixture(autouse=True, scope="session")
def attn_cache_dir(tmp_path_factory):
    """Kernels compiled by the tests go to a fresh disk cache, never the
    user's ~/.cache/attn, and attn.compile consults the tuning database
    in that directory, which starts absent."""
    path = str(tmp_path_factory.mktemp("attn-cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTN_CACHE_DIR", path)
        mp.delenv("ATTN_TUNING_DB", raising=False)
        yield path
