#!/usr/bin/env bash
# Set up .venv with the docs tools and build the HTML docs into docs/_build/html.
# Warnings are errors and every cross-reference must resolve (-W -n); see docs/conf.py for
# how references into other projects are handled offline (DOCS_INTERSPHINX=1 links them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "all,docs"
. .venv/bin/activate
start=$SECONDS
sphinx-build -W -n --keep-going -q -b html docs docs/_build/html "$@"
echo "docs built in $((SECONDS - start)) s: open docs/_build/html/index.html"
