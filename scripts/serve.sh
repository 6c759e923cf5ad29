#!/usr/bin/env bash
# Builds the web app as shipped (scripts/build-web.sh: release, debug sections stripped) and
# serves dist/ at http://127.0.0.1:8080 (PORT to change). Installs the tools on the first run
# (scripts/setup.sh --web). For development with rebuild-on-change, use
# `trunk --config trunk.toml serve` instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --web
bash scripts/build-web.sh
echo "serving $root/dist at http://127.0.0.1:${PORT:-8080}"
exec python3 -m http.server --bind 127.0.0.1 --directory dist "${PORT:-8080}"
