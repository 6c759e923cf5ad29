#!/usr/bin/env bash
# Builds the web app into dist/ (release), then drops the wasm's debug-only sections (function
# names: 6.5 MB), re-pins the integrity hashes (scripts/strip-wasm.py) and pins trunk's inline
# loader script in the Content-Security-Policy (scripts/csp-pin.py). --optimize also runs
# wasm-opt -Oz first (binaryen from npm; about 10 minutes on 2 cores, so the tests skip it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh
[ -f web/models/default.bpk ] || echo "build-web: no web/models/default.bpk yet: the page will say 'no model yet'" >&2
trunk --config trunk.toml build --release
if [ "${1:-}" = "--optimize" ]; then
  [ -x "$root/tests/e2e/node_modules/.bin/wasm-opt" ] || (cd tests/e2e && npm install --no-save --no-audit --no-fund binaryen@132)
  for f in dist/*.wasm; do
    "$root/tests/e2e/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int -o "$f.opt" "$f"
    mv "$f.opt" "$f"
  done
fi
python3 scripts/strip-wasm.py dist
python3 scripts/csp-pin.py dist
du -b dist/*.wasm web/models/*.bpk 2>/dev/null | awk '{ s += $1; print } END { printf "wasm + weights: %.2f MB\n", s / 1e6 }'
