"""Write checks/ruff_rules.json (read by checks/ruff_rules.py) from the pinned ruff: its stable rules and their categories.

Run with the ruff the sandbox image pins (sandbox/image.py, TOOL_REQUIREMENTS) on PATH or as
the first argument, whenever that pin changes:

    .venv/bin/python scripts/ruff_rules.py .venv/bin/ruff

The table lets the spec reject an unknown rule selector when it is published (not when a run
fails on it) and lets the quality check rank a finding by ruff's own rule category. It then
asks ruff itself about every selector the table accepts and a few it refuses, so the table
cannot drift from what ruff does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "checks" / "ruff_rules.json"


def main() -> int:
    ruff = sys.argv[1] if len(sys.argv) > 1 else "ruff"
    version = _run(ruff, "--version").split()[-1]
    linters = json.loads(_run(ruff, "linter", "--output-format", "json"))
    rules = [
        rule
        for rule in json.loads(_run(ruff, "rule", "--all", "--output-format", "json"))
        if rule.get("code")
    ]
    prefixes: dict[str, list[str]] = {}
    for linter in linters:
        names = [linter["prefix"] + c["prefix"] for c in linter.get("categories", [])]
        prefixes[linter["name"]] = [linter["prefix"], *names]
    stable = {
        rule["code"]: (rule["name"], rule["category"], _linter_prefix(rule, prefixes))
        for rule in rules
        if "Stable" in rule["status"]
    }
    preview = sorted(rule["code"] for rule in rules if "Preview" in rule["status"])
    table = {
        "ruff_version": version,
        "linter_prefixes": sorted({p for ps in prefixes.values() for p in ps if p}),
        "preview_rules": preview,
        "rules": {
            code: {"name": name, "category": category, "prefix": prefix}
            for code, (name, category, prefix) in sorted(stable.items())
        },
    }
    OUT.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    _verify(ruff)
    print(f"wrote {OUT} for ruff {version}: {len(stable)} stable rules")
    return 0


def _linter_prefix(rule: dict[str, object], prefixes: dict[str, list[str]]) -> str:
    code = str(rule["code"])
    matches = [p for p in prefixes[str(rule["linter"])] if code.startswith(p)]
    return max(matches, key=len)


def _verify(ruff: str) -> None:
    sys.path.insert(0, str(OUT.parents[1]))
    from acceptance.engine.spec_quality import quality_selector_problem
    from checks import ruff_rules

    accepted = {"ALL", "C", "T", *ruff_rules.LINTER_PREFIXES}
    for code, prefix in ruff_rules.CODE_PREFIX.items():
        accepted.update(code[:i] for i in range(max(1, len(prefix)), len(code) + 1))
    refused = ["P", "XYZ", "E0", "F9999", "PLX", "Q9"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a.py").write_text("x = 1\n", encoding="utf-8")
        for selector in sorted(accepted):
            ours = quality_selector_problem(selector) is None
            theirs = _accepted_by_ruff(ruff, selector, tmp)
            if ours != theirs:
                raise SystemExit(f"selector {selector!r}: ours {ours}, ruff {theirs}")
        for selector in refused:
            if quality_selector_problem(selector) is None or _accepted_by_ruff(ruff, selector, tmp):
                raise SystemExit(f"selector {selector!r} should be refused by both")


def _accepted_by_ruff(ruff: str, selector: str, folder: str) -> bool:
    result = subprocess.run(
        [ruff, "check", "--isolated", "--no-cache", "--exit-zero", "--select", selector, folder],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


if __name__ == "__main__":
    raise SystemExit(main())
