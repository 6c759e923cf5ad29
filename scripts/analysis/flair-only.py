"""Writes a copy of kaggle_3m in which every slice's pre- and post-contrast channels are
replaced by its FLAIR, as the dataset itself does for patients whose scans lack them (6 of the
100 development patients have FLAIR in all three channels, 4 more in the post-contrast one):
`python3 flair-only.py SRC DST [post]` (`post`: replace the post-contrast channel only). Masks
are linked, not copied. Standard library only (these machines have no numpy or Pillow); reads
the uncompressed chunky 8-bit TIFFs kaggle_3m ships."""
import os
import struct
import sys


def strips(b):
    e = '<' if b[:2] == b'II' else '>'
    off = struct.unpack(e + 'I', b[4:8])[0]
    n = struct.unpack(e + 'H', b[off:off + 2])[0]
    tags = {}
    for i in range(n):
        t, typ, cnt, val = struct.unpack(e + 'HHI4s', b[off + 2 + 12 * i: off + 14 + 12 * i])
        size = {1: 1, 3: 2, 4: 4}.get(typ, 4)
        fmt = {1: 'B', 3: 'H', 4: 'I'}.get(typ, 'I')
        if size * cnt <= 4:
            vals = struct.unpack(e + fmt * cnt, val[:size * cnt])
        else:
            p = struct.unpack(e + 'I', val)[0]
            vals = struct.unpack(e + fmt * cnt, b[p:p + size * cnt])
        tags[t] = vals
    if tags.get(259, (1,))[0] != 1 or tags.get(277, (1,))[0] != 3 or tags.get(284, (1,))[0] != 1:
        raise ValueError('not an uncompressed chunky 3-channel TIFF')
    return list(zip(tags[273], tags[279]))


def main():
    src, dst = sys.argv[1], sys.argv[2]
    post_only = len(sys.argv) > 3 and sys.argv[3] == 'post'
    for d in sorted(os.listdir(src)):
        p = os.path.join(src, d)
        if not os.path.isdir(p):
            continue
        os.makedirs(os.path.join(dst, d), exist_ok=True)
        for f in os.listdir(p):
            out = os.path.join(dst, d, f)
            if f.endswith('_mask.tif'):
                if not os.path.exists(out):
                    os.symlink(os.path.abspath(os.path.join(p, f)), out)
                continue
            if not f.endswith('.tif'):
                continue
            b = bytearray(open(os.path.join(p, f), 'rb').read())
            for o, c in strips(b):
                px = b[o:o + c]
                px[2::3] = px[1::3]
                if not post_only:
                    px[0::3] = px[1::3]
                b[o:o + c] = px
            open(out, 'wb').write(b)


main()
