"""Red team of the hidden tests' own pytest process (issue 12, "close the class").

Each case is a delivery that FAILS the owner's hidden test, plus a trick that
tries to get it signed "accepted" anyway, or to carry the hidden tests into
what the supplier sees. Cases the engine stops are plain tests; what it cannot
stop yet is a strict xfail whose reason names the limit (docs/security.md).
"""

from __future__ import annotations

import importlib.util
import secrets
from importlib._bootstrap_external import _code_to_hash_pyc  # type: ignore[import-not-found]
from pathlib import Path

import pytest

from tests.conftest import RepoFactory
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, Outcome, commit_all, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

# The owner's criterion: `contact.validate` must reject an address without "@".
OWNER = {
    "test_owner.py": (
        "from contact import validate\n\n"
        "def test_owner_rejects_a_bad_address():\n"
        "    assert validate('not-an-address') is False\n"
    )
}
# The same criterion, checked in a child process: the hidden tests' own process
# never imports the delivered code, so nothing of the supplier's should run in it.
OWNER_OUT_OF_PROCESS = {
    "test_owner.py": (
        "import subprocess, sys\n\n"
        "CHECK = (\"import sys; sys.path.insert(0, '/work/src'); from contact import validate; \"\n"
        "         \"sys.exit(0 if validate('not-an-address') is False else 1)\")\n\n"
        "def test_owner_rejects_a_bad_address():\n"
        "    assert subprocess.run([sys.executable, '-I', '-S', '-c', CHECK]).returncode == 0\n"
    )
}
HIDDEN_SPEC = "functional: {timeout: 20, paths: [tests], hidden_tests: hidden}\n"
WRONG = "def validate(address):\n    return True\n"
OWN_TEST = "from contact import validate\n\ndef test_accepts_a_good_address():\n    assert validate('a@b.org')\n"
HIDDEN_ID = "acceptance_hidden_tests/test_owner.py::test_owner_rejects_a_bad_address"

# Makes every test "pass" by replacing pytest's test call, named the plain way.
PLAIN_PATCH = "import pytest\n\npytest.Function.runtest = lambda self: None\n"
# The same, with no name a static reading can match, applied as soon as pytest is
# loaded (the module may be imported before pytest is): a finder that never finds.
HIDDEN_PATCH = (
    "import sys\n\n"
    "class _Later:\n"
    "    @staticmethod\n"
    "    def find_spec(name, path=None, target=None):\n"
    "        kind = getattr(sys.modules.get('py' + 'test'), 'Func' + 'tion', None)\n"
    "        if kind is not None:\n"
    "            setattr(kind, 'run' + 'test', lambda self: None)\n"
    "        return None\n\n"
    "if not getattr(sys, '_later', False):\n"
    "    sys._later = True\n"
    "    sys.meta_path.insert(0, _Later)\n"
    "_Later.find_spec('now')\n"
)


def delivery(extra: dict[str, str]) -> dict[str, str]:
    return {"contact.py": WRONG, "tests/test_contact.py": OWN_TEST, **extra}


def assert_hidden_test_ran_and_failed(outcome: Outcome) -> None:
    judged(outcome, "TESTS_FAILED", says="hidden test(s) failed")
    hidden = outcome.check("functional")["hidden"]
    assert hidden["tests"]["failed"] + hidden["tests"]["errors"] == 1, outcome.explain()
    assert hidden["failing_tests"] == [HIDDEN_ID], outcome.explain()


def hidden_spec(hostile: Hostile, owner: dict[str, str] = OWNER) -> Path:
    return hostile.spec(FUNCTIONAL_ONLY, functional=HIDDEN_SPEC, hidden=owner)


# -- code of the supplier's run in the hidden tests' process without being imported


def stdlib_probe(name: str) -> str:
    """A module the interpreter only tries to import (Windows, Jython): the patch, then "absent"."""
    return (
        HIDDEN_PATCH
        + f"\nraise ModuleNotFoundError({'No module named ' + name!r}, name={name!r})\n"
    )


PROBED = {
    "nt.py at the checkout root (ntpath)": {"nt.py": stdlib_probe("nt")},
    "_winapi.py at the checkout root": {"_winapi.py": stdlib_probe("_winapi")},
    "msvcrt.py at the checkout root (subprocess)": {"msvcrt.py": stdlib_probe("msvcrt")},
    "org package at the checkout root (copy, pickle)": {"org/__init__.py": stdlib_probe("org")},
    "nt module installed into the venv": {
        "pyproject.toml": (
            "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n"
            "[project]\nname = 'contact'\nversion = '1.0'\n"
            "[tool.setuptools]\npy-modules = ['contact', 'nt']\n"
        ),
        "nt.py": stdlib_probe("nt"),
    },
}


@pytest.mark.parametrize("probed", PROBED.values(), ids=list(PROBED))
def test_a_module_named_like_one_the_interpreter_probes_never_runs_with_the_hidden_tests(
    hostile: Hostile, make_repo: RepoFactory, probed: dict[str, str]
) -> None:
    # The hidden tests never import the delivery; Python's own modules try `nt`,
    # `_winapi`, `msvcrt` and `org.python.core`, which the appended checkout and
    # venv would otherwise provide: the supplier's code would run inside the
    # hidden tests' process before any of them.
    outcome = hostile.run(make_repo(delivery(probed)), hidden_spec(hostile, OWNER_OUT_OF_PROCESS))

    assert_hidden_test_ran_and_failed(outcome)
    assert (
        "SUSPICIOUS_TEST_HOOKS" not in outcome.reason_codes
    )  # the runner, not the scan, stopped it


