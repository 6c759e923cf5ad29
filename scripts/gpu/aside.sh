#!/usr/bin/env bash
# Moves tracked folders the GPU machine does not need out of the checkout for the device calls,
# and back afterwards:
#   bash scripts/gpu/aside.sh out    # before the `run` calls
#   bash scripts/gpu/aside.sh back   # after them (also: `git checkout -- fuzz/corpus` restores it)
# Why: a device call carries the whole working tree (tracked and untracked-not-ignored files)
# and the carried gpu-pack in 64 MiB together. The fuzz corpus is 7 MB of the tree's 26 MB
# (5,386 small files) and only the fuzzing tests read it; `prepare.sh` counts the tree without
# it and so packs the data at a better JPEG quality. ASIDE names the folders (default
# fuzz/corpus); they go to ../brainseg-aside/ (outside the checkout, so nothing ignores or
# carries them by accident).
set -euo pipefail
cd "$(dirname "$0")/../.."
ASIDE=${ASIDE:-fuzz/corpus}
STORE=../brainseg-aside
case ${1:-} in
  out)
    for d in $ASIDE; do
      [ -d "$d" ] || { echo "aside.sh: $d is not in the checkout (already aside?)" >&2; exit 1; }
      [ ! -e "$STORE/$d" ] || { echo "aside.sh: $STORE/$d exists: run 'aside.sh back' first" >&2; exit 1; }
      mkdir -p "$STORE/$(dirname "$d")"
      mv "$d" "$STORE/$d"
      echo "moved $d to $STORE/$d"
    done ;;
  back)
    for d in $ASIDE; do
      [ -d "$STORE/$d" ] || { echo "aside.sh: nothing aside for $d" >&2; exit 1; }
      [ ! -e "$d" ] || { echo "aside.sh: $d is back in the checkout already; $STORE/$d left as is" >&2; exit 1; }
      mkdir -p "$(dirname "$d")"
      mv "$STORE/$d" "$d"
      echo "moved $d back"
    done
    git diff --quiet -- $ASIDE || { echo "aside.sh: $ASIDE differs from git after the move" >&2; exit 1; } ;;
  *)
    echo "usage: bash scripts/gpu/aside.sh out|back" >&2
    exit 2 ;;
esac
