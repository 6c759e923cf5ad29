#!/usr/bin/env python3
"""Per-slice TP/FP/FN of predicted masks (`train eval --save-masks DIR`) against a case's ground truth.

Usage: mask_counts.py CASE PRED_DIR DATA_DIR. Standard library only (these machines have no numpy
or Pillow); reads the uncompressed 8-bit TIFFs that kaggle_3m ships and `train` writes."""
import sys, os, glob
from tiff8 import read
case = sys.argv[1]; pred_dir = sys.argv[2]; truth_dir = sys.argv[3]
TP=FP=FN=0
rows=[]
for f in sorted(glob.glob(f'{truth_dir}/{case}/*_mask.tif'), key=lambda p: int(p.split('_')[-2])):
    name = os.path.basename(f)
    _,_,_,t = read(f); _,_,_,p = read(os.path.join(pred_dir, case, name))
    tp = sum(1 for a,c in zip(t,p) if a and c); fp = sum(1 for a,c in zip(t,p) if c and not a); fn = sum(1 for a,c in zip(t,p) if a and not c)
    TP+=tp; FP+=fp; FN+=fn
    if tp+fp+fn: rows.append((name.split('_')[-2], tp, fp, fn))
for r in rows: print(*r)
print('TP FP FN', TP, FP, FN, 'dice', 2*TP/(2*TP+FP+FN), 'recall', TP/(TP+FN), 'precision', TP/(TP+FP))
