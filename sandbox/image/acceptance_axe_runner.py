"""Runs axe-core on static pages in Debian's Chromium, inside the browser image variant.

Usage: python acceptance_axe_runner.py [--origin http://127.0.0.1:<port>] [--settle <s>]
       <out dir> <standard tags, comma-separated> <page URL>...

For page number N it writes ``page-N.json`` (axe's results, or ``{"error": ...}``) and
``page-N.png`` (a screenshot) into the out dir. axe-core runs in an isolated world of
the page (Chromium's DevTools protocol, as an extension's content script): it shares
the DOM with the page's scripts but not their globals or prototypes, so a page cannot
replace ``axe`` or the built-ins it calls to claim a clean result. The host still reads
both files with byte caps and trusts nothing in them.
No network: Chromium runs with the sandbox's none network, and routes other than
``file://`` are aborted besides. With ``--origin`` (a served app, reached on the
loopback the sandbox shares with the app's), only that origin's requests go through,
a page that ends on another origin (a redirect) is not judged, and an answer outside
2xx is the page's error with its status.

A page is judged twice: at its load event, and once it has settled (no request in flight
for half a second, waited for at most NETWORK_IDLE_MS, then ``--settle`` seconds more);
the violations of both runs are judged together, so content a page adds a moment after
its load (a timer, a delayed request) is judged as well. Content shown later than that
is not.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

AXE_SCRIPT = Path("/opt/acceptance/axe/axe.min.js")
CHROMIUM = "/usr/bin/chromium"
LOAD_TIMEOUT_MS = 30_000
#: at most this long waiting for the page's requests to end (a page that polls never idles)
NETWORK_IDLE_MS = 5_000
#: seconds the page is given after its network went idle, before axe runs again
DEFAULT_SETTLE_SECONDS = 2.0
#: the most ``--settle`` may ask for (the host's setting is bounded the same way)
MAX_SETTLE_SECONDS = 30.0
# Only the result fields the host reads: the rest (full DOM paths, check data) is bulk.
WORLD_NAME = "acceptance-axe"
_VISITOR_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{version} Safari/537.36"
)
_AXE_CALL = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          resultTypes: ['violations']});
  const node = (n) => ({target: n.target, html: n.html});
  const rule = (r) => ({id: r.id, impact: r.impact, tags: r.tags, help: r.help,
                        helpUrl: r.helpUrl, nodes: r.nodes.slice(0, 50).map(node)});
  return {violations: result.violations.map(rule), passes: result.passes.length,
          incomplete: result.incomplete.length, inapplicable: result.inapplicable.length,
          axe_version: axe.version};
}"""


def _offline(route: Route) -> None:
    if route.request.url.startswith("file://"):
        route.continue_()
    else:
        route.abort()


def _origin_of(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port}"
    except ValueError:
        return ""


def _only(origin: str) -> Callable[[Route], None]:
    """Requests to the served app's origin go through; any other is aborted."""

    def route_handler(route: Route) -> None:
        if _origin_of(route.request.url) == origin:
            route.continue_()
        else:
            route.abort()

    return route_handler


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


class PageRefused(RuntimeError):
    """The served app answered with an error status, or sent the browser elsewhere."""


def _check_served(page: Page, response: object, origin: str) -> None:
    """The page a served path ended on: the app's own origin, answered with a 2xx status."""
    if _origin_of(page.url) != origin:
        raise PageRefused(f"the app sent the browser to another origin ({page.url[:200]})")
    status = getattr(response, "status", None)
    if not isinstance(status, int):
        raise PageRefused("the app gave no HTTP answer")
    if not 200 <= status < 300:
        raise PageRefused(f"the app answered HTTP {status}")
    _check_stayed(page, response)


def _check_stayed(page: Page, response: object) -> None:
    """The page is still the document the path answered (HTTP redirects followed)."""
    answered = getattr(response, "url", None)
    if not isinstance(answered, str) or _without_fragment(page.url) != _without_fragment(answered):
        raise PageRefused("the page moved to another address while it was checked")


def _check_still(page: Page, response: object, origin: str, url: str) -> None:
    """PageRefused when the page is no longer the one asked for.

    A script may send the page to another of the app's pages or the checkout's files (the
    route lets them through) before or while axe runs: the results would be that page's,
    so none are judged.
    """
    if origin:
        _check_stayed(page, response)
    elif unquote(_without_fragment(page.url)) != unquote(_without_fragment(url)):
        raise PageRefused("the page moved to another address while it was checked")


