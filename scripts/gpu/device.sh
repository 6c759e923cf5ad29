#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with gpu-pack/ carried (see prepare.sh).
# Sets up Vulkan, unpacks the data, and trains the runs named in $RUNS side by side on the one
# GPU, each for $MINUTES of training with its learning-rate schedule fitted to that time
# (`fit --schedule-by-time`), whatever the GPU's speed. Every run is stopped by $DEADLINE
# seconds after the start so that collecting its files fits in the 600 s a call may run.
# Leaves in $OUT: device.log and run-<run>.tar (config, metrics, curves, the fit's log, the
# best, f16 and last exports and their manifests, or for a large model the last epoch's weights
# in parts beside it, last-<run>.bpk.part*; no resumable checkpoints: they do not fit).
#
# Default runs (override RUN_<name>, or RUNS to choose): fine-tuning the shipped model at its
# input size, 160², with intensity augmentation at lr 2e-4 (a) and without it at lr 3e-4 (b):
# session 8's runs, ~105 img/s each side by side on an H200 (docs/gpu.md).
#
# The binaries are the ones prepare.sh built (gpu-pack/features.txt: WGSL by default, SPIR-V
# too with BINARIES="wgsl vulkan"); with two, each is benchmarked on $BENCH and the fastest that
# works trains (lavapipe crashes on SPIR-V, so a rehearsal here trains with WGSL).
# Local rehearsal on this CPU machine (lavapipe), small and quick:
#   OUT=/tmp/gpu-out GL=0 MINUTES=1 DEADLINE=300 CASES=3 RUN_a="--arch unet --width 8 --size 64" \
#     RUNS=a BENCH="--arch unet --width 8 --size 64 --batch 4 --steps 2" bash scripts/gpu/device.sh
set -uo pipefail
# P: the folder prepare.sh wrote (carried); the call's clock is bench-train.sh's when it runs
# this script, so that DEADLINE counts from the call's start.
LOG=device.log source "$(dirname "$0")/start.sh"
MINUTES=${MINUTES:-7}
DEADLINE=${DEADLINE:-560}
RUNS=${RUNS:-a b}
INIT=${INIT:-$PWD/web/models/unet-160.bpk}
RUN_a=${RUN_a:---arch unet --width 16 --size 160 --init $INIT --lr 2e-4 --schedule cosine --aug-intensity --seed 29}
RUN_b=${RUN_b:---arch unet --width 16 --size 160 --init $INIT --lr 3e-4 --schedule cosine --seed 31}
# The benchmark that picks the binary: the default runs' model at full size.
BENCH=${BENCH:---arch unet --width 16 --size 256 --batch 16 --steps 5}
SAMPLES=${SAMPLES:-2048}  # per epoch: each epoch ends with a validation and an export
COMMON="--batch 16 --loss dice --optimizer adamw --epochs 1000 --samples-per-epoch $SAMPLES --val-batch 32"

source "$(dirname "$0")/setup-device.sh"
# Any binary runs `unpack`; the benchmark below picks the one that trains (without one, WGSL:
# the build the tests run).
first=$WORK/bin/train-wgsl; [ -x "$first" ] || first=$(ls "$WORK"/bin/train-* | head -1)
ln -sfn "$first" "$WORK/train"
if [ -f "$WORK/data.ready" ] && [ "$WORK/data.ready" -nt "$P/pack.tar.xz" ]; then
  echo "data unpacked already ($WORK/data)"
elif [ ! -f "$P/pack.tar.xz" ]; then
  echo "no data pack (prepare.sh PACK=0): benchmarks only"
else
  rm -rf "$WORK/data" "$WORK/pack-all"
  python3 -c "import tarfile; tarfile.open('$P/pack.tar.xz').extractall('$WORK/pack-all')" || exit 4
  if [ -n "${CASES:-}" ]; then  # rehearsal: a few cases, plus the validation ones
    rm -rf "$WORK/pack" && mkdir -p "$WORK/pack"
    for c in $(ls "$WORK/pack-all/pack" | head -"$CASES") $(grep -v '^#' "$P/patients-val.txt"); do ln -sfn "$WORK/pack-all/pack/$c" "$WORK/pack/$c"; done
    "$WORK/train" unpack "$WORK/pack" --out "$WORK/data" || exit 4
  else
    "$WORK/train" unpack "$WORK/pack-all/pack" --out "$WORK/data" || exit 4
  fi
  touch "$WORK/data.ready"
fi
# UNPACK_ONLY=1: the data and nothing else (bench-train.sh unpacks it while the benchmark runs).
[ "${UNPACK_ONLY:-0}" = 1 ] && { step "data unpacked"; exit 0; }

