"""The spec's `functional` section: what the tests run and what counts as passing."""

from __future__ import annotations

from pathlib import Path

from acceptance.engine.spec_fields import MAX_PATHS, choice_field, int_field, path_problem
from acceptance.engine.spec_hidden import read_hidden_dir
from acceptance.engine.spec_limits import MAX_TIMEOUT
from acceptance.engine.test_command import parse_test_command
from acceptance.quoting import describe, shorten
from checks.options import FunctionalSpec

#: ``functional.reruns``: at most this many fresh re-runs of the failing tests
MAX_RERUNS = 5
#: values of ``functional.flaky``: does a test that failed, then passed, count as passed
FLAKY_POLICIES: tuple[str, ...] = ("fail", "pass")
#: values of ``functional.hidden_feedback``, from least to most shown to the supplier
HIDDEN_FEEDBACK_LEVELS: tuple[str, ...] = ("none", "names", "messages")
FUNCTIONAL_KEYS = (
    "paths",
    "hidden_tests",
    "min_passed",
    "timeout",
    "reruns",
    "flaky",
    "test_timeout",
    "hidden_feedback",
    "command",
    "results",
)


def read_functional(
    section: dict[str, object], base_dir: Path, problems: list[str]
) -> FunctionalSpec:
    """Validate the ``functional`` section."""
    default = FunctionalSpec()
    timeout = int_field(
        section,
        "timeout",
        "functional",
        default.timeout,
        problems,
        minimum=1,
        maximum=MAX_TIMEOUT,
        expected="a positive integer number of seconds",
    )
    # An invalid timeout is already reported; comparing test_timeout with its default would
    # only add a second, misleading problem.
    timeout_valid = section.get("timeout", default.timeout) == timeout
    return FunctionalSpec(
        paths=_paths(section, problems),
        hidden_tests=read_hidden_dir(section, base_dir, problems),
        min_passed=int_field(
            section,
            "min_passed",
            "functional",
            default.min_passed,
            problems,
            minimum=0,
            maximum=10**9,
            expected="an integer >= 0",
        ),
        timeout=timeout,
        reruns=int_field(
            section,
            "reruns",
            "functional",
            default.reruns,
            problems,
            minimum=0,
            maximum=MAX_RERUNS,
            expected=f"an integer from 0 (no re-runs) to {MAX_RERUNS}",
        ),
        flaky=choice_field(section, "flaky", "functional", default.flaky, FLAKY_POLICIES, problems),
        test_timeout=_test_timeout(section, timeout if timeout_valid else None, problems),
        hidden_feedback=choice_field(
            section,
            "hidden_feedback",
            "functional",
            default.hidden_feedback,
            HIDDEN_FEEDBACK_LEVELS,
            problems,
        ),
        command=parse_test_command(section, problems),
    )


def _test_timeout(
    section: dict[str, object], step_timeout: int | None, problems: list[str]
) -> int | None:
    """Validate ``functional.test_timeout``: absent or null means no per-test limit.

    ``step_timeout`` is the valid ``functional.timeout`` (None when it is invalid): one
    test cannot be given longer than the whole test step.
    """
    if section.get("test_timeout") is None:
        return None
    value = int_field(
        section,
        "test_timeout",
        "functional",
        0,
        problems,
        minimum=1,
        maximum=MAX_TIMEOUT,
        expected="a positive integer number of seconds",
    )
    if value == 0:  # invalid, and already reported
        return None
    if step_timeout is not None and value > step_timeout:
        problems.append(
            f"functional.test_timeout: {value} seconds exceeds functional.timeout "
            f"({step_timeout}), the time for the whole test step; lower test_timeout or "
            "raise functional.timeout"
        )
        return None
    return value


def _paths(section: dict[str, object], problems: list[str]) -> tuple[str, ...]:
    """Validate ``functional.paths``: relative POSIX paths or pytest node ids."""
    value = section.get("paths", [])
    if value is None:
        return ()
    if isinstance(value, str):
        problems.append(
            f"functional.paths: must be a list of paths, got {describe(value)}; "
            "write it in brackets, e.g. [tests]"
        )
        return ()
    if not isinstance(value, list):
        problems.append(f"functional.paths: must be a list of paths, got {describe(value)}")
        return ()
    if len(value) > MAX_PATHS:
        problems.append(f"functional.paths: at most {MAX_PATHS} entries, got {len(value)}")
        return ()
    paths: list[str] = []
    for index, item in enumerate(value):
        where = f"functional.paths[{index}]"
        if not isinstance(item, str):
            problems.append(f"{where}: must be a string path, got {describe(item)}")
            continue
        reason = path_problem(item.split("::", 1)[0], item)
        if reason is not None:
            problems.append(f"{where}: {reason}, got {shorten(item)}")
            continue
        paths.append(item)
    return tuple(paths)
