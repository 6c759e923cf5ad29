#!/usr/bin/env bash
# After the GPU call: keeps each run it brought back under ../runs/gpu-<date>/<run>/ and
# re-evaluates its best weights (f32), and their average with the model the runs started from,
# with flip TTA on the *uncompressed* validation data here (the GPU machine validated on the JPEG
# pack, without TTA).
#   bash scripts/gpu/finish.sh FILES_AT_OF_THE_CALL [DATA]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
SRC=${1:?the folder the device call returned (its files_at)}
DATA=${2:-../data/lgg/kaggle_3m}
VAL=${VAL:-../shared/data/patients-val.txt}
ROOT=${ROOT:-../runs/gpu-$(date +%Y%m%d-%H%M)}
mkdir -p "$ROOT"
cp "$SRC"/device.log "$ROOT"/ 2>/dev/null || tar -xf "$SRC/logs.tar" -C "$ROOT"
# The model the runs started from (device.sh's default --init), kept as it is now: shipping a
# result replaces it.
INIT=${INIT:-web/models/unet-160.bpk}
cp "$INIT" "$ROOT/init.bpk" && cp "${INIT%.bpk}.json" "$ROOT/init.json"
cargo build -p train
for tarball in "$SRC"/run-*.tar; do
  r=$(basename "$tarball" .tar); r=${r#run-}
  RUN=$ROOT/$r
  mkdir -p "$RUN"
  tar -xf "$tarball" -C "$RUN"
  cp "$SRC/fit-$r.log" "$RUN/" 2>/dev/null || true  # older calls: beside the tar
  # A large model's last-epoch weights come back in parts (device.sh).
  if ls "$SRC/last-$r.bpk.part"* >/dev/null 2>&1; then
    cat "$SRC/last-$r.bpk.part"* > "$RUN/last.bpk"
  fi
  # Every export that came back: last (nothing selected on it), best (the epoch with the best
  # validation figure: chosen on these very cases), model (best in f16).
  for w in last best model; do
    [ -f "$RUN/$w.bpk" ] || continue
    [ "$w" = model ] && [ -f "$RUN/best.bpk" ] && continue
    "$CARGO_TARGET_DIR/debug/train" eval --model "$RUN/$w.bpk" --data "$DATA" --cases "$VAL" --tta \
      --csv "$RUN/eval-$w-val.csv" | tee "$RUN/eval-$w-val.txt"
  done
  weights=$RUN/best.bpk; [ -f "$weights" ] || weights=$RUN/last.bpk; [ -f "$weights" ] || weights=$RUN/model.bpk
  # Runs that fine-tune the shipped model: its weight average with each run ("soup") is a candidate
  # too, at no cost to the web app. In session 8 it was the one that shipped (0.9120, where the run
  # alone had 0.9111 reference but 0.8171 native: a false-positive component on one case). A run
  # of another architecture or width cannot be averaged with it (`average` refuses, saying so).
  if RUST_BACKTRACE=0 "$CARGO_TARGET_DIR/debug/train" average --model "$ROOT/init.bpk" --model "$weights" --out "$RUN/soup"; then
    "$CARGO_TARGET_DIR/debug/train" eval --model "$RUN/soup.bpk" --data "$DATA" --cases "$VAL" --tta \
      --csv "$RUN/eval-soup.csv" | tee "$RUN/eval-soup.txt"
  fi
done
echo "runs kept in $ROOT; ship one with: train ship --model $ROOT/RUN/best.bpk (or RUN/soup.bpk) --out web/models/default --flip-tta --data $DATA --cases $VAL"
