#!/usr/bin/env python3
"""Per-call instruction differences between two callgrind profiles.

    python3 benches/callgrind_diff.py BASE.self.txt BASE_CALLS OTHER.self.txt OTHER_CALLS [TOP]

Reads two `callgrind_annotate` (self cost) reports, normalizes each function's
instructions per call, and prints (1) the difference per source crate (the file the
instructions came from, so inlined code counts for the crate that wrote it) and (2) the
functions whose self cost per call grew or shrank most.
"""

import re
import sys
from collections import defaultdict

LINE = re.compile(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*?)(?:\s+\[[^\]]*\])?$")


def crate_of(path):
    m = re.search(r"registry/src/[^/]+/([A-Za-z0-9_\-]+?)-\d+\.\d+\.\d+", path)
    if m:
        return m.group(1)
    if path.startswith("/rustc/"):
        m = re.search(r"library/([a-z_]+)/", path)
        return "rust:" + (m.group(1) if m else "?")
    if path.startswith("./") or "glibc" in path or path.startswith("???"):
        return "libc/other"
    if "benches/" in path:
        return "benches"
    if path.startswith("src/") or "/main/src/" in path:
        return "aily_client"
    return "other"


def load(path, calls):
    per_fn = defaultdict(float)
    per_crate = defaultdict(float)
    total = 0.0
    section = False
    for line in open(path, encoding="utf-8", errors="replace"):
        # Only the function table: it follows the "file:function" header and ends at
        # the first blank line (source annotations, if any, come after it).
        if not section:
            section = line.strip().endswith("file:function")
            continue
        if not line.strip():
            if total:
                break
            continue
        m = LINE.match(line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", "")) / calls
        where = m.group(2)
        file, _, func = where.partition(":")
        # Some function names hold "::" and the file part may be "???".
        if not func:
            file, func = "???", where
        per_fn[func] += ir
        per_crate[crate_of(file)] += ir
        total += ir
    return total, per_fn, per_crate


def main():
    base, base_calls, other, other_calls = sys.argv[1:5]
    top = int(sys.argv[5]) if len(sys.argv) > 5 else 30
    bt, bf, bc = load(base, int(base_calls))
    ot, of, oc = load(other, int(other_calls))
    print(f"total Ir/call: base {bt:,.0f}  other {ot:,.0f}  diff {ot - bt:+,.0f}")
    print("\nby crate whose source the instructions came from (Ir/call):")
    print(f"{'crate':<24} {'base':>9} {'other':>9} {'diff':>9}")
    for c in sorted(set(bc) | set(oc), key=lambda c: -(abs(oc.get(c, 0) - bc.get(c, 0)))):
        d = oc.get(c, 0) - bc.get(c, 0)
        if abs(d) < 20:
            continue
        print(f"{c:<24} {bc.get(c, 0):>9,.0f} {oc.get(c, 0):>9,.0f} {d:>+9,.0f}")
    print(f"\nfunctions by self-cost difference (Ir/call), top {top}:")
    diffs = sorted(
        ((of.get(f, 0) - bf.get(f, 0), f) for f in set(bf) | set(of)),
        key=lambda x: -abs(x[0]),
    )
    for d, f in diffs[:top]:
        print(f"{d:>+9,.0f}  {f[:150]}")


if __name__ == "__main__":
    main()