def _refuse_closed_shadow_roots(page: Page) -> None:
    """PageRefused when the page holds a closed shadow root: axe-core cannot enter one
    (its host's shadowRoot is null to every script), so what is inside would go unjudged.
    The DevTools protocol sees every root, however it was made (script or markup)."""
    cdp = page.context.new_cdp_session(page)
    try:
        document = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
    finally:
        cdp.detach()
    stack = [document.get("root") or {}]
    while stack:
        node = stack.pop()
        for root in node.get("shadowRoots") or ():
            if root.get("shadowRootType") == "closed":
                raise PageRefused(
                    "the page has a closed shadow root, whose content axe-core cannot check"
                )
            stack.append(root)
        stack.extend(node.get("children") or ())
        if node.get("contentDocument"):
            stack.append(node["contentDocument"])


class AxeFailed(RuntimeError):
    """axe-core did not load or run in the page's isolated world."""


#: frames of one page axe runs in, at most (each gets its own isolated world)
MAX_FRAMES = 20


def axe_in_isolated_world(page: Page, axe_source: str, tags: list[str]) -> object:
    """axe-core's results, computed in a world the page's scripts cannot reach.

    Every frame gets its own world and its own axe-core (a copy in the top frame cannot
    enter the others), so a page that frames its content is judged with that content.
    """
    cdp = page.context.new_cdp_session(page)
    try:
        frames = _frames(cdp.send("Page.getFrameTree")["frameTree"])
        if len(frames) > MAX_FRAMES:
            raise AxeFailed(f"the page has more than {MAX_FRAMES} frames")
        results: list[object] = []
        for number, frame in enumerate(frames):
            if number and str(frame.get("url", "")).startswith("chrome-error:"):
                continue  # a frame whose load was refused: Chromium's error page, nothing else
            results.append(_axe_in_frame(cdp, str(frame.get("id")), axe_source, tags))
        return _merged(results)
    finally:
        cdp.detach()


