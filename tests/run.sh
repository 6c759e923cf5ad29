#!/usr/bin/env bash
# The project's test command (README, .ci/run): every test there is.
#   0. lints: cargo fmt --check, clippy -D warnings on the native crates and on the web crate
#      (wasm32), so style and lint regressions fail CI like a failing test;
#   1. native: core + trainer unit and integration tests (cargo test), real-data checks included
#      when ../shared/data/lgg-mini exists;
#   2. wasm: the core crate's tests and the web crate's unit tests compiled to wasm32 and run by
#      wasm-bindgen-test-runner (Node);
#   3. browser: the built web app in headless Chromium (tests/e2e/e2e.test.mjs says what runs),
#      fed lgg-mini through its file input, DSC compared with `train eval`.
# Run scripts/setup.sh --web first on a new machine (.ci/run does).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh
step() { printf '\n=== %s ===\n' "$*"; }

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --exclude brainseg-web --all-targets -- -D warnings 2>&1
cargo clippy --target wasm32-unknown-unknown -p brainseg-web --all-targets -- -D warnings 2>&1
# The page as index.html builds it: no features, no burn (a cheap check: burn is not in it).
cargo clippy --target wasm32-unknown-unknown -p brainseg-web --no-default-features --bin brainseg-web -- -D warnings 2>&1

step "native tests"
cargo test --workspace --exclude brainseg-web 2>&1

step "wasm tests (core and web crate in wasm32, Node)"
# With the CPU worker's features: the same release build of burn as that program's.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --release --target wasm32-unknown-unknown -p brainseg-web --no-default-features --features cpu 2>&1

step "browser end-to-end tests"
bash tests/e2e/run.sh
