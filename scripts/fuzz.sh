#!/usr/bin/env bash
# Fuzzes every parser of user bytes (brainseg::untrusted; targets in fuzz/fuzz_targets/) with
# cargo-fuzz on the nightly toolchain, SECONDS_PER_TARGET seconds each (default 180), two at a
# time. New inputs go into fuzz/corpus/<target>/ (commit them: tests/fuzz_corpus.rs replays
# them on stable in CI); a crash lands in fuzz/artifacts/<target>/ and stops that target: fix
# it, then move the file to fuzz/regressions/<target>/. Per target the executions and coverage
# are written to fuzz/last-run.txt; then each corpus is minimised (cargo fuzz cmin).
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh
seconds="${1:-180}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(slice_tiff mask_tiff file_drop manifest weights scores_csv)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo +nightly install cargo-fuzz --locked

# Seeds (fuzz/seeds/): synthetic and hostile TIFFs, manifests, weights, a DSC table (stable, the
# usual target dir). New inputs go to fuzz/corpus/, which is then minimised.
cargo test --workspace --exclude brainseg-web -- --ignored --exact write_fuzz_seeds >/dev/null

# Instrumented builds need their own target directory (other flags than the stable builds).
export CARGO_TARGET_DIR="$HOME/.cache/brainseg-fuzz-target"
cargo +nightly fuzz build --fuzz-dir fuzz
logs="$(mktemp -d)"
run_one() {
  local t="$1"
  mkdir -p "fuzz/corpus/$t"
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=4096 >"$logs/$t.log" 2>&1 \
    && echo "$t: done" || echo "$t: STOPPED (crash or error), see fuzz/artifacts/$t and $logs/$t.log"
  # Keep the smallest corpus with the same coverage (it is committed and replayed in CI).
  cargo +nightly fuzz cmin --fuzz-dir fuzz "$t" "fuzz/corpus/$t" >"$logs/$t.cmin.log" 2>&1 \
    || echo "$t: corpus minimisation failed, see $logs/$t.cmin.log"
}
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run_one "${targets[i]}" &
  [ -n "${targets[i + 1]:-}" ] && run_one "${targets[i + 1]}" &
  wait
done
{
  echo "# cargo fuzz, $(date -u +%F), ${seconds} s per target"
  for t in "${targets[@]}"; do
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*$' || echo '?')
    ft=$(grep -o 'ft: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*$' || echo '?')
    crashes=$(ls "fuzz/artifacts/$t" 2>/dev/null | grep -c '^crash-\|^oom-\|^timeout-' || true)
    corpus=$(ls "fuzz/corpus/$t" | wc -l)
    seeds=$(ls "fuzz/seeds/$t" | wc -l)
    echo "$t: executions $execs, coverage $cov edges ($ft features), $seeds seeds, corpus $corpus files, crashes/ooms/timeouts $crashes"
  done
} | tee fuzz/last-run.txt
