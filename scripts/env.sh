# Sourced by the project's scripts: one cargo target directory outside the clone, shared by
# developer builds and CI (burn cold-builds take tens of minutes on 2 cores; a fresh clone
# reuses what is already built there).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brainseg-target}"
export PATH="$HOME/.cargo/bin:$PATH"
