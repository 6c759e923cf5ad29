#!/usr/bin/env python3
"""Splits each fold of a folds file in two: a k-fold file nested in the 2k-fold one it writes.

    python3 scripts/analysis/split-folds.py docs/cv/folds-dev-5.csv ../shared/data/patients-val.txt \
        docs/cv/folds-dev-10.csv

Fold 0's cases listed in the second file (the reference validation cases) become fold 0 and its
other cases fold 1; every other fold j becomes folds 2j and 2j + 1, alternating down the file.
Nested, so each new fold model trains on its old fold model's patients plus those of the other
half: a comparison with the k-fold run measures more training patients, not another partition
(docs/cv/README.md, section "Ten folds"). Rows keep the input's order.
"""
import csv
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, together, out = sys.argv[1:]
    with open(together) as f:
        kept = {line.strip() for line in f if line.strip()}
    with open(src) as f:
        rows = [(r["case"], int(r["fold"])) for r in csv.DictReader(f)]
    new = {}
    for fold in sorted({f for _, f in rows}):
        cases = [c for c, f in rows if f == fold]
        if fold == 0:
            first = [c for c in cases if c in kept]
            missing = kept - set(first)
            if missing:
                sys.exit(f"{together}: {sorted(missing)} not in fold 0 of {src}")
        else:
            first = cases[0::2]
        for c in cases:
            new[c] = 2 * fold + (0 if c in first else 1)
    with open(out, "w") as f:
        f.write("case,fold\n")
        for c, _ in rows:
            f.write(f"{c},{new[c]}\n")


main()
