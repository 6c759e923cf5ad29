#!/usr/bin/env python3
"""A candidate's per-patient change against a baseline, by lesion volume: the patients both
score, ordered by the voxels of their ground-truth lesion and cut into thirds.

    python3 scripts/analysis/by-lesion-size.py DATA BASELINE CANDIDATE [CANDIDATE ...]

DATA: the kaggle_3m folder (the masks are counted there). BASELINE, CANDIDATE: a run's cv.md or
a folder of fold-K/scores-last.csv, as `draws.py` reads them. Prints, per third and candidate,
the lesion volumes it spans, both means (reference protocol) and the mean change with its
standard error: whether a change comes from small lesions or large ones.
"""
import glob
import os
import sys

from draws import group_change, table
from tiff8 import read


def lesion_voxels(data, case):
    masks = glob.glob(os.path.join(data, case, "*_mask.tif"))
    if not masks:
        sys.exit(f"{data}/{case}: no *_mask.tif")
    return sum(sum(1 for v in read(m)[3] if v) for m in masks)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    data, base = sys.argv[1], table(sys.argv[2])
    for path in sys.argv[3:]:
        cand = table(path)
        cases = [c for c in cand if c in base]
        if len(cases) < 3:
            sys.exit(f"{path}: fewer than 3 patients in common with the baseline")
        volume = {c: lesion_voxels(data, c) for c in cases}
        cases.sort(key=volume.get)
        n = len(cases)
        print(f"{path} ({n} patients)")
        for name, lo, hi in (("small", 0, n // 3), ("middle", n // 3, 2 * n // 3), ("large", 2 * n // 3, n)):
            part = cases[lo:hi]
            base_mean, cand_mean, change, se = group_change(base, cand, part)
            print(
                f"  {name:6} n={len(part):3}  lesion {volume[part[0]]:>6}–{volume[part[-1]]:<6} voxels  "
                f"baseline {base_mean:.4f}  candidate {cand_mean:.4f}  change {change:+.4f} (SE {se:.4f})"
            )


if __name__ == "__main__":
    main()
