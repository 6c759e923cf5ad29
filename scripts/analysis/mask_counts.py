#!/usr/bin/env python3
"""Per-slice TP/FP/FN of predicted masks (`train eval --save-masks DIR`) against a case's ground truth.

Usage: mask_counts.py CASE PRED_DIR DATA_DIR. Standard library only (these machines have no numpy
or Pillow); reads the uncompressed 8-bit TIFFs that kaggle_3m ships and `train` writes."""
import struct, sys, os, glob
def read(path):
    b = open(path,'rb').read()
    e = '<' if b[:2]==b'II' else '>'
    off = struct.unpack(e+'I', b[4:8])[0]
    n = struct.unpack(e+'H', b[off:off+2])[0]
    tags = {}
    for i in range(n):
        t, typ, cnt, val = struct.unpack(e+'HHI4s', b[off+2+12*i: off+14+12*i])
        size = {1:1,3:2,4:4}.get(typ,4)
        fmt = {1:'B',3:'H',4:'I'}.get(typ,'I')
        if size*cnt <= 4:
            vals = struct.unpack(e+fmt*cnt, val[:size*cnt])
        else:
            p = struct.unpack(e+'I', val)[0]
            vals = struct.unpack(e+fmt*cnt, b[p:p+size*cnt])
        tags[t] = vals
    assert tags.get(259,(1,))[0] == 1, (path, 'compressed', tags.get(259))
    w, h = tags[256][0], tags[257][0]
    spp = tags.get(277,(1,))[0]
    data = b''.join(b[o:o+c] for o,c in zip(tags[273], tags[279]))
    return w, h, spp, data
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
