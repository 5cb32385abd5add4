"""The owner's hidden tests: nothing the supplier controls decides which run or how they
count, and nothing the supplier sees carries them.

Each case is a delivery that does NOT meet the owner's criterion (the hidden
test fails on it) plus a trick that, before the hidden tests ran in their own
process, turned the run into a signed "accepted" (issue 12, holes 1-3).
"""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import ROOT, RepoFactory
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, Outcome, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

# The owner's criterion: `contact.validate` must reject an address without "@".
OWNER = {
    "test_owner.py": (
        "from contact import validate\n\n"
        "def test_owner_rejects_a_bad_address():\n"
        "    assert validate('not-an-address') is False\n"
    )
}
HIDDEN_SPEC = "functional: {timeout: 20, paths: [tests], hidden_tests: hidden}\n"
# The delivery does not meet it: everything is "valid".
WRONG = "def validate(address):\n    return True\n"
OWN_TEST = "from contact import validate\n\ndef test_accepts_a_good_address():\n    assert validate('a@b.org')\n"
FAKE_OWNER = "def test_owner_rejects_a_bad_address():\n    pass\n"


def delivery(extra: dict[str, str]) -> dict[str, str]:
    return {"contact.py": WRONG, "tests/test_contact.py": OWN_TEST, **extra}


def assert_hidden_test_ran_and_failed(outcome: Outcome) -> None:
    judged(outcome, "TESTS_FAILED", says="hidden test(s) failed")
    hidden = outcome.check("functional")["hidden"]
    assert hidden["tests"]["failed"] + hidden["tests"]["errors"] == 1, outcome.explain()
    assert hidden["failing_tests"] == [
        "acceptance_hidden_tests/test_owner.py::test_owner_rejects_a_bad_address"
    ]


# Hole 1 and its variants: every pytest setting the supplier controls.
CONFIG_TRICKS = {
    "tests/pytest.ini renames test files, fake hidden test beside it": {
        "tests/pytest.ini": "[pytest]\npython_files = check_*.py\n",
        "tests/check_contact.py": OWN_TEST,
        "tests/acceptance_hidden_tests/check_owner.py": FAKE_OWNER,
        "tests/test_contact.py": "",
    },
    "pyproject.toml addopts deselects and disables": {
        "pyproject.toml": (
            "[tool.pytest.ini_options]\n"
            "addopts = \"-k 'not owner' -p no:python --ignore-glob=*acceptance*\"\n"
        ),
    },
    "setup.cfg renames test functions and classes": {
        "setup.cfg": "[tool:pytest]\npython_functions = check_*\npython_classes = Nothing\n",
    },
    "tox.ini norecursedirs, testpaths and rootdir": {
        "tox.ini": "[pytest]\nnorecursedirs = *\ntestpaths = tests\naddopts = --rootdir=tests --noconftest\n",
    },
    "conftest drops the hidden items and collect_ignore": {
        "conftest.py": (
            "collect_ignore_glob = ['*owner*']\n"
            "def pytest_collection_modifyitems(items):\n"
            "    items[:] = [i for i in items if 'owner' not in i.nodeid]\n"
        ),
    },
    "a test plants conftest and ini files for the next pytest process": {
        "tests/test_plant.py": (
            "import os\n"
            "def test_plant():\n"
            "    for folder in ('/work', '/tmp', os.getcwd()):\n"
            "        for name, text in (('conftest.py', 'collect_ignore_glob = [\"*\"]\\n'),\n"
            "                           ('pytest.ini', '[pytest]\\naddopts = -k nothing\\n')):\n"
            "            try:\n"
            "                open(os.path.join(folder, name), 'w').write(text)\n"
            "            except OSError:\n"
            "                pass\n"
        ),
    },
}


