"""How bright each development patient's lesion is against the rest of its brain, per sequence:
(lesion mean - brain median) / brain standard deviation over the slices holding lesion, in raw
8-bit values, where "brain" is every pixel above 10 (the head, not the air) outside the mask.
Standard library only (these machines have no numpy). Used to place the patients every model
misses (docs/cv/README.md) among the others, and to split a candidate's change by it.

    python3 scripts/analysis/lesion-contrast.py DATA/kaggle_3m [CASE ...]
        a CSV: case, contrast in the pre-contrast, FLAIR and post-contrast sequences
    python3 scripts/analysis/lesion-contrast.py DATA/kaggle_3m --by BASELINE CANDIDATE [...]
        each candidate's per-patient change against the baseline (cv.md or a folder of
        fold-K/scores-last.csv, as draws.py reads them) in the thirds of the baseline's patients
        by FLAIR contrast, faintest first"""
import os
import statistics
import sys
from itertools import compress

sys.path.insert(0, os.path.dirname(__file__))
from tiff8 import read  # noqa: E402

ABOVE = bytes(int(v > 10) for v in range(256))
NONZERO = bytes(int(v > 0) for v in range(256))


def patient(folder):
    """Per channel: the lesion-pixel-weighted mean over lesion slices of each slice's contrast."""
    case = os.path.basename(folder)
    sums, weight = [0.0, 0.0, 0.0], 0
    for name in os.listdir(folder):
        if not name.endswith('_mask.tif'):
            continue
        _, _, _, mask = read(os.path.join(folder, name))
        lesion = mask.translate(NONZERO)
        n = lesion.count(1)
        if n < 16:
            continue
        _, _, spp, rgb = read(os.path.join(folder, name.replace('_mask', '')))
        outside = bytes(1 - v for v in lesion)
        contrast = []
        for c in range(3):
            ch = rgb[c::spp]
            head = ch.translate(ABOVE)
            brain_sel = (int.from_bytes(head, 'big') & int.from_bytes(outside, 'big')).to_bytes(len(ch), 'big')
            brain = list(compress(ch, brain_sel))
            if len(brain) < 100:
                break
            inside = list(compress(ch, lesion))
            sd = statistics.pstdev(brain) or 1.0
            contrast.append((sum(inside) / len(inside) - statistics.median(brain)) / sd)
        else:
            # A slice counts in all three sequences or in none, so their weights agree.
            sums = [s + n * v for s, v in zip(sums, contrast)]
            weight += n
    return case, [s / weight for s in sums] if weight else None


def by_contrast(data, base_path, candidates):
    from draws import group_change, table
    base = table(base_path)
    flair = {c: patient(os.path.join(data, c))[1] for c in base}
    ranked = sorted((c for c in base if flair[c]), key=lambda c: flair[c][1])
    thirds = [ranked[i * len(ranked) // 3:(i + 1) * len(ranked) // 3] for i in range(3)]
    for path in candidates:
        cand = table(path)
        print(f"{path}")
        for k, part in enumerate(thirds):
            part = [c for c in part if c in cand]
            lo, hi = flair[part[0]][1], flair[part[-1]][1]
            base_mean, cand_mean, change, se = group_change(base, cand, part)
            print(f"  third {k + 1}: FLAIR contrast {lo:.2f} to {hi:.2f}, n={len(part):3}  baseline "
                  f"{base_mean:.4f}  candidate {cand_mean:.4f}  change {change:+.4f} (SE {se:.4f})")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    data = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == '--by':
        if len(sys.argv) < 5:
            sys.exit(__doc__)
        return by_contrast(data, sys.argv[3], sys.argv[4:])
    cases = sys.argv[2:] or sorted(d for d in os.listdir(data) if d.startswith('TCGA_'))
    print('case,pre,flair,post')
    for case in cases:
        name, contrast = patient(os.path.join(data, case))
        if contrast:
            print(name + ',' + ','.join(f'{v:.3f}' for v in contrast))


if __name__ == '__main__':
    main()
