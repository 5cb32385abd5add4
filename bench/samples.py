"""The sample repositories the benchmark judges, written as git repositories.

Three sizes, as the performance issue asks:

* ``tiny``: one module, two tests, no dependency but pytest;
* ``medium``: a small package with ~300 fast tests and a few pure-Python
  dependencies (attrs, click, idna, tabulate);
* ``cext``: a package with a C extension that is compiled from source in the
  sandbox on every run.

Every sample is MIT-licensed, passes its tests and has no bandit finding at
the spec's threshold, so a run goes through every stage and ends ``accepted``.
``push_code_change`` makes the re-push the dependency cache is for: a new
commit that changes code and nothing the install depends on.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIT_LICENSE = (ROOT / "examples" / "contact-form" / "LICENSE").read_text(encoding="utf-8")

#: the spec every sample is judged against (hidden tests are added per sample)
SPEC = """\
version: 1
title: Benchmark sample
functional:
  paths: [tests]
  hidden_tests: hidden
  min_passed: 1
  timeout: 300
security:
  sast: {fail_on: medium, confidence: medium, exclude: [tests]}
  dependencies: {fail_on_vulnerabilities: true}
licence:
  allowed: [MIT, Apache-2.0, BSD-2-Clause, BSD-3-Clause, ISC, PSF-2.0]
  dependencies: compatible
