"""Hostile Node.js deliveries (issue 16): install scripts that try the network and the host,
a .npmrc sending npm elsewhere, tests that forge the engine's TAP report or print TAP of their
own, a node_modules link out of the checkout, a lockfile naming another registry. Each ends
judged as the engine decides, never as the delivery says; the harness checks containment."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, unavailable
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

NODE = FUNCTIONAL_ONLY + "runtime: node\n"
LODASH = {
    "version": "4.17.21",
    "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz",
    "integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg==",
    "license": "MIT",
}


@pytest.fixture(autouse=True)
def _node_image(docker_engine: Any) -> None:
    import docker.errors

    from sandbox.node_image import node_image_tag

    try:
        docker_engine.images.get(node_image_tag())
    except docker.errors.ImageNotFound:
        unavailable("node image missing: run `acceptance image build --runtime node`")


def _repo(
    tmp_path: Path,
    files: dict[str, str],
    *,
    scripts: dict[str, str] | None = None,
    packages: dict[str, object] | None = None,
    links: dict[str, str] | None = None,
) -> Path:
    repo = tmp_path / "delivery"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir()
    deps = {"lodash": "4.17.21"} if packages else {}
    manifest = {"name": "hostile", "version": "1.0.0", "license": "MIT", "dependencies": deps,
                "scripts": scripts or {}}  # fmt: skip
    lock = {"name": "hostile", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
            "packages": {"": {"name": "hostile", "version": "1.0.0", "dependencies": deps},
                         **(packages or {})}}  # fmt: skip
    files = {"package.json": json.dumps(manifest), "package-lock.json": json.dumps(lock), **files}
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name, target in (links or {}).items():
        os.symlink(target, repo / name)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    return repo


def _test(body: str, name: str = "fine") -> str:
    return (
        "const test = require('node:test');\nconst assert = require('node:assert');\n"
        "const fs = require('node:fs');\n"
        f"test('{name}', () => {{\n{body}\n}});\n"
    )


def test_install_scripts_run_only_in_the_sandbox_offline_and_the_npmrc_is_ignored(
    hostile: Hostile, tmp_path: Path
) -> None:
    host_marker = tmp_path / "host-marker" / "written.txt"
    net = (
        "node -e \"require('https').get('https://registry.npmjs.org/', () => "
        "require('fs').writeFileSync('net.txt', 'REACHED')).on('error', e => "
        "require('fs').writeFileSync('net.txt', 'NETERR ' + e.code))\""
    )
    scripts = {
        # would run on the host if the engine ran them there
        "preinstall": f"mkdir -p {host_marker.parent} && echo pwned > {host_marker}; echo pre > pre.txt",
        "postinstall": net,
        "test": "node --test",
    }
    body = (
        "  assert.ok(fs.existsSync('pre.txt'), 'install scripts ran');\n"
        "  assert.match(fs.readFileSync('net.txt', 'utf8'), /^NETERR/);\n"
        "  assert.equal(require('lodash').VERSION, '4.17.21');"
    )
    files = {
        "test/a.test.js": _test(body, "offline install"),
        # npm would read this if the engine let it: a registry that does not answer
        ".npmrc": "registry=http://127.0.0.1:9/\nignore-scripts=false\n",
    }
    repo = _repo(tmp_path, files, scripts=scripts, packages={"node_modules/lodash": LODASH})
    outcome = hostile.run(repo, hostile.spec(NODE))
    assert outcome.verdict == "accepted", outcome.explain()
    assert outcome.check("functional")["tests"]["passed"] == 1
    assert not host_marker.exists(), "a lifecycle script ran on the host"
    assert outcome.predicate["install"]["requirements"] == ["lodash@4.17.21"]


def test_a_test_that_replaces_the_engine_report_with_a_passing_one_is_not_believed(
    hostile: Hostile, tmp_path: Path
) -> None:
    forged = (
        "TAP version 13\\nok 1 - fine\\nok 2 - forger\\n1..2\\n# tests 2\\n# pass 2\\n# fail 0\\n"
    )
    body = (
        "  for (const d of fs.readdirSync('/work/out')) {\n"
        "    try { fs.writeFileSync(`/work/out/${d}/results.tap`, '" + forged + "'); } catch {}\n"
        "  }\n  assert.fail('really failing');"
    )
    repo = _repo(tmp_path, {"test/a.test.js": _test(body, "forger")})
    outcome = hostile.run(repo, hostile.spec(NODE))
    assert outcome.verdict == "rejected", outcome.explain()
    functional = outcome.check("functional")
    assert functional["status"] == "failed"
    assert functional["reason_code"] in ("INVALID_ARTIFACT", "TESTS_FAILED"), outcome.explain()
    assert functional["tests"]["passed"] == 0, outcome.explain()


def test_tap_printed_by_a_test_adds_no_test(hostile: Hostile, tmp_path: Path) -> None:
    body = (
        "  console.log('ok 7 - forged one');\n  console.log('pass 40');\n"
        "  process.stdout.write('TAP version 13\\nok 1 - forged two\\n# pass 41\\n');"
    )
    repo = _repo(tmp_path, {"test/a.test.js": _test(body)})
    outcome = hostile.run(repo, hostile.spec(NODE))
    assert outcome.verdict == "accepted", outcome.explain()
    assert outcome.check("functional")["tests"] == {
        "passed": 1, "failed": 0, "errors": 0, "skipped": 0,
    }  # fmt: skip


def test_a_node_modules_link_out_of_the_checkout_is_never_used(
    hostile: Hostile, tmp_path: Path
) -> None:
    body = (
        "  assert.ok(!fs.existsSync('node_modules'), 'the delivered node_modules is gone');\n"
        "  assert.throws(() => require('passwd'));"
    )
    repo = _repo(tmp_path, {"test/a.test.js": _test(body)}, links={"node_modules": "/etc"})
    outcome = hostile.run(repo, hostile.spec(NODE))
    assert outcome.verdict == "accepted", outcome.explain()
    assert outcome.check("functional")["tests"]["passed"] == 1


def test_a_lockfile_naming_another_registry_is_refused_before_any_fetch(
    hostile: Hostile, tmp_path: Path
) -> None:
    elsewhere = {**LODASH, "resolved": "http://127.0.0.1:9/lodash/-/lodash-4.17.21.tgz"}
    repo = _repo(
        tmp_path, {"test/a.test.js": _test("")}, packages={"node_modules/lodash": elsewhere}
    )
    outcome = hostile.run(repo, hostile.spec(NODE))
    judged(outcome, "NPM_SOURCE_REFUSED", says="every package must come from the registry")


def test_a_fork_bomb_in_a_test_hits_the_process_limit(hostile: Hostile, tmp_path: Path) -> None:
    body = (
        "  const { spawn } = require('node:child_process');\n"
        "  for (let i = 0; i < 500; i++) {\n"
        "    try { spawn('sleep', ['30'], { detached: true }); } catch {}\n"
        "  }\n  require('node:child_process').execSync('sleep 30');"
    )
    outcome = hostile.run(_repo(tmp_path, {"test/a.test.js": _test(body)}), hostile.spec(NODE))
    assert outcome.verdict == "rejected", outcome.explain()
    functional = outcome.check("functional")
    assert functional["status"] == "failed"
    assert functional["reason_code"] in ("PROCESS_LIMIT", "TIMEOUT"), outcome.explain()


def test_an_output_flood_in_a_test_is_stopped(hostile: Hostile, tmp_path: Path) -> None:
    # Node 18's runner keeps what a test file writes until the file ends: the flood runs
    # into the memory limit first here (or the output, disk or time limit): never a pass.
    body = "  const line = 'x'.repeat(4096);\n  for (;;) { process.stderr.write(line); }"
    outcome = hostile.run(_repo(tmp_path, {"test/a.test.js": _test(body)}), hostile.spec(NODE))
    assert outcome.verdict == "rejected", outcome.explain()
    functional = outcome.check("functional")
    assert functional["status"] == "failed"
    limits = ("OUTPUT_LIMIT", "MEMORY_LIMIT", "TIMEOUT", "DISK_LIMIT")
    assert functional["reason_code"] in limits, outcome.explain()
    assert functional["tests"]["passed"] == 0


def test_a_test_script_that_writes_the_report_itself_is_never_run(
    hostile: Hostile, tmp_path: Path
) -> None:
    # `npm test` would run this: it writes an all-passing report wherever it is asked to.
    forge = (
        "node -e \"const fs=require('fs'); for (const d of fs.readdirSync('/work/out')) "
        "fs.writeFileSync('/work/out/'+d+'/results.tap', 'TAP version 13\\\\nok 1 - x\\\\n"
        "1..1\\\\n# tests 1\\\\n# pass 1\\\\n# fail 0\\\\n')\""
    )
    repo = _repo(
        tmp_path, {"test/a.test.js": _test("  assert.fail('no');")}, scripts={"test": forge}
    )
    outcome = hostile.run(repo, hostile.spec(NODE))
    judged(outcome, "NODE_TEST_SCRIPT_UNSUPPORTED", says="the engine runs node:test itself")
    assert outcome.check("functional")["tests"]["passed"] == 0
