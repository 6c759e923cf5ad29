#!/usr/bin/env bash
# Benchmark (not a test): training and inference images/s of the reference U-Net, f=32 and f=16
# at 256², batch 1 and 8, burn's CPU backend (flex) beside PyTorch on the same machine, one after
# the other in this run. PyTorch (CPU) is installed from PyPI into benches/.venv on first use.
#   bash benches/compare.sh [steps]      → benches/results.txt
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh
steps="${1:-3}"
cargo build -p train
if [ ! -x benches/.venv/bin/python ]; then
  python3 -m venv benches/.venv
  benches/.venv/bin/pip install -q torch numpy
fi
out=benches/results.txt
{
  echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  for f in 32 16; do
    for b in 1 8; do
      "$CARGO_TARGET_DIR/debug/train" bench --arch unet --width "$f" --size 256 --batch "$b" --steps "$steps"
      benches/.venv/bin/python benches/torch_unet.py --width "$f" --size 256 --batch "$b" --steps "$steps" | grep -v parameters
    done
  done
} | tee "$out"
