#!/usr/bin/env python3
"""A recipe over several draws (cross-validations of it with other seeds), and candidates
read against the draws' mean patient by patient.

    python3 scripts/analysis/draws.py DRAW DRAW [DRAW ...] [-- CANDIDATE ...]

DRAW and CANDIDATE: a run's cv.md (its per-case table) or a folder with fold-K/scores-last.csv
(an ensemble's: `train cv-ensemble`), covering the same patients. Prints each draw's mean, the
mean and standard deviation between draws (both protocols), how far a patient moves between
draws, the patients below 0.5 in every draw, and for each candidate its mean per-patient change
against the draws' per-patient mean (SE over patients) and how many patients move up and down.
With two or more candidates (draws of another recipe), also the candidates as a group: each
patient's mean over them against its mean over the draws, and the two groups' means with the
standard error of their difference between draws.
"""
import csv
import math
import pathlib
import re
import statistics
import sys


def fold_rows(path):
    """(case, fold, slices, reference, native) for every patient in a folder of
    fold-K/scores-last.csv (`train cv`, `train cv-ensemble`, soups.sh), summary rows left out."""
    for scores in sorted(pathlib.Path(path).glob("fold-*/scores-last.csv")):
        fold = int(scores.parent.name.removeprefix("fold-"))
        with scores.open() as f:
            for r in csv.DictReader(f):
                if r["case"] not in ("mean", "median", "min", "max"):
                    yield (r["case"], fold, int(r["slices"]), float(r["dsc_reference"]),
                           float(r["dsc_native"]))


def table(path):
    """case -> (reference, native) from a cv.md or a folder of fold-K/scores-last.csv."""
    p = pathlib.Path(path)
    rows = {}
    if not p.exists():
        sys.exit(f"{path}: no such cv.md or run folder")
    if p.is_dir():
        for case, _, _, reference, native in fold_rows(p):
            rows[case] = (reference, native)
    else:
        for line in p.read_text().splitlines():
            m = re.match(r"\| (TCGA_\S+) \| \d+ \| \d+ \| ([\d.]+) \| ([\d.]+) \|", line)
            if m:
                rows[m[1]] = (float(m[2]), float(m[3]))
    if not rows:
        sys.exit(f"{path}: no per-case rows")
    return rows


def group_change(base, cand, part):
    """Over the patients `part` (reference protocol): the baseline's mean, the candidate's mean,
    and the mean per-patient change with its standard error (NaN for one patient)."""
    d = [cand[c][0] - base[c][0] for c in part]
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
    return (statistics.mean(base[c][0] for c in part), statistics.mean(cand[c][0] for c in part),
            statistics.mean(d), se)


def main():
    args = sys.argv[1:]
    split = args.index("--") if "--" in args else len(args)
    draws, candidates = args[:split], args[split + 1:]
    if len(draws) < 2:
        sys.exit(__doc__)
    tables = [table(d) for d in draws]
    cases = sorted(tables[0])
    for d, t in zip(draws, tables):
        if sorted(t) != cases:
            sys.exit(f"{d}: not the same patients as {draws[0]}")
    for k, name in ((0, "reference"), (1, "native")):
        means = [statistics.fmean(t[c][k] for c in cases) for t in tables]
        print(f"{name}: draws " + ", ".join(f"{m:.4f}" for m in means)
              + f"; mean {statistics.fmean(means):.4f}, SD between draws {statistics.stdev(means):.4f}")
    moves = [statistics.fmean(abs(t[c][0] - statistics.fmean(u[c][0] for u in tables)) for t in tables)
             for c in cases]
    print(f"a patient's reference DSC from the draws' mean: {statistics.fmean(moves):.4f} on average,"
          f" median {statistics.median(moves):.4f}")
    for limit, what in ((1e-9, "at 0"), (0.5, "below 0.5")):
        always = [c for c in cases if all(t[c][0] < limit for t in tables)]
        counts = [sum(t[c][0] < limit for c in cases) for t in tables]
        print(f"{what} per draw: {counts}; in every draw: {', '.join(always) or 'none'}")
    centre = {c: [statistics.fmean(t[c][k] for t in tables) for k in (0, 1)] for c in cases}
    cand_tables = [table(cand) for cand in candidates]
    for cand, t in zip(candidates, cand_tables):
        common = [c for c in cases if c in t]
        for k, name in ((0, "reference"), (1, "native")):
            d = [t[c][k] - centre[c][k] for c in common]
            n = len(d)
            mean = statistics.fmean(d)
            se = statistics.stdev(d) / math.sqrt(n) if n > 1 else float("nan")
            print(f"{cand} {name}: {statistics.fmean(t[c][k] for c in common):.4f}, against the draws"
                  f" {mean:+.4f} (SE {se:.4f}), {sum(x > 0 for x in d)} up / {sum(x < 0 for x in d)}"
                  f" down, n={n}")
    if len(cand_tables) >= 2:
        common = [c for c in cases if all(c in t for t in cand_tables)]
        for k, name in ((0, "reference"), (1, "native")):
            d = [statistics.fmean(t[c][k] for t in cand_tables) - centre[c][k] for c in common]
            n = len(d)
            own = [statistics.fmean(t[c][k] for c in common) for t in cand_tables]
            base = [statistics.fmean(t[c][k] for c in common) for t in tables]
            between = math.sqrt(statistics.variance(own) / len(own)
                                + statistics.variance(base) / len(base))
            print(f"the {len(own)} candidates {name}: mean {statistics.fmean(own):.4f} (SD"
                  f" {statistics.stdev(own):.4f}) against the draws' {statistics.fmean(base):.4f},"
                  f" SE between draws {between:.4f}; per patient {statistics.fmean(d):+.4f} (SE"
                  f" {statistics.stdev(d) / math.sqrt(n):.4f}), {sum(x > 0 for x in d)} up /"
                  f" {sum(x < 0 for x in d)} down, n={n}")


if __name__ == "__main__":
    main()
