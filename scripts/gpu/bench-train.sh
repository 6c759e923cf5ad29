#!/usr/bin/env bash
# One device call for the training-speed issue: the benchmark (bench.sh: PyTorch beside each
# carried `train` binary, f32 and mixed precision), then the reference model (U-Net f=32 at 256²)
# trained from scratch with the binary the benchmark found fastest, in f32 and with its fastest
# mixed-precision type side by side for the same minutes (device.sh), to see whether the DSC
# holds in 16 bits. The data unpacks while the benchmark runs. A call that starts a machine pays
# for the start once for both.
# Prepare here:  BINARIES=libtorch bash scripts/gpu/prepare.sh  (BINARIES="libtorch cuda" [CACHE=<the last
# call's files>/kernel-cache.tar] adds burn's CUDA backend to the benchmark)
# then with the device tool:
#   run  command="bash scripts/gpu/bench-train.sh"  carry=["gpu-pack"]  timeout_s=600
# and here:  bash scripts/gpu/finish.sh FILES_AT ../data/lgg/kaggle_3m  (re-scores the runs)
# BENCH_DEADLINE: seconds into the call by which the benchmark ends (default 250); DEADLINE:
# by which every training run has stopped (default 565). Without a burn figure from the
# benchmark (of TRAIN_WITH's binary) nothing trains (exit 5): the call ends early and leaves its
# device time for another.
# RUN_a / RUN_b / MINUTES override what device.sh trains and for how long.
set -uo pipefail
here=$(dirname "$0")
LOG=bench-train.log source "$here/start.sh"
BENCH_DEADLINE=${BENCH_DEADLINE:-250}
DEADLINE=${DEADLINE:-565}
# Train only with this binary (default libtorch: the reference model at WGSL's 17 img/s would see
# too few slices in these minutes to say anything, and burn's CUDA backend spent 550 s compiling
# without a step in session 27); empty: with the fastest.
TRAIN_WITH=${TRAIN_WITH-libtorch}
REFERENCE=${REFERENCE:---arch unet --width 32 --size 256 --lr 1e-3 --schedule one-cycle --preprocessing 2 --seed 5}
NEED_VULKAN=0 source "$here/setup-device.sh"

# The data (≈ 30 s) on the CPU while the GPU benchmarks.
NEED_VULKAN=0 UNPACK_ONLY=1 bash "$here/device.sh" > /dev/null 2>&1 &
unpacking=$!
DEADLINE=$BENCH_DEADLINE bash "$here/bench.sh"
wait "$unpacking" || { step "the data did not unpack (device.log)"; exit 4; }

# The fastest burn binary in f32 on the first shape (TRAIN_WITH's, if set), and its fastest
# mixed-precision type.
read -r bin f32rate mixed mixedrate < <(python3 - "$OUT/bench.tsv" "$TRAIN_WITH" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
first = rows[0][1] if rows else ""
def rate(r):
    try:
        return float(r[2])
    except (IndexError, ValueError):
        return None
burn = [(r[0].split()[0][len("train-"):], r[0].split()[1], rate(r)) for r in rows
        if r[0].startswith("train-") and len(r[0].split()) == 2 and r[1] == first
        and rate(r) is not None]
f32 = [b for b in burn if b[1] == "f32" and sys.argv[2] in ("", b[0])]
if not f32:
    print("none 0 none 0")
    sys.exit()
b = max(f32, key=lambda t: t[2])
mixed = [m for m in burn if m[0] == b[0] and m[1] != "f32"]
m = max(mixed, key=lambda t: t[2]) if mixed else ("", "none", 0)
print(b[0], b[2], m[1], m[2])
EOF
)
if [ "$bin" = none ]; then
  step "no training figure from train-${TRAIN_WITH:-*}: nothing trains (bench.log)"
  exit 5
fi
step "training with train-$bin: f32 $f32rate img/s; mixed precision: $mixed ${mixedrate} img/s"
runs=a
RUN_a=${RUN_a:-$REFERENCE}
if [ "$mixed" != none ]; then
  runs="a b"
  RUN_b=${RUN_b:-$REFERENCE --mixed-precision $mixed}
fi
# The minutes of training that fit: what is left before DEADLINE, less ~50 s for loading and
# preprocessing the slices before the first step and the last validation and export after it.
left=$(( DEADLINE - $(elapsed) - 50 ))
[ "$left" -ge 60 ] || { step "too little time left to train (${left}s)"; exit 0; }
MINUTES=${MINUTES:-$(python3 -c "print(round($left / 60, 2))")}
TRAIN_BIN=$bin RUNS=$runs RUN_a=$RUN_a RUN_b=${RUN_b:-} MINUTES=$MINUTES DEADLINE=$DEADLINE \
  bash "$here/device.sh"
rc=$?
step "done (device.sh exit $rc)"
# At most 8 files come back: the logs in one.
(cd "$OUT" && tar -cf logs.tar bench.log bench.tsv device.log bench-train.log && rm bench.log bench.tsv device.log bench-train.log)
exit $rc
