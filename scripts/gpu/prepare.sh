#!/usr/bin/env bash
# Prepares a GPU training run for the device machine (an H100 or H200, no network, no Rust there):
#   bash scripts/gpu/prepare.sh [DATA]
# then `bash scripts/gpu/aside.sh out` (folders the device never reads leave the checkout: the tree travels too),
# the device tool (one call; see docs/gpu.md):
#   run  command="MINUTES=7.5 DEADLINE=565 bash scripts/gpu/device.sh"  carry=["gpu-pack"]  timeout_s=600
# and finally, here:  bash scripts/gpu/aside.sh back && bash scripts/gpu/finish.sh FILES_AT_OF_THAT_CALL
#
# Writes gpu-pack/ (git-ignored): the `train` binary (WGSL; SPIR-V too with BINARIES="wgsl
# vulkan"; stripped, one xz), the Debian packages of the Vulkan loader and libglvnd, the validation list, and the 100 development cases packed as JPEG
# per channel + PNG masks (`train pack`; lossy: see docs/gpu.md for what that costs in DSC) in one
# pack.tar.xz, lowering the JPEG quality from 75 until the total fits the 64 MiB a call carries.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
DATA=${1:-../data/lgg/kaggle_3m}
VAL=${VAL:-../shared/data/patients-val.txt}
QUALITY=${QUALITY:-75}
P=${P:-gpu-pack}   # another name (gpu-pack-*) keeps packs for two binaries side by side
PACK=${PACK:-1}   # PACK=0: binaries and libraries only, for a benchmark-only call (device.sh)
[ -d "$DATA" ] || { echo "no data folder $DATA" >&2; exit 1; }

# The GPU binary: wgpu with WGSL (the build the tests use; lavapipe runs it here). BINARIES="wgsl
# vulkan" adds cubecl's SPIR-V compiler (`vulkan`; it crashes lavapipe, so it is untested here),
# and device.sh then benchmarks both there and trains with the faster one that works: on an H200
# SPIR-V trained no faster (33 vs 35 img/s, docs/gpu.md) and two binaries push the JPEG quality
# from 65 down to 40. The SPIR-V one builds in its own target folder, so that the feature change
# does not rebuild burn in the one the tests and CI use; no debug info (it is stripped anyway).
# BINARIES="wgsl cuda" adds burn's CUDA backend (CUDA C++ through NVRTC; it builds offline with
# the workspace's cubecl-llvm stand-in, and runs only on the GPU machine: untested here) for
# bench.sh and device.sh, which run it with `--backend cuda`.
# BINARIES="libtorch" (or "libtorch cuda"): burn's LibTorch backend (PyTorch's CUDA kernels and
# cuDNN, linked against the PyPI wheel of the PyTorch the GPU machine has: libtorch.sh), run
# there with `--backend libtorch`. `cuda` and `libtorch` are one binary (gpu-train, features
# `cuda tch`, in the CUDA target folder) that setup-device.sh names after each backend.
BINARIES=${BINARIES:-wgsl}
rm -rf "$P" && mkdir -p "$P/bin"
cargo build -p train  # WGSL: carried, or only used here to write the pack below
gpu_built=0
for b in $BINARIES; do
  case $b in
    wgsl) strip -o "$P/bin/train-wgsl" "$CARGO_TARGET_DIR/debug/train" ;;
    cuda | libtorch)
      if [ "$gpu_built" = 0 ]; then
        # shellcheck source=scripts/gpu/libtorch.sh
        source scripts/gpu/libtorch.sh
        CARGO_TARGET_DIR=$CARGO_TARGET_DIR-cuda CARGO_PROFILE_DEV_DEBUG=0 cargo build -p train --features "cuda tch"
        strip -o "$P/bin/gpu-train" "$CARGO_TARGET_DIR-cuda/debug/train"
        gpu_built=1
      fi ;;
    *)
      CARGO_TARGET_DIR=$CARGO_TARGET_DIR-$b CARGO_PROFILE_DEV_DEBUG=0 cargo build -p train --features "$b"
      strip -o "$P/bin/train-$b" "$CARGO_TARGET_DIR-$b/debug/train" ;;
  esac
done
echo "$BINARIES" > "$P/features.txt"
# One xz stream with a window larger than a binary, so that a second binary is compressed against
# the first (the same burn, model and trainer code): WGSL + SPIR-V took 25.4 MB where they take
# 14.4 + 16.2 MB apart.
tar -cf - -C "$P" bin | xz -T1 --lzma2=preset=9e,dict=192MiB > "$P/train.tar.xz"
rm -rf "$P/bin"
ls -la "$P/train.tar.xz"
# wgpu needs the Vulkan loader, and the NVIDIA driver's Vulkan library needs libglvnd's
# dispatch libraries; the GPU machine's image may have neither (device README): carry the
# Debian packages and unpack them there.
mkdir -p "$P/gl" /tmp/brainseg-apt/partial
apt_o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/brainseg-apt"
apt-get $apt_o update -qq
(cd "$P/gl" && apt-get $apt_o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
cp "$VAL" "$P/patients-val.txt"
# CACHE=…/kernel-cache.tar: the CUDA binary's compiled kernels from an earlier call (bench.sh
# brings them back; valid for the same binary on the same GPU and driver), restored there by
# setup-device.sh.
[ -n "${CACHE:-}" ] && cp "$CACHE" "$P/kernel-cache.tar"
if [ "$PACK" = 0 ]; then
  echo "no data pack (PACK=0): $(du -sb "$P" | cut -f1) bytes in $P"
  exit 0
fi
# The working tree travels too: lower the JPEG quality until everything fits with a margin.
# The pack travels as one .tar.xz: as ~14,500 small files each would cost a tar header and
# padding in the transfer (~11 MB), and xz also removes the JPEG headers' repetition (-30 %).
LIMIT=64000000
# One du over every file: through xargs, du runs once per batch of names and `tail -1` kept only
# the last batch's total (13 MB of the tree's 20 MB, the fuzz corpus's 5,348 files among the
# rest: a call was refused for it in session 27).
# The folders `aside.sh out` moves out of the checkout before the call (13 MB: `aside.sh list`)
# are not counted: run it before the device calls (the closing line says so again).
ASIDE=$(bash scripts/gpu/aside.sh list)
tree_bytes=$( (git ls-files -z; git ls-files -z --others --exclude-standard) \
  | grep -zv -E "^($(echo "$ASIDE" | tr ' ' '|'))/" | du -cb --files0-from=- | tail -1 | cut -f1)
MIN_QUALITY=${MIN_QUALITY:-30}
while :; do
  rm -rf "$P/pack" "$P/pack.tar.xz"
  "$CARGO_TARGET_DIR/debug/train" pack --data "$DATA" --out "$P/pack" --quality "$QUALITY"
  tar -cf - -C "$P" pack | xz -T2 -1 > "$P/pack.tar.xz"
  rm -rf "$P/pack"
  total=$((tree_bytes + $(du -sb "$P" | cut -f1)))
  echo "quality $QUALITY: gpu-pack + working tree = $((total / 1000000)) MB (limit $((LIMIT / 1000000)) MB of the 67.1 MB = 64 MiB a call carries)"
  [ "$total" -lt "$LIMIT" ] && break
  [ "$QUALITY" -gt "$MIN_QUALITY" ] || { echo "does not fit even at JPEG quality $QUALITY" >&2; exit 1; }
  QUALITY=$((QUALITY - 5))
done
echo "$QUALITY" > "$P/quality.txt"
echo "before the device calls: bash scripts/gpu/aside.sh out ($ASIDE is not counted above); after them: bash scripts/gpu/aside.sh back"
