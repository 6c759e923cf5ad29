"""Writes a copy of kaggle_3m in which every slice's pre- and post-contrast channels are
replaced by its FLAIR, as the dataset itself does for patients whose scans lack them (6 of the
100 development patients have FLAIR in all three channels, 4 more in the post-contrast one):
`python3 flair-only.py SRC DST [post]` (`post`: replace the post-contrast channel only). Masks
are linked, not copied. Standard library only (these machines have no numpy or Pillow); reads
the uncompressed chunky 8-bit TIFFs kaggle_3m ships."""
import os
import struct
import sys

import tiff8


def pixel_strips(path, b):
    t = tiff8.tags(b)
    if t.get(259, (1,))[0] != 1 or t.get(277, (1,))[0] != 3 or t.get(284, (1,))[0] != 1:
        raise ValueError("not an uncompressed chunky 3-channel TIFF")
    return tiff8.strips(t)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    post_only = len(sys.argv) > 3 and sys.argv[3] == 'post'
    failed = 0
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
            path = os.path.join(p, f)
            b = bytearray(open(path, 'rb').read())
            try:
                parts = pixel_strips(path, b)
            except (ValueError, KeyError, IndexError, struct.error) as e:
                print(f"{path}: skipped ({e})", file=sys.stderr)
                failed += 1
                continue
            for o, c in parts:
                px = b[o:o + c]
                px[2::3] = px[1::3]
                if not post_only:
                    px[0::3] = px[1::3]
                b[o:o + c] = px
            open(out, 'wb').write(b)
    if failed:
        sys.exit(f"{failed} slices skipped")


main()
