#!/usr/bin/env bash
# Run the GPU-only checks on a machine with a CUDA device (they are skipped elsewhere).
# Needs a CUDA build of torch and jax[cuda]; set TORCH_SPEC accordingly for setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible to torch'"
python -m pytest -m gpu -q -rs "$@"