def _frames(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """Every frame of a DevTools frame tree, the top one first."""
    found: list[dict[str, Any]] = []
    queue = [tree]
    while queue and len(found) <= MAX_FRAMES:
        node = queue.pop(0)
        found.append(node.get("frame") or {})
        queue.extend(node.get("childFrames") or ())
    return found


def _axe_in_frame(cdp: Any, frame_id: str, axe_source: str, tags: list[str]) -> object:
    world = cdp.send("Page.createIsolatedWorld", {"frameId": frame_id, "worldName": WORLD_NAME})
    context_id = world["executionContextId"]
    loaded = cdp.send("Runtime.evaluate", {"expression": axe_source, "contextId": context_id})
    if "exceptionDetails" in loaded:
        raise AxeFailed("axe-core did not load in the page")
    reply = cdp.send(
        "Runtime.evaluate",
        {
            "expression": f"({_AXE_CALL})({json.dumps(tags)})",
            "contextId": context_id,
            "awaitPromise": True,
            "returnByValue": True,
        },
    )
    if "exceptionDetails" in reply:
        said = str(reply["exceptionDetails"].get("text", ""))[:500]
        raise AxeFailed(f"axe-core failed on the page: {said}")
    return reply["result"].get("value")


def _merged(results: list[object]) -> object:
    """One page's results from its frames': violations by rule, the frame named in targets."""
    if len(results) == 1:
        return results[0]
    merged: dict[str, Any] = {"violations": [], "passes": 0, "incomplete": 0, "inapplicable": 0}
    rules: dict[str, dict[str, Any]] = {}
    for number, result in enumerate(results):
        if not isinstance(result, dict):
            raise AxeFailed("axe-core gave no results in one of the page's frames")
        merged.setdefault("axe_version", result.get("axe_version"))
        for key in ("passes", "incomplete", "inapplicable"):
            count = result.get(key)
            merged[key] += count if isinstance(count, int) else 0
        for rule in result.get("violations") or ():
            if not isinstance(rule, dict):
                raise AxeFailed("axe-core gave malformed results in one of the page's frames")
            nodes = [
                {**node, "target": [f"(frame {number})", *node.get("target", [])]}
                if number and isinstance(node, dict) and isinstance(node.get("target"), list)
                else node
                for node in rule.get("nodes") or ()
            ]
            kept = rules.get(str(rule.get("id")))
            if kept is None:
                rules[str(rule.get("id"))] = kept = {**rule, "nodes": []}
                merged["violations"].append(kept)
            kept["nodes"] = (kept["nodes"] + nodes)[:50]
    return merged


def _union(first: object, second: object) -> object:
    """Both runs' violations, one entry per rule and one node per target; counts: the settled run's.

    A run that failed (not a mapping of results) is refused whole: half a page's results
    would judge it on the other half.
    """
    if not isinstance(first, dict) or not isinstance(second, dict):
        raise AxeFailed("axe-core gave no results in one of its runs")
    united: dict[str, Any] = {**second, "violations": []}
    rules: dict[str, dict[str, Any]] = {}
    seen: dict[str, set[str]] = {}
    for result in (first, second):
        for rule in result.get("violations") or ():
            if not isinstance(rule, dict):
                raise AxeFailed("axe-core gave malformed results in one of its runs")
            rule_id = str(rule.get("id"))
            kept = rules.get(rule_id)
            if kept is None:
                rules[rule_id] = kept = {**rule, "nodes": []}
                seen[rule_id] = set()
                united["violations"].append(kept)
            for node in rule.get("nodes") or ():
                # the same element found by both runs is one finding, not two
                key = json.dumps(node.get("target") if isinstance(node, dict) else node)
                if key not in seen[rule_id] and len(kept["nodes"]) < 50:
                    seen[rule_id].add(key)
                    kept["nodes"].append(node)
    return united


def _settle(page: Page, settle_seconds: float) -> None:
    """Wait for the page's requests to end (bounded), then ``settle_seconds`` more."""
    try:
        page.wait_for_load_state("networkidle", timeout=NETWORK_IDLE_MS)
    except PlaywrightTimeout:
        pass  # still busy (a page that polls): judged as it stands after the settle time
    page.wait_for_timeout(settle_seconds * 1000)


def _options(argv: list[str]) -> tuple[str, float, list[str]]:
    """``--origin`` and ``--settle`` (in any order, before the positional arguments)."""
    origin, settle = "", DEFAULT_SETTLE_SECONDS
    rest = argv[1:]
    while len(rest) > 1 and rest[0] in ("--origin", "--settle"):
        if rest[0] == "--origin":
            origin = _origin_of(rest[1])
        else:
            settle = min(max(float(rest[1]), 0.0), MAX_SETTLE_SECONDS)
        rest = rest[2:]
    return origin, settle, rest


def main(argv: list[str]) -> int:
    origin, settle, rest = _options(argv)
    argv = [argv[0], *rest]
    out_dir = Path(argv[1])
    tags = [tag for tag in argv[2].split(",") if tag]
    axe_source = AXE_SCRIPT.read_text(encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        # A visitor's Chrome, not "HeadlessChrome": a served app must not be able to tell
        # the checker from its visitors by the request (and answer it a cleaner page).
        agent = _VISITOR_AGENT.format(version=browser.version)
        for number, url in enumerate(argv[3:]):
            page = browser.new_page(viewport={"width": 1280, "height": 800}, user_agent=agent)
            page.route("**/*", _only(origin) if origin else _offline)
            result: object
            try:
                response = page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
                if origin:
                    _check_served(page, response, origin)
                elif unquote(_without_fragment(page.url)) != unquote(_without_fragment(url)):
                    raise PageRefused("the page moved to another address before it was checked")
                # Twice: at the load event, and once the page has settled (a page
                # that adds its content later is judged with it); both runs count.
                at_load = axe_in_isolated_world(page, axe_source, tags)
                _refuse_closed_shadow_roots(page)
                _check_still(page, response, origin, url)
                _settle(page, settle)
                settled = axe_in_isolated_world(page, axe_source, tags)
                _refuse_closed_shadow_roots(page)
                result = _union(at_load, settled)
                page.screenshot(path=str(out_dir / f"page-{number}.png"), full_page=False)
                _check_still(page, response, origin, url)
            except (PlaywrightError, AxeFailed, PageRefused) as exc:
                result = {"error": str(exc)[:2000]}
            finally:
                page.close()
            (out_dir / f"page-{number}.json").write_text(json.dumps(result), encoding="utf-8")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
