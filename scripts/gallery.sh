#!/usr/bin/env bash
# Regenerate the example gallery: every example at its default steps, writing its PNG
# figures and JSON summary into docs/_static/gallery/ (the README and the tutorials
# include them from there). Usage: bash scripts/gallery.sh [BACKEND ...]
# (default: numpyro, the faster on CPU). Takes about 15 minutes per backend on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=("${@:-numpyro}")
out=docs/_static/gallery
mkdir -p "$out"
names=$(python -c "from ppl_reparam.cli import examples_table; print(' '.join(examples_table()))")
for backend in "${backends[@]}"; do
  for name in $names; do
    echo "== $name ($backend)"
    python -m ppl_reparam.cli examples run "$name" --backend "$backend" --out "$out"
  done
done
