#!/usr/bin/env bash
# Prepares a GPU training run for the device machine (an H100 or H200, no network, no Rust there):
#   bash scripts/gpu/prepare.sh [DATA]
# then, with the device tool (one call; see docs/gpu.md):
#   run  command="MINUTES=7.5 DEADLINE=565 bash scripts/gpu/device.sh"  carry=["gpu-pack"]  timeout_s=600
# and finally, here:  bash scripts/gpu/finish.sh FILES_AT_OF_THAT_CALL
#
# Writes gpu-pack/ (git-ignored): the `train` binary (stripped, xz), the Debian packages of the
# Vulkan loader and libglvnd, the validation list, and the 100 development cases packed as JPEG
# per channel + PNG masks (`train pack`; lossy: see docs/gpu.md for what that costs in DSC) in one
# pack.tar.xz, lowering the JPEG quality from 75 until the total fits the 64 MiB a call carries.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
DATA=${1:-../data/lgg/kaggle_3m}
VAL=${VAL:-../shared/data/patients-val.txt}
QUALITY=${QUALITY:-75}
P=gpu-pack
[ -d "$DATA" ] || { echo "no data folder $DATA" >&2; exit 1; }

# The GPU binary: wgpu with cubecl's SPIR-V compiler (`vulkan`; WGSL trained at 4-5 img/s on an
# H200, docs/gpu.md). Its own target folder, so that the feature change does not rebuild burn in
# the one the tests and CI use; no debug info (it is stripped anyway). FEATURES= builds WGSL.
FEATURES=${FEATURES-vulkan}
if [ -n "$FEATURES" ]; then
  export CARGO_TARGET_DIR=$CARGO_TARGET_DIR-$FEATURES CARGO_PROFILE_DEV_DEBUG=0
  cargo build -p train --features "$FEATURES"
else
  cargo build -p train
fi
rm -rf "$P" && mkdir -p "$P"
echo "${FEATURES:-wgsl}" > "$P/features.txt"
strip -o "$P/train" "$CARGO_TARGET_DIR/debug/train"
xz -T1 -9 "$P/train"
# wgpu needs the Vulkan loader, and the NVIDIA driver's Vulkan library needs libglvnd's
# dispatch libraries; the GPU machine's image may have neither (device README): carry the
# Debian packages and unpack them there.
mkdir -p "$P/gl" /tmp/brainseg-apt/partial
apt_o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/brainseg-apt"
apt-get $apt_o update -qq
(cd "$P/gl" && apt-get $apt_o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
cp "$VAL" "$P/patients-val.txt"
# The working tree travels too: lower the JPEG quality until everything fits with a margin.
# The pack travels as one .tar.xz: as ~14,500 small files each would cost a tar header and
# padding in the transfer (~11 MB), and xz also removes the JPEG headers' repetition (-30 %).
LIMIT=64000000
tree_bytes=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 du -cb | tail -1 | cut -f1)
while :; do
  rm -rf "$P/pack" "$P/pack.tar.xz"
  "$CARGO_TARGET_DIR/debug/train" pack --data "$DATA" --out "$P/pack" --quality "$QUALITY"
  tar -cf - -C "$P" pack | xz -T2 -1 > "$P/pack.tar.xz"
  rm -rf "$P/pack"
  total=$((tree_bytes + $(du -sb "$P" | cut -f1)))
  echo "quality $QUALITY: gpu-pack + working tree = $((total / 1000000)) MB (limit $((LIMIT / 1000000)) MB of the 67.1 MB = 64 MiB a call carries)"
  [ "$total" -lt "$LIMIT" ] && break
  QUALITY=$((QUALITY - 5))
  [ "$QUALITY" -ge 30 ] || { echo "does not fit even at quality 35" >&2; exit 1; }
done
echo "$QUALITY" > "$P/quality.txt"
