#!/usr/bin/env bash
# Set up .venv with every extra and run the test suite (CPU; GPU tests are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "all,test"
. .venv/bin/activate
ruff check .
ruff format --check .
set +e
python -m pytest -n 2 -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating as a failure" >&2
  exit 1
fi
exit "$rc"
