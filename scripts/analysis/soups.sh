#!/usr/bin/env bash
# Checkpoint soups of a cross-validation's fold runs, measured out of fold (stochastic weight
# averaging over the last epochs of one run):
#   bash scripts/analysis/soups.sh CV_DIR DATA K [K ...]
# For each K: CV_DIR/soups/last-K/fold-F/model.{bpk,json} is `train average` of fold F's last K
# epoch checkpoints (the run needs `--keep-checkpoints`), and .../fold-F/scores-last.csv its
# scores on the fold's held-out patients (`train eval --components largest`, both protocols), in
# the layout of a fold run, so that `python3 scripts/analysis/paired.py CV_DIR/cv.md
# CV_DIR/soups/last-K` compares the soup with the run's own last epoch patient by patient.
# Resumable: a finished fold is kept; a fold whose run has not finished is skipped.
# TRAIN: the binary (default: built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { echo "usage: soups.sh CV_DIR DATA K [K ...]" >&2; exit 2; }
cv=$1 data=$2; shift 2
source scripts/analysis/fold-models.sh
folds=$(cv_folds "$cv")
for k in "$@"; do
  for f in $folds; do
    run="$cv/fold-$f" out="$cv/soups/last-$k/fold-$f"
    [ -f "$out/scores-last.csv" ] && continue
    if [ ! -f "$run/last.bpk" ]; then echo "fold $f: not finished, skipped" >&2; continue; fi
    mapfile -t ckpts < <(ls "$run"/checkpoints/epoch-*.bpk | grep -v '\.optim\.bpk$' | sort | tail -n "$k")
    if [ "${#ckpts[@]}" -lt "$k" ]; then
      echo "$run: ${#ckpts[@]} epoch checkpoints, $k wanted (train with --keep-checkpoints)" >&2
      exit 1
    fi
    mkdir -p "$out"
    args=()
    for c in "${ckpts[@]}"; do args+=(--model "$c"); done
    "$TRAIN" average "${args[@]}" --manifest "$run/model.json" --out "$out/model" > /dev/null
    score_held_out "$cv" "$data" "$f" "$out/model.bpk" "$out/scores-last.csv"
  done
  echo "last $k epochs: $cv/soups/last-$k"
done
