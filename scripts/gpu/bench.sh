#!/usr/bin/env bash
# The training-speed benchmark on the GPU machine, in one call: PyTorch (the machine's own, CUDA,
# float32 and float16 autocast) and each carried `train` binary (`train bench` on its backend:
# burn's CUDA backend, WGSL through wgpu; in f32, then with each of its `--mixed-precision`
# types) on the same U-Net shapes, one after the other, within a deadline.
# Prepare here:  PACK=0 BINARIES="wgsl cuda" bash scripts/gpu/prepare.sh
# then with the device tool:
#   run  command="bash scripts/gpu/bench.sh"  carry=["gpu-pack"]  timeout_s=600
# Leaves $OUT/bench.log (each line "… train X img/s, inference Y img/s" is one measurement) and
# $OUT/bench.tsv (binary, mixed precision, shape, train img/s, inference img/s; "failed" where
# a run gave no figure), which bench-train.sh reads to choose how to train, and, for the CUDA
# binary, kernel-cache.tar: the kernels it compiled and tuned, for the next call to carry
# (prepare.sh's CACHE).
# SHAPES: ';'-separated `--arch … --width … --size … --batch …` lists (default: the issue's
# reference model, U-Net f=32 at 256², batch 16); STEPS timed training steps each, after two
# untimed ones in which burn autotunes and compiles its kernels (the optimizer's fused update
# first runs in the second) and cuDNN chooses its kernels (PyTorch, `cudnn.benchmark`).
# DEADLINE: seconds after the start past which no further measurement begins, and which no
# measurement outlives (each is also held to SECONDS_EACH). PROFILE=1 adds `train bench
# --profile` (each operation of the step alone) of the first binary on the first shape, after
# that binary's figures.
set -uo pipefail
LOG=bench.log source "$(dirname "$0")/start.sh"
SHAPES=${SHAPES:---arch unet --width 32 --size 256 --batch 16}
STEPS=${STEPS:-10}
# Mixed-precision types each backend also trains with: bf16 only where the backend has it (CUDA
# and LibTorch; `train` refuses it on WGSL at once, saying so).
MIXED_CUDA=${MIXED_CUDA-f16 bf16}
MIXED_WGPU=${MIXED_WGPU-f16}
SECONDS_EACH=${SECONDS_EACH:-150}
MIN_EACH=${MIN_EACH:-10}  # a measurement with fewer seconds left before DEADLINE is skipped
DEADLINE=${DEADLINE:-560}
PROFILE=${PROFILE:-0}
PY=${PY:-/opt/torch/.venv/bin/python}
[ -x "$PY" ] || PY=python3
# The seconds the next measurement may take: SECONDS_EACH, or what is left before DEADLINE.
budget() {
  local left=$(( DEADLINE - $(elapsed) ))
  [ "$left" -lt "$SECONDS_EACH" ] && echo "$left" || echo "$SECONDS_EACH"
}
# Runs one measurement (a command's words), keeps its figures in bench.tsv under a label.
measure() {
  local label=$1; shift
  local secs; secs=$(budget)
  if [ "$secs" -lt "$MIN_EACH" ]; then
    echo "skipped (deadline ${DEADLINE}s reached): $label"
    printf '%s\tskipped\n' "$label" >> "$OUT/bench.tsv"
    return
  fi
  step "$label (at most ${secs}s)"
  local log=$WORK/measure.log
  timeout "$secs" "$@" > "$log" 2>&1
  local rc=$?
  grep -v -e XDG_RUNTIME -e '^parameters' "$log"
  local line; line=$(grep 'img/s' "$log" | tail -1)
  local train infer
  train=$(echo "$line" | img_rate train)
  infer=$(echo "$line" | img_rate inference)
  if [ -n "$train" ]; then
    printf '%s\t%s\t%s\n' "$label" "$train" "${infer:-}" >> "$OUT/bench.tsv"
  else
    echo "failed or timed out (exit $rc): $label"
    printf '%s\tfailed\n' "$label" >> "$OUT/bench.tsv"
  fi
}
NEED_VULKAN=0 source "$(dirname "$0")/setup-device.sh"

# LibTorch first, then burn's CUDA backend: the candidates (burn's CUDA backend compiled kernels
# for 550 s without a training step in session 27); WGSL was measured before (docs/gpu.md).
bins=$(ls "$WORK"/bin/train-libtorch "$WORK"/bin/train-cuda 2>/dev/null; ls "$WORK"/bin/train-* | grep -v -e 'train-cuda$' -e 'train-libtorch$')
IFS=';' read -ra shapes <<< "$SHAPES"
for shape in "${shapes[@]}"; do
  # PyTorch first (seconds each): the reference figure every burn figure is read against.
  # It takes the U-Net shapes only (benches/torch_unet.py is the reference U-Net).
  case "$shape" in
    *"--arch unet"*)
      # shellcheck disable=SC2086  # a shape is a word list
      set -- $shape
      width=32 size=256 batch=16
      while [ $# -gt 0 ]; do
        case $1 in --width) width=$2 ;; --size) size=$2 ;; --batch) batch=$2 ;; esac
        shift
      done
      for amp in "" --amp; do
        measure "pytorch${amp:+ amp}	$shape" "$PY" benches/torch_unet.py --device cuda --width "$width" \
          --size "$size" --batch "$batch" --steps "$STEPS" $amp
      done ;;
  esac
  for b in $bins; do
    be=$(backend_of "$b")
    mixed_list=$MIXED_WGPU; [ "$be" = wgpu ] || mixed_list=$MIXED_CUDA
    for mixed in f32 $mixed_list; do
      mp=(); [ "$mixed" = f32 ] || mp=(--mixed-precision "$mixed")
      # shellcheck disable=SC2086
      measure "$(basename "$b") $mixed	$shape" "$b" bench --backend "$be" $shape --steps "$STEPS" "${mp[@]}"
    done
    # The per-operation profile of the first binary on the first shape, before the next binary.
    if [ "$PROFILE" = 1 ]; then
      PROFILE=0
      # shellcheck disable=SC2086
      measure "$(basename "$b") f32 profile	$shape" "$b" bench --backend "$be" $shape --steps "$STEPS" --profile
    fi
  done
done
# What the CUDA binary compiled and tuned, for the next call to carry (prepare.sh CACHE=…).
[ -d target/environment ] && tar -cf "$OUT/kernel-cache.tar" target/environment
step "bench done"
