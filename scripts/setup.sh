#!/usr/bin/env bash
# Set up everything hpo_widget needs on a fresh Debian machine (you are root there), idempotently:
#   system packages: Java 17+ (Spark), PostgreSQL server (integration tests), Chromium (browser
#   tests), then a virtualenv in .venv with the package (editable) and its dev tools.
# Usage: bash scripts/setup.sh [--no-system]   (--no-system skips apt-get, e.g. without root)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}

need_pkgs=()
if [[ "${1:-}" != "--no-system" ]]; then
  java_ok=0
  if command -v java >/dev/null 2>&1; then
    major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
    [[ -n "$major" && "$major" -ge 17 ]] && java_ok=1
  fi
  [[ $java_ok == 1 ]] || need_pkgs+=(openjdk-17-jre-headless)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
  if (( ${#need_pkgs[@]} )); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "setup: need root to apt-get install ${need_pkgs[*]} (or run with --no-system)" >&2
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
"$VPY" -m pip install -q --upgrade pip
# CPU-only PyTorch first, so nothing later pulls a multi-GB CUDA build (only the optional
# PyTorch notebook needs it).
"$VPY" -m pip install -q "torch==2.13.0"
"$VPY" -m pip install -q -e ".[dev]"
echo "setup: ready ($("$VPY" -c 'import hpo_widget; print("hpo_widget", hpo_widget.__version__)'))"
