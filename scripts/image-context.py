#!/usr/bin/env python3
"""What an image build of DIR would send as its context: every file not left out by
DIR/.dockerignore, matched as Docker matches it (patterns relative to DIR, `*` and `?` within one
path element, `**` across any number of them, `!` to take a path back in, the last matching line
deciding; a pattern that matches a directory leaves out all beneath it).

Usage: image-context.py DIR [--list]
Prints "context: N files, B bytes" and the ten largest top-level entries; with --list, every
path sent, one per line (relative to DIR), instead.
"""
import os
import re
import sys


def pattern_regex(pattern):
    """The regular expression of one .dockerignore pattern (already cleaned)."""
    out, i = "^", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if i < len(pattern) and pattern[i] == "/":
                out += "(.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i)
            if end < 0:
                out += re.escape(c)
            else:
                out += "[" + pattern[i + 1:end].replace("\\", "\\\\") + "]"
                i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + "$")


def read_patterns(root):
    """(regex, excluded) pairs of root/.dockerignore, in file order; none without the file."""
    path = os.path.join(root, ".dockerignore")
    if not os.path.exists(path):
        return []
    patterns = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            line = os.path.normpath(line[1:].strip() if keep else line).lstrip("/")
            patterns.append((pattern_regex(line), not keep))
    return patterns


def excluded(relative, patterns):
    """Whether `relative` or one of its parent directories is left out (the last match wins)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for regex, excludes in patterns:
        if any(regex.match(prefix) for prefix in prefixes):
            verdict = excludes
    return verdict


def context_files(root):
    """(relative path, size) of every file the context holds, sorted."""
    patterns = read_patterns(root)
    # Without `!` lines a left-out directory is not entered at all, as Docker does.
    prune = all(excludes for _, excludes in patterns)
    found = []
    for directory, subdirectories, files in os.walk(root):
        base = os.path.relpath(directory, root)
        base = "" if base == "." else base + "/"
        if prune:
            subdirectories[:] = [d for d in subdirectories
                                 if not excluded(base + d, patterns)]
        for name in files:
            relative = base + name
            if not excluded(relative, patterns):
                found.append((relative, os.lstat(os.path.join(directory, name)).st_size))
    return sorted(found)


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: image-context.py DIR [--list]\n")
        return 2
    files = context_files(argv[1])
    if "--list" in argv[2:]:
        for relative, _ in files:
            print(relative)
        return 0
    total = sum(size for _, size in files)
    print(f"context: {len(files)} files, {total} bytes")
    by_entry = {}
    for relative, size in files:
        top = relative.split("/")[0]
        by_entry[top] = by_entry.get(top, 0) + size
    for top, size in sorted(by_entry.items(), key=lambda item: -item[1])[:10]:
        print(f"  {size:>12}  {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
