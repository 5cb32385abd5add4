"""Keep the owner's hidden tests from the supplier: what the report says of them, and the rewrite.

Hidden tests are shown as counts, plus what the owner chose with the spec's
`functional.hidden_feedback`, as the signed report records it
(`predicate.spec.hidden_feedback`): `none`, counts only; `names`, the names of
the hidden tests that failed or did not run; `messages`, those names and the
failing tests' messages. A report that does not record the setting was made
when counts were all a supplier saw, and stays so. A name is shown only when
it is in the inventory the engine read from the owner's files
(`predicate.spec.hidden_test_ids`; the tests that did not run come from it),
never as the run reported it: the run shares a process with the supplier's
code, which could otherwise put anything into a "name". Names lose their
parametrization (`test_x[...]`), whose ids may come from the owner's data.

Sentences the engine wrote (reasons, check summaries, the error) are shown,
but one that names a hidden test is rewritten: each hidden id the report knows
becomes "a hidden test", and a sentence still naming the hidden folder, or
quoting a hidden test's message, is withheld whole (`WITHHELD`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from acceptance.service.report_values import (
    MAX_MESSAGE,
    as_dict,
    as_int,
    as_list,
    as_str,
    text_id,
)
from checks.hidden_inventory import HIDDEN_DIR_NAME, base_id

#: said instead of an engine sentence that would reveal the owner's hidden tests
WITHHELD = "withheld: this sentence would reveal the owner's hidden tests"
#: said instead of the id of a hidden test inside an engine sentence
HIDDEN_TEST = "a hidden test"
#: hidden ids start with the hidden folder, as a path (pytest) or a module (JUnit class names)
_HIDDEN_PREFIXES = (f"{HIDDEN_DIR_NAME}/", f"{HIDDEN_DIR_NAME}.")
#: a hidden failure message line shorter than this is too common to be evidence of a quote
_MIN_QUOTED_LINE = 20
#: a hidden id's part after its folder shorter than this is too common to look for
_MIN_RELATIVE_ID = 8

#: names of failing or missing hidden tests listed, each list (the counts have them all)
_MAX_LISTED_NAMES = 50
_MAX_SENTENCE = 2000
#: a hidden test's message, with `messages`: enough for an assertion, not for a file
_MAX_HIDDEN_MESSAGE = 1000
_MAX_HIDDEN_MESSAGE_LINES = 12
#: what the supplier sees of failing hidden tests (spec `functional.hidden_feedback`)
FEEDBACK_NONE, FEEDBACK_NAMES, FEEDBACK_MESSAGES = "none", "names", "messages"
_FEEDBACK_LEVELS = (FEEDBACK_NONE, FEEDBACK_NAMES, FEEDBACK_MESSAGES)
_COUNT_KEYS = ("passed", "failed", "errors", "skipped")
_OUTCOME_COUNT = {"passed": "passed", "failed": "failed", "error": "errors", "skipped": "skipped"}


def is_hidden_id(test_id: str) -> bool:
    """Whether a test id names one of the owner's hidden tests."""
    return test_id.startswith(_HIDDEN_PREFIXES)


