"""Shell code that reaches into bats's machinery: flagged for a person to review.

A `.bats` file is sourced into bats's own shell, so a delivery can redefine the
functions bats reports results with, or write result lines into bats's channel, and its
own failing tests then read as passing (docs/runtimes.md). No reading rules that out,
but the plain ways name what they touch: a function named like bats's internals
(`bats_*`) or its `run`, `skip` and `load`, TAP result lines written to file descriptor
3, another process's descriptors under /proc, the engine's output folder, bats's
internal state of a running test (`BATS_TEST_COMPLETED`...) or its retry count. Such a
delivery is not accepted automatically (`SUSPICIOUS_TEST_HOOKS`), as with
checks/test_hooks.py for pytest.

The shell files and the files they load (checks/shell_sources.py) are read on the host
from the checkout as bytes, never run.
"""

from __future__ import annotations

import re
from pathlib import Path

from checks.shell_sources import followed_files
from checks.shellcheck import shell_files
from checks.test_hooks import MAX_FILE_BYTES, MAX_FINDINGS, HookFinding

_NAMES = rb"(?:bats_[A-Za-z0-9_]+|run|skip|load)"
#: bats's internal state of a running test (bats-exec-test), and its retry count
_STATE = (
    rb"\bBATS_(?:TEST_COMPLETED|TEARDOWN_COMPLETED|ERROR_STATUS|INTERRUPTED|TIMED_OUT"
    rb"|TEST_SKIPPED|TEST_RETRIES)\b"
)
_PATTERNS = (
    # a function definition: `name() {`, `function name {`, `function name() {`
    re.compile(
        rb"(?m)^[ \t]*(?:function[ \t]+" + _NAMES + rb"\b|" + _NAMES + rb"[ \t]*\([ \t]*\))"
    ),
    # TAP result lines into bats's own channel
    re.compile(rb"(?m)^[^\n#]*\b(?:not )?ok [0-9][^\n]*>&[ \t]*3\b"),
    re.compile(rb"(?m)^[^\n#]*>&[ \t]*3[^\n]*\b(?:not )?ok [0-9]"),
    # another process's descriptors, the engine's output folder
    re.compile(rb"/proc/[^ \t\n/]+/fd\b|/work/out\b"),
    # bats's own record of a test's end: setting it before `exit 0` turns a failing test
    # into "ok" (bats then exits 0); no test has a reason to name these, nor to retry
    re.compile(_STATE),
)


def find_bats_hooks(root: Path) -> list[HookFinding]:
    """Places in the checkout's shell files that touch bats's machinery or the engine's files."""
    findings: list[HookFinding] = []
    files = shell_files(root)
    # the files they load too (`load lib/hooks`): bats sources them into its own shell
    for relative in files + followed_files(root, files)[0]:
        try:
            with open(root / relative, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES)
        except OSError:
            continue
        for pattern in _PATTERNS:
            for match in pattern.finditer(data):
                line = data.count(b"\n", 0, match.start()) + 1
                what = match.group(0).strip().decode("ascii", errors="replace")[:80]
                findings.append(HookFinding(relative, line, what))
                if len(findings) >= MAX_FINDINGS:
                    return findings
    return sorted(findings, key=lambda f: (f.path, f.line))
