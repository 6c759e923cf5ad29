"""Draws slices of a kaggle_3m case as one PNG, to look at what a model got wrong: per slice
a row of the three sequences (pre-contrast, FLAIR, post-contrast) and the FLAIR again with the
ground truth tinted green and a prediction red (both: yellow). Standard library only (these
machines have no numpy or Pillow).

    python3 scripts/analysis/overlay.py OUT.png DATA/kaggle_3m CASE [--pred DIR] N [N ...]

N: slice numbers as the file names have them (CASE_N.tif). DIR: masks written by `train eval
--save-masks DIR` or `train predict` (DIR/CASE/CASE_N_mask.tif); without it, no red."""
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiff8  # noqa: E402


def png(path, width, rows):
    """Writes 8-bit RGB rows (bytes of 3 × width each) as a PNG."""
    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', crc)
    header = struct.pack('>IIBBBBB', width, len(rows), 8, 2, 0, 0, 0)
    raw = b''.join(b'\x00' + r for r in rows)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
                + chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b''))


def mask(path, size):
    """A mask TIFF's bytes, or all zeros when there is none."""
    if path is None or not os.path.exists(path):
        return bytes(size)
    _, _, _, m = tiff8.read(path)
    return m


def rows_of(data, case, pred, n):
    folder = os.path.join(data, case)
    w, h, spp, img = tiff8.read(os.path.join(folder, f'{case}_{n}.tif'))
    if spp < 3:
        sys.exit(f'{case}_{n}.tif: {spp} samples per pixel, expected 3')
    truth = mask(os.path.join(folder, f'{case}_{n}_mask.tif'), w * h)
    guess = mask(pred and os.path.join(pred, case, f'{case}_{n}_mask.tif'), w * h)
    out = []
    for y in range(h):
        r = bytearray()
        for c in range(3):
            for x in range(w):
                v = img[(y * w + x) * spp + c]
                r += bytes((v, v, v))
        for x in range(w):
            i = y * w + x
            v = img[i * spp + 1] // 2
            r += bytes((v + (127 if guess[i] > 127 else 0), v + (127 if truth[i] > 127 else 0), v))
        out.append(bytes(r))
    return w, out


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    out, data, case = argv[:3]
    rest = argv[3:]
    pred = None
    if rest[:1] == ['--pred']:
        pred, rest = rest[1], rest[2:]
    if not rest:
        sys.exit('no slice numbers')
    rows, width = [], 0
    for n in rest:
        w, r = rows_of(data, case, pred, int(n))
        if width and w != width:
            sys.exit(f'{case}_{n}.tif is {w} wide, the first slice {width}')
        width, rows = w, rows + r
    png(out, 4 * width, rows)


if __name__ == '__main__':
    main(sys.argv[1:])