limits: {cpus: 1, memory: 1g, pids: 256, timeout: 600}
"""

_BUILD_SYSTEM = (
    '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
)


def _pyproject(name: str, dependencies: list[str]) -> str:
    deps = ", ".join(f'"{d}"' for d in dependencies)
    return (
        f'[project]\nname = "{name}"\nversion = "1.0.0"\nlicense = "MIT"\n'
        f'requires-python = ">=3.9"\ndependencies = [{deps}]\n\n'
        '[dependency-groups]\ntest = ["pytest>=8"]\n\n' + _BUILD_SYSTEM
    )


def tiny() -> dict[str, str]:
    """One module, two tests."""
    return {
        "LICENSE": MIT_LICENSE,
        "pyproject.toml": _pyproject("tinyapp", []),
        "src/tinyapp/__init__.py": 'VERSION = 1\n\n\ndef add(a, b):\n    """Sum."""\n    return a + b\n',
        "tests/test_add.py": (
            "from tinyapp import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
            "def test_add_negative():\n    assert add(-1, -2) == -3\n"
        ),
    }


def tiny_hidden() -> dict[str, str]:
    return {
        "test_owner.py": "from tinyapp import add\n\n\ndef test_owner():\n    assert add(2, 2) == 4\n"
    }


_MONEY = '''\
"""Amounts of money in cents, with currency."""

from __future__ import annotations

import attrs

RATES = {"CAD": 100, "USD": 136, "EUR": 147, "GBP": 171}


@attrs.frozen
class Money:
    cents: int
    currency: str = "CAD"

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            other = other.to(self.currency)
        return Money(self.cents + other.cents, self.currency)

    def __mul__(self, factor: int) -> Money:
        return Money(self.cents * factor, self.currency)

    def to(self, currency: str) -> Money:
        cad = self.cents * RATES[self.currency] // 100
        return Money(cad * 100 // RATES[currency], currency)

    def split(self, parts: int) -> list[Money]:
        base, rest = divmod(self.cents, parts)
        return [Money(base + (1 if i < rest else 0), self.currency) for i in range(parts)]

    def __str__(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, cents = divmod(abs(self.cents), 100)
        return f"{sign}{whole:,}.{cents:02d} {self.currency}"
'''

_LEDGER = '''\
"""A ledger of dated entries with running balances."""

from __future__ import annotations

import datetime as dt

import attrs

from ledgerkit.money import Money


@attrs.frozen
class Entry:
    day: dt.date
    account: str
    amount: Money
    memo: str = ""


@attrs.define
class Ledger:
    currency: str = "CAD"
    entries: list[Entry] = attrs.field(factory=list)

    def post(self, day: dt.date, account: str, cents: int, memo: str = "") -> Entry:
        entry = Entry(day, account, Money(cents, self.currency), memo)
        self.entries.append(entry)
        return entry

    def balance(self, account: str | None = None, until: dt.date | None = None) -> Money:
        total = Money(0, self.currency)
        for entry in self.entries:
            if account is not None and entry.account != account:
                continue
            if until is not None and entry.day > until:
                continue
            total = total + entry.amount
        return total

    def accounts(self) -> list[str]:
        return sorted({entry.account for entry in self.entries})

    def by_month(self) -> dict[str, Money]:
        months: dict[str, Money] = {}
        for entry in sorted(self.entries, key=lambda e: e.day):
            key = entry.day.strftime("%Y-%m")
            months[key] = months.get(key, Money(0, self.currency)) + entry.amount
        return months
'''

_REPORT = '''\
"""Plain-text reports of a ledger."""

from __future__ import annotations

from tabulate import tabulate

from ledgerkit.ledger import Ledger


def summary(ledger: Ledger) -> str:
    rows = [(account, str(ledger.balance(account))) for account in ledger.accounts()]
    rows.append(("total", str(ledger.balance())))
    return tabulate(rows, headers=["account", "balance"], tablefmt="github")


def monthly(ledger: Ledger) -> str:
    rows = [(month, str(total)) for month, total in ledger.by_month().items()]
    return tabulate(rows, headers=["month", "total"], tablefmt="plain")
'''

_CONTACTS = '''\
"""Supplier contact details, checked before a payment is released."""

from __future__ import annotations

import re

import idna

_LOCAL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}$")


def normalise_email(address: str) -> str:
    local, _, domain = address.strip().rpartition("@")
    if not local or not _LOCAL.match(local):
        raise ValueError(f"not an email address: {address!r}")
    return f"{local}@{idna.encode(domain.lower()).decode('ascii')}"


def is_valid_email(address: str) -> bool:
    try:
        normalise_email(address)
    except (ValueError, idna.IDNAError):
        return False
    return True
'''

_CLI = '''\
"""`ledgerkit` on the command line."""

from __future__ import annotations

import datetime as dt

import click

from ledgerkit.ledger import Ledger
from ledgerkit.report import summary


@click.command()
@click.argument("entries", nargs=-1)
def main(entries: tuple[str, ...]) -> None:
    """ENTRIES are account=cents pairs, posted today."""
    ledger = Ledger()
    for item in entries:
        account, _, cents = item.partition("=")
        ledger.post(dt.date.today(), account, int(cents))
    click.echo(summary(ledger))
'''


def _medium_tests() -> dict[str, str]:
    files: dict[str, str] = {}
    cases = ", ".join(str(n) for n in range(30))
    files["tests/test_money.py"] = textwrap.dedent(f"""\
        import pytest

        from ledgerkit.money import Money


        @pytest.mark.parametrize("n", [{cases}])
        def test_add_same_currency(n):
            assert (Money(n) + Money(n * 2)).cents == n * 3


        @pytest.mark.parametrize("n", [{cases}])
        def test_multiply(n):
            assert (Money(7) * n).cents == 7 * n


        @pytest.mark.parametrize("n", [{cases}])
        def test_split_keeps_the_total(n):
            parts = Money(1000 + n).split(n % 7 + 1)
            assert sum(p.cents for p in parts) == 1000 + n


        @pytest.mark.parametrize("n", [{cases}])
        def test_split_is_fair(n):
            parts = Money(1000 + n).split(n % 7 + 1)
            assert max(p.cents for p in parts) - min(p.cents for p in parts) <= 1

        """)
    files["tests/test_ledger.py"] = textwrap.dedent(f"""\
        import datetime as dt

        import pytest

        from ledgerkit.ledger import Ledger


        def make(n):
            ledger = Ledger()
            for i in range(n):
                ledger.post(dt.date(2024, 1 + i % 12, 1 + i % 28), f"acct{{i % 3}}", 100 + i)
            return ledger


        @pytest.mark.parametrize("n", [{cases}])
        def test_balance_is_the_sum(n):
            assert make(n).balance().cents == sum(100 + i for i in range(n))


        @pytest.mark.parametrize("n", [{cases}])
        def test_accounts_are_sorted(n):
            accounts = make(n).accounts()
            assert accounts == sorted(accounts)


        @pytest.mark.parametrize("n", [{cases}])
        def test_months_add_up(n):
            ledger = make(n)
            assert sum(m.cents for m in ledger.by_month().values()) == ledger.balance().cents

        """)
    files["tests/test_report.py"] = textwrap.dedent(f"""\
        import datetime as dt

        import pytest

        from ledgerkit.ledger import Ledger
        from ledgerkit.report import monthly, summary


        @pytest.mark.parametrize("n", [{cases}])
        def test_summary_lists_every_account(n):
            ledger = Ledger()
            for i in range(n + 1):
                ledger.post(dt.date(2024, 5, 1), f"a{{i}}", i)
            text = summary(ledger)
            assert all(f"a{{i}}" in text for i in range(n + 1))

        """)
    files["tests/test_contacts.py"] = textwrap.dedent(f"""\
        import pytest

        from ledgerkit.contacts import is_valid_email, normalise_email


        @pytest.mark.parametrize("n", [{cases}])
        def test_valid_addresses(n):
            assert is_valid_email(f"user{{n}}@example{{n}}.org")

        """)
    files["tests/test_cli.py"] = textwrap.dedent(f"""\
        import pytest
        from click.testing import CliRunner

        from ledgerkit.cli import main


        @pytest.mark.parametrize("n", [{cases}])
        def test_cli_prints_the_total(n):
            result = CliRunner().invoke(main, [f"a={{n}}", f"b={{n * 2}}"])
            assert result.exit_code == 0
            assert "total" in result.output
        """)
    return files


def medium() -> dict[str, str]:
    """A small package, ~300 fast tests, a few dependencies."""
    files = {
        "LICENSE": MIT_LICENSE,
        "pyproject.toml": _pyproject(
            "ledgerkit", ["attrs>=23.1", "click>=8.1", "idna>=3.7", "tabulate>=0.9"]
        ),
        "README.md": "# ledgerkit\n\nLedgers for small departments.\n",
        "src/ledgerkit/__init__.py": '"""Ledgers."""\n\nVERSION = "1.0.0"\n',
        "src/ledgerkit/money.py": _MONEY,
        "src/ledgerkit/ledger.py": _LEDGER,
        "src/ledgerkit/report.py": _REPORT,
        "src/ledgerkit/contacts.py": _CONTACTS,
        "src/ledgerkit/cli.py": _CLI,
    }
    files.update(_medium_tests())
    return files


def medium_hidden() -> dict[str, str]:
    return {
        "test_owner.py": (
            "from ledgerkit.money import Money\n\n\n"
            "def test_owner_split():\n    assert [m.cents for m in Money(10).split(3)] == [4, 3, 3]\n"
        )
    }


_SPEEDUPS_C = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *fast_sum(PyObject *self, PyObject *args) {
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "O", &seq)) return NULL;
    PyObject *fast = PySequence_Fast(seq, "expected a sequence");
    if (fast == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    long long total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        long long value = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, i));
        if (value == -1 && PyErr_Occurred()) { Py_DECREF(fast); return NULL; }
        total += value;
    }
    Py_DECREF(fast);
    return PyLong_FromLongLong(total);
}

static PyObject *fast_dot(PyObject *self, PyObject *args) {
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b)) return NULL;
    Py_ssize_t n = PySequence_Size(a);
    if (n != PySequence_Size(b)) {
        PyErr_SetString(PyExc_ValueError, "lengths differ");
        return NULL;
    }
    double total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PySequence_GetItem(a, i), *y = PySequence_GetItem(b, i);
        total += PyFloat_AsDouble(x) * PyFloat_AsDouble(y);
        Py_DECREF(x); Py_DECREF(y);
    }
    return PyFloat_FromDouble(total);
}

static PyMethodDef methods[] = {
    {"fast_sum", fast_sum, METH_VARARGS, "Sum of integers."},
    {"fast_dot", fast_dot, METH_VARARGS, "Dot product."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
"""


