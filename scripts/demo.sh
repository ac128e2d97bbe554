#!/usr/bin/env bash
# Set up .venv and run the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "all"
. .venv/bin/activate
python examples/demo.py
