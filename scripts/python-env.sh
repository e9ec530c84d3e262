#!/usr/bin/env bash
# Creates ./.venv with Debian's /usr/bin/python3 (3.11; $ATTN_PYTHON
# overrides) and installs python/requirements.txt from PyPI into it, and
# python/requirements-torch.txt (PyTorch, for attn.torch, its tests, the
# training example and the benchmarks' peers; about 5 GiB with the CUDA
# libraries PyPI's wheel depends on, 40 s to install here) unless
# ATTN_WITH_TORCH=0.
# Idempotent: an up-to-date environment costs one pip check.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${ATTN_PYTHON:-/usr/bin/python3}"
stamp=.venv/.requirements
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! cmp -s python/requirements.txt "$stamp" 2>/dev/null; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r python/requirements.txt
  cp python/requirements.txt "$stamp"
fi
if [ "${ATTN_WITH_TORCH:-1}" != 0 ] &&
   ! cmp -s python/requirements-torch.txt .venv/.requirements-torch 2>/dev/null; then
  .venv/bin/python -m pip install -q -r python/requirements-torch.txt
  cp python/requirements-torch.txt .venv/.requirements-torch
fi
