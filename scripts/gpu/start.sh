# Sourced first by every script that runs on the GPU machine (bench-train.sh, cv.sh, bench.sh,
# device.sh), with LOG set:
# the carried pack (P), the folder that comes back (OUT), the machine's scratch folder (WORK),
# the call's clock (STARTED, exported, so that scripts they run count DEADLINE from the same
# start), everything printed also kept in $OUT/$LOG, and `elapsed` and `step` for the log.
P=$(realpath "${P:-gpu-pack}")
OUT=${OUT:?OUT must name the folder to bring back}
WORK=${WORK:-/tmp/brainseg-gpu}
export P OUT WORK STARTED=${STARTED:-$(date +%s)}
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/$LOG") 2>&1
elapsed() { echo $(( $(date +%s) - STARTED )); }
step() { echo "== [$(elapsed)s] $*"; }
