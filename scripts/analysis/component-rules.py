#!/usr/bin/env python3
"""Native DSC per case under other 3-D component-selection rules, from component tables.

Usage: component-rules.py RUN_NAME=DIR [...]
DIR holds one `fold-K-table.csv` per fold (`train eval --components-csv`) and the matching
`fold-K-scores.csv` (`--csv` of the same call: a case whose prediction has no component at all
keeps the DSC eval gave it). Checks that keeping the largest component reproduces eval's native
DSC, then prints mean, median, worst, zeros and cases under 0.5 for each rule, and for an
oracle that keeps the single component the truth would pick (the most any one-component rule
could reach with these predictions).
"""
import csv, glob, statistics, sys


def load(folder):
    cases = {}
    for f in sorted(glob.glob(f'{folder}/fold-*-table.csv')):
        for r in csv.DictReader(open(f)):
            c = cases.setdefault(r['case'], {'truth': int(r['truth_voxels']), 'c': []})
            comp = dict(v=int(r['voxels']), mx=float(r['prob_max']),
                        mean=float(r['prob_mean']), hit=int(r['voxels_in_truth']))
            if 'first_slice' in r:  # tables written since session 30
                comp.update(z0=int(r['first_slice']), z1=int(r['last_slice']), n=int(r['slices']))
            c['c'].append(comp)
    for f in sorted(glob.glob(f'{folder}/fold-*-scores.csv')):
        for r in csv.DictReader(open(f)):
            if r['case'] in ('mean', 'median', 'min'):
                continue
            cases.setdefault(r['case'], {'truth': 0, 'c': []})['scored'] = float(r['dsc_native'])
    return cases


def dsc(kept, truth):
    hit = sum(c['hit'] for c in kept)
    voxels = sum(c['v'] for c in kept)
    return 1.0 if voxels + truth == 0 else 2 * hit / (voxels + truth)


def relative(f):
    return lambda cs: [c for c in cs if c['v'] >= f * cs[0]['v']]


RULES = {'largest (the protocol)': lambda cs: cs[:1], 'all': lambda cs: cs, 'two largest': lambda cs: cs[:2]}
for f in (0.1, 0.2, 0.3, 0.5):
    RULES[f'every one >= {f} x the largest'] = relative(f)
RULES['largest + others >= 0.1 x with a voxel >= 0.98'] = \
    lambda cs: cs[:1] + [c for c in cs[1:] if c['mx'] >= 0.98 and c['v'] >= 0.1 * cs[0]['v']]


def most_confident(f):
    # Of the components at least f times the largest's size, the one of highest mean
    # probability: the lesion piece that a larger, less certain false positive outvotes.
    return lambda cs: [max(relative(f)(cs), key=lambda c: c['mean'])]


for f in (0.3, 0.5):
    RULES[f'highest mean probability of those >= {f} x'] = most_confident(f)


def inside_ends(c, k):
    """Lies wholly within the first k or the last k slices of its volume."""
    return c['z1'] < k or c['z0'] >= c['n'] - k


def largest_away_from_ends(k):
    # The largest component that reaches beyond the k end slices at either end of the volume
    # (the reference protocol drops one at each end); the largest when none does.
    def keep(cs):
        away = [c for c in cs if not inside_ends(c, k)]
        return (away or cs)[:1]
    return keep


END_RULES = {f'largest beyond the {k} end slice(s) at each end': largest_away_from_ends(k)
             for k in (1, 2)}


def report(rule, v):
    print(f'  {rule:48s} mean {statistics.mean(v):.4f}  median {statistics.median(v):.4f}  '
          f'worst {min(v):.4f}  at 0: {sum(x == 0 for x in v)}  under 0.5: {sum(x < 0.5 for x in v)}')


for arg in sys.argv[1:]:
    name, folder = arg.split('=', 1)
    cases = load(folder)
    for case, d in cases.items():
        got = dsc(d['c'][:1], d['truth']) if d['c'] else d['scored']
        assert abs(got - d['scored']) < 1e-4, f'{case}: largest gives {got}, eval {d["scored"]}'
    print(f'{name}: {len(cases)} cases')
    sliced = all('z0' in c for d in cases.values() for c in d['c'])
    for rule, keep in (RULES | END_RULES if sliced else RULES).items():
        report(rule, [dsc(keep(d['c']), d['truth']) if d['c'] else d['scored']
                      for d in cases.values()])
    # Not a rule: the truth picks the one component to keep.
    report('(oracle) the best single component',
           [max(dsc([c], d['truth']) for c in d['c']) if d['c'] else d['scored']
            for d in cases.values()])
