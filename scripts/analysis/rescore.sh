#!/usr/bin/env bash
# A cross-validation's fold models scored out of fold on another copy of the data (same case
# IDs, e.g. the FLAIR-only copy scripts/analysis/flair-only.py writes):
#   bash scripts/analysis/rescore.sh CV_DIR DATA OUT
# writes OUT/fold-K/scores-last.csv (fold K's last-epoch model on its held-out patients, both
# protocols, largest component), the layout scripts/analysis/paired.py reads for a candidate.
# Folds without a trained model are skipped. Resumable: a finished file is kept. TRAIN: the
# binary (default: built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 3 ] || { echo "usage: rescore.sh CV_DIR DATA OUT" >&2; exit 2; }
cv=$1 data=$2 out=$3
source scripts/analysis/fold-models.sh
for k in $(cv_folds "$cv"); do
  model="$cv/fold-$k/last.bpk"
  [ -f "$model" ] || continue
  mkdir -p "$out/fold-$k"
  csv="$out/fold-$k/scores-last.csv"
  [ -f "$csv" ] && continue
  score_held_out "$cv" "$data" "$k" "$model" "$csv"
done
echo "rescored: $out"
