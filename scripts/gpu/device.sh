#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with gpu-pack/ carried (see prepare.sh).
# Checks for a Vulkan driver first, then unpacks the data, measures the GPU, trains the
# reference-size U-Net (f=32, 256², Dice, batch 16) for as many epochs as fit in $MINUTES, and
# leaves the run folder (without its resumable checkpoints) and the log in $OUT.
#
# Local rehearsal on this CPU machine (lavapipe), small and quick:
#   OUT=/tmp/gpu-out MINUTES=2 MIN_IMAGES_PER_S=0 WIDTH=8 SIZE=64 CASES=4 bash scripts/gpu/device.sh
set -uo pipefail
P=$PWD/gpu-pack
OUT=${OUT:?OUT must name the folder to bring back}
MINUTES=${MINUTES:-7}
WIDTH=${WIDTH:-32}
SIZE=${SIZE:-256}
BATCH=${BATCH:-16}
LR=${LR:-1e-3}
MIN_IMAGES_PER_S=${MIN_IMAGES_PER_S:-20}
WORK=${WORK:-/tmp/brainseg-gpu}
mkdir -p "$OUT" "$WORK"
exec > >(tee "$OUT/device.log") 2>&1
started=$(date +%s)
step() { echo "== [$(( $(date +%s) - started ))s] $*"; }

step "GPU and Vulkan"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "(no nvidia-smi)"
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  echo "no Vulkan loader installed: using the carried one"
  export LD_LIBRARY_PATH="$P/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
icd=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null | grep -i nvidia | head -1)
if [ -z "$icd" ]; then
  # The NVIDIA driver implements Vulkan in libGLX_nvidia; containers started without the
  # "graphics" capability lack the ICD file that points the loader at it.
  lib=$(ldconfig -p | awk '/libGLX_nvidia.so.0 / { print $NF; exit }')
  if [ -n "$lib" ]; then
    icd=$WORK/nvidia_icd.json
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$lib" > "$icd"
    echo "wrote $icd for $lib"
  fi
fi
if [ -n "$icd" ]; then
  export VK_ICD_FILENAMES=$icd VK_DRIVER_FILES=$icd
  echo "Vulkan ICD: $icd"
else
  echo "no NVIDIA Vulkan driver (no ICD file, no libGLX_nvidia.so.0): wgpu would fall back to a CPU"
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
  ldconfig -p | grep -i -E 'nvidia|vulkan' | head -20
  [ "$MIN_IMAGES_PER_S" = 0 ] || exit 3
fi

step "unpack"
python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('$P/train.xz'), open('$WORK/train','wb'))" || exit 4
chmod +x "$WORK/train"
rm -rf "$WORK/data"
if [ -n "${CASES:-}" ]; then  # rehearsal: a few cases, plus the validation ones
  mkdir -p "$WORK/pack"
  for c in $(ls "$P/pack" | head -"$CASES") $(grep -v '^#' "$P/patients-val.txt"); do ln -sfn "$P/pack/$c" "$WORK/pack/$c"; done
  "$WORK/train" unpack "$WORK/pack" --out "$WORK/data" || exit 4
else
  "$WORK/train" unpack "$P/pack" --out "$WORK/data" || exit 4
fi

step "speed on this GPU"
bench=$("$WORK/train" bench --backend wgpu --arch unet --width "$WIDTH" --size "$SIZE" --batch "$BATCH" --steps 5 2>&1 | tail -1)
echo "$bench"
ips=$(echo "$bench" | sed -n 's/.*train \([0-9.]*\) img\/s.*/\1/p')
[ -n "$ips" ] || { echo "bench failed"; exit 5; }
# (python3 for arithmetic: bc may be missing there.)
if python3 -c "import sys; sys.exit(0 if $ips < $MIN_IMAGES_PER_S else 1)"; then
  echo "training at $ips img/s is no GPU (threshold $MIN_IMAGES_PER_S): stopping"; exit 5
fi
# Epochs of the full training set that fit in the budget, leaving ~15 % for validation.
slices=$(find "$WORK/data" -name '*_mask.tif' | wc -l)
epochs=$(python3 -c "print(max(1, int($MINUTES * 60 * 0.85 * $ips / $slices)))")
echo "$slices slices, $ips img/s: $epochs epochs in $MINUTES min"

step "train"
rm -rf "$WORK/run"
"$WORK/train" fit --backend wgpu --data "$WORK/data" --val-cases "$P/patients-val.txt" --out "$WORK/run" \
  --arch unet --width "$WIDTH" --size "$SIZE" --batch "$BATCH" --loss dice \
  --optimizer adamw --lr "$LR" --schedule one-cycle --epochs "$epochs" --max-minutes "$MINUTES" --val-batch 32
rc=$?
step "collect (fit exit $rc)"
mkdir -p "$OUT/run"
for f in config.json state.json metrics.csv curves.png best.bpk best.json model.bpk model.json; do
  [ -f "$WORK/run/$f" ] && cp "$WORK/run/$f" "$OUT/run/"
done
ls -la "$OUT/run"
exit $rc