def cext() -> dict[str, str]:
    """A package whose C extension is compiled in the sandbox."""
    cases = ", ".join(str(n) for n in range(20))
    return {
        "LICENSE": MIT_LICENSE,
        "pyproject.toml": _pyproject("fastsum", []),
        "setup.py": (
            "from setuptools import Extension, setup\n\n"
            'setup(ext_modules=[Extension("fastsum._speedups", ["src/fastsum/_speedups.c"])])\n'
        ),
        "src/fastsum/__init__.py": (
            '"""Fast sums."""\n\nfrom fastsum._speedups import fast_dot, fast_sum\n\n'
            '__all__ = ["fast_dot", "fast_sum"]\n'
        ),
        "src/fastsum/_speedups.c": _SPEEDUPS_C,
        "tests/test_sum.py": textwrap.dedent(f"""\
            import pytest

            from fastsum import fast_dot, fast_sum


            @pytest.mark.parametrize("n", [{cases}])
            def test_sum(n):
                assert fast_sum(range(n)) == sum(range(n))


            @pytest.mark.parametrize("n", [{cases}])
            def test_dot(n):
                xs = [float(i) for i in range(n)]
                assert fast_dot(xs, xs) == sum(x * x for x in xs)
            """),
    }


def cext_hidden() -> dict[str, str]:
    return {
        "test_owner.py": "from fastsum import fast_sum\n\n\ndef test_owner():\n    assert fast_sum([1, 2]) == 3\n"
    }


