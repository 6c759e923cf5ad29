#!/usr/bin/env bash
# Moves tracked folders the GPU machine does not need out of the checkout for the device calls,
# and back afterwards:
#   bash scripts/gpu/aside.sh out    # before the `run` calls
#   bash scripts/gpu/aside.sh back   # after them (also: `git checkout -- FOLDER` restores one)
#   bash scripts/gpu/aside.sh list   # the folders it moves (prepare.sh leaves them out of its count)
# Why: a device call carries the whole working tree (tracked and untracked-not-ignored files)
# and the carried gpu-pack in 64 MiB together. Of the tree's 26 MB, 13 MB are read by nothing
# the device runs: the fuzz corpus (7 MB, 5,386 small files; the fuzzing tests), the run
# folders' figures (docs/runs, docs/experiments: 3.6 MB of curves) and the page's sample
# slices (web/samples, 2.3 MB; the browser tests). `prepare.sh` counts the tree without them and
# so packs the data at a better JPEG quality. ASIDE names the folders; they go to
# ../brainseg-aside/ (outside the checkout, so nothing ignores or carries them by accident).
# The device scripts read docs/cv (the folds) and web/models (device.sh's starting weights):
# those stay.
set -euo pipefail
cd "$(dirname "$0")/../.."
ASIDE=${ASIDE:-fuzz/corpus docs/runs docs/experiments web/samples}
STORE=../brainseg-aside
# move_all FROM TO: every ASIDE folder from FROM/NAME to TO/NAME. All are checked before any
# moves, so a missing source or an existing destination (a second `out` would otherwise nest a
# folder inside itself) leaves the tree as it was rather than half moved.
move_all() {
  for d in $ASIDE; do
    [ -d "$1/$d" ] || { echo "aside.sh: no $1/$d to move (already moved?); nothing moved" >&2; exit 1; }
    [ ! -e "$2/$d" ] || { echo "aside.sh: $2/$d exists already; nothing moved" >&2; exit 1; }
  done
  for d in $ASIDE; do
    mkdir -p "$2/$(dirname "$d")"
    mv "$1/$d" "$2/$d"
    echo "moved $1/$d to $2/$d"
  done
}
case ${1:-} in
  list) echo "$ASIDE" ;;
  out) move_all . "$STORE" ;;
  back)
    move_all "$STORE" .
    # the parents `out` made (docs/, web/): leave no empty tree behind
    find "$STORE" -depth -type d -empty -delete
    git diff --quiet -- $ASIDE || { echo "aside.sh: $ASIDE differs from git after the move" >&2; exit 1; } ;;
  *)
    echo "usage: bash scripts/gpu/aside.sh out|back|list" >&2
    exit 2 ;;
esac
