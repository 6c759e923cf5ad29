"""Reads the uncompressed 8-bit TIFFs kaggle_3m ships and `train` writes, with the standard
library only (these machines have no numpy or Pillow): `read(path)` -> (width, height, samples
per pixel, pixel bytes)."""
import struct


def tags(b):
    """The first image's tags of TIFF bytes `b`: {tag: tuple of values}."""
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
    return tags


def strips(tags):
    """(offset, byte count) of each strip of pixel data."""
    return list(zip(tags[273], tags[279]))


def read(path):
    b = open(path,'rb').read()
    t = tags(b)
    assert t.get(259,(1,))[0] == 1, (path, 'compressed', t.get(259))
    w, h = t[256][0], t[257][0]
    spp = t.get(277,(1,))[0]
    data = b''.join(b[o:o+c] for o,c in strips(t))
    return w, h, spp, data