SAMPLES = {
    "tiny": (tiny, tiny_hidden, "src/tinyapp/__init__.py"),
    "medium": (medium, medium_hidden, "src/ledgerkit/money.py"),
    "cext": (cext, cext_hidden, "src/fastsum/__init__.py"),
}


def git(*args: str, cwd: Path) -> str:
    """git with a fixed identity and no user configuration; returns stdout."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Supplier",
        "GIT_AUTHOR_EMAIL": "supplier@example.invalid",
        "GIT_COMMITTER_NAME": "Supplier",
        "GIT_COMMITTER_EMAIL": "supplier@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def write_repo(name: str, dest: Path) -> str:
    """Write sample NAME as a git repository at DEST (on `main`); returns the commit."""
    make, _hidden, _code = SAMPLES[name]
    dest.mkdir(parents=True)
    for relpath, text in make().items():
        path = dest / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git("init", "-q", "-b", "main", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", f"deliver {name}", cwd=dest)
    return git("rev-parse", "HEAD", cwd=dest)


def write_spec(name: str, dest: Path) -> Path:
    """The spec folder for sample NAME (acceptance.yaml and hidden/); returns the spec file."""
    _make, hidden, _code = SAMPLES[name]
    dest.mkdir(parents=True, exist_ok=True)
    for relpath, text in hidden().items():
        path = dest / "hidden" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    spec = dest / "acceptance.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec


def push_code_change(name: str, repo: Path, serial: int) -> str:
    """Commit a change to code only (no dependency, build or licence file); returns it."""
    _make, _hidden, code = SAMPLES[name]
    path = repo / code
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n\ndef _revision_{serial}():\n    return {serial}\n")
    git("commit", "-q", "-am", f"code change {serial}", cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)
