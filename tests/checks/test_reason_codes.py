"""Every reason code the engine can write is documented in docs/reason-codes.md, and only those."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

# A reason code is an upper-case word with underscores; environment variable names look alike.
_CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_NOT_CODES_PREFIXES = (
    "ACCEPTANCE_", "PIP_", "GIT_", "PYTEST_", "PYTHON", "XDG_", "SSL_", "HTTP", "LC_", "O_",
    "DEBIAN_", "SCANCODE_", "BATS_", "EAI_",
)  # fmt: skip
# CVSS_V3: an OSV severity type, written into imported advisory records; VIRTUAL_ENV: the
# variable the owner's test command gets (functional.command)
_NOT_CODES = {
    "ALL_PROXY", "NO_PROXY", "FETCH_HEAD", "TOKEN_ID", "CVSS_V3", "NO_COLOR", "VIRTUAL_ENV",
}  # fmt: skip
_SINGLE_WORD_CODES = {"TIMEOUT"}


def codes_in_source() -> set[str]:
    found: set[str] = set()
    for package in ("acceptance", "checks", "sandbox", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "acceptance" / "reasons.py":  # the registry names every code
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            exported = _names_in_all(tree)
            for node in ast.walk(tree):
                value = node.value if isinstance(node, ast.Constant) else None
                if id(node) in exported:
                    continue  # a module's `__all__` names its constants, never a reason
                if (
                    isinstance(value, str)
                    and _CODE.match(value)
                    and not value.startswith(_NOT_CODES_PREFIXES)
                    and value not in _NOT_CODES
                ):
                    found.add(value)
    return found


def _names_in_all(tree: ast.Module) -> set[int]:
    """The string nodes of the module's `__all__` list (re-exported names)."""
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and any(
            isinstance(t, ast.Name) and t.id == "__all__"
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        ):
            return (
                {id(n) for n in ast.walk(node.value) if isinstance(n, ast.Constant)}
                if node.value
                else set()
            )
    return set()


def documented_codes() -> set[str]:
    text = (ROOT / "docs" / "reason-codes.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([A-Z_]+)` \|", text, flags=re.M))


def test_every_reason_code_in_the_code_is_documented() -> None:
    missing = codes_in_source() - documented_codes()
    assert not missing, f"document these in docs/reason-codes.md: {sorted(missing)}"


def test_every_documented_reason_code_is_still_used() -> None:
    stale = documented_codes() - codes_in_source() - _SINGLE_WORD_CODES
    assert not stale, f"no longer used, remove from docs/reason-codes.md: {sorted(stale)}"


def test_the_reason_registry_holds_every_documented_code_with_its_fault() -> None:
    from acceptance.reasons import REASONS

    text = (ROOT / "docs" / "reason-codes.md").read_text(encoding="utf-8")
    documented = {
        code: fault.strip()
        for code, fault in re.findall(r"^\| `([A-Z_]+)` \| ([^|]+?) \|", text, flags=re.M)
    }
    registered = {code: fault.value for code, fault in REASONS.items()}
    assert registered == {
        code: fault if fault in ("supplier", "owner", "platform") else "run"
        for code, fault in documented.items()
    }
