#!/usr/bin/env bash
# One device call for the accuracy issue: five-fold cross-validation over the 100 development
# patients (docs/cv/folds-dev-5.csv) of one or more recipes at GPU scale, each recipe's five folds
# side by side on the one GPU (burn's LibTorch backend), then scored out of fold by `train cv`
# itself, as on the CPU (docs/cv/README.md), on the carried (JPEG) data.
# Prepare here:  BINARIES=libtorch bash scripts/gpu/prepare.sh ../data/lgg/kaggle_3m
# and `bash scripts/gpu/aside.sh out` (the tree travels with the pack; `aside.sh back` after),
# then with the device tool, for example the shipped recipe as it is (the control: the pack's
# JPEG and the GPU against the CPU figures) and trained ten times longer:
#   run  command="RUNS='ctl long' RECIPE_long='--epochs 160' MINUTES_long=6 DEADLINE=570 bash scripts/gpu/cv.sh"  carry=["gpu-pack"]  timeout_s=600
# and here, each cv-<run>.tar unpacked into a folder of its own (cv.md and fold-K/ in it):
#   python3 scripts/analysis/paired.py CTL/cv.md LONG   (per-patient, paired, per fold and in all)
# and against the CPU's run of the same recipe on the original TIFFs:
#   python3 scripts/analysis/paired.py docs/cv/runs/fpn-dice-central-128-f16-e16/cv.md CTL
# Rehearsed on this machine (flex, a tiny model, the pack unpacked; 76 s):
#   source scripts/gpu/libtorch.sh && export "$(libtorch_env)"
#   OUT=/tmp/cvout WORK=/tmp/cvw GL=0 BACKEND=flex RUNS="ctl long" BASE="--size 32 --width 4 --levels 2 --batch 8 --epochs 1 --samples-per-epoch 32 --arch fpn --preprocessing 2" RECIPE_long="--epochs 2" MINUTES_long=1 SCHEDULE_BY_TIME_long=1 bash scripts/gpu/cv.sh
# RUNS: the recipes, in order; each RUN's flags are BASE followed by RECIPE_<run> (later flags
# win), trained for at most MINUTES_<run> minutes a fold (`--max-minutes`, with the schedule
# fitted to that time when SCHEDULE_BY_TIME_<run>=1), and every run is stopped by DEADLINE
# seconds after the call's start. A recipe whose folds do not all finish is scored on the folds
# that did. Leaves in $OUT: cv.log and cv-<run>.tar (cv.md, oof.csv, cv-last.json, each fold's
# config, metrics, scores and log; no weights: five fold models do not fit the 64 MiB).
set -uo pipefail
here=$(dirname "$0")
LOG=cv.log source "$here/start.sh"
DEADLINE=${DEADLINE:-570}
RUNS=${RUNS:-ctl}
BACKEND=${BACKEND:-libtorch}
FOLDS=${FOLDS:-docs/cv/folds-dev-5.csv}
# The shipped recipe (docs/cv/README.md: out of fold on the CPU, original TIFFs, 0.8199 over
# four draws of `--aug-missing 0.25`, 0.8146 for the draw that ships). One run is one draw:
# compare recipes over several seeds (e.g. RUNS='ctl s43' RECIPE_s43='--seed 43'), which since
# session 30 seed the initial weights too.
BASE=${BASE:---size 128 --width 16 --levels 4 --batch 16 --lr 2e-3 --optimizer adamw --schedule one-cycle --epochs 16 --samples-per-epoch 1024 --seed 42 --val-batch 32 --arch fpn --loss dice --preprocessing 2 --aug-missing 0.25}
RECIPE_ctl=${RECIPE_ctl:-}
NEED_VULKAN=0 source "$here/setup-device.sh"
bin=$WORK/bin/train-$BACKEND
[ -x "$bin" ] || bin=$(ls "$WORK"/bin/train-* | head -1)
NEED_VULKAN=0 UNPACK_ONLY=1 bash "$here/device.sh" > /dev/null 2>&1 || { step "the data did not unpack (device.log)"; exit 4; }
step "data unpacked; folds: $FOLDS; binary: $(basename "$bin") --backend $BACKEND"
folds=$(awk -F, 'NR > 1 { print $2 }' "$FOLDS" | sort -un)

for r in $RUNS; do
  recipe=RECIPE_$r minutes=MINUTES_$r by_time=SCHEDULE_BY_TIME_$r
  left=$(( DEADLINE - $(elapsed) ))
  [ "$left" -ge 60 ] || { step "run $r: skipped (${left}s left before the deadline)"; continue; }
  limit=()
  [ -n "${!minutes:-}" ] && limit=(--max-minutes "${!minutes}")
  [ "${!by_time:-0}" = 1 ] && limit+=(--schedule-by-time)
  out=$WORK/cv-$r
  rm -rf "$out"
  step "run $r: folds $(echo $folds) side by side, at most ${left}s: $BASE ${!recipe} ${limit[*]}"
  # shellcheck disable=SC2206  # the recipes are word lists
  cv=("$bin" cv --folds "$FOLDS" --data "$WORK/data" --beside "$P/patients-val.txt" --out "$out"
    --backend "$BACKEND" $BASE ${!recipe} "${limit[@]}")
  pids=()
  for k in $folds; do
    timeout "$left" "${cv[@]}" --only "$k" > "$WORK/cv-$r-fold-$k.log" 2>&1 &
    pids+=($!)
  done
  gpu_load_after 60 3 "run $r"
  wait_each "${pids[@]}"
  step "run $r: fold exits ${rcs[*]}"
  for k in $folds; do grep -E '^epoch|^best' "$WORK/cv-$r-fold-$k.log" | tail -2 | sed "s/^/fold $k: /"; done
  # The out-of-fold table over the folds that finished: `train cv --only` those folds again finds
  # them trained and scored, and writes cv.md (each fold process wrote its own as it ended).
  done_folds=$(cd "$out" 2>/dev/null && ls -d fold-*/scores-last.csv 2>/dev/null | sed 's|fold-\([0-9]*\)/.*|\1|' | paste -sd, -)
  if [ -n "$done_folds" ]; then
    "${cv[@]}" --only "$done_folds" > "$WORK/cv-$r-summary.log" 2>&1
    sed -n 5,20p "$out/cv.md"
  fi
  for k in $folds; do [ -d "$out/fold-$k" ] && cp "$WORK/cv-$r-fold-$k.log" "$out/fold-$k/cv.log"; done
  (cd "$out" 2>/dev/null && tar -cf "$OUT/cv-$r.tar" $(ls cv.md oof.csv cv-last.json folds.csv 2>/dev/null) \
    $(ls fold-*/config.json fold-*/metrics.csv fold-*/scores-last.csv fold-*/last.json fold-*/cv.log 2>/dev/null))
done
step "done"
ls -la "$OUT"
