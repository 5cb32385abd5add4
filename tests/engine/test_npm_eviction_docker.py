"""A Node.js delivery judged again after its prepared node_modules was evicted (issue 16):
fetched again, installed in the real node image, its tests counted as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acceptance.engine.npm_fetch import PREPARED_DIR
from acceptance.engine.npm_prepared import READY
from tests.conftest import check, git, write_spec
from tests.engine.test_npm_prepared import LEFT_PAD_1_3_0

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env", "node_image")]

TEST = """\
const test = require('node:test');
const assert = require('node:assert');
const leftPad = require('left-pad');

test('pads on the left', () => assert.strictEqual(leftPad('7', 3, '0'), '007'));
test('leaves a long string alone', () => assert.strictEqual(leftPad('1234', 3), '1234'));
"""


def _delivery(tmp_path: Path, name: str) -> Path:
    """A delivery using left-pad; `name` changes the lockfile's bytes, hence its key."""
    repo = tmp_path / name
    (repo / "test").mkdir(parents=True)
    manifest = {
        "name": name, "version": "1.0.0", "license": "MIT",
        "dependencies": {"left-pad": "1.3.0"}, "scripts": {"test": "node --test"},
    }  # fmt: skip
    (repo / "package.json").write_text(json.dumps(manifest))
    lock = {
        "name": name, "version": "1.0.0", "lockfileVersion": 3, "requires": True,
        "packages": {
            "": {"name": name, "version": "1.0.0", "license": "MIT",
                 "dependencies": {"left-pad": "1.3.0"}},
            "node_modules/left-pad": {**LEFT_PAD_1_3_0, "license": "WTFPL"},
        },
    }  # fmt: skip
    (repo / "package-lock.json").write_text(json.dumps(lock))
    (repo / "test" / "pad.test.js").write_text(TEST)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    return repo


def _judge(repo: Path, spec: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    code, statement = check(str(repo), spec, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (0, "accepted"), predicate["reasons"]
    functional = {c["id"]: c for c in predicate["checks"]}["functional"]
    assert functional["tests"] == {"passed": 2, "failed": 0, "errors": 0, "skipped": 0}
    (evidence,) = predicate["install"]["evidence"]
    return evidence, " ".join(predicate["install"]["requirements"])


def test_a_run_after_its_node_modules_was_evicted_fetches_again_and_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A data folder of its own: the small cap must not evict other tests' folders.
    data = tmp_path / "data"
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(data))
    spec = write_spec(
        tmp_path / "spec",
        "runtime: node\nfunctional: {min_passed: 2}\nsecurity: false\nlicence: false\n",
    )
    first, second = _delivery(tmp_path, "first"), _delivery(tmp_path, "second")
    evidence, installed = _judge(first, spec, capsys)
    assert "fetched from" in evidence and installed == "left-pad@1.3.0"
    prepared = data / "cache" / PREPARED_DIR
    (only,) = list(prepared.iterdir())
    size = json.loads((only / READY).read_text())["size"]
    # Room for one folder: the second lockfile's evicts the first's.
    monkeypatch.setenv("ACCEPTANCE_ENV_CACHE_SIZE", str(size + 100))
    assert "fetched from" in _judge(second, spec, capsys)[0]
    assert [p.name for p in prepared.iterdir()] != [only.name]
    assert len(list(prepared.iterdir())) == 1
    evidence, installed = _judge(first, spec, capsys)
    assert "fetched from" in evidence and installed == "left-pad@1.3.0"
    # ...and prepared again, it is reused by the next run.
    assert "prepared for an earlier run" in _judge(first, spec, capsys)[0]
