#!/usr/bin/env python3
"""Pins the inline scripts of dist/index.html (trunk's loader) in its Content-Security-Policy
by their SHA-256, so the built page runs no inline script but those: with a hash present,
browsers ignore the 'unsafe-inline' that index.html keeps for `trunk serve`.

    python3 scripts/csp-pin.py dist
"""
import base64
import hashlib
import pathlib
import re
import sys


def main(dist):
    index = pathlib.Path(dist) / "index.html"
    html = index.read_text()
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)
    if not scripts:
        sys.exit(f"{index}: no inline script found (has trunk's output changed?)")
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    )
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    if not csp or "script-src " not in csp.group(1):
        sys.exit(f"{index}: no Content-Security-Policy with a script-src")
    pinned = csp.group(1).replace("script-src ", f"script-src {hashes} ", 1)
    html = html[: csp.start(1)] + pinned + html[csp.end(1):]
    index.write_text(html)
    print(f"{index}: {len(scripts)} inline script(s) pinned in the CSP")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dist")
