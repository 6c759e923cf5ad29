#!/usr/bin/env python3
"""Chooses the probability threshold by cross-validation, from threshold sweeps.

Usage: threshold-cv.py NAME=DIR [...]
DIR holds one `fold-K-sweep.csv` per fold (`train eval --threshold-sweep`, on fold K's model and
its held-out patients): every patient's DSC in both protocols at thresholds 0.05…0.95.

For each protocol, prints the mean at the protocols' 0.5, the threshold that is best over all
patients (chosen on them: optimistic), and the nested estimate: for each fold K the threshold
that is best over the other folds' patients, applied to fold K's (what choosing by
cross-validation would give on new patients), with the mean per-patient change against 0.5,
its standard error, and the patients up and down.
"""
import csv, glob, re, statistics, sys


def load(folder):
    """{fold: {case: {threshold: (reference, native)}}}"""
    folds = {}
    for f in sorted(glob.glob(f'{folder}/fold-*-sweep.csv')):
        k = int(re.search(r'fold-(\d+)-sweep\.csv$', f).group(1))
        for r in csv.DictReader(open(f)):
            t = round(float(r['threshold']), 2)
            folds.setdefault(k, {}).setdefault(r['case'], {})[t] = (
                float(r['dsc_reference']), float(r['dsc_native']))
    return folds


def mean_at(cases, t, p):
    return statistics.mean(c[t][p] for c in cases.values())


def best(cases, thresholds, p):
    # Ties go to the threshold nearest 0.5 (the protocols' own).
    return max(thresholds, key=lambda t: (round(mean_at(cases, t, p), 9), -abs(t - 0.5)))


for arg in sys.argv[1:]:
    name, folder = arg.split('=', 1)
    folds = load(folder)
    every = {c: v for f in folds.values() for c, v in f.items()}
    thresholds = sorted(next(iter(every.values())))
    print(f'{name}: {len(every)} patients in {len(folds)} folds')
    for p, protocol in enumerate(('reference', 'native')):
        base = mean_at(every, 0.5, p)
        t_all = best(every, thresholds, p)
        chosen, diffs = {}, []
        for k, cases in sorted(folds.items()):
            others = {c: v for j, f in folds.items() if j != k for c, v in f.items()}
            t = chosen[k] = best(others, thresholds, p)
            diffs += [v[t][p] - v[0.5][p] for v in cases.values()]
        nested = base + statistics.mean(diffs)
        se = statistics.stdev(diffs) / len(diffs) ** 0.5
        up, down = sum(d > 1e-9 for d in diffs), sum(d < -1e-9 for d in diffs)
        print(f'  {protocol:9s} at 0.5 {base:.4f} | best over all {t_all:.2f}: '
              f'{mean_at(every, t_all, p):.4f} | nested {nested:.4f} '
              f'({nested - base:+.4f}, SE {se:.4f}, {up} up / {down} down), thresholds '
              + ' '.join(f'{chosen[k]:.2f}' for k in sorted(chosen)))
    curve = '  '.join(f'{t:.2f} {mean_at(every, t, 0):.4f}' for t in thresholds[1::2])
    print(f'  reference mean by threshold: {curve}')
