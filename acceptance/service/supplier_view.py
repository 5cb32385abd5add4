"""What a supplier may see of a run: one allow-list over the run's record and signed report.

The supplier's status page (HTML and JSON) shows only what `supplier_run`
returns. Every field it keeps is named here; anything else in the run's
record or report (the owner's hidden tests' names, messages and results,
logs, artifacts, exit codes, the spec) is dropped, so a field a later change
adds to the report stays with the owner until someone decides otherwise here.
docs/security.md ("What the supplier sees") is the same policy in prose.

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

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from acceptance.service.models import Run, Submission
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
_MAX_ID = 500
#: names of failing or missing hidden tests listed, each list (the counts have them all)
_MAX_LISTED_NAMES = 50
_MAX_SENTENCE = 2000
_MAX_MESSAGE = 4000
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


def supplier_submission(submission: Submission) -> dict[str, Any]:
    """The submission as its status page shows it: what the owner registered for this supplier."""
    return {
        "submission": submission.id,
        "opportunity": submission.opportunity.title,
        "supplier": submission.supplier,
        "repo_url": submission.repo_url,
        "branch": submission.branch,
    }


def supplier_run(run: Run, predicate: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Exactly what the supplier may see of `run`; with its signed report's predicate, the report too.

    A run that has a report, given without it (the list of runs does not open
    reports), comes without its sentences (`reasons`, `error`, check summaries
    are None): they can be checked for hidden content only against the report.
    The result is JSON-ready (timestamps as ISO 8601 strings).
    """
    hidden = _Hidden.of(predicate)
    summary = _dict(run.summary)
    checkable = predicate is not None or not run.report_sha256
    shown: dict[str, Any] = {
        "id": run.id,
        "submission": run.submission_id,
        "opportunity": run.submission.opportunity_id,
        "supplier": run.submission.supplier,
        "status": run.status,
        "stage": _stage_name(run.stage),
        "verdict": run.verdict,
        "reason_codes": [_str(c, 100) for c in _list(run.reason_codes)],
        "reasons": [hidden.sentence(r) for r in _list(run.reasons)] if checkable else None,
        "error": hidden.sentence(run.error) if run.error and checkable else None,
        "trigger": run.trigger,
        "ref": run.ref,
        "commit": run.commit,
        "commit_message": run.commit_message,
        "spec_version": run.spec_version.version,
        "spec_sha256": run.spec_version.spec_sha256,
        "supersedes": run.supersedes_id,
        "queued_at": _iso(run.queued_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "attempts": run.attempts,
        "key_id": run.key_id,
        "stages": _stages(run.stages),
        "checks": [
            {
                "id": _str(c.get("id"), 100),
                "status": _str(c.get("status"), 20),
                "summary": hidden.sentence(c.get("summary")) if checkable else None,
            }
            for c in map(_dict, _list(summary.get("checks")))
        ],
        "report": _report(predicate, hidden) if predicate is not None else None,
    }
    return shown


def supplier_view_of_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """What the supplier may see of a signed report (an in-toto statement, or its predicate).

    For callers that hold a report but no run record: the CLI, forge feedback.
    """
    predicate = _dict(report.get("predicate")) if "predicate" in report else report
    return _report(predicate, _Hidden.of(predicate))


def _report(predicate: Mapping[str, Any], hidden: _Hidden) -> dict[str, Any]:
    """The signed report's part a supplier may see, in the predicate's own shape."""
    source = _dict(predicate.get("source"))
    return {
        "verdict": _str(predicate.get("verdict"), 20),
        "reasons": [hidden.sentence(r) for r in _list(predicate.get("reasons"))],
        "reason_codes": [_str(c, 100) for c in _list(predicate.get("reason_codes"))],
        "source": {"commit": _str(source.get("commit"), 64), "ref": _str(source.get("ref"), 255)},
        "checks": [_check(c, hidden) for c in map(_dict, _list(predicate.get("checks")))],
        "not_checked": [
            {"id": _str(item.get("id"), 100), "reason": hidden.sentence(item.get("reason"))}
            for item in map(_dict, _list(predicate.get("not_checked")))
        ],
        "stages": _stages(predicate.get("stages")),
    }


def _check(entry: Mapping[str, Any], hidden: _Hidden) -> dict[str, Any]:
    kind = _str(entry.get("kind"), 40)
    shown: dict[str, Any] = {
        "id": _str(entry.get("id"), 100),
        "kind": kind,
        "status": _str(entry.get("status"), 20),
        "summary": hidden.sentence(entry.get("summary")),
        "reason_code": _str(entry.get("reason_code"), 100) or None,
    }
    evidence = _EVIDENCE.get(kind)
    if evidence is not None:
        shown.update(evidence(entry, hidden))
    return shown


def _functional(entry: Mapping[str, Any], hidden: _Hidden) -> dict[str, Any]:
    """The supplier's own tests in full; the owner's hidden tests as counts only."""
    own_failing = [i for i in map(_id, _list(entry.get("failing_tests"))) if not is_hidden_id(i)]
    failures = [
        {"id": test_id, "message": hidden.own_message(f.get("message"))}
        for f in map(_dict, _list(entry.get("failures")))
        if not is_hidden_id(test_id := _id(f.get("id")))
    ]
    running = _id(entry.get("running_test"))
    return {
        "tests": hidden.own_counts(entry),
        "failing_tests": own_failing,
        "failures": failures,
        "partial": entry.get("partial") is True,
        "running_test": running if running and not is_hidden_id(running) else None,
        "hidden": hidden.outcome(entry),
    }


def _sast(entry: Mapping[str, Any], _hidden: _Hidden) -> dict[str, Any]:
    """Bandit's findings in the supplier's own code."""
    keep = ("test_id", "test_name", "severity", "confidence", "filename", "line", "text", "cwe",
            "blocking", "suppressed")  # fmt: skip
    return {
        "findings": [_pick(f, keep) for f in map(_dict, _list(entry.get("findings")))],
        "findings_truncated": entry.get("findings_truncated") is True,
    }


def _dependencies(entry: Mapping[str, Any], _hidden: _Hidden) -> dict[str, Any]:
    """Known vulnerabilities of the packages the supplier's project installed."""
    keep = ("package", "version", "id", "aliases", "fix_versions", "ignored")
    return {
        "vulnerabilities": [_pick(v, keep) for v in map(_dict, _list(entry.get("vulnerabilities")))]
    }


def _licence(entry: Mapping[str, Any], _hidden: _Hidden) -> dict[str, Any]:
    """The licence found in the supplier's repository and their dependencies' licences."""
    return {
        "licence": _pick(_dict(entry.get("licence")), ("spdx", "source_file", "allowed")),
        "evidence": [
            _pick(e, ("source", "kind", "matched", "score", "problem"))
            for e in map(_dict, _list(entry.get("evidence")))
        ],
        "dependencies": [
            _pick(d, ("name", "version", "licence", "compatible"))
            for d in map(_dict, _list(entry.get("dependencies")))
        ],
    }


def _quality(entry: Mapping[str, Any], _hidden: _Hidden) -> dict[str, Any]:
    """The linter's findings and the suppressions in the supplier's own code, with the rules."""
    finding_keys = ("rule", "name", "level", "file", "line", "column", "message", "url",
                    "suppressed", "suppression_reason", "blocking")  # fmt: skip
    suppression_keys = ("file", "line", "end_line", "scope", "directive", "rules", "reason",
                        "justified")  # fmt: skip
    settings = _pick(_dict(entry.get("settings")), ("rules", "fail_on", "suppressions", "exclude"))
    return {
        "findings": [_pick(f, finding_keys) for f in map(_dict, _list(entry.get("findings")))],
        "findings_truncated": entry.get("findings_truncated") is True,
        "suppressions": [
            _pick(s, suppression_keys) for s in map(_dict, _list(entry.get("suppressions")))
        ],
        "suppressions_truncated": entry.get("suppressions_truncated") is True,
        "counts": _pick(_dict(entry.get("counts")), ("error", "warning", "style")),
        "settings": settings,
        "tool": _pick(_dict(entry.get("tool")), ("name", "version")),
    }


def _accessibility(entry: Mapping[str, Any], _hidden: _Hidden) -> dict[str, Any]:
    """axe-core's findings on the supplier's own pages, with the owner's settings."""
    violation_keys = ("rule", "impact", "tags", "help", "help_url", "blocking", "ignored")

    def page(item: Mapping[str, Any]) -> dict[str, Any]:
        shown = _pick(item, ("page", "passes", "incomplete", "error", "screenshot"))
        shown["counts"] = _pick(_dict(item.get("counts")), _IMPACTS)
        shown["violations"] = [
            {
                **_pick(v, violation_keys),
                "nodes": [_pick(n, ("target", "html")) for n in map(_dict, _list(v.get("nodes")))],
            }
            for v in map(_dict, _list(item.get("violations")))
        ]
        return shown

    shown = _pick(entry, ("standard", "tags", "fail_on", "ignore", "passes", "incomplete",
                          "axe_version", "blocking_rules"))  # fmt: skip
    shown["counts"] = _pick(_dict(entry.get("counts")), _IMPACTS)
    shown["pages"] = [page(p) for p in map(_dict, _list(entry.get("pages")))]
    shown["missing_pages"] = [
        _pick(m, ("page", "reason")) for m in map(_dict, _list(entry.get("missing_pages")))
    ]
    return shown


_IMPACTS = ("minor", "moderate", "serious", "critical")


_EVIDENCE = {
    "functional": _functional,
    "sast": _sast,
    "dependencies": _dependencies,
    "licence": _licence,
    "quality": _quality,
    "accessibility": _accessibility,
}


class _Hidden:
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
    def of(cls, predicate: Mapping[str, Any] | None) -> _Hidden:
        """Every hidden id and message the report holds (none without a report)."""
        ids: list[str] = []
        messages: list[str] = []
        spec = _dict(_dict(predicate).get("spec"))
        inventory = [i for i in map(_id, _list(spec.get("hidden_test_ids"))) if is_hidden_id(i)]
        ids += inventory
        for entry in map(_dict, _list(_dict(predicate).get("checks"))):
            if entry.get("kind") != "functional":
                continue
            block = _dict(entry.get("hidden"))
            ids += map(_str, _list(block.get("failing_tests")) + _list(block.get("missing"))
                       + _list(block.get("unexpected")) + _list(block.get("skipped_tests")))  # fmt: skip
            ids += (_str(r.get("id")) for r in map(_dict, _list(block.get("results"))))
            ids.append(_str(block.get("running_test")))
            failures = [*map(_dict, _list(block.get("failures")))]
            # Reports from before the hidden tests had their own run mix them into the lists.
            mixed = [
                f
                for f in map(_dict, _list(entry.get("failures")))
                if is_hidden_id(_str(f.get("id")))
            ]
            ids += (_str(f.get("id")) for f in failures + mixed)
            messages += (_str(f.get("message")) for f in failures + mixed)
            ids += (i for i in map(_str, _list(entry.get("failing_tests"))) if is_hidden_id(i))
            ids += (
                i
                for r in map(_dict, _list(entry.get("results")))
                if is_hidden_id(i := _str(r.get("id")))
            )
        return cls(
            ids, messages, feedback=_feedback(spec.get("hidden_feedback")), inventory=inventory
        )

    def sentence(self, value: object) -> str:
        """An engine sentence with hidden ids replaced; withheld whole if it still reveals them."""
        text = _str(value)
        for test_id in self.ids:
            text = text.replace(test_id, HIDDEN_TEST)
        if self._reveals(text):
            return WITHHELD
        return text[:_MAX_SENTENCE]

    def own_message(self, value: object) -> str:
        """A failure message of the supplier's own test, withheld if it quotes a hidden test."""
        text = _str(value)
        if self._reveals(text) or any(i in text for i in self.ids):
            return WITHHELD
        return text[:_MAX_MESSAGE]

    def _reveals(self, text: str) -> bool:
        return HIDDEN_DIR_NAME in text or any(line in text for line in self.quoted)

    def own_counts(self, entry: Mapping[str, Any]) -> dict[str, int]:
        """The supplier's own tests' counts (`tests` counts the hidden tests too)."""
        if "own_tests" in entry:
            return _counts(entry.get("own_tests"))
        counts = _counts(entry.get("tests"))
        if "hidden" in entry:
            return {k: max(0, counts[k] - v) for k, v in _counts(_dict(entry["hidden"]).get("tests")).items()}
        mixed = _mixed_counts(entry)
        return {k: max(0, counts[k] - mixed[k]) for k in _COUNT_KEYS}

    def outcome(self, entry: Mapping[str, Any]) -> dict[str, Any] | None:
        """The hidden tests' counts, and what `feedback` shows of them; None without any."""
        block = entry.get("hidden")
        if isinstance(block, dict):
            return {
                "tests": _counts(block.get("tests")),
                "expected": _int(block.get("expected")),
                "missing": len(_list(block.get("missing"))),
                "unexpected": len(_list(block.get("unexpected"))),
                "partial": block.get("partial") is True,
                **self._feedback_of(block),
            }
        mixed = _mixed_counts(entry)
        if not any(mixed.values()) and not _int(entry.get("hidden_tests")):
            return None
        # Reports that mixed the hidden tests into the supplier's lists predate any feedback.
        return {"tests": mixed, "expected": None, "missing": 0, "unexpected": 0,
                "partial": False, **_no_feedback()}  # fmt: skip

    def _feedback_of(self, block: Mapping[str, Any]) -> dict[str, Any]:
        """The names (and messages) of failing and missing hidden tests the owner lets through."""
        if self.feedback == FEEDBACK_NONE:
            return _no_feedback()
        failing = self._names(_list(block.get("failing_tests")))
        # Tests that did not run are named from the inventory by the engine, never by the run;
        # without an inventory in the report, that list is the only source of names.
        missing = self._names(_list(block.get("missing")), trusted=not self.inventory)
        failures: list[dict[str, str]] = []
        if self.feedback == FEEDBACK_MESSAGES:
            first: dict[str, str] = {}
            for failure in map(_dict, _list(block.get("failures"))):
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
            test = base_id(_id(value))
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
    lines = _str(value).splitlines()[:_MAX_HIDDEN_MESSAGE_LINES]
    return "\n".join(lines)[:_MAX_HIDDEN_MESSAGE]


def _mixed_counts(entry: Mapping[str, Any]) -> dict[str, int]:
    """Counts of the hidden tests in an older report, which ran them among the supplier's.

    From the per-test results when the report has them, else from the failing ids
    (a failing hidden test counted as failed, as the list does not tell errors apart).
    """
    counts = dict.fromkeys(_COUNT_KEYS, 0)
    results = [
        r for r in map(_dict, _list(entry.get("results"))) if is_hidden_id(_str(r.get("id")))
    ]
    for result in results:
        key = _OUTCOME_COUNT.get(_str(result.get("outcome")))
        if key is not None:
            counts[key] += 1
    if not results:
        counts["failed"] = sum(
            1 for i in map(_str, _list(entry.get("failing_tests"))) if is_hidden_id(i)
        )
    return counts


def _counts(value: object) -> dict[str, int]:
    tests = _dict(value)
    return {key: _int(tests.get(key)) or 0 for key in _COUNT_KEYS}


def _stages(value: object) -> list[dict[str, Any]]:
    """Stage names, outcomes and durations: engine-chosen values only."""
    return [
        {
            "name": _stage_name(s.get("name")),
            "status": _str(s.get("status"), 20),
            "seconds": _number(s.get("seconds")),
        }
        for s in map(_dict, _list(value))
    ]


def _stage_name(value: object) -> str | None:
    return _str(value, 64) or None


def _relative(test_id: str) -> str:
    for prefix in _HIDDEN_PREFIXES:
        if test_id.startswith(prefix):
            return test_id[len(prefix) :]
    return test_id


def _pick(item: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Only `keys`, each a JSON scalar or a list of strings (anything else becomes None)."""
    return {key: _scalar(item.get(key)) for key in keys}


def _scalar(value: object) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        return [_str(v, _MAX_ID) for v in value[:50]]
    return _str(value, _MAX_MESSAGE)


def _id(value: object) -> str:
    return _str(value, _MAX_ID)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object, limit: int | None = None) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value)
    return text[:limit] if limit is not None else text


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
