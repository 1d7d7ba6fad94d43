#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Report runs of >= MIN consecutive code lines that two files share.

Usage: scripts/dupruns.py [--min N] [--exact] [FILE...]   (default: src/backend/*.[ch])

Lines are compared without comments, blank lines and indentation; unless
--exact, identifiers (not C keywords), numbers and string/char literals are
replaced by placeholders first, so a copy with renamed variables counts too.
Prints one line per maximal run: "N lines: a.c:START-END b.c:START-END",
then a total. Exit status 1 when any run was found.
"""
import glob
import re
import sys

KEYWORDS = set("""auto break case char const continue default do double else enum
extern float for goto if inline int long register restrict return short signed
sizeof static struct switch typedef union unsigned void volatile while bool true
false NULL _Bool""".split())

TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|[A-Za-z_]\w*|\d\w*|\S')


def strip_comments(text):
    # Keep newlines so line numbers stay right.
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
                  lambda m: m.group(0) if m.group(0)[0] in "\"'" else blank(m),
                  text, flags=re.S)


def normalize(line, exact):
    if exact:
        return " ".join(TOKEN.findall(line))
    out = []
    for t in TOKEN.findall(line):
        if t[0] in "\"'":
            out.append("S")
        elif t[0].isdigit():
            out.append("0")
        elif t[0].isalpha() or t[0] == "_":
            out.append(t if t in KEYWORDS else "x")
        else:
            out.append(t)
    return " ".join(out)


def code_lines(path, exact):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = strip_comments(f.read())
    lines = []
    for no, line in enumerate(text.split("\n"), 1):
        if line.strip() and not line.lstrip().startswith("#include"):
            lines.append((no, normalize(line, exact)))
    return lines


def runs(a, b, n):
    """Maximal runs of >= n equal consecutive entries: (len, i, j)."""
    index = {}
    for j in range(len(b) - n + 1):
        index.setdefault(tuple(x[1] for x in b[j:j + n]), []).append(j)
    found, seen = [], set()
    for i in range(len(a) - n + 1):
        for j in index.get(tuple(x[1] for x in a[i:i + n]), ()):
            if (i - 1, j - 1) in seen or (i > 0 and j > 0 and a[i - 1][1] == b[j - 1][1]):
                seen.add((i, j))
                continue  # inside a run already reported
            seen.add((i, j))
            k = n
            while i + k < len(a) and j + k < len(b) and a[i + k][1] == b[j + k][1]:
                k += 1
            found.append((k, i, j))
    return found


def main(argv):
    n, exact, files = 15, False, []
    it = iter(argv)
    for arg in it:
        if arg == "--min":
            n = int(next(it))
        elif arg == "--exact":
            exact = True
        else:
            files.append(arg)
    files = files or sorted(glob.glob("src/backend/*.[ch]"))
    lines = {f: code_lines(f, exact) for f in files}
    total = 0
    for x in range(len(files)):
        for y in range(x + 1, len(files)):
            a, b = lines[files[x]], lines[files[y]]
            for k, i, j in runs(a, b, n):
                total += 1
                print("%d lines: %s:%d-%d %s:%d-%d" % (k, files[x], a[i][0], a[i + k - 1][0],
                                                       files[y], b[j][0], b[j + k - 1][0]))
    print("%d runs of %d or more lines shared by two files%s" %
          (total, n, " (exact)" if exact else ""))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
