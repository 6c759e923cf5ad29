#!/usr/bin/env python3
"""Folds files derived from another, nested in it, for learning-curve measurements.

    python3 scripts/analysis/folds.py split docs/cv/folds-dev-5.csv ../shared/data/patients-val.txt \
        docs/cv/folds-dev-10.csv
    python3 scripts/analysis/folds.py thin docs/cv/folds-dev-5.csv ../shared/data/patients-val.txt \
        docs/cv/folds-dev-5-thin4.csv

split: each fold in two. Fold 0's cases listed in the second file (the reference validation
cases) become fold 0 and its other cases fold 1; every other fold j becomes folds 2j and 2j + 1,
alternating down the file. Each new fold model trains on its old fold model's patients plus
those of the other half.
thin: 4 cases out of each fold (never one of the second file's), evenly spread down the fold's
other cases (positions ⌊(2m + 1)·n/8⌋, m = 0…3, of its n others); the file then lists 80 of 100
and each fold model trains on 64 of its old model's 80 patients.

Nested either way, so a comparison with the original run, patient by patient, measures more or
fewer training patients, not another partition (docs/cv/README.md, section "Ten folds"). Rows
keep the input's order.
"""
import csv
import sys


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("split", "thin"):
        sys.exit(__doc__)
    mode, src, together, out = sys.argv[1:]
    with open(together) as f:
        kept = {line.strip() for line in f if line.strip()}
    with open(src) as f:
        rows = [(r["case"], int(r["fold"])) for r in csv.DictReader(f)]
    new = {}
    for fold in sorted({f for _, f in rows}):
        cases = [c for c, f in rows if f == fold]
        others = [c for c in cases if c not in kept]
        if fold == 0 and len(others) + len(kept) != len(cases):
            sys.exit(f"{together}: not every case is in fold 0 of {src}")
        if mode == "split":
            first = set(cases) - set(others) if fold == 0 else set(cases[0::2])
            for c in cases:
                new[c] = 2 * fold + (0 if c in first else 1)
        else:
            n = len(others)
            if n < 4:
                sys.exit(f"{src}: fold {fold} has {n} cases outside {together}, fewer than 4")
            dropped = {others[(2 * m + 1) * n // 8] for m in range(4)}
            for c in cases:
                if c not in dropped:
                    new[c] = fold
    with open(out, "w") as f:
        f.write("case,fold\n")
        for c, _ in rows:
            if c in new:
                f.write(f"{c},{new[c]}\n")


main()
