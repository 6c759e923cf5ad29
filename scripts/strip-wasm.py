#!/usr/bin/env python3
"""Drops the debug-only custom sections (`name`, `producers`) from wasm files in place and
re-pins trunk's Subresource-Integrity hashes in index.html to the new bytes.

Why by hand: the wasm section format is a tag, a LEB128 length and the bytes, so 40 lines of
standard-library Python do it in a second, whereas wasm-opt (binaryen) costs a 10-minute run
here, and cargo's `strip` profile setting would rebuild every dependency of the wasm.

    python3 scripts/strip-wasm.py dist
"""
import base64
import hashlib
import pathlib
import re
import sys

DROP = {b"name", b"producers"}


def leb128(data, pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def strip(data):
    if data[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    out, pos, dropped = bytearray(data[:8]), 8, 0
    while pos < len(data):
        start = pos
        section_id = data[pos]
        size, body = leb128(data, pos + 1)
        end = body + size
        if end > len(data):
            raise ValueError(f"section at byte {start} runs past the end")
        if section_id == 0:
            name_len, name_at = leb128(data, body)
            if data[name_at:name_at + name_len] in DROP:
                dropped += end - start
                pos = end
                continue
        out += data[start:end]
        pos = end
    return bytes(out), dropped


def sri(data):
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def main(dist):
    dist = pathlib.Path(dist)
    index = dist / "index.html"
    html = index.read_text()
    for wasm in sorted(dist.glob("*.wasm")):
        data = wasm.read_bytes()
        try:
            stripped, dropped = strip(data)
        except (ValueError, IndexError) as e:
            sys.exit(f"{wasm}: {e}")
        wasm.write_bytes(stripped)
        old, new = sri(data), sri(stripped)
        html = html.replace(old, new)
        print(f"{wasm.name}: {len(data):,} -> {len(stripped):,} bytes ({dropped:,} of debug sections dropped)")
    # Any hash left for a wasm that no longer matches would make the browser refuse the preload.
    for href, digest in re.findall(r'href="/?([^"]+\.wasm)"[^>]*integrity="([^"]+)"', html):
        if sri((dist / href).read_bytes()) != digest:
            sys.exit(f"{index}: integrity of {href} does not match")
    index.write_text(html)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dist")