# -- compiled code the reviewer, bandit and the scan never see


def unchecked_pyc(source: str) -> bytes:
    """Bytecode of `source` in an "unchecked hash" .pyc: Python never compares it with the .py."""
    code = compile(source, "contact.py", "exec")
    return bytes(
        _code_to_hash_pyc(code, importlib.util.source_hash(source.encode()), checked=False)
    )


def test_bytecode_that_differs_from_the_delivered_source_is_never_run_with_the_hidden_tests(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # contact.py reads as the plain wrong answer; its __pycache__ twin patches pytest.
    repo = make_repo(delivery({}))
    cache = Path(importlib.util.cache_from_source(str(repo / "contact.py")))
    cache.parent.mkdir()
    cache.write_bytes(unchecked_pyc(PLAIN_PATCH + WRONG))
    commit_all(repo, "bytecode beside the source")
    outcome = hostile.run(repo, hidden_spec(hostile))

    assert_hidden_test_ran_and_failed(outcome)


def test_sourceless_bytecode_is_never_imported_by_the_hidden_tests(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    repo = make_repo({"tests/test_contact.py": "def test_nothing():\n    pass\n"})
    (repo / "contact.pyc").write_bytes(unchecked_pyc(PLAIN_PATCH + WRONG))
    commit_all(repo, "bytecode only")
    outcome = hostile.run(repo, hidden_spec(hostile))

    # Without the patch there is no `contact` to import: the hidden test errors.
    judged(outcome, "TESTS_FAILED", says="hidden test(s) failed")
    assert outcome.check("functional")["hidden"]["tests"]["passed"] == 0, outcome.explain()


# -- the supplier's package patching pytest when the hidden tests import it


def test_the_delivered_code_patching_pytest_the_plain_way_needs_a_persons_review(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    outcome = hostile.run(
        make_repo(delivery({"contact.py": PLAIN_PATCH + WRONG})), hidden_spec(hostile)
    )

    judged(outcome, "SUSPICIOUS_TEST_HOOKS", says="a person must review it")
    hooks = outcome.check("functional")["suspicious_test_hooks"]
    assert {"path": "contact.py", "line": 3, "what": "pytest.Function"} in hooks, outcome.explain()


@pytest.mark.xfail(
    strict=True,
    reason="known limit: the delivered code shares the hidden tests' process; a patch of "
    "pytest whose names are built at run time is not seen by checks/test_hooks.py",
)
def test_the_delivered_code_patching_pytest_under_built_names(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    outcome = hostile.run(
        make_repo(delivery({"contact.py": HIDDEN_PATCH + WRONG})), hidden_spec(hostile)
    )

    assert outcome.verdict != "accepted", outcome.explain()


def test_the_suppliers_tests_rewrite_the_code_under_test_before_the_hidden_tests(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    rewrite = (
        "import contact\n\n"
        f"PATCH = {PLAIN_PATCH!r}\n\n"
        "def test_accepts_a_good_address():\n"
        "    assert contact.validate('a@b.org')\n"
        "    with open(contact.__file__, 'a') as handle:\n"
        "        handle.write('\\n' + PATCH)\n"
    )
    outcome = hostile.run(
        make_repo(delivery({"tests/test_contact.py": rewrite})), hidden_spec(hostile)
    )

    assert outcome.verdict != "accepted", outcome.explain()


def test_the_delivered_code_ending_the_hidden_process_at_import_does_not_pass(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    ending = "import os\n\nos._exit(0)\n" + WRONG
    outcome = hostile.run(
        make_repo(delivery({"contact.py": ending, "tests/test_contact.py": ""})),
        hidden_spec(hostile),
    )

    judged(outcome, "HIDDEN_TESTS_NOT_RUN")


# -- what the supplier sees


def test_a_hidden_test_that_times_out_is_not_named_in_the_sentences(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    from acceptance.service.supplier_view import supplier_view_of_report

    secret = "owner_secret_" + secrets.token_hex(8)
    owner = {
        f"test_{secret}.py": (
            "from contact import validate\n\n"
            f"def test_{secret}():\n"
            "    assert validate('not-an-address') is False\n"
        )
    }
    hanging = "import time\n\ndef validate(address):\n    time.sleep(3600)\n"
    spec = hostile.spec(
        FUNCTIONAL_ONLY,
        functional="functional: {timeout: 8, paths: [tests], hidden_tests: hidden}\n",
        hidden=owner,
    )
    outcome = hostile.run(
        make_repo(delivery({"contact.py": hanging, "tests/test_contact.py": ""})), spec
    )

    judged(outcome, "TIMEOUT")
    # The owner sees which test hung...
    assert secret in str(outcome.check("functional")["hidden"]), outcome.explain()
    # ...the supplier's view does not (its second line replaces the id)...
    assert secret not in str(supplier_view_of_report(outcome.statement))
    # ...but the engine's own sentences, shown to the supplier, must not carry it either.
    assert secret not in outcome.check("functional")["summary"], outcome.explain()
    assert not any(secret in reason for reason in outcome.reasons), outcome.explain()
