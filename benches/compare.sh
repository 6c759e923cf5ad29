#!/usr/bin/env bash
# Benchmark (not a test): training and inference images/s of the reference U-Net on the CPU in the
# training-speed issue's two configurations (f=16 at 128², batch 16; f=32 at 256², batch 8):
# burn's flex backend with burn's convolutions (--burn-conv), with ours (brainseg::model::cpu_conv,
# what `train` runs), and PyTorch, one after the other on this machine in this run.
# PyTorch (CPU) is installed from PyPI into benches/.venv on first use.
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
train="$CARGO_TARGET_DIR/debug/train"
out=benches/results.txt
{
  echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  for config in "16 128 16" "32 256 8"; do
    read -r f s b <<<"$config"
    "$train" bench --arch unet --width "$f" --size "$s" --batch "$b" --steps "$steps" --burn-conv
    "$train" bench --arch unet --width "$f" --size "$s" --batch "$b" --steps "$steps"
    benches/.venv/bin/python benches/torch_unet.py --width "$f" --size "$s" --batch "$b" --steps "$steps" | grep -v parameters
  done
} | tee "$out"
