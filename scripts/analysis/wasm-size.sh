#!/usr/bin/env bash
# What a web-app wasm holds: twiggy's function sizes summed by the first path segment of each
# name (≈ the crate), largest first. Reads the wasm cargo wrote before wasm-bindgen (names kept),
# so run scripts/build-web.sh first. Installs twiggy if needed.
#   bash scripts/analysis/wasm-size.sh [brainseg-web|brainseg-worker|brainseg-worker-cpu] [ROWS]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/env.sh"
program="${1:-brainseg-web}"
rows="${2:-20}"
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/$program.wasm"
[ -f "$wasm" ] || { echo "wasm-size: $wasm missing: run scripts/build-web.sh first" >&2; exit 1; }
command -v twiggy >/dev/null || cargo install twiggy --locked
echo "$wasm: $(stat -c %s "$wasm") bytes"
twiggy top -n 1000000 "$wasm" | python3 -c '
import collections, re, sys
rows = int(sys.argv[1])
total = collections.Counter()
for line in sys.stdin:
    parts = line.split("\u250a")
    if len(parts) < 3 or not parts[0].strip().isdigit():
        continue
    size, name = int(parts[0]), parts[2].strip()
    if name.startswith(("...", "\u03a3")):
        continue
    if "section" in name or "data segment" in name or re.match(r"(elem|table)\[", name):
        key = "(sections and data: " + name[:40] + ")"
    else:
        found = re.findall(r"([a-z_][a-z0-9_]*)::", name)
        key = found[0] if found else "(unnamed)"
    total[key] += size
for key, size in total.most_common(rows):
    print(f"{size / 1e6:8.2f} MB  {key}")
' "$rows"
