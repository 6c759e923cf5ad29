# Sourced by the scripts that score a cross-validation's fold models (sizes.sh, soups.sh), from
# the repository root: sets TRAIN (the binary; built here unless given) and defines cv_folds.
source scripts/env.sh
if [ -z "${TRAIN:-}" ]; then
  cargo build -p train
  TRAIN="$CARGO_TARGET_DIR/debug/train"
fi

# The folds of a cross-validation folder, from its folds.csv (case,fold).
cv_folds() { awk -F, 'NR > 1 {print $2}' "$1/folds.csv" | sort -un; }
