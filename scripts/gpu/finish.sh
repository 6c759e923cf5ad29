#!/usr/bin/env bash
# After the GPU call: keeps each run it brought back under ../runs/gpu-<date>/<run>/ and
# re-evaluates its best weights (f32) with flip TTA on the *uncompressed* validation data here
# (the GPU machine validated on the JPEG pack, without TTA).
#   bash scripts/gpu/finish.sh FILES_AT_OF_THE_CALL [DATA]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
SRC=${1:?the folder the device call returned (its files_at)}
DATA=${2:-../data/lgg/kaggle_3m}
VAL=${VAL:-../shared/data/patients-val.txt}
ROOT=${ROOT:-../runs/gpu-$(date +%Y%m%d-%H%M)}
mkdir -p "$ROOT"
cp "$SRC"/device.log "$ROOT"/
cargo build -p train
for tarball in "$SRC"/run-*.tar; do
  r=$(basename "$tarball" .tar); r=${r#run-}
  RUN=$ROOT/$r
  mkdir -p "$RUN"
  tar -xf "$tarball" -C "$RUN"
  cp "$SRC/fit-$r.log" "$RUN/" 2>/dev/null || true
  weights=$RUN/best.bpk; [ -f "$weights" ] || weights=$RUN/model.bpk
  "$CARGO_TARGET_DIR/debug/train" eval --model "$weights" --data "$DATA" --cases "$VAL" --tta \
    --csv "$RUN/eval-val.csv" | tee "$RUN/eval-val.txt"
done
echo "runs kept in $ROOT; ship one with: train ship --model $ROOT/RUN/best.bpk --out web/models/default --flip-tta --data $DATA --cases $VAL"
