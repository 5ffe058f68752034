#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: lint, types, unit + Spark + cluster +
# PostgreSQL + browser tests, and the example notebooks under nbval.  This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "$@"
export PATH="$(pwd)/.venv/bin:$PATH"
# Keep worker processes and Spark executors on the venv's interpreter.
export PYSPARK_PYTHON="$(pwd)/.venv/bin/python"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy (engine and widgets)"; mypy
echo "== pytest (unit, Spark, cluster, PostgreSQL, browser)"
python -m pytest -p no:cacheprovider --durations=15 ${PYTEST_ARGS:-}
echo "== nbval (example notebooks)"
python -m pytest -p no:cacheprovider --nbval \
  --nbval-sanitize-with example_notebooks/nbval_sanitize.cfg example_notebooks/
