#!/usr/bin/env bash
# A cross-validation's fold models run at other input sides than they were trained at, out of
# fold, for scripts/analysis/size-cv.py:
#   bash scripts/analysis/sizes.sh CV_DIR DATA N [N ...]
# writes CV_DIR/sizes/N/fold-K.csv: fold K's last-epoch model (`train eval --model
# fold-K/last.bpk --input-size N --components largest`) on its held-out patients, both protocols.
# Give the trained side too (the baseline; it reproduces the fold's scores-last.csv). Resumable:
# a finished file is kept. TRAIN: the binary (default: built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { echo "usage: sizes.sh CV_DIR DATA N [N ...]" >&2; exit 2; }
cv=$1 data=$2; shift 2
source scripts/analysis/fold-models.sh
folds=$(cv_folds "$cv")
for n in "$@"; do
  mkdir -p "$cv/sizes/$n"
  for k in $folds; do
    out="$cv/sizes/$n/fold-$k.csv"
    [ -f "$out" ] && continue
    score_held_out "$cv" "$data" "$k" "$cv/fold-$k/last.bpk" "$out" --input-size "$n"
  done
  echo "side $n: $cv/sizes/$n"
done
