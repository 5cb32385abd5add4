"""Hostile Node.js deliveries against the SAST check (issue 16): the supplier's ESLint
configuration turning the rules off, inline disable comments, a fake eslint-plugin-security
and eslint in the delivered node_modules, a file shaped like the engine's report, an
unparsable file, code hidden in TypeScript or in files without a JavaScript extension
that a require loads, a compiled addon, and a flood of findings; for the quality check
(issue 17), directive look-alikes in strings and a flood of directive comments. Each ends
as the engine's ESLint decides, never as the delivery says; the harness checks containment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unavailable
from tests.hostile.conftest import LIMITS, Hostile, commit_all, judged
from tests.hostile.test_node_hostile import _repo

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

SAST_ONLY = "runtime: node\nlicence: false\nsecurity: {sast: true, dependencies: false}\n"
EVAL = "security/detect-eval-with-expression"
DANGER = "module.exports = (input) => eval(input);\n"
PASSING_TEST = "const test = require('node:test');\ntest('fine', () => {});\n"


@pytest.fixture(autouse=True)
def _node_image(docker_engine: Any) -> None:
    import docker.errors

    from sandbox.node_image import node_image_tag

    try:
        docker_engine.images.get(node_image_tag())
    except docker.errors.ImageNotFound:
        unavailable("node image missing: run `acceptance image build --runtime node`")


def _findings(outcome: Any) -> list[dict[str, Any]]:
    return list(outcome.check("sast")["findings"])


def test_the_suppliers_eslint_configuration_turns_nothing_off(
    hostile: Hostile, tmp_path: Path
) -> None:
    off = {EVAL: "off"}
    files = {
        "lib/run.js": DANGER,
        "test/a.test.js": PASSING_TEST,
        # a flat config that would ignore everything and turn the rule off; loaded, it
        # would also run: it throws, so a run that loaded it has no report at all
        "eslint.config.js": "throw new Error('supplier config loaded');\n"
        "module.exports = [{ ignores: ['**/*'] }];\n",
        "eslint.config.mjs": "export default [{ ignores: ['**/*'] }];\n",
        ".eslintrc.json": json.dumps({"root": True, "rules": off, "ignorePatterns": ["**"]}),
        ".eslintignore": "lib/\n",
    }
    repo = _repo(tmp_path, files)
    manifest = json.loads((repo / "package.json").read_text())
    manifest["eslintConfig"] = {"rules": off}
    (repo / "package.json").write_text(json.dumps(manifest))
    commit_all(repo)
    outcome = hostile.run(repo, hostile.spec(SAST_ONLY))
    judged(outcome, "SAST_FINDINGS", says="lib/run.js:1 " + EVAL)
    assert outcome.check("functional")["status"] == "passed"


def test_inline_disable_comments_are_listed_as_suppressions_and_still_block(
    hostile: Hostile, tmp_path: Path
) -> None:
    code = (
        "/* eslint-disable */\n"
        "exports.a = (x) => eval(x);\n"
        "/* eslint-enable */\n"
        f"// eslint-disable-next-line {EVAL} -- the plugin loader needs it\n"
        "exports.b = (x) => eval(x);\n"
        "exports.c = (x) => eval(x); // eslint-disable-line\n"
    )
    # inline configuration acts on the whole file: in a file of its own
    config = f"/* eslint {EVAL}: off */\nexports.d = (x) => eval(x);\n"
    files = {"lib/run.js": code, "lib/config.js": config, "test/a.test.js": PASSING_TEST}
    repo = _repo(tmp_path, files)
    outcome = hostile.run(repo, hostile.spec(SAST_ONLY))
    judged(outcome, "SAST_FINDINGS")
    found = {(f["filename"], f["line"]): f for f in _findings(outcome)}
    assert sorted(found) == [
        ("lib/config.js", 2),
        ("lib/run.js", 2),
        ("lib/run.js", 5),
        ("lib/run.js", 6),
    ]
    assert all(f["suppressed"] and f["blocking"] for f in found.values())
    assert found[("lib/run.js", 5)]["suppression_reason"] == "the plugin loader needs it"
    assert (
        "4 under an eslint-disable comment (not allowed by the spec)"
        in outcome.check("sast")["summary"]
    )
    sarif = json.loads(outcome.artifacts["eslint.sarif"])
    assert len(sarif["runs"][0]["results"]) == 4
    # the owner may allow them: then the same delivery passes SAST, each one still listed
    allowed = SAST_ONLY.replace("sast: true", "sast: {allow_suppressions: true}")
    outcome = hostile.run(repo, hostile.spec(allowed))
    assert outcome.verdict == "accepted", outcome.explain()
    assert outcome.check("sast")["suppressed"] == 4


def test_a_fake_plugin_and_eslint_in_node_modules_and_a_forged_report_change_nothing(
    hostile: Hostile, tmp_path: Path
) -> None:
    # Loaded instead of the image's, either would end ESLint at once with no report.
    quit_ = "process.exit(0);\nmodule.exports = { rules: {}, configs: {} };\n"
    forged = {"format": 1, "mode": "sast", "tool": {}, "files_checked": 1, "truncated": False,
              "files": []}  # fmt: skip
    files = {
        "lib/run.js": DANGER,
        "test/a.test.js": PASSING_TEST,
        "node_modules/eslint-plugin-security/package.json": json.dumps(
            {"name": "eslint-plugin-security", "version": "99.0.0", "main": "index.js"}
        ),
        "node_modules/eslint-plugin-security/index.js": quit_,
        "node_modules/eslint/package.json": json.dumps(
            {"name": "eslint", "version": "99.0.0", "main": "index.js"}
        ),
        "node_modules/eslint/index.js": quit_,
        "node_modules/@eslint/js/package.json": json.dumps({"name": "@eslint/js", "main": "i.js"}),
        "node_modules/@eslint/js/i.js": quit_,
        # shaped like the runner's report, where a careless engine might look for it
        "eslint.json": json.dumps(forged),
        "out/eslint.json": json.dumps(forged),
        "eslint.sarif": json.dumps({"version": "2.1.0", "runs": []}),
        # a nested node_modules is the supplier's code (require("./node_modules/helper")):
        # ESLint's default ignores would skip it, the engine's configuration does not
        "lib/node_modules/helper/index.js": DANGER,
    }
    repo = _repo(tmp_path, files)
    outcome = hostile.run(repo, hostile.spec(SAST_ONLY))
    judged(outcome, "SAST_FINDINGS", says=EVAL)
    sast = outcome.check("sast")
    assert {f["filename"] for f in sast["findings"]} == {
        "lib/run.js",
        "lib/node_modules/helper/index.js",
    }
    assert sast["tool"]["plugins"] == {
        "eslint-plugin-security": "4.1.0",
        "typescript-eslint": "8.74.0",
    }
    assert sast["tool"]["version"] == "9.39.5"


def test_code_eslint_cannot_read_is_never_a_pass_and_typescript_is_read(
    hostile: Hostile, tmp_path: Path
) -> None:
    files = {
        "test/a.test.js": PASSING_TEST,
        # neither an ES module nor CommonJS
        "lib/broken.js": "module.exports = (x) => { eval(x) \n",
    }
    repo = _repo(tmp_path, files)
    outcome = hostile.run(repo, hostile.spec(SAST_ONLY))
    judged(outcome, "SAST_UNSCANNABLE", says="lib/broken.js (Parsing error")
    # TypeScript, parsed by typescript-eslint's parser: what it hides is found
    (repo / "src").mkdir()
    (repo / "src" / "hidden.ts").write_text(
        "export const run = (x: string): unknown => eval(x as string);\n"
    )
    (repo / "lib" / "broken.js").unlink()
    commit_all(repo)
    outcome = hostile.run(repo, hostile.spec(SAST_ONLY))
    judged(outcome, "SAST_FINDINGS", says="src/hidden.ts:1 " + EVAL)
    assert outcome.check("sast")["errors"] == []


def test_code_loaded_from_files_without_a_javascript_extension_is_read(
    hostile: Hostile, tmp_path: Path
) -> None:
    # Node runs `require("./helper")` of a file named `helper`, and any extension, as
    # CommonJS; ESLint reads only the extensions it knows: the engine follows the requires.
    files = {
        "lib/index.js": "module.exports = [require('./helper'), require(`../data/run.txt`), "
        "require('./pkg')];\n",
        # a folder loads its package.json's main, whatever its extension
        "lib/pkg/package.json": json.dumps({"main": "code.txt"}),
        "lib/pkg/code.txt": "module.exports = eval(process.env.CODE);\n",
        "lib/helper": "module.exports = (x) => eval(x);\nrequire('./deeper');\n",
        "lib/deeper": "const cp = require('child_process');\nmodule.exports = (c) => cp.exec(c);\n",
        "data/run.txt": "return eval(process.argv[2]);\n",
        "build/addon.node": "\x7fELF not really",
        "test/a.test.js": PASSING_TEST,
    }
    repo = _repo(tmp_path, files)
    outcome = hostile.run(repo, hostile.spec(SAST_ONLY))
    judged(outcome, "SAST_FINDINGS", says="lib/helper:1 " + EVAL)
    sast = outcome.check("sast")
    assert {(f["filename"], f["line"]) for f in sast["findings"]} == {
        ("lib/helper", 1),
        ("data/run.txt", 1),
        ("lib/deeper", 2),
        ("lib/pkg/code.txt", 1),
    }
    assert sast["errors"] == [
        {"filename": "build/addon.node", "reason": "a compiled Node addon, which no scanner reads"}
    ]


def test_a_flood_of_findings_is_cut_short_and_never_passes(
    hostile: Hostile, tmp_path: Path
) -> None:
    # 60,000 lines of `obj[key]` heuristics (low confidence: none listed by default), so
    # only the flood itself can decide; ESLint needs about 700 MB for it
    flood = "const o = {}; const k = process.argv[2];\n" + "o[k] = o[k + 1];\n" * 60_000
    repo = _repo(tmp_path, {"lib/flood.js": flood, "test/a.test.js": PASSING_TEST})
    limits = LIMITS.replace("memory: 256m", "memory: 1500m").replace("timeout: 60", "timeout: 120")
    outcome = hostile.run(repo, hostile.spec(SAST_ONLY, limits=limits))
    judged(outcome, "SAST_UNSCANNABLE", says="more than 50000 findings", limit=120)
    sast = outcome.check("sast")
    assert sast["findings"] == [] and sast["findings_truncated"] is True


QUALITY_ONLY = "runtime: node\nlicence: false\nsecurity: false\nquality: true\n"


def test_quality_the_suppliers_config_and_directive_lookalikes_change_nothing(
    hostile: Hostile, tmp_path: Path
) -> None:
    code = (
        "/* eslint-disable */\n"
        "const text = '/* eslint-disable */ // eslint-disable-line';\n"
        "const other = `// eslint-disable-next-line no-debugger -- a string, not a comment`;\n"
        "debugger;\n"
        "module.exports = { text, other };\n"
    )
    files = {
        "lib/a.js": code,
        "test/a.test.js": PASSING_TEST,
        "eslint.config.js": "module.exports = [{ rules: { 'no-debugger': 'off' } }];\n",
        ".eslintrc.json": json.dumps({"root": True, "rules": {"no-debugger": "off"}}),
    }
    repo = _repo(tmp_path, files)
    outcome = hostile.run(repo, hostile.spec(QUALITY_ONLY))
    judged(outcome, "UNJUSTIFIED_SUPPRESSION", says="lib/a.js:1")
    quality = outcome.check("quality")
    assert [(s["file"], s["line"]) for s in quality["suppressions"]] == [("lib/a.js", 1)]
    blocking = {(f["rule"], f["line"]) for f in quality["findings"] if f["blocking"]}
    assert blocking == {("UNJUSTIFIED_SUPPRESSION", 1), ("no-debugger", 4)}


def test_quality_a_flood_of_directive_comments_is_unjudgeable(
    hostile: Hostile, tmp_path: Path
) -> None:
    flood = "// eslint-disable-line no-empty -- a reason of words\n" * 50_001
    repo = _repo(tmp_path, {"lib/flood.js": flood, "test/a.test.js": PASSING_TEST})
    outcome = hostile.run(repo, hostile.spec(QUALITY_ONLY))
    judged(outcome, "QUALITY_UNJUDGEABLE", says="more than 50000 eslint comments")
