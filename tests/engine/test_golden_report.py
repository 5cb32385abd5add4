"""The golden report: `acceptance check` on examples/contact-form gives the same predicate.

The example is checked as `scripts/demo.sh` does (a git repository of it, its spec,
a signed report), in the real sandbox, with a data directory of its own so every
cache starts cold and the run takes the same path each time. The signed predicate
is compared byte for byte with tests/golden/contact-form.predicate.json after
replacing only what legitimately changes from one run to the next:

* timestamps: `started`, `finished`, when the advisories were imported (once per
  test session) and the advisories' age in days (it grows with the date);
* durations: every stage's `seconds`, each test's `duration`, the audit's `seconds`;
* temporary paths: the source's `url` (the repository is made under a temporary
  directory) and the random folder of the hidden tests (`/work/.acceptance-<hex>`);
* the sandbox image's id and tag (its digest, and a tag that follows the image's inputs);
* the digests and sizes of the artifacts that embed timings, timestamps or random
  serial numbers: JUnit XML (`time`, `timestamp`, `hostname`), bandit's SARIF (the
  invocation's times) and the CycloneDX SBOM (`serialNumber`, `metadata.timestamp`);
* the place of the stages run by the engine's host threads (licence detection,
  downloads, the advisory audit) among the sandbox's: a race, so they are listed
  last, by name; the sandbox stages keep their order;
* the prepared environment's `key` (it hashes the image id) and `bytes` (file times
  inside the exported archive).

Run ids and signing-key ids are not in the predicate (the CLI has no run context;
the key id is the envelope's), so nothing else is touched: a changed verdict,
reason, check detail, stage name or order, tool version, limit or spec digest fails.

Regenerate after an intended change with
`ACCEPTANCE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden_report.py`
and review the diff of the golden file before committing it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, git

GOLDEN = Path(__file__).parents[1] / "golden" / "contact-form.predicate.json"
EXAMPLE = ROOT / "examples" / "contact-form"
SPEC = ROOT / "examples" / "specs" / "contact-form" / "acceptance.yaml"
#: the commit's dates are fixed, so its id is the same on every run
FIXED_DATE = "2026-01-01T00:00:00+00:00"
#: artifacts whose bytes carry timings, timestamps or random serial numbers
VARYING_ARTIFACTS = re.compile(r"(.*junit.*\.xml|.*\.sarif|.*sbom.*|.*cyclonedx.*)")
#: host-side work in the engine's threads, overlapping the sandbox stages
THREAD_STAGES = ("licence-detect", "download", "dependency-audit")
HIDDEN_FOLDER = re.compile(r"/work/\.acceptance-[0-9a-f]{32}")

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def normalise(predicate: dict[str, Any]) -> dict[str, Any]:
    """PREDICATE with only the run-to-run variations (module docstring) replaced."""
    data: dict[str, Any] = json.loads(
        HIDDEN_FOLDER.sub("/work/.acceptance-<random>", json.dumps(predicate))
    )
    data["started"] = data["finished"] = "<timestamp>"
    data["source"]["url"] = "<temporary repository>"
    for stage in data["stages"]:
        stage["seconds"] = "<seconds>"
    # Where a thread's stage lands among the sandbox's is a race: those go last, by name.
    data["stages"] = [s for s in data["stages"] if s["name"] not in THREAD_STAGES] + sorted(
        (s for s in data["stages"] if s["name"] in THREAD_STAGES), key=lambda s: str(s["name"])
    )
    image = data["environment"].get("image")
    if isinstance(image, dict):
        image.update({"id": "<image id>", "tag": "<image tag>"})
    cache = data["environment"].get("dependency_cache")
    if isinstance(cache, dict):
        for key in ("key", "bytes"):
            if key in cache:
                cache[key] = f"<{key}>"
    for name, entry in data["artifacts"].items():
        if VARYING_ARTIFACTS.fullmatch(name):
            entry.update({"sha256": "<varies>", "size": "<varies>"})
    for check in data["checks"]:
        _hide_durations(check)
        if "seconds" in check:
            check["seconds"] = "<seconds>"
        if isinstance(check.get("advisory_data"), dict):
            check["advisory_data"]["imported_at"] = "<timestamp>"
        if isinstance(check.get("advisory_data_age"), dict):
            check["advisory_data_age"]["days"] = "<days>"
    return data


def _hide_durations(value: object) -> None:
    """Every test's `duration`, however deep (the hidden tests' results are nested)."""
    if isinstance(value, dict):
        if isinstance(value.get("duration"), int | float):
            value["duration"] = "<seconds>"
        for item in value.values():
            _hide_durations(item)
    elif isinstance(value, list):
        for item in value:
            _hide_durations(item)


def canonical(predicate: dict[str, Any]) -> bytes:
    return (json.dumps(predicate, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def test_the_example_report_matches_the_golden_file(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from acceptance.cli import main

    # Cold caches: a warm environment cache would take other stages (restore, not install).
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path / "data"))
    repo = tmp_path / "contact-form"
    shutil.copytree(EXAMPLE, repo)
    monkeypatch.setenv("GIT_AUTHOR_DATE", FIXED_DATE)
    monkeypatch.setenv("GIT_COMMITTER_DATE", FIXED_DATE)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "Deliver contact form validation", cwd=repo)

    report = tmp_path / "contact-form.report.json"
    code = main(["check", str(repo), "--spec", str(SPEC), "--out", str(report)])
    output = capsys.readouterr().out
    envelope = json.loads(report.read_text(encoding="utf-8"))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    got = canonical(normalise(statement["predicate"]))

    if os.environ.get("ACCEPTANCE_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(got)
    assert code == 0, output
    assert statement["predicate"]["verdict"] == "accepted"
    assert GOLDEN.is_file(), "no golden report: run with ACCEPTANCE_UPDATE_GOLDEN=1"
    assert got.decode() == GOLDEN.read_text(encoding="utf-8")
