#!/usr/bin/env bash
# Create .venv (if absent) and install ppl_reparam with the given extras.
# torch is installed first, pinned, so that pip does not pull a multi-GB CUDA build:
# on the project's machines `torch==2.13.0` resolves to a CPU build stored locally.
# Elsewhere set TORCH_SPEC (e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu").
set -euo pipefail
extras="${1:-all}"
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086
python -m pip install --quiet ${TORCH_SPEC:-torch==2.13.0}
python -m pip install --quiet -e ".[${extras}]"
