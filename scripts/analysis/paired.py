#!/usr/bin/env python3
"""Paired per-patient comparison of a cross-validation run against a baseline's cv.md.

    python3 scripts/analysis/paired.py docs/cv/runs/BASELINE/cv.md RUNS/cv/CANDIDATE [fold ...]

Reads the baseline's per-case table (case, fold, slices, reference DSC, native DSC) and the
candidate's fold-K/scores-last.csv (what `train cv` scores each finished fold with), and prints
per fold and over the finished folds: both means, the mean per-patient change with its standard
error, how many patients move up and down, and the patients whose DSC moves by more than 0.1.
Folds without scores yet are skipped, so it can follow a run that is still going.
"""
import csv
import math
import pathlib
import re
import sys


def baseline_rows(path):
    rows = {}
    for line in pathlib.Path(path).read_text().splitlines():
        m = re.match(r"\| (TCGA_\S+) \| (\d+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|", line)
        if m:
            rows[m[1]] = (int(m[2]), float(m[4]), float(m[5]))
    if not rows:
        sys.exit(f"{path}: no per-case rows (| case | fold | slices | reference | native |)")
    return rows


def summary(label, pairs):
    n = len(pairs)
    for k, name in ((0, "reference"), (1, "native")):
        base = sum(p[1][k] for p in pairs) / n
        cand = sum(p[2][k] for p in pairs) / n
        d = [p[2][k] - p[1][k] for p in pairs]
        mean = sum(d) / n
        se = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1) / n) if n > 1 else float("nan")
        up = sum(x > 0 for x in d)
        down = sum(x < 0 for x in d)
        worst = min(p[2][k] for p in pairs)
        print(f"{label:>8} {name:>9}: {base:.4f} -> {cand:.4f}  change {mean:+.4f} (SE {se:.4f})"
              f"  {up} up / {down} down  worst {worst:.4f}  n={n}")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    base = baseline_rows(sys.argv[1])
    run = pathlib.Path(sys.argv[2])
    folds = [int(f) for f in sys.argv[3:]] or sorted({f for f, _, _ in base.values()})
    everything = []
    for fold in folds:
        scores = run / f"fold-{fold}" / "scores-last.csv"
        if not scores.exists():
            continue
        pairs = []
        with scores.open() as f:
            for r in csv.DictReader(f):
                if r["case"] in ("mean", "median", "min", "max"):
                    continue  # summary rows
                if r["case"] not in base:
                    sys.exit(f"{scores}: {r['case']} is not in the baseline's table")
                b = base[r["case"]]
                pairs.append((r["case"], b[1:], (float(r["dsc_reference"]), float(r["dsc_native"]))))
        summary(f"fold {fold}", pairs)
        for case, b, c in sorted(pairs, key=lambda p: p[2][0] - p[1][0]):
            if abs(c[0] - b[0]) > 0.1:
                print(f"           {case}: {b[0]:.3f} -> {c[0]:.3f}")
        everything += pairs
    if not everything:
        sys.exit(f"{run}: no fold-K/scores-last.csv yet")
    summary("all", everything)


main()
