#!/usr/bin/env bash
# Installs what building and testing brainseg needs. Idempotent: each step checks first.
#   scripts/setup.sh          native build and tests (font for curves.png, Vulkan driver for WGPU)
#   scripts/setup.sh --web    also the web app's tools: wasm target, trunk, wasm-bindgen-cli,
#                             Chromium and puppeteer-core for the browser tests
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
source "$here/env.sh"
web=0
[ "${1:-}" = "--web" ] && web=1

TRUNK_VERSION=0.21.14

need_apt=()
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# Mesa's lavapipe: a CPU Vulkan driver, so the WGPU backend runs on machines without a GPU.
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
if [ $web = 1 ]; then
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
mkdir -p "$CARGO_TARGET_DIR"
# tests/run.sh starts with cargo fmt --check and cargo clippy: rustup's components, which come
# with the toolchain here (rustup cannot download them on the offline machines).
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component" || {
    echo "setup: the rustup component $component is missing and could not be installed" >&2; exit 1; }
done

if [ $web = 1 ]; then
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
    echo "setup: cargo install trunk $TRUNK_VERSION (about 20 CPU-minutes)"
    cargo install trunk --locked --version "$TRUNK_VERSION"
  fi
  # wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
  wb=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb\$"; then
    echo "setup: cargo install wasm-bindgen-cli $wb (about 9 CPU-minutes)"
    cargo install wasm-bindgen-cli --version "$wb"
  fi
  # trunk.toml pins the same version; keep them in step.
  grep -q "wasm_bindgen = \"$wb\"" "$root/trunk.toml" || { echo "setup: trunk.toml must pin wasm_bindgen = \"$wb\"" >&2; exit 1; }
  if [ ! -d "$root/tests/e2e/node_modules/puppeteer-core" ]; then
    (cd "$root/tests/e2e" && npm ci --no-audit --no-fund --silent)
  fi
fi
echo "setup: ready (target dir $CARGO_TARGET_DIR)"