# Each binary on the training shape (the first step, autotuning every kernel, is not timed);
# a binary that crashes or hangs is left out. The fastest trains.
step "which binary trains fastest on this GPU"
# BENCH=none, or a single binary: no benchmark (it autotunes every kernel: 95 s on an H200);
# WGSL trains if it was carried.
[ "$(ls "$WORK"/bin/train-* | wc -l)" = 1 ] && BENCH=none
best=0
[ "$BENCH" = none ] && best=skipped
# TRAIN_BIN=cuda|wgsl: that binary trains, without a benchmark (bench-train.sh has measured them).
if [ -n "${TRAIN_BIN:-}" ]; then
  [ -x "$WORK/bin/train-$TRAIN_BIN" ] || { echo "no binary train-$TRAIN_BIN carried"; exit 5; }
  ln -sfn "$WORK/bin/train-$TRAIN_BIN" "$WORK/train"
  BENCH=none best=chosen
fi
for b in $([ "$BENCH" = none ] || ls "$WORK"/bin/train-*); do
  line=$(timeout "${BENCH_SECONDS:-100}" "$b" bench --backend "$(backend_of "$b")" $BENCH 2>&1 | tee /dev/stderr | grep 'img/s' | tail -1)
  rate=$(echo "$line" | img_rate train)
  echo "$(basename "$b"): ${rate:-failed} img/s training  [$(elapsed)s]"
  if [ -n "$rate" ] && python3 -c "import sys; sys.exit(0 if $rate > $best else 1)"; then
    best=$rate; ln -sfn "$b" "$WORK/train"
  fi
done
[ "$best" != 0 ] || { echo "no binary trains on this GPU"; exit 5; }
echo "training with $(readlink "$WORK/train") ($([ -n "${TRAIN_BIN:-}" ] && echo "TRAIN_BIN" || echo "$best img/s in the benchmark"))"
backend=$(backend_of "$(readlink "$WORK/train")")
# More shapes with that binary, ';'-separated bench arguments (for choosing the next runs).
IFS=';' read -ra more <<< "${MORE_BENCH:-}"
for m in "${more[@]}"; do
  # shellcheck disable=SC2086
  timeout "${BENCH_SECONDS:-100}" "$WORK/train" bench --backend "$backend" $m 2>&1 | grep -v XDG_RUNTIME
done
[ -f "$P/pack.tar.xz" ] || { step "done (benchmarks only)"; exit 0; }

step "train: $RUNS, $MINUTES min each, side by side, stopped at ${DEADLINE}s"
pids=()
for r in $RUNS; do
  spec=RUN_$r
  rm -rf "$WORK/run-$r"
  left=$(( DEADLINE - $(elapsed) ))
  echo "run $r: ${!spec}"
  # The CUDA binary keeps compiled kernels and autotune decisions under the working folder's
  # target/environment (cubecl's persistence): each run starts from a copy of what the benchmark
  # left there, in a folder of its own, so that two processes never write one cache.
  cwd=$PWD
  if [ -d "$PWD/target/environment" ]; then
    cwd=$WORK/cwd-$r
    rm -rf "$cwd" && mkdir -p "$cwd/target" && : > "$cwd/Cargo.toml"
    cp -r "$PWD/target/environment" "$cwd/target/"
  fi
  # shellcheck disable=SC2086  # the run specs are word lists
  (cd "$cwd" && exec timeout "$left" "$WORK/train" fit --data "$WORK/data" --val-cases "$P/patients-val.txt" \
    --out "$WORK/run-$r" $COMMON --backend "$backend" --max-minutes "$MINUTES" --schedule-by-time ${!spec}) \
    > "$OUT/fit-$r.log" 2>&1 &
  pids+=($!)
done
gpu_load_after 90 5 "while training"
wait_each "${pids[@]}"

step "collect (fit exits: ${rcs[*]})"
worst=0
for r in $RUNS; do
  d=$WORK/run-$r
  [ -d "$d" ] || continue
  grep -E '^epoch|^best' "$OUT/fit-$r.log" | tail -4
  files=$(cd "$d" && ls config.json state.json metrics.csv curves.png best.json model.json last.json 2>/dev/null)
  weights=$(cd "$d" && ls best.bpk model.bpk last.bpk 2>/dev/null)
  # A file brought back holds at most 16 MiB, and all of them 64 MiB together, 8 files at most.
  # Small models' weights travel in the run's tar (best f32, best f16, last f32); a large
  # model's (U-Net f=32: 31 MB in f32) as its last epoch's f32 weights only, in 16 MB parts (two
  # for U-Net f=32, so that two runs, their tars and the logs make 7 files and about 63 MB)
  # that finish.sh joins: the figure nothing was selected on.
  if [ "$(cd "$d" && du -cb $weights /dev/null | tail -1 | cut -f1)" -lt 14000000 ]; then
    tar -cf "$OUT/run-$r.tar" -C "$d" $files $weights
  else
    tar -cf "$OUT/run-$r.tar" -C "$d" $files
    [ -f "$d/last.bpk" ] && split -b 16000000 -d "$d/last.bpk" "$OUT/last-$r.bpk.part"
  fi
  tar -rf "$OUT/run-$r.tar" -C "$OUT" "fit-$r.log" && rm "$OUT/fit-$r.log"
done
ls -la "$OUT"
for rc in "${rcs[@]}"; do [ "$rc" = 0 ] || [ "$rc" = 124 ] || worst=$rc; done
exit $worst
