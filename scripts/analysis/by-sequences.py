#!/usr/bin/env python3
"""A candidate's per-patient change against a baseline, split by which MRI sequences a
patient's scans have: kaggle_3m fills a missing pre- or post-contrast sequence with the FLAIR.

    python3 scripts/analysis/by-sequences.py DATA BASELINE CANDIDATE [CANDIDATE ...]

DATA: the kaggle_3m folder (each patient's five central slices are read there: a channel equal
to the FLAIR on more than 90 % of the brain's pixels counts as substituted). BASELINE, CANDIDATE:
a run's cv.md or a folder of fold-K/scores-last.csv, as `draws.py` reads them. Prints the groups
(all three sequences; post-contrast substituted; FLAIR in all three channels) with their
patients, both means (reference protocol) and the mean change with its standard error.
"""
import os
import sys

from draws import group_change, table
from tiff8 import read


def substituted(data, case):
    """(pre-contrast substituted, post-contrast substituted) for one patient."""
    folder = os.path.join(data, case)
    slices = [f for f in os.listdir(folder) if f.endswith(".tif") and not f.endswith("_mask.tif")]
    if not slices:
        sys.exit(f"{folder}: no slices")
    slices.sort(key=lambda f: int(f.rsplit("_", 1)[1][:-4]))
    mid = len(slices) // 2
    same_pre = same_post = brain = 0
    for f in slices[max(mid - 2, 0):mid + 3]:
        _, _, spp, px = read(os.path.join(folder, f))
        if spp != 3:
            sys.exit(f"{folder}/{f}: {spp} channels, not 3")
        for i in range(0, len(px), 3):
            if px[i + 1]:
                brain += 1
                same_pre += px[i] == px[i + 1]
                same_post += px[i + 2] == px[i + 1]
    if brain == 0:
        sys.exit(f"{folder}: no FLAIR signal in the central slices")
    return same_pre > 0.9 * brain, same_post > 0.9 * brain


GROUPS = (
    ("all three sequences", (False, False)),
    ("post-contrast substituted", (False, True)),
    ("FLAIR in all three", (True, True)),
    ("pre-contrast substituted", (True, False)),
)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    data, base = sys.argv[1], table(sys.argv[2])
    kind = {c: substituted(data, c) for c in base}
    for path in sys.argv[3:]:
        cand = table(path)
        cases = [c for c in cand if c in base]
        print(f"{path} ({len(cases)} patients)")
        for name, key in GROUPS:
            part = sorted(c for c in cases if kind[c] == key)
            if not part:
                continue
            base_mean, cand_mean, change, se = group_change(base, cand, part)
            print(
                f"  {name:26} n={len(part):3}  baseline {base_mean:.4f}  candidate {cand_mean:.4f}  "
                f"change {change:+.4f} (SE {se:.4f})"
            )
            if key != (False, False):
                print("    " + "  ".join(f"{c[5:12]} {base[c][0]:.2f}→{cand[c][0]:.2f}" for c in part))


if __name__ == "__main__":
    main()
