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
# name|arguments added to the fixed protocol (a later flag replaces the protocol's).
RUNS=("unet-dice|--arch unet --loss dice" "resunet-dice|--arch resunet --loss dice"
      "resnext-unet-dice|--arch resnext-unet --loss dice" "fpn-dice|--arch fpn --loss dice"
      "unet-iou|--arch unet --loss iou" "unet-bce|--arch unet --loss bce" "unet-dice-bce|--arch unet --loss dice-bce")
# The cost/DSC table: the unet-dice run with one setting changed at a time.
COST=("cost-size96|--size 96" "cost-width16|--width 16" "cost-epochs16|--epochs 16"
      "cost-uniform-sampler|--sampler uniform" "cost-adam-1e-4-constant|--optimizer adam --lr 1e-4 --schedule constant"
      "cost-size128-crop64|--size 128 --crop 64")

evaluate() { # run-folder csv [--tta] [models...]
    local dir=$1 csv=$2; shift 2
    local extra=() models=()
    for a in "$@"; do if [ "$a" = --tta ]; then extra+=(--tta); else models+=(--model "$a"); fi; done
    if [ -f "$dir/$csv" ]; then echo "kept $dir/$csv"; return; fi
    "$TRAIN" eval "${models[@]}" --data "$DATA" --cases "$VAL" --batch 32 "${extra[@]}" --csv "$dir/$csv.tmp" > "$dir/${csv%.csv}.txt"
    mv "$dir/$csv.tmp" "$dir/$csv"
}

train_run() { # name "extra arguments"
    local name=$1 dir="$OUT/$1" resume=()
    read -ra extra <<< "$2"
    [ -f "$dir/state.json" ] && resume=(--resume)
    echo "== $name"
    # The protocol first, then the run's own flags; clap keeps the last of a repeated flag.
    "$TRAIN" fit --out "$dir" "${COMMON[@]}" "${extra[@]}" "${resume[@]}" 2>> "$dir.log" | tee -a "$dir.log" | tail -1
    evaluate "$dir" eval.csv "$dir/model.bpk"
}

names=()
for spec in "${RUNS[@]}"; do
    name=${spec%%|*}
    names+=("$name")
    train_run "$name" "${spec#*|}"
    evaluate "$OUT/$name" eval-tta.csv --tta "$OUT/$name/model.bpk"
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
mkdir -p "$DOCS/runs/$(basename "$ens")"
cp "$ens"/eval*.txt "$DOCS/runs/$(basename "$ens")/"

cost=("$OUT/unet-dice")
for spec in "${COST[@]}"; do
    name=${spec%%|*}
    train_run "$name" "${spec#*|}"
    cost+=("$OUT/$name")
    names+=("$name")
done
"$TRAIN" report "${cost[@]}" --out "$DOCS/cost"

for n in "${names[@]}"; do
    mkdir -p "$DOCS/runs/$n"
    cp "$OUT/$n/config.json" "$OUT/$n/metrics.csv" "$OUT/$n"/eval*.txt "$DOCS/runs/$n/"
done
echo "tables: $DOCS/table.md, $DOCS/cost/table.md; curves: $DOCS/curves.png, $DOCS/cost/curves.png"
