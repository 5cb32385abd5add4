"""ShellCheck in the sandbox on the shell files and on the files they load, until closed.

The plan (`plan_scan`, on the host): the checkout's shell files (checks/shellcheck.py), the
files they load by a constant path (checks/shell_sources.py), neutralised copies of all
of them. The scan (`scan`): ShellCheck on the shell files as their shebang or suffix says,
and on the loaded files with `--shell=bash` (what bats, `source` and `bash FILE` read them
as); every "Not following" comment (SC1091) that names a file of the checkout not scanned
yet adds it, with what it loads, and ShellCheck runs on those, at most MAX_ROUNDS times:
past that the files left are reported as not scanned and the check fails. Then the files
with directives are scanned again as delivered (suppressions), and
checks/shellcheck.py judges the whole.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.options import SastSpec
from checks.report_text import clean_text
from checks.shell_sources import followed_files, resolve, settled_lines
from checks.shellcheck import (
    CHECK_ID,
    KIND,
    MAX_COMMENTS,
    MAX_REPORT_BYTES,
    NON_CONSTANT_SOURCE,
    _failed,
    evaluate_shellcheck,
    shell_files,
    stage_copies,
)
from sandbox.interface import Sandbox, SandboxLimitError

#: ShellCheck runs that may each add files named by SC1091 comments
MAX_ROUNDS = 4
#: "Not following: PATH was not specified as input (see shellcheck -x)." and its variants
_NOT_FOLLOWING = re.compile(r"^Not following: (.+?)(?: was not specified as input\b|: |$)")
NOT_FOLLOWING_CODE = 1091
NON_CONSTANT_CODE = NON_CONSTANT_SOURCE
NOT_FOLLOWED = "loads more files than the engine follows"


@dataclass
class ScanPlan:
    """What ShellCheck reads: staged copies of the shell files and of the files they load."""

    tree: Path
    scan_dir: Path
    exclude: tuple[str, ...]
    files: list[str] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)
    with_directives: list[str] = field(default_factory=list)
    #: file -> why it was not scanned
    unscanned: dict[str, str] = field(default_factory=dict)

    @property
    def scanned(self) -> set[str]:
        return {*self.files, *self.followed}

    def add_followed(self, names: Sequence[str]) -> list[str]:
        """Stage `names` (and what they load) as followed files; the ones staged now."""
        more, cut = followed_files(self.tree, sorted(self.scanned), self.exclude, names)
        if cut:
            self.unscanned.setdefault("(files past the cap)", NOT_FOLLOWED)
        fresh = [n for n in more if n not in self.scanned and n not in self.unscanned]
        staged, directives = stage_copies(self.tree, fresh, self.scan_dir)
        kept = set(staged)
        self.unscanned.update({n: "too large to scan" for n in fresh if n not in kept})
        self.followed += staged
        self.with_directives += directives
        return staged


def plan_scan(tree: Path, scan_dir: Path, exclude: Sequence[str]) -> ScanPlan:
    """Find and stage the shell files and the files they load (on the host, nothing run)."""
    plan = ScanPlan(tree, scan_dir, tuple(exclude))
    files = shell_files(tree, exclude)
    staged, plan.with_directives = stage_copies(tree, files, scan_dir)
    kept = set(staged)
    plan.unscanned = {n: "too large to scan" for n in files if n not in kept}
    plan.files = staged
    plan.add_followed([])
    return plan


def shellcheck_command(
    root: str, files: Sequence[str], report: str, shell: str | None = None
) -> list[str]:
    """Run in the sandbox: ShellCheck on `files` under `root`, JSON into `report`."""
    dialect = [f"--shell={shell}"] if shell else []
    script = (
        'cd "$1" && out="$2" && shift 2 && exec shellcheck --norc -f json1 -S style "$@" > "$out"'
    )
    return ["sh", "-c", script, "sh", root, report, *dialect, "--", *[f"./{f}" for f in files]]


class ScanFailure(Exception):
    """ShellCheck did not give a usable report: `kind` is the reason (TIMEOUT, MEMORY_LIMIT,
    INVALID_ARTIFACT); `flood`, when it wrote more than the engine reads (the delivery's)."""

    def __init__(
        self, kind: str, message: str, report: bytes | None = None, *, flood: bool = False
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.report = report
        self.flood = flood


@dataclass(frozen=True)
class Collected:
    """ShellCheck's comments on the neutralised copies, and on the files with directives as
    delivered (None when no file has one); SC1091 notes about scanned files left out."""

    plain: list[dict[str, object]]
    as_delivered: list[dict[str, object]] | None


def collect(
    sandbox: Sandbox,
    plan: ScanPlan,
    *,
    plain_root: str,
    original_root: str,
    out_dir: str,
    timeout: float,
    report_name: str = "shellcheck",
) -> Collected:
    """ShellCheck on the plan's files until no file they load is left unread (ScanFailure)."""
    runs = 0

    def run(root: str, names: Sequence[str], shell: str | None) -> list[dict[str, object]]:
        nonlocal runs
        if not names:
            return []
        runs += 1
        name = f"{report_name}.json" if runs == 1 else f"{report_name}-{runs}.json"
        return _run(sandbox, root, names, shell, f"{out_dir}/{name}", timeout)

    plain = run(plain_root, plan.files, None) + run(plain_root, plan.followed, "bash")
    for _round in range(MAX_ROUNDS):
        named = _not_following(plan, plain)
        if not named:
            break
        fresh = plan.add_followed(named)
        plain += run(plain_root, fresh, "bash")
    else:
        for name in _not_following(plan, plain):
            plan.unscanned.setdefault(name, NOT_FOLLOWED)
    followed = set(plan.followed)
    delivered = [n for n in plan.with_directives if n not in followed]
    as_delivered = run(original_root, delivered, None) + run(
        original_root, [n for n in plan.with_directives if n in followed], "bash"
    )
    scanned = plan.scanned
    plain = [c for c in plain if not _followed_note(plan, c, scanned)]
    if not plan.with_directives:
        return Collected(plain, None)
    return Collected(_drop_settled(plan, plain, as_delivered, scanned), as_delivered)


def scan(
    sandbox: Sandbox,
    spec: SastSpec,
    plan: ScanPlan,
    *,
    plain_root: str,
    original_root: str,
    out_dir: str,
    timeout: float,
    version: str | None = None,
) -> CheckOutcome:
    """The SAST check: the plan's files and what they load, judged (checks/shellcheck.py)."""
    if not spec.enabled:
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec")
        )
    try:
        found = collect(
            sandbox, plan, plain_root=plain_root, original_root=original_root,
            out_dir=out_dir, timeout=timeout,
        )  # fmt: skip
    except ScanFailure as failure:
        if failure.report is not None:
            # evaluate_shellcheck says what is wrong with it
            return evaluate_shellcheck(failure.report, spec, None)
        return _failed(spec, failure.kind, failure.message)
    return evaluate_shellcheck(
        document(found.plain),
        spec,
        document(found.as_delivered) if found.as_delivered is not None else None,
        directive_files=plan.with_directives,
        unscanned=plan.unscanned,
        version=version,
    )


def _run(
    sandbox: Sandbox,
    root: str,
    names: Sequence[str],
    shell: str | None,
    path: str,
    timeout: float,
) -> list[dict[str, object]]:
    result = sandbox.run(
        shellcheck_command(root, names, path, shell),
        timeout=timeout,
        workdir="/tmp",
        max_output=64 * 1024,
    )
    if result.timed_out:
        raise ScanFailure("TIMEOUT", f"ShellCheck did not finish within {timeout:g} s")
    if result.memory_limit_hit:
        raise ScanFailure("MEMORY_LIMIT", "ShellCheck ran out of the memory limit")
    try:
        data = sandbox.read_files([(path, MAX_REPORT_BYTES)])[0].value()
    except SandboxLimitError as exc:
        raise ScanFailure(
            "INVALID_ARTIFACT", f"ShellCheck's report: {exc.message}", flood=True
        ) from None
    if data is None or result.exit_code not in (0, 1):
        tail = clean_text(result.text[-400:], 400)
        raise ScanFailure(
            "INVALID_ARTIFACT",
            f"ShellCheck wrote no usable report (exit code {result.exit_code}): {tail}",
        )
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        parsed = None
    comments = parsed.get("comments") if isinstance(parsed, dict) else None
    if isinstance(comments, list) and len(comments) > MAX_COMMENTS:
        raise ScanFailure(
            "INVALID_ARTIFACT",
            f"ShellCheck wrote more than {MAX_COMMENTS} comments",
            data,
            flood=True,
        )
    if not isinstance(comments, list) or not all(isinstance(c, dict) for c in comments):
        raise ScanFailure("INVALID_ARTIFACT", "ShellCheck's report is not its JSON", data)
    return comments


def _named_file(plan: ScanPlan, comment: Mapping[str, object]) -> list[str]:
    """The checkout files an SC1091 comment names (tried from its file's folder and the root)."""
    if comment.get("code") != NOT_FOLLOWING_CODE:
        return []
    name, message = comment.get("file"), comment.get("message")
    if not isinstance(name, str) or not isinstance(message, str):
        return []
    match = _NOT_FOLLOWING.match(message)
    if match is None:
        return []
    source = name[2:] if name.startswith("./") else name
    return resolve(plan.tree, os.path.dirname(source), match.group(1).encode())


def _not_following(plan: ScanPlan, comments: Sequence[Mapping[str, object]]) -> list[str]:
    scanned = plan.scanned
    named = {n for c in comments for n in _named_file(plan, c)}
    return sorted(n for n in named if n not in scanned and n not in plan.unscanned)


def _followed_note(plan: ScanPlan, comment: Mapping[str, object], scanned: set[str]) -> bool:
    """An SC1091 note about a file the engine scanned: said by the scan itself, dropped."""
    named = _named_file(plan, comment)
    return bool(named) and all(n in scanned for n in named)


def _drop_settled(
    plan: ScanPlan,
    plain: list[dict[str, object]],
    as_delivered: Sequence[Mapping[str, object]],
    scanned: set[str],
) -> list[dict[str, object]]:
    """SC1090 (a non-constant source) that a `source=` directive naming a scanned file settles."""
    kept = {(c.get("file"), c.get("line"), c.get("code")) for c in as_delivered}
    settled: dict[str, frozenset[int]] = {}

    def is_settled(comment: Mapping[str, object]) -> bool:
        name = comment.get("file")
        if comment.get("code") != NON_CONSTANT_CODE or not isinstance(name, str):
            return False
        if (name, comment.get("line"), NON_CONSTANT_CODE) in kept:
            return False
        rel = name[2:] if name.startswith("./") else name
        if rel not in plan.with_directives:
            return False
        if rel not in settled:
            settled[rel] = settled_lines(plan.tree, rel, scanned)
        return comment.get("line") in settled[rel]

    return [c for c in plain if not is_settled(c)]


def document(comments: Sequence[Mapping[str, object]]) -> bytes:
    """Comments as one json1 report, for checks/shellcheck.py's parser."""
    return json.dumps({"comments": list(comments)}).encode()