@pytest.mark.parametrize("trick", CONFIG_TRICKS.values(), ids=list(CONFIG_TRICKS))
def test_no_pytest_setting_of_the_supplier_changes_which_hidden_tests_run(
    hostile: Hostile, make_repo: RepoFactory, trick: dict[str, str]
) -> None:
    spec = hostile.spec(FUNCTIONAL_ONLY, functional=HIDDEN_SPEC, hidden=OWNER)
    outcome = hostile.run(make_repo(delivery(trick)), spec)

    assert_hidden_test_ran_and_failed(outcome)


def test_a_supplier_folder_named_like_the_hidden_tests_is_refused(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    spec = hostile.spec(FUNCTIONAL_ONLY, functional=HIDDEN_SPEC, hidden=OWNER)
    files = delivery({"acceptance_hidden_tests/test_owner.py": FAKE_OWNER})
    outcome = hostile.run(make_repo(files), spec)

    judged(outcome, "RESERVED_PATH", says="keeps for the owner's hidden tests")
    # Every enabled check is listed with what became of it, none as passed.
    statuses = {c["id"]: c["status"] for c in outcome.predicate["checks"]}
    assert statuses == {
        "functional": "not_run",
        "sast": "skipped",
        "dependencies": "skipped",
        "licence": "skipped",
    }


def test_hidden_tests_replaced_in_process(hostile: Hostile, make_repo: RepoFactory) -> None:
    # Was a strict xfail: the supplier's conftest no longer loads around the owner's tests.
    conftest = (
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        if 'owner' in item.nodeid:\n"
        "            item.obj = lambda: None\n"
    )
    spec = hostile.spec(FUNCTIONAL_ONLY, functional=HIDDEN_SPEC, hidden=OWNER)
    outcome = hostile.run(make_repo(delivery({"tests/conftest.py": conftest})), spec)

    assert_hidden_test_ran_and_failed(outcome)


def test_a_hidden_test_skipped_by_the_code_under_test_does_not_pass(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    skipping = "import pytest\n\ndef validate(address):\n    pytest.skip('not today')\n"
    spec = hostile.spec(FUNCTIONAL_ONLY, functional=HIDDEN_SPEC, hidden=OWNER)
    files = delivery(
        {"contact.py": skipping, "tests/test_contact.py": "def test_nothing():\n    pass\n"}
    )
    outcome = hostile.run(make_repo(files), spec)

    judged(outcome, "HIDDEN_TESTS_NOT_RUN", says="skipped instead of passing")


# Hole 3 and its variants: a module of the supplier's named like the engine's plugin.
def shadow_plugin() -> str:
    """The engine's plugin, plus a hook that reports every test as passed: a consistent forgery."""
    real = (ROOT / "sandbox" / "image" / "acceptance_sandbox_plugin.py").read_text(encoding="utf-8")
    return real + (
        "\n\n@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        "    report = outcome.get_result()\n"
        "    report.outcome = 'passed'\n"
        "    report.longrepr = None\n"
    )


SHADOWS = {
    "module at the checkout root": lambda: {"acceptance_sandbox_plugin.py": shadow_plugin()},
    "package at the checkout root": lambda: {
        "acceptance_sandbox_plugin/__init__.py": shadow_plugin()
    },
    "module installed into the venv": lambda: {
        "pyproject.toml": (
            "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n"
            "[project]\nname = 'shadow'\nversion = '1.0'\n"
            "[tool.setuptools]\npy-modules = ['acceptance_sandbox_plugin', 'contact']\n"
        ),
        "acceptance_sandbox_plugin.py": shadow_plugin(),
    },
}


@pytest.mark.parametrize("shadow", SHADOWS.values(), ids=list(SHADOWS))
def test_a_module_named_like_the_engines_plugin_is_never_loaded(
    hostile: Hostile, make_repo: RepoFactory, shadow: object
) -> None:
    files = {
        "contact.py": WRONG,
        "tests/test_contact.py": "def test_wrong():\n    assert False, 'wrong'\n",
    }
    files.update(shadow())  # type: ignore[operator]
    outcome = hostile.run(make_repo(files), hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "TESTS_FAILED")
    assert outcome.check("functional")["tests"]["failed"] == 1, outcome.explain()
    # Naming the engine's module is itself a reason for a person to look.
    assert "SUSPICIOUS_TEST_HOOKS" in outcome.reason_codes


# Hole 2 and its variants: no channel of the supplier's carries the hidden tests.
def leaking_delivery(secret: str) -> dict[str, str]:
    """Tests that try every way to put the owner's files into what the supplier sees."""
    hunt = (
        "import glob, os\n"
        "def found():\n"
        "    text = ''\n"
        "    for pattern in ('/hidden/**', '/work/.*/acceptance_hidden_tests/**', '/work/.*/out/**',\n"
        "                    '/work/*', '/tmp/**', '/dev/shm/**'):\n"
        "        for path in glob.glob(pattern, recursive=True):\n"
        "            try:\n"
        "                text += open(path, errors='replace').read(100000)\n"
        "            except OSError:\n"
        "                pass\n"
        "    return text\n"
    )
    return {
        "contact.py": (
            # Imported by the hidden tests: copies their source where later tests could read it.
            "import glob, inspect, sys\n"
            "def validate(address):\n"
            "    for frame in inspect.stack():\n"
            "        try:\n"
            "            open('/tmp/leak.txt', 'a').write(open(frame.filename).read())\n"
            "        except OSError:\n"
            "            pass\n"
            "    return True\n"
        ),
        "tests/hunt.py": hunt,
        "tests/test_leak.py": (
            "import os, sys, pytest\n"
            "sys.path.insert(0, os.path.dirname(__file__))\n"
            "from hunt import found\n"
            "LOOT = found()\n"
            "print(LOOT)\n"
            "def test_message():\n"
            "    assert False, LOOT\n"
            "@pytest.mark.parametrize('loot', [LOOT[-200:] or 'none'])\n"
            "def test_id(loot):\n"
            "    assert False\n"
            "def test_stderr():\n"
            "    sys.stderr.write(LOOT)\n"
            "    assert False\n"
        ),
    }


def test_nothing_the_supplier_sees_carries_the_hidden_tests(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    from acceptance.service.supplier_view import supplier_view_of_report

    secret = "OWNER-SECRET-" + secrets.token_hex(12)
    owner = {
        "test_owner.py": (
            f"# {secret}\n"
            "import pytest\n"
            "from contact import validate\n\n"
            f"@pytest.mark.parametrize('case', ['{secret}'])\n"
            "def test_owner_rejects_a_bad_address(case):\n"
            f"    print('{secret}')\n"
            f"    assert validate('not-an-address') is False, '{secret}'\n"
        )
    }
    spec = hostile.spec(FUNCTIONAL_ONLY, functional=HIDDEN_SPEC, hidden=owner)
    outcome = hostile.run(make_repo(leaking_delivery(secret)), spec)

    judged(outcome, "TESTS_FAILED")
    functional = outcome.check("functional")
    # The owner still gets everything about the hidden test...
    assert secret in str(functional["hidden"]), outcome.explain()
    # ...the supplier's own run never saw it: their tests ran before the owner's
    # were in the sandbox, and the staged copy is not readable by them.
    own = {k: v for k, v in functional.items() if k != "hidden"}
    assert secret not in str(own)
    assert secret not in outcome.logs.get("functional.log", "") + outcome.logs.get("functional", "")
    assert secret.encode() not in outcome.artifacts.get("junit.xml", b"")
    assert functional["own_tests"]["failed"] == 3  # the hunt ran, and found nothing to show
    # What the supplier is shown of this report carries nothing of the owner's tests.
    view = supplier_view_of_report(outcome.statement)
    assert secret not in str(view)
    assert "acceptance_hidden_tests" not in str(view)
