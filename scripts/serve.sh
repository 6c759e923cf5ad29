#!/usr/bin/env bash
# Serves the web app with the shipped model at http://127.0.0.1:8080 (installs the tools on the
# first run: see scripts/setup.sh --web).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --web
source scripts/env.sh
exec trunk --config trunk.toml serve --release --address 127.0.0.1 --port "${PORT:-8080}"
