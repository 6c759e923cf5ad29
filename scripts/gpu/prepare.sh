#!/usr/bin/env bash
# Prepares a GPU training run for the device machine (one H100, no network, no Rust there):
#   bash scripts/gpu/prepare.sh [DATA]
# then, with the device tool (one call; see docs/gpu.md):
#   run  command="bash scripts/gpu/device.sh"  carry=["gpu-pack"]  timeout_s=600
# and finally, here:  bash scripts/gpu/finish.sh OUT_FOLDER_OF_THAT_CALL
#
# Writes gpu-pack/ (git-ignored): the `train` binary (stripped, xz), the Vulkan loader, the
# validation list, and the 100 development cases packed as JPEG quality 50 per channel + PNG
# masks (`train pack`; lossy: see docs/gpu.md for what that costs in DSC), lowering the quality
# until the total fits the 64 MiB a call may carry.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
DATA=${1:-../data/lgg/kaggle_3m}
VAL=${VAL:-../shared/data/patients-val.txt}
QUALITY=${QUALITY:-50}
P=gpu-pack
[ -d "$DATA" ] || { echo "no data folder $DATA" >&2; exit 1; }

cargo build -p train     # default features: flex + wgpu (Vulkan on the GPU machine)
rm -rf "$P" && mkdir -p "$P/lib"
strip -o "$P/train" "$CARGO_TARGET_DIR/debug/train"
xz -T1 -9 "$P/train"
# wgpu loads the Vulkan loader at run time; the GPU machine may not have one installed.
loader=$(ldconfig -p | awk '/libvulkan.so.1 / { print $NF; exit }')
[ -n "$loader" ] || { echo "no libvulkan.so.1 here: apt-get install libvulkan1" >&2; exit 1; }
cp -L "$loader" "$P/lib/libvulkan.so.1"
cp "$VAL" "$P/patients-val.txt"
# The working tree travels too: lower the JPEG quality until everything fits with a margin.
LIMIT=64000000
tree_bytes=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
while :; do
  rm -rf "$P/pack"
  "$CARGO_TARGET_DIR/debug/train" pack --data "$DATA" --out "$P/pack" --quality "$QUALITY"
  total=$((tree_bytes + $(du -sb "$P" | cut -f1)))
  echo "quality $QUALITY: gpu-pack + working tree = $((total / 1000000)) MB (limit $((LIMIT / 1000000)) MB of the 67.1 MB = 64 MiB a call carries)"
  [ "$total" -lt "$LIMIT" ] && break
  QUALITY=$((QUALITY - 5))
  [ "$QUALITY" -ge 30 ] || { echo "does not fit even at quality 35" >&2; exit 1; }
done
echo "$QUALITY" > "$P/quality.txt"
