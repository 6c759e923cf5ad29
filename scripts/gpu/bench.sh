#!/usr/bin/env bash
# The training-speed benchmark on the GPU machine, in one call: each carried `train` binary
# (`train bench` on its backend: WGSL through wgpu, burn's CUDA backend; in f32, then with each
# of MIXED's `--mixed-precision` types) and PyTorch (the machine's own, CUDA, float32 and float16
# autocast) on the same U-Net shapes, one after the other.
# Prepare here:  PACK=0 BINARIES="wgsl cuda" bash scripts/gpu/prepare.sh
# then with the device tool:
#   run  command="bash scripts/gpu/bench.sh"  carry=["gpu-pack"]  timeout_s=600
# Leaves $OUT/bench.log; each line "… train X img/s, inference Y img/s" is one measurement.
# SHAPES: ';'-separated `--arch … --width … --size … --batch …` lists (default: the issue's
# reference model, U-Net f=32 at 256², batch 16); STEPS timed training steps each, after two
# untimed ones in which burn autotunes and compiles its kernels (the optimizer's fused update
# first runs in the second) and cuDNN chooses its kernels (PyTorch, `cudnn.benchmark`).
set -uo pipefail
P=$(realpath "${P:-gpu-pack}")
OUT=${OUT:?OUT must name the folder to bring back}
WORK=${WORK:-/tmp/brainseg-gpu}
SHAPES=${SHAPES:---arch unet --width 32 --size 256 --batch 16}
STEPS=${STEPS:-10}
# Mixed-precision types each binary also trains with (bf16 only where the backend has it: CUDA).
MIXED=${MIXED:-f16 bf16}
SECONDS_EACH=${SECONDS_EACH:-150}
PY=${PY:-/opt/torch/.venv/bin/python}
mkdir -p "$OUT" "$WORK"
exec > >(tee "$OUT/bench.log") 2>&1
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }
step() { echo "== [$(elapsed)s] $*"; }
NEED_VULKAN=0 source "$(dirname "$0")/setup-device.sh"

IFS=';' read -ra shapes <<< "$SHAPES"
for shape in "${shapes[@]}"; do
  for b in "$WORK"/bin/train-*; do
    for mixed in "" $MIXED; do
      be=$(backend_of "$b")
      # WGSL has no bf16 (`train` refuses it there at once, saying so).
      [ "$mixed" = bf16 ] && [ "$be" != cuda ] && continue
      step "$(basename "$b") --backend $be $shape ${mixed:+--mixed-precision $mixed}"
      # shellcheck disable=SC2086  # a shape is a word list
      timeout "$SECONDS_EACH" "$b" bench --backend "$be" $shape --steps "$STEPS" \
        ${mixed:+--mixed-precision "$mixed"} 2>&1 \
        | grep -v XDG_RUNTIME || echo "$(basename "$b"): failed or timed out (exit ${PIPESTATUS[0]})"
    done
  done
  # PyTorch takes the U-Net shapes only (benches/torch_unet.py is the reference U-Net).
  case "$shape" in *"--arch unet"*) ;; *) continue ;; esac
  set -- $shape
  width=32 size=256 batch=16
  while [ $# -gt 0 ]; do
    case $1 in --width) width=$2 ;; --size) size=$2 ;; --batch) batch=$2 ;; esac
    shift
  done
  for amp in "" --amp; do
    step "pytorch $amp f=$width $size² batch $batch"
    timeout "$SECONDS_EACH" "$PY" benches/torch_unet.py --device cuda --width "$width" --size "$size" \
      --batch "$batch" --steps "$STEPS" $amp 2>&1 | grep -v parameters || echo "pytorch: failed (exit ${PIPESTATUS[0]})"
  done
done
step "done"
