"""Whether a file's first line is a shebang that runs one of some programs.

Directly (`#!/bin/bash -e`) or through env, whatever options or assignments come first
(`#!/usr/bin/env -S -i bash`): env's options may carry the program itself
(`-S 'bash -e'`), so any word after env may be it. The scanners use it to find the
scripts a delivery runs that carry no telling suffix.
"""

from __future__ import annotations

from collections.abc import Collection

#: bytes of a file's start read for its first line
_FIRST_LINE_BYTES = 128


def names_program(first_line: bytes, programs: Collection[bytes]) -> bool:
    """Whether `first_line` is a shebang running one of `programs` (by base name)."""
    if not first_line.startswith(b"#!"):
        return False
    words = first_line[2:].split()
    if not words:
        return False
    program = words[0].rsplit(b"/", 1)[-1]
    if program in programs:
        return True
    return program == b"env" and any(w.rsplit(b"/", 1)[-1] in programs for w in words[1:])


def file_runs(path: str, programs: Collection[bytes]) -> bool:
    """Whether the file at `path` starts with a shebang running one of `programs`."""
    try:
        with open(path, "rb") as handle:
            first = handle.read(_FIRST_LINE_BYTES).split(b"\n", 1)[0]
    except OSError:
        return False
    return names_program(first, programs)
