"""pytest plugin loaded inside the sandbox: adds the hidden tests and streams per-test events.

It runs in the same process as the supplier's code, so everything it writes is
evidence to cross-check on the host, never proof on its own: the host compares
the JUnit file with what this plugin saw (the file's digest and path, pytest's
final exit status, which tests passed), so a forged or rewritten results file
must be matched by a forged event stream too.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_events_path = os.environ.get("ACCEPTANCE_EVENTS")
_hidden_dir = os.environ.get("ACCEPTANCE_HIDDEN_DIR")
_stream: Any = None
#: `functional.test_timeout`: one test's call longer than this is failed, the rest go on
try:
    _test_timeout = float(os.environ.get("ACCEPTANCE_TEST_TIMEOUT") or 0)
except ValueError:
    _test_timeout = 0.0
#: the marker the engine looks for in a timed-out test's failure and event
TIMEOUT_MARK = "TEST_TIMEOUT"


def _emit(**event: Any) -> None:
    global _stream
    if not _events_path:
        return
    if _stream is None:
        _stream = open(_events_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    _stream.write(json.dumps(event) + "\n")


def _is_hidden(item: Any) -> bool:
    if not _hidden_dir:
        return False
    try:
        return Path(str(item.path)).resolve().is_relative_to(Path(_hidden_dir).resolve())
    except (OSError, ValueError):
        return False


def pytest_configure(config: Any) -> None:
    """Always collect the hidden tests, whatever paths the run was given."""
    if _hidden_dir and _hidden_dir not in config.args:
        config.args = [*config.args, _hidden_dir]


def pytest_collection_finish(session: Any) -> None:
    hidden = sum(1 for item in session.items if _is_hidden(item))
    _emit(
        event="collected",
        count=len(session.items),
        hidden=hidden,
        pytest=pytest.__version__,
    )


def pytest_deselected(items: Any) -> None:
    hidden = [item.nodeid for item in items if _is_hidden(item)]
    _emit(event="deselected", count=len(items), hidden=hidden[:100], hidden_count=len(hidden))


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _emit(event="start", nodeid=nodeid)


def pytest_runtest_logreport(report: Any) -> None:
    _emit(
        event="report",
        nodeid=report.nodeid,
        when=report.when,
        outcome=report.outcome,
        wasxfail=hasattr(report, "wasxfail"),
    )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: Any) -> Iterator[None]:
    """Stop one test's call at the per-test limit: it fails, and the suite goes on.

    A signal interrupts Python code and sleeping calls; a test blocked in C code
    that ignores signals runs on until the stage's own time limit names it.
    """
    if _test_timeout <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        _emit(event="timeout", nodeid=item.nodeid, seconds=_test_timeout)
        pytest.fail(
            f"{TIMEOUT_MARK}: ran longer than the {_test_timeout:g} s per-test limit", pytrace=False
        )

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, _test_timeout)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session: Any, exitstatus: Any) -> Iterator[None]:
    # The outermost wrapper: when it resumes, the JUnit file is written and every
    # other hook (terminal summary, --max-warnings) has set the final exit status.
    yield
    xmlpath = getattr(session.config.option, "xmlpath", None)
    _emit(
        event="finish",
        exitstatus=int(session.exitstatus),
        junit_path=os.path.abspath(xmlpath) if xmlpath else None,
        junit_sha256=_sha256(xmlpath) if xmlpath else None,
    )


def _sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
