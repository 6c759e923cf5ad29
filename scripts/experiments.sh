#!/usr/bin/env bash
# The experiment table of docs/experiments.md, in one command:
#   bash scripts/experiments.sh [DATA] [OUT]
# DATA: the kaggle_3m folder of the 100 development patients (default ../data/lgg/kaggle_3m, as
# laid out by shared/data/extract-lgg.sh); OUT: where the run folders go (default
# ../runs/experiments, outside the repo). Resumable: rerun it after an interruption and every
# finished run, evaluation and epoch is kept. The table and curves are written to
# docs/experiments/.
#
# Fixed protocol (affordable on 2 CPU cores, ~5 min a run): 64² inputs, width f=8, 4 levels,
# batch 16, AdamW 2e-3 with one-cycle, 8 epochs of 1024 lesion-weighted samples, reference
# augmentation, seed 42; validation on the 10 cases of patients-val.txt; the exported (f16)
# weights of the best epoch are scored by `train eval` (both protocols), with and without flip
# test-time augmentation; the two best runs by val mean DSC are ensembled.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
DATA=${1:-../data/lgg/kaggle_3m}
OUT=${2:-../runs/experiments}
VAL=${VAL:-../shared/data/patients-val.txt}
DOCS=docs/experiments
[ -d "$DATA" ] || { echo "no data folder $DATA (see shared/data/README and extract-lgg.sh)" >&2; exit 1; }
[ -f "$VAL" ] || { echo "no validation list $VAL" >&2; exit 1; }

cargo build -p train
TRAIN="$CARGO_TARGET_DIR/debug/train"
mkdir -p "$OUT" "$DOCS"
COMMON=(--size 64 --width 8 --levels 4 --batch 16 --lr 2e-3 --optimizer adamw --schedule one-cycle
        --epochs 8 --samples-per-epoch 1024 --seed 42 --val-batch 32 --data "$DATA" --val-cases "$VAL")
RUNS=(unet:dice resunet:dice resnext-unet:dice fpn:dice unet:iou unet:bce unet:dice-bce)

evaluate() { # run-folder csv [--tta] [models...]
    local dir=$1 csv=$2; shift 2
    local extra=() models=()
    for a in "$@"; do if [ "$a" = --tta ]; then extra+=(--tta); else models+=(--model "$a"); fi; done
    if [ -f "$dir/$csv" ]; then echo "kept $dir/$csv"; return; fi
    "$TRAIN" eval "${models[@]}" --data "$DATA" --cases "$VAL" --batch 32 "${extra[@]}" --csv "$dir/$csv.tmp" > "$dir/${csv%.csv}.txt"
    mv "$dir/$csv.tmp" "$dir/$csv"
}

names=()
for spec in "${RUNS[@]}"; do
    arch=${spec%%:*} loss=${spec##*:} name="$arch-$loss"
    names+=("$name")
    dir="$OUT/$name"
    resume=()
    [ -f "$dir/state.json" ] && resume=(--resume)
    echo "== $name"
    "$TRAIN" fit --arch "$arch" --loss "$loss" --out "$dir" "${COMMON[@]}" "${resume[@]}" 2>> "$dir.log" | tee -a "$dir.log" | tail -1
    evaluate "$dir" eval.csv "$dir/model.bpk"
    evaluate "$dir" eval-tta.csv --tta "$dir/model.bpk"
done

# Ensemble of the two best runs by val mean DSC (reference protocol, exported weights).
mapfile -t best < <(for n in "${names[@]}"; do
    awk -F, -v n="$n" '$1=="mean"{print $3, n}' "$OUT/$n/eval.csv"; done | sort -rn | head -2 | cut -d' ' -f2)
ens="$OUT/ensemble-${best[0]}+${best[1]}"
mkdir -p "$ens"
echo "== $ens"
evaluate "$ens" eval.csv "$OUT/${best[0]}/model.bpk" "$OUT/${best[1]}/model.bpk"
evaluate "$ens" eval-tta.csv --tta "$OUT/${best[0]}/model.bpk" "$OUT/${best[1]}/model.bpk"

dirs=()
for n in "${names[@]}"; do dirs+=("$OUT/$n"); done
"$TRAIN" report "${dirs[@]}" "$ens" --out "$DOCS"
for n in "${names[@]}"; do
    mkdir -p "$DOCS/runs/$n"
    cp "$OUT/$n/config.json" "$OUT/$n/metrics.csv" "$OUT/$n/eval.txt" "$OUT/$n/eval-tta.txt" "$DOCS/runs/$n/"
done
echo "table: $DOCS/table.md, curves: $DOCS/curves.png"
