"""Delivered code that reaches into the test machinery: flagged for a person to review.

The owner's hidden tests run in their own pytest process, under the engine's
configuration, so the supplier's conftest files, ini files and plugins never
load there (docs/security.md). What remains possible is in-process: the
supplier's package, imported by the hidden tests, patching pytest, or code
forging the engine's record of a run. No static reading can rule that out, but
the plain ways of doing it name what they touch, and those names have no
business in a delivery under acceptance. Such a delivery is not accepted
automatically: the reason `SUSPICIOUS_TEST_HOOKS` says a person must review it.

Read on the host from the checkout as bytes, never imported or run.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: the engine's own names, in any file of the repository
_ENGINE = re.compile(
    rb"acceptance_sandbox_plugin|acceptance_runner|ACCEPTANCE_EVENTS|ACCEPTANCE_HIDDEN_DIR"
    rb"|acceptance_hidden_tests|/work/out\b|/work/\.acceptance-|junit_sha256|hidden-pytest\.ini"
)
#: pytest's classes that run and report tests (`pytest.Function.runtest = ...` passes them all)
_PYTEST_CLASSES = (
    rb"(?:Function|Item|Class|Module|Package|Session|Config|Collector|File|Dir|Directory"
    rb"|CallInfo|CollectReport|PytestPluginManager)\b"
)
#: pytest's internals and result hooks, outside the supplier's own test files
_PYTEST_INTERNALS = re.compile(
    rb"\b_pytest\b|pytest_runtest_makereport|pytest_runtest_logreport|pytest_report_teststatus"
    rb"|pytest_sessionfinish|pytest_collection_modifyitems|\bTestReport\b|\bpytest\.hookimpl\b"
    rb"|sys\.modules\[[^\]]*pytest|\bpluginmanager\b|\.runtest\b"
    rb"|\bpytest\." + _PYTEST_CLASSES + rb"|\bfrom\s+pytest\s+import\b[^\n]*\b" + _PYTEST_CLASSES
)
_TEST_FILE = re.compile(r"(^|/)(test_[^/]*\.py|[^/]*_test\.py|conftest\.py)$")
MAX_FILE_BYTES = 2 * 1024**2
MAX_FINDINGS = 50
MAX_FILES = 20_000


@dataclass(frozen=True)
class HookFinding:
    """One place in the delivery that touches the test machinery."""

    path: str
    line: int
    what: str

    def to_report(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "what": self.what}


def find_test_hooks(root: Path) -> list[HookFinding]:
    """Places in the checkout's Python and .pth files that touch the engine or pytest's internals."""
    findings: list[HookFinding] = []
    for relative in sorted(_source_files(root)):
        try:
            with open(root / relative, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES)
        except OSError:
            continue
        patterns = [_ENGINE]
        if not _TEST_FILE.search(relative):
            patterns.append(_PYTEST_INTERNALS)
        for pattern in patterns:
            for match in pattern.finditer(data):
                line = data.count(b"\n", 0, match.start()) + 1
                what = match.group(0).decode("ascii", errors="replace")
                findings.append(HookFinding(relative, line, what))
                if len(findings) >= MAX_FINDINGS:
                    return findings
    return findings


def _source_files(root: Path) -> Iterator[str]:
    """Regular .py and .pth files below root, relative; links are never followed."""
    seen = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            if not name.endswith((".py", ".pth")):
                continue
            path = os.path.join(folder, name)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
            except OSError:
                continue
            seen += 1
            if seen > MAX_FILES:
                return
            yield os.path.relpath(path, root).replace(os.sep, "/")