class HiddenTests:
    """What the report says about the hidden tests, used to keep it from the supplier."""

    def __init__(
        self,
        ids: Iterable[str],
        messages: Iterable[str],
        *,
        feedback: str = FEEDBACK_NONE,
        inventory: Iterable[str] = (),
    ) -> None:
        self.feedback = feedback
        #: the hidden tests' node ids read from the owner's files: the only names ever shown
        self.inventory = frozenset(inventory)
        known = {i for i in ids if i}
        relative = {_relative(i) for i in known}
        # Longest first, so an id is replaced before any shorter id it starts with.
        self.ids = sorted(
            known | {r for r in relative if len(r) >= _MIN_RELATIVE_ID}, key=len, reverse=True
        )
        self.quoted = {
            line.strip()
            for message in messages
            for line in message.splitlines()
            if len(line.strip()) >= _MIN_QUOTED_LINE
        }

    @classmethod
    def of(cls, predicate: Mapping[str, Any] | None) -> HiddenTests:
        """Every hidden id and message the report holds (none without a report)."""
        ids: list[str] = []
        messages: list[str] = []
        spec = as_dict(as_dict(predicate).get("spec"))
        inventory = [
            i for i in map(text_id, as_list(spec.get("hidden_test_ids"))) if is_hidden_id(i)
        ]
        ids += inventory
        for entry in map(as_dict, as_list(as_dict(predicate).get("checks"))):
            if entry.get("kind") != "functional":
                continue
            block = as_dict(entry.get("hidden"))
            ids += map(as_str, as_list(block.get("failing_tests")) + as_list(block.get("missing"))
                       + as_list(block.get("unexpected")) + as_list(block.get("skipped_tests")))  # fmt: skip
            ids += (as_str(r.get("id")) for r in map(as_dict, as_list(block.get("results"))))
            ids.append(as_str(block.get("running_test")))
            failures = [*map(as_dict, as_list(block.get("failures")))]
            # Reports from before the hidden tests had their own run mix them into the lists.
            mixed = [
                f
                for f in map(as_dict, as_list(entry.get("failures")))
                if is_hidden_id(as_str(f.get("id")))
            ]
            ids += (as_str(f.get("id")) for f in failures + mixed)
            messages += (as_str(f.get("message")) for f in failures + mixed)
            ids += (i for i in map(as_str, as_list(entry.get("failing_tests"))) if is_hidden_id(i))
            ids += (
                i
                for r in map(as_dict, as_list(entry.get("results")))
                if is_hidden_id(i := as_str(r.get("id")))
            )
        return cls(
            ids, messages, feedback=_feedback(spec.get("hidden_feedback")), inventory=inventory
        )

    def sentence(self, value: object) -> str:
        """An engine sentence with hidden ids replaced; withheld whole if it still reveals them."""
        text = as_str(value)
        for test_id in self.ids:
            text = text.replace(test_id, HIDDEN_TEST)
        if self._reveals(text):
            return WITHHELD
        return text[:_MAX_SENTENCE]

    def own_message(self, value: object) -> str:
        """A failure message of the supplier's own test, withheld if it quotes a hidden test."""
        text = as_str(value)
        if self._reveals(text) or any(i in text for i in self.ids):
            return WITHHELD
        return text[:MAX_MESSAGE]

    def _reveals(self, text: str) -> bool:
        return HIDDEN_DIR_NAME in text or any(line in text for line in self.quoted)

    def own_counts(self, entry: Mapping[str, Any]) -> dict[str, int]:
        """The supplier's own tests' counts (`tests` counts the hidden tests too)."""
        if "own_tests" in entry:
            return _counts(entry.get("own_tests"))
        counts = _counts(entry.get("tests"))
        if "hidden" in entry:
            return {
                k: max(0, counts[k] - v)
                for k, v in _counts(as_dict(entry["hidden"]).get("tests")).items()
            }
        mixed = _mixed_counts(entry)
        return {k: max(0, counts[k] - mixed[k]) for k in _COUNT_KEYS}

    def outcome(self, entry: Mapping[str, Any]) -> dict[str, Any] | None:
        """The hidden tests' counts, and what `feedback` shows of them; None without any."""
        block = entry.get("hidden")
        if isinstance(block, dict):
            return {
                "tests": _counts(block.get("tests")),
                "expected": as_int(block.get("expected")),
                "missing": len(as_list(block.get("missing"))),
                "unexpected": len(as_list(block.get("unexpected"))),
                "partial": block.get("partial") is True,
                **self._feedback_of(block),
            }
        mixed = _mixed_counts(entry)
        if not any(mixed.values()) and not as_int(entry.get("hidden_tests")):
            return None
        # Reports that mixed the hidden tests into the supplier's lists predate any feedback.
        return {"tests": mixed, "expected": None, "missing": 0, "unexpected": 0,
                "partial": False, **_no_feedback()}  # fmt: skip

    def _feedback_of(self, block: Mapping[str, Any]) -> dict[str, Any]:
        """The names (and messages) of failing and missing hidden tests the owner lets through."""
        if self.feedback == FEEDBACK_NONE:
            return _no_feedback()
        failing = self._names(as_list(block.get("failing_tests")))
        # Tests that did not run are named from the inventory by the engine, never by the run;
        # without an inventory in the report, that list is the only source of names.
        missing = self._names(as_list(block.get("missing")), trusted=not self.inventory)
        failures: list[dict[str, str]] = []
        if self.feedback == FEEDBACK_MESSAGES:
            first: dict[str, str] = {}
            for failure in map(as_dict, as_list(block.get("failures"))):
                for name in self._names([failure.get("id")]):
                    first.setdefault(name, _hidden_message(failure.get("message")))
            failures = [{"id": name, "message": first[name]} for name in failing if name in first]
        return {
            "feedback": self.feedback,
            "failing_tests": failing,
            "missing_tests": missing,
            "failures": failures,
        }

    def _names(self, ids: Iterable[object], *, trusted: bool = False) -> list[str]:
        """Hidden test names as the owner wrote them, in order, once each, without parameters.

        An id whose test is not in the inventory is dropped (unless `trusted`: the engine took
        it from the inventory): a supplier's code could have written it.
        """
        names: dict[str, None] = {}
        for value in ids:
            test = base_id(text_id(value))
            if is_hidden_id(test) and (test in self.inventory or trusted):
                names[_relative(test)] = None
        return list(names)[:_MAX_LISTED_NAMES]


def _feedback(value: object) -> str:
    """The report's `hidden_feedback`; absent or unknown: counts only, as reports always were."""
    return value if isinstance(value, str) and value in _FEEDBACK_LEVELS else FEEDBACK_NONE


def _no_feedback() -> dict[str, Any]:
    return {"feedback": FEEDBACK_NONE, "failing_tests": [], "missing_tests": [], "failures": []}


def _hidden_message(value: object) -> str:
    """A hidden test's failure message, cut to what an assertion needs."""
    lines = as_str(value).splitlines()[:_MAX_HIDDEN_MESSAGE_LINES]
    return "\n".join(lines)[:_MAX_HIDDEN_MESSAGE]


def _mixed_counts(entry: Mapping[str, Any]) -> dict[str, int]:
    """Counts of the hidden tests in an older report, which ran them among the supplier's.

    From the per-test results when the report has them, else from the failing ids
    (a failing hidden test counted as failed, as the list does not tell errors apart).
    """
    counts = dict.fromkeys(_COUNT_KEYS, 0)
    results = [
        r for r in map(as_dict, as_list(entry.get("results"))) if is_hidden_id(as_str(r.get("id")))
    ]
    for result in results:
        key = _OUTCOME_COUNT.get(as_str(result.get("outcome")))
        if key is not None:
            counts[key] += 1
    if not results:
        counts["failed"] = sum(
            1 for i in map(as_str, as_list(entry.get("failing_tests"))) if is_hidden_id(i)
        )
    return counts


def _counts(value: object) -> dict[str, int]:
    tests = as_dict(value)
    return {key: as_int(tests.get(key)) or 0 for key in _COUNT_KEYS}


def _relative(test_id: str) -> str:
    for prefix in _HIDDEN_PREFIXES:
        if test_id.startswith(prefix):
            return test_id[len(prefix) :]
    return test_id
