#!/usr/bin/env python3
"""Chooses the inference input side by cross-validation, from out-of-fold evaluations at
several sides.

Usage: size-cv.py BASE NAME=DIR [...]
DIR holds `N/fold-K.csv` for each side N (`train eval --input-size N --components largest
--cases lists/fold-K-held-out.txt --csv …` on fold K's model: every held-out patient's DSC in
both protocols; `scripts/analysis/sizes.sh CV_DIR DATA N…` writes them into CV_DIR/sizes). BASE
is the side the models were trained at.

For each side and protocol, prints the out-of-fold mean and the mean per-patient change against
BASE with its standard error and the patients up and down; then the nested estimate: for each
fold K the side best over the other folds' patients, applied to fold K's (what choosing the side
by cross-validation would give on new patients).
"""
import csv, glob, os, re, statistics, sys


def load(folder):
    """{side: {fold: {case: (reference, native)}}}"""
    sides = {}
    for f in glob.glob(f'{folder}/*/fold-*.csv'):
        side = int(os.path.basename(os.path.dirname(f)))
        k = int(re.search(r'fold-(\d+)\.csv$', f).group(1))
        for r in csv.DictReader(open(f)):
            if r['case'] in ('mean', 'median', 'min'):  # `train eval`'s summary rows
                continue
            sides.setdefault(side, {}).setdefault(k, {})[r['case']] = (
                float(r['dsc_reference']), float(r['dsc_native']))
    return sides


def paired(diffs):
    se = statistics.stdev(diffs) / len(diffs) ** 0.5
    up, down = sum(d > 1e-9 for d in diffs), sum(d < -1e-9 for d in diffs)
    return f'{statistics.mean(diffs):+.4f} (SE {se:.4f}, {up} up / {down} down)'


base = int(sys.argv[1])
for arg in sys.argv[2:]:
    name, folder = arg.split('=', 1)
    sides = load(folder)
    folds = sides[base]
    every = {c: v for f in folds.values() for c, v in f.items()}
    complete = [n for n in sorted(sides)
                if sorted(sides[n]) == sorted(folds)
                and all(sides[n][k].keys() == folds[k].keys() for k in folds)]
    print(f'{name}: {len(every)} patients in {len(folds)} folds; sides {complete} '
          f'(trained at {base})')
    for p, protocol in enumerate(('reference', 'native')):
        print(f'  {protocol}')
        for n in complete:
            at = {c: v for f in sides[n].values() for c, v in f.items()}
            diffs = [at[c][p] - every[c][p] for c in every]
            print(f'    {n:4d}²  mean {statistics.mean(v[p] for v in at.values()):.4f}  '
                  f'against {base}²: {paired(diffs) if n != base else "–"}')
        chosen, diffs = {}, []
        for k, cases in sorted(folds.items()):
            def others_mean(n):
                return statistics.mean(v[p] for j, f in sides[n].items() if j != k
                                       for v in f.values())
            # Ties go to the trained side.
            n = chosen[k] = max(complete, key=lambda n: (round(others_mean(n), 9), n == base))
            diffs += [sides[n][k][c][p] - cases[c][p] for c in cases]
        base_mean = statistics.mean(v[p] for v in every.values())
        print(f'    nested: {base_mean + statistics.mean(diffs):.4f}, {paired(diffs)}; '
              f'sides chosen ' + ' '.join(f'{chosen[k]}' for k in sorted(chosen)))
