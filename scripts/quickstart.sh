#!/usr/bin/env bash
# Set everything up, run the headless example study with the CLI, write its HTML report, then open
# JupyterLab on the quickstart notebook (bound to 127.0.0.1; pass --no-lab to skip it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$(pwd)/.venv/bin:$PATH"
export PYSPARK_PYTHON="$(pwd)/.venv/bin/python"
mkdir -p .hpo-run
(
  cd .hpo-run
  hpo-widget run ../example_notebooks/specs/iris_random_forest.yaml
  hpo-widget studies
  hpo-widget report iris_random_forest -o report.html
  echo "report: $(pwd)/report.html"
)
if [[ "${1:-}" != "--no-lab" && -f example_notebooks/01_quickstart.ipynb ]]; then
  root_flag=(); [[ $(id -u) -eq 0 ]] && root_flag=(--allow-root)
  exec jupyter lab --ip=127.0.0.1 "${root_flag[@]}" example_notebooks/01_quickstart.ipynb
fi
