"""The accessibility check: axe-core in Debian's Chromium on the delivery's static pages.

The browser runs in its own sandbox (the browser image variant, sandbox/browser_image.py:
no network, read-only checkout, the usual limits); the pages are opened as ``file://``.
This module runs the browser; checks/axe_results.py reads and judges what comes back
(untrusted: a page whose results are not axe-core's fails the check), while no output
at all is the platform's error, never a pass.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from checks.axe_results import (
    CHECK_ID,
    MAX_PAGE_JSON_BYTES,
    MAX_SCREENSHOT_BYTES,
    STANDARD_TAGS,
    PageResult,
    UntrustedResults,
    check_result,
    clean,
    impact_word,
    judge,
    mark,
    parse_results,
    screenshot_artifact,
)
from checks.interface import CheckContext, CheckOutcome, CheckStatus, Stage
from sandbox.interface import Sandbox, SandboxLimitError, SandboxLimits

SRC_MOUNT = "/src"
OUT_DIR = "/work/axe"


class AccessibilityOptions(Protocol):
    """The spec section the check reads (acceptance.engine.spec.AccessibilitySpec)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def pages(self) -> tuple[str, ...]: ...

    @property
    def standard(self) -> str: ...

    @property
    def fail_on(self) -> object: ...

    @property
    def ignore(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class BrowserOutput:
    """The raw files the browser wrote for one page (None: not written)."""

    results: bytes | None
    screenshot: bytes | None
    #: the file was over its cap (or not a regular file)
    too_large: bool = False


class BrowserRunner(Protocol):
    """Opens pages of a checkout in a browser with axe-core; one output per page, in order."""

    def run(self, tree: Path, pages: Sequence[str], tags: Sequence[str]) -> list[BrowserOutput]: ...


class BrowserToolError(RuntimeError):
    """The platform could not run the browser (no image, no output): never a pass."""


class PagesDidNotFinish(RuntimeError):
    """The pages kept the browser past its time, memory or process limit: the supplier's."""


# ---------------------------------------------------------------- pages


def page_problem(tree: Path, page: str) -> str | None:
    """Why ``page`` is not a regular file inside ``tree`` (symlinks resolved), or None."""
    root = os.path.realpath(tree)
    target = os.path.realpath(os.path.join(root, page))
    if os.path.commonpath([root, target]) != root:
        return "a symbolic link leading out of the checkout"
    if not os.path.lexists(os.path.join(root, page)):
        return "no such file in the delivery"
    if not os.path.isfile(target):
        return "not a regular file"
    return None


def page_url(page: str) -> str:
    """The page's file:// URL inside the browser sandbox."""
    return "file://" + quote(f"{SRC_MOUNT}/{page}")


# ---------------------------------------------------------------- the check


def evaluate(tree: Path, options: AccessibilityOptions, runner: BrowserRunner) -> CheckOutcome:
    """Resolve the pages, run the browser, judge what came back."""
    if getattr(options, "serve", None) is not None:
        # Never a vacuous pass on zero pages: serving is not wired to the browser yet.
        return _tool_error(options, "accessibility.serve is not run by this engine yet")
    missing = [(page, why) for page in options.pages if (why := page_problem(tree, page))]
    if missing:
        return CheckOutcome(judge(options, (), missing))
    tags = STANDARD_TAGS[options.standard]
    try:
        outputs = runner.run(tree, options.pages, tags)
    except BrowserToolError as exc:
        return _tool_error(options, str(exc))
    except PagesDidNotFinish as exc:
        stopped = [PageResult(page, error=str(exc)) for page in options.pages]
        return CheckOutcome(judge(options, stopped))
    if len(outputs) != len(options.pages):
        return _tool_error(
            options, "the browser returned a result per page for fewer pages than listed"
        )
    results: list[PageResult] = []
    artifacts: dict[str, bytes] = {}
    fail_on = impact_word(options.fail_on)
    for number, (page, output) in enumerate(zip(options.pages, outputs, strict=True)):
        if output.too_large:
            results.append(
                PageResult(page, error=f"its results exceeded {MAX_PAGE_JSON_BYTES} bytes")
            )
            continue
        if output.results is None:
            return _tool_error(options, f"the browser wrote no results for {page}")
        try:
            parsed = parse_results(page, output.results)
        except UntrustedResults as exc:
            results.append(PageResult(page, error=f"its results are not axe-core's ({exc})"))
            continue
        shot = screenshot_artifact(number, output.screenshot)
        if shot is not None:
            artifacts[shot[0]] = shot[1]
            parsed = PageResult(
                parsed.page, parsed.violations, parsed.passes, parsed.incomplete,
                parsed.error, shot[0], parsed.axe_version,
            )  # fmt: skip
        results.append(mark(parsed, fail_on, options.ignore))
    return CheckOutcome(judge(options, results), artifacts)


def _tool_error(options: AccessibilityOptions, message: str) -> CheckOutcome:
    details: dict[str, object] = {"standard": options.standard, "pages": [], "missing_pages": []}
    return CheckOutcome(
        check_result(
            CheckStatus.ERROR,
            f"the browser check could not run: {message}",
            "ACCESSIBILITY_TOOL_ERROR",
            details,
        )
    )


@dataclass(frozen=True)
class DockerBrowserRunner:
    """Runs the in-image runner in a fresh sandbox of the browser image variant."""

    image: str
    runtime: str | None = None
    #: the browser's time: its start, then this much per page (a page's scripts can hang it)
    startup_seconds: float = 20.0
    seconds_per_page: float = 35.0

    def run(self, tree: Path, pages: Sequence[str], tags: Sequence[str]) -> list[BrowserOutput]:
        from sandbox.browser_image import RUNNER_PATH
        from sandbox.docker import DockerSandbox
        from sandbox.image import TOOLS_VENV
        from sandbox.interface import SandboxConfig, SandboxError

        timeout = self.startup_seconds + self.seconds_per_page * len(pages)
        limits = SandboxLimits(memory=2 * 1024**3, pids=512, lifetime=timeout + 60.0)
        config = SandboxConfig(
            image=self.image, limits=limits, readonly_mounts={tree: SRC_MOUNT}, runtime=self.runtime
        )
        try:
            with DockerSandbox(config) as sandbox:
                sandbox.run(["mkdir", "-p", OUT_DIR], timeout=30)
                argv = [f"{TOOLS_VENV}/bin/python", RUNNER_PATH, OUT_DIR, ",".join(tags)]
                result = sandbox.run([*argv, *(page_url(p) for p in pages)], timeout=timeout)
                if result.timed_out or result.memory_limit_hit or result.process_limit_hit:
                    limit = (
                        f"time ({timeout:.0f} s for {len(pages)} page(s))"
                        if result.timed_out
                        else "memory limit"
                        if result.memory_limit_hit
                        else "process limit"
                    )
                    raise PagesDidNotFinish(f"the pages kept the browser past its {limit}")
                if result.exit_code != 0:
                    said = clean(result.text[-400:], 400)
                    raise BrowserToolError(
                        f"the browser runner exited with {result.exit_code}: {said}"
                    )
                return _read_outputs(sandbox, len(pages))
        except SandboxLimitError as exc:
            raise PagesDidNotFinish(f"the pages kept the browser past a limit: {exc}") from exc
        except SandboxError as exc:
            raise BrowserToolError(str(exc)) from exc


def _read_outputs(sandbox: Sandbox, count: int) -> list[BrowserOutput]:
    requests: list[tuple[str, int]] = []
    for number in range(count):
        requests.append((f"{OUT_DIR}/page-{number}.json", MAX_PAGE_JSON_BYTES))
        requests.append((f"{OUT_DIR}/page-{number}.png", MAX_SCREENSHOT_BYTES))
    answers = sandbox.read_files(requests)
    outputs: list[BrowserOutput] = []
    for number in range(count):
        results, shot = answers[2 * number], answers[2 * number + 1]
        too_large = isinstance(results.error, SandboxLimitError)
        outputs.append(BrowserOutput(
            results=results.data if results.error is None else None,
            screenshot=shot.data if shot.error is None else None,
            too_large=too_large,
        ))  # fmt: skip
    return outputs


@dataclass
class AccessibilityCheck:
    """The registered check: beside the sandbox, it starts the browser's own sandbox."""

    runner: BrowserRunner | None = None
    id: str = CHECK_ID
    stage: Stage = Stage.BESIDE_SANDBOX
    spec_section: str | None = "accessibility"
    listed_when_off: bool = False

    def enabled(self, spec: object) -> bool:
        section = getattr(spec, "accessibility", None)
        return bool(getattr(section, "enabled", False))

    def run(self, context: CheckContext) -> CheckOutcome:
        options: AccessibilityOptions = getattr(context.spec, "accessibility")  # noqa: B009 -- the spec is typed object in the context
        runner = self.runner
        if runner is None:
            try:
                from sandbox.browser_image import browser_image_tag

                runner = DockerBrowserRunner(browser_image_tag())
            except Exception as exc:  # noqa: BLE001 -- any failure to find the image is the platform's
                return _tool_error(options, f"no browser image: {exc}")
        return evaluate(context.tree, options, runner)
