#!/usr/bin/env python3
"""A per-case table, in a cross-validation's cv.md layout, of a folder of fold-K/scores-last.csv
(what scripts/analysis/soups.sh writes), so docs/ keeps it and paired.py / draws.py read it:

    python3 scripts/analysis/scores-table.py DIR "what the models are" > cv.md
"""
import pathlib
import statistics
import sys

from draws import fold_rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root, what = pathlib.Path(sys.argv[1]), sys.argv[2]
    rows = list(fold_rows(root))
    if not rows:
        sys.exit(f"{root}: no fold-K/scores-last.csv")
    print(f"# Out-of-fold scores: {root}\n\n{what}\n")
    print("| cases | protocol | mean | median | worst | n |\n| --- | --- | ---: | ---: | --- | ---: |")
    folds = sorted({r[1] for r in rows})
    for label, sel in [("all, out of fold", rows)] + [(f"fold {k}", [r for r in rows if r[1] == k]) for k in folds]:
        for k, name in ((3, "reference"), (4, "native")):
            v = [r[k] for r in sel]
            worst = min(sel, key=lambda r: r[k])
            print(f"| {label} | {name} | {statistics.fmean(v):.4f} | {statistics.median(v):.4f} | "
                  f"{worst[k]:.4f} ({worst[0]}) | {len(v)} |")
    print("\n| case | fold | slices | DSC reference | DSC native |\n| --- | ---: | ---: | ---: | ---: |")
    for r in sorted(rows, key=lambda r: (r[3], r[0])):
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.4f} | {r[4]:.4f} |")


main()
