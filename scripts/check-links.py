#!/usr/bin/env python3
"""Check the README's and the manual's relative links, without a network or a package.

Every relative link in README.md and docs/src/**/*.md must name a file that exists, and its
`#anchor` a heading of that file (the slug mdBook and GitHub both make: lower case, each space
a `-`, punctuation dropped; a repeated heading gets `-1`, `-2`, ...). Every page in docs/src must
be listed in SUMMARY.md, or mdBook would leave it out of the book without a word. Links inside
code (fenced blocks, `inline`) are not links. Exits 1 naming each bad link as FILE:LINE.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "docs" / "src"

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ID = re.compile(r"\s*\{#([^}\s]+)[^}]*\}\s*$")


def prose_lines(path):
    """(line number, text) of each line outside fenced code, with inline code blanked."""
    fence = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        opened = FENCE.match(line)
        if fence:
            if opened and opened.group(1) == fence:
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        yield number, INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)


def slug(text):
    """mdBook's `normalize_id` (GitHub's is the same for ASCII headings) of a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "").replace("*", "")
    out = []
    for ch in text:
        if ch.isalnum() or ch in "-_":
            out.append(ch.lower())
        elif ch.isspace():
            out.append("-")
    return "".join(out)


def anchors(path, cache={}):
    if path not in cache:
        seen = {}
        found = set()
        fence = None
        for line in path.read_text(encoding="utf-8").splitlines():
            opened = FENCE.match(line)
            if fence:
                if opened and opened.group(1) == fence:
                    fence = None
                continue
            if opened:
                fence = opened.group(1)
                continue
            heading = HEADING.match(line)
            if not heading:
                continue
            text = heading.group(2)
            explicit = EXPLICIT_ID.search(text)
            if explicit:
                found.add(explicit.group(1))
                continue
            base = slug(text)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        cache[path] = found
    return cache[path]


def links(path):
    for number, line in prose_lines(path):
        for match in LINK.finditer(line):
            yield number, match.group(1)
        reference = REFERENCE.match(line)
        if reference:
            yield number, reference.group(1)


def check(path):
    problems = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        where = f"{path.relative_to(ROOT)}:{number}"
        name, _, anchor = target.partition("#")
        file = (path.parent / name).resolve() if name else path
        if not file.exists():
            problems.append(f"{where}: link to a missing file: {target}")
            continue
        if anchor and file.suffix == ".md" and anchor not in anchors(file):
            problems.append(f"{where}: link to a missing anchor: {target}")
    return problems


def summary_problems():
    summary = SRC / "SUMMARY.md"
    if not summary.exists():
        return [f"{summary.relative_to(ROOT)}: missing"]
    listed = {
        (SRC / target.partition("#")[0]).resolve()
        for _, target in links(summary)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)
    }
    return [
        f"{page.relative_to(ROOT)}: not listed in docs/src/SUMMARY.md (mdBook would leave it out)"
        for page in sorted(SRC.rglob("*.md"))
        if page != summary and page.resolve() not in listed
    ]


def main():
    pages = [ROOT / "README.md", *sorted(SRC.rglob("*.md"))]
    problems = [p for page in pages for p in check(page)] + summary_problems()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check-links: {len(problems)} bad link(s)", file=sys.stderr)
        return 1
    print(f"check-links: {len(pages)} files, every relative link and anchor found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
