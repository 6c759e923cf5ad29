#!/usr/bin/env bash
# Browser end-to-end tests: build dist/ with the shipped models, score the same files with
# `train eval` (each model listed in web/models/index.json), serve dist/ on loopback, and run
# e2e.test.mjs in headless Chromium.
# Input: ../shared/data/lgg-mini when present, else the sample slices shipped in web/samples.
# Arguments go to `node --test`, e.g. --test-name-pattern=webgpu to run some tests only;
# BRAINSEG_WEBGPU_BATCH=N runs the WebGPU test at N slices a pass (default 4, a GPU's).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
source scripts/env.sh
work="$(mktemp -d)"
trap 'kill $(cat "$work/server.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

bash scripts/build-web.sh
cargo build -p train
data="$root/../shared/data/lgg-mini/kaggle_3m"
if [ ! -d "$data" ]; then
  echo "e2e: $data not present; using the shipped samples in web/samples"
  data="$root/web/samples"
fi
# Absolute paths without '..': Chromium's file input silently drops files given as a/../b.
data="$(cd "$data" && pwd -P)"
find "$data" -name '*.tif' | sort > "$work/files.txt"
mkdir -p "$work/expected"
models=$(python3 -c 'import json, sys; print(" ".join(m["name"] for m in json.load(open(sys.argv[1]))))' web/models/index.json)
for name in $models; do
  "$CARGO_TARGET_DIR/debug/train" eval --model "web/models/$name.bpk" --data "$data" --csv "$work/expected/$name.csv"
done
first=${models%% *}
# The second model under another component rule than its manifest's (the component-rule test).
second=$(echo $models | cut -d' ' -f2)
"$CARGO_TARGET_DIR/debug/train" eval --model "web/models/$second.bpk" --data "$data" --components all \
  --csv "$work/expected/components-all.csv"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory dist >"$work/server.log" 2>&1 &
echo $! > "$work/server.pid"
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
PY

BRAINSEG_URL="http://127.0.0.1:$port" BRAINSEG_FILES="$work/files.txt" BRAINSEG_DIR="$data" BRAINSEG_EXPECTED="$work/expected/$first.csv" BRAINSEG_EXPECTED_DIR="$work/expected" \
BRAINSEG_OUT="$root/tests/e2e/out" node --test --test-concurrency=1 "$@" tests/e2e/e2e.test.mjs
