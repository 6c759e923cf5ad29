# Sourced by the scripts that score a cross-validation's fold models (sizes.sh, soups.sh), from
# the repository root: sets TRAIN (the binary; built here unless given) and defines cv_folds and
# score_held_out.
source scripts/env.sh
if [ -z "${TRAIN:-}" ]; then
  cargo build -p train
  TRAIN="$CARGO_TARGET_DIR/debug/train"
fi

# The folds of a cross-validation folder, from its folds.csv (case,fold).
cv_folds() { awk -F, 'NR > 1 {print $2}' "$1/folds.csv" | sort -un; }

# score_held_out CV_DIR DATA FOLD MODEL CSV [EVAL_ARGS ...]: MODEL's scores on the fold's held-out
# patients (`train eval --components largest`, both protocols) into CSV, written whole or not at
# all (so a resumed script can take an existing CSV as finished).
score_held_out() {
  local cv=$1 data=$2 fold=$3 model=$4 csv=$5
  shift 5
  "$TRAIN" eval --model "$model" --data "$data" --cases "$cv/lists/fold-$fold-held-out.txt" \
    --components largest --batch 32 "$@" --csv "$csv.tmp" > /dev/null
  mv "$csv.tmp" "$csv"
}
