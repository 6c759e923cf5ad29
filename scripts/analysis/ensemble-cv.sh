#!/usr/bin/env bash
# Scores an ensemble of cross-validation runs out of fold: fold K's last-epoch models of every
# run (`train eval --model A --model B …`: probabilities averaged) on fold K's held-out cases,
# as `train cv` scores one run's fold (largest 3-D component, no TTA). Writes
# OUT/fold-K/scores-last.csv, which scripts/analysis/paired.py reads like a run's.
#   bash scripts/analysis/ensemble-cv.sh OUT RUN RUN [RUN …] [-- FOLD …]
# RUN: a `train cv --out` folder (fold-K/last.bpk, lists/fold-K-held-out.txt); the runs must
# share the folds file. DATA: the kaggle_3m folder (default ../data/lgg/kaggle_3m). Folds
# already scored are kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
DATA=${DATA:-../data/lgg/kaggle_3m}
OUT=${1:?usage: ensemble-cv.sh OUT RUN RUN [RUN …] [-- FOLD …]}; shift
runs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do runs+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ "${#runs[@]}" -ge 2 ] || { echo "an ensemble needs two runs or more" >&2; exit 2; }
folds=${*:-0 1 2 3 4}
cargo build -q -p train
for k in $folds; do
  mkdir -p "$OUT/fold-$k"
  if [ -s "$OUT/fold-$k/scores-last.csv" ]; then echo "fold $k: scored already"; continue; fi
  models=()
  for r in "${runs[@]}"; do
    [ -f "$r/fold-$k/last.bpk" ] || { echo "$r: fold $k has no last.bpk (not trained yet?)" >&2; exit 1; }
    models+=(--model "$r/fold-$k/last.bpk")
  done
  "$CARGO_TARGET_DIR/debug/train" eval "${models[@]}" --data "$DATA" --cases "${runs[0]}/lists/fold-$k-held-out.txt" \
    --components largest --batch 32 --csv "$OUT/fold-$k/scores-last.csv.part" > "$OUT/fold-$k/eval.txt"
  mv "$OUT/fold-$k/scores-last.csv.part" "$OUT/fold-$k/scores-last.csv"
  echo "fold $k: $(grep '^mean' "$OUT/fold-$k/eval.txt")"
done
