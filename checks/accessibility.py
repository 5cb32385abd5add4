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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from checks.axe_results import (
    CHECK_ID,
    MAX_PAGE_JSON_BYTES,
    STANDARD_TAGS,
    PageResult,
    UntrustedResults,
    check_result,
    impact_word,
    judge,
    mark,
    parse_results,
    screenshot_artifact,
)
from checks.browser_run import (
    DEFAULT_SETTLE_SECONDS,
    SRC_MOUNT,
    BrowserOutput,
    BrowserToolError,
    PagesDidNotFinish,
    ServeOptions,
    ServerNotListening,
    Timing,
    visit_served,
    visit_static,
)
from checks.interface import AppHost, CheckContext, CheckOutcome, CheckStatus, Stage

#: what the report says a served app ran with when no runtime hosted it
BARE_ENVIRONMENT = (
    "the browser image's Python 3 and Debian base, without the delivery's dependencies"
)


class AccessibilityOptions(Protocol):
    """The spec section the check reads (acceptance.engine.spec_accessibility.AccessibilitySpec)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def pages(self) -> tuple[str, ...]: ...

    @property
    def serve(self) -> ServeOptions | None: ...

    @property
    def standard(self) -> str: ...

    @property
    def fail_on(self) -> object: ...

    @property
    def ignore(self) -> tuple[str, ...]: ...


class BrowserRunner(Protocol):
    """Opens pages of a checkout in a browser with axe-core; one output per page, in order."""

    def run(self, tree: Path, pages: Sequence[str], tags: Sequence[str]) -> list[BrowserOutput]: ...


@runtime_checkable
class ServedRunner(Protocol):
    """Starts the delivered app and visits its paths; one output per path, in order."""

    def serve(
        self, tree: Path, serve: ServeOptions, tags: Sequence[str], host: AppHost | None = None
    ) -> list[BrowserOutput]: ...


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


def evaluate(
    tree: Path, options: AccessibilityOptions, runner: BrowserRunner, host: AppHost | None = None
) -> CheckOutcome:
    """Resolve the pages (or start the app, in ``host`` when given), run the browser, judge."""
    if options.serve is not None:
        if not isinstance(runner, ServedRunner):
            return _tool_error(options, "this browser runner cannot start an app")
        return evaluate_served(tree, options, options.serve, runner, host)
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
    return _judge_outputs(options, options.pages, outputs)


def evaluate_served(
    tree: Path, options: AccessibilityOptions, serve: ServeOptions, runner: ServedRunner,
    host: AppHost | None = None,
) -> CheckOutcome:  # fmt: skip
    """Start the delivered app, visit its URL paths, judge what came back."""
    served: dict[str, object] = {
        "command": serve.written, "port": serve.port, "paths": list(serve.paths),
    }  # fmt: skip
    if serve.wait is not None:
        served["wait"] = serve.wait
    served["environment"] = host.environment if host is not None else BARE_ENVIRONMENT
    tags = STANDARD_TAGS[options.standard]
    try:
        # Without a host, the runner is called as before (runners that cannot host keep working).
        outputs = (
            runner.serve(tree, serve, tags, host) if host is not None
            else runner.serve(tree, serve, tags)
        )  # fmt: skip
    except BrowserToolError as exc:
        return _tool_error(options, str(exc), served)
    except ServerNotListening as exc:
        outcome = CheckOutcome(judge(options, (), server_problem=str(exc)))
    except PagesDidNotFinish as exc:
        stopped = [PageResult(path, error=str(exc)) for path in serve.paths]
        outcome = CheckOutcome(judge(options, stopped))
    else:
        outcome = _judge_outputs(options, serve.paths, outputs)
    details = {**outcome.result.details, "serve": served}
    return CheckOutcome(replace(outcome.result, details=details), outcome.artifacts)


def _judge_outputs(
    options: AccessibilityOptions, pages: Sequence[str], outputs: Sequence[BrowserOutput]
) -> CheckOutcome:
    """Each page's output read through its caps, marked against fail_on, then the verdict."""
    if len(outputs) != len(pages):
        return _tool_error(
            options, "the browser returned a result per page for fewer pages than listed"
        )
    results: list[PageResult] = []
    artifacts: dict[str, bytes] = {}
    fail_on = impact_word(options.fail_on)
    for number, (page, output) in enumerate(zip(pages, outputs, strict=True)):
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
            parsed = replace(parsed, screenshot=shot[0])
        results.append(mark(parsed, fail_on, options.ignore))
    return CheckOutcome(judge(options, results), artifacts)


def _tool_error(
    options: AccessibilityOptions, message: str, served: dict[str, object] | None = None
) -> CheckOutcome:
    details: dict[str, object] = {"standard": options.standard, "pages": [], "missing_pages": []}
    if served is not None:
        details["serve"] = served
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
    """Runs the in-image runner in sandboxes of the browser image variant (checks/browser_run.py)."""

    image: str
    runtime: str | None = None
    #: the browser's time: its start, then this much per page (a page's scripts can hang it)
    startup_seconds: float = 20.0
    seconds_per_page: float = 35.0
    #: how long a served app has to accept connections on its port, unless the spec's
    #: ``accessibility.serve.wait`` says otherwise
    listen_seconds: float = 30.0
    #: after a page's network went idle, how long before axe runs on it again
    settle_seconds: float = DEFAULT_SETTLE_SECONDS

    def _timing(self, listen_seconds: float | None = None) -> Timing:
        return Timing(
            self.startup_seconds,
            self.seconds_per_page,
            self.listen_seconds if listen_seconds is None else listen_seconds,
            self.settle_seconds,
        )

    def run(self, tree: Path, pages: Sequence[str], tags: Sequence[str]) -> list[BrowserOutput]:
        urls = [page_url(page) for page in pages]
        return visit_static(self.image, self.runtime, tree, urls, tags, self._timing())

    def serve(
        self, tree: Path, serve: ServeOptions, tags: Sequence[str], host: AppHost | None = None
    ) -> list[BrowserOutput]:
        timing = self._timing(serve.wait)
        return visit_served(self.image, self.runtime, tree, serve, tags, timing, host)


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

    def hosted(self, spec: object) -> bool:
        """A served app runs in the runtime's sandbox, with the project installed."""
        section = getattr(spec, "accessibility", None)
        return self.enabled(spec) and getattr(section, "serve", None) is not None

    def run(self, context: CheckContext) -> CheckOutcome:
        return self._run(context, None)

    def run_hosted(self, context: CheckContext, host: AppHost) -> CheckOutcome:
        return self._run(context, host)

    def _run(self, context: CheckContext, host: AppHost | None) -> CheckOutcome:
        options: AccessibilityOptions = getattr(context.spec, "accessibility")  # noqa: B009 -- the spec is typed object in the context
        runner = self.runner
        if runner is None:
            try:
                from acceptance.settings import accessibility_settle
                from sandbox.browser_image import browser_image_tag

                runner = DockerBrowserRunner(
                    browser_image_tag(), settle_seconds=accessibility_settle()
                )
            except Exception as exc:  # noqa: BLE001 -- any failure to find the image is the platform's
                return _tool_error(options, f"no browser image: {exc}")
        return evaluate(context.tree, options, runner, host)
