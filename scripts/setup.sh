#!/usr/bin/env bash
# Set up everything hpo_widget needs on a fresh Debian machine (you are root there), idempotently:
#   system packages: Java 17+ (Spark), PostgreSQL server (integration tests), Chromium (browser
#   tests), Node.js >= 20.19 + npm (builds the JupyterLab extension in labextension/), then a
#   virtualenv in .venv with the package (editable) and its dev tools, and the extension built
#   for development (linked into .venv, so `jupyter lab` from .venv loads the working copy).
# Usage: bash scripts/setup.sh [--no-system]   (--no-system skips apt-get, e.g. without root)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}

# Node >= 20.19: rspack (inside @jupyter/builder) is ESM only.
node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
             process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}

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
  if ! node_ok; then
    command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
  fi
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
if ! node_ok; then
  echo "setup: Node.js >= 20.19 with npm is needed to build the JupyterLab extension" \
    "(found: $(node --version 2>/dev/null || echo none), npm $(npm --version 2>/dev/null || echo none))." \
    "Debian 12's nodejs is 18: install Node 20.19+ (e.g. NodeSource or Debian 13's nodejs) and rerun." >&2
  exit 1
fi
# The JupyterLab extension: Node packages from the committed lock file (only when it changed),
# then a development build into hpo_widget/labextension, install.json included (the editable
# install below reuses it).
(
  cd labextension
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
  fi
)
"$VPY" -m pip install -q "jupyter_builder>=1.3"
(cd labextension && PATH="$ROOT/.venv/bin:$PATH" npm run build)
"$VPY" -m pip install -q -e ".[dev]"
# Serve the working copy's build (not the copy the editable wheel installed), so a rebuild
# (`cd labextension && npm run build`) shows after a browser reload.
LABEXT="$ROOT/.venv/share/jupyter/labextensions/hpo-widget-labextension"
if [[ ! -L "$LABEXT" ]]; then
  mkdir -p "$(dirname "$LABEXT")"
  rm -rf "$LABEXT"
  ln -s "$ROOT/hpo_widget/labextension" "$LABEXT"
fi
echo "setup: ready ($("$VPY" -c 'import hpo_widget; print("hpo_widget", hpo_widget.__version__)'))"
