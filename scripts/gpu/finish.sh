#!/usr/bin/env bash
# After the GPU call: re-evaluates the weights it brought back on the *uncompressed* validation
# data here (the GPU machine validated on the JPEG pack) and keeps the run under ../runs/.
#   bash scripts/gpu/finish.sh FILES_AT_OF_THE_CALL [DATA]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
SRC=${1:?the folder the device call returned (its files_at)}
DATA=${2:-../data/lgg/kaggle_3m}
VAL=${VAL:-../shared/data/patients-val.txt}
RUN=../runs/gpu-$(date +%Y%m%d-%H%M)
mkdir -p "$RUN"
cp -r "$SRC"/run/. "$RUN"/
cp "$SRC"/device.log "$RUN"/
cargo build -p train
"$CARGO_TARGET_DIR/debug/train" eval --model "$RUN/model.bpk" --data "$DATA" --cases "$VAL" --csv "$RUN/eval-val.csv" | tee "$RUN/eval-val.txt"
echo "run kept in $RUN; to ship it: cp $RUN/model.bpk web/models/default.bpk; cp $RUN/model.json web/models/default.json"
