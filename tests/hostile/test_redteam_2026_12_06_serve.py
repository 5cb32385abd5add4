"""Red team, 2026-12-06: a supplier's served app against accessibility.serve (issue 17).

Each case is an app whose pages have a serious violation (an image without alt) and that
would like the check to pass anyway, run in the real sandboxes with Debian's Chromium as
the other served cases are. A hole still open is a strict `xfail` whose reason says what
lets it through and the fix suggested; its safe outcome is asserted, so it turns into a
failure (XPASS) once the hole is closed. The defences that held are ordinary tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.checks.test_accessibility_serve_docker import _serve

pytestmark = [pytest.mark.docker, pytest.mark.hostile, pytest.mark.usefixtures("browser_image")]


HEAD = '<!doctype html><html lang="en"><head><title>Parks</title></head><body><main><h1>Parks</h1>'
FOOT = "</main></body></html>"
#: the violation every case hides: axe's image-alt, serious
BAD_IMAGE = '<img src="map.svg">'


def _hole(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


def _not_passed(result: Any) -> None:
    assert result.status.value == "failed", result.summary
    assert result.reason_code in {"ACCESSIBILITY_VIOLATIONS", "ACCESSIBILITY_PAGE_UNLOADABLE"}, (
        result.summary
    )


#: answers a clean page to a browser that says it is headless, the violation to anyone else
CLOAKING_APP = r"""
import http.server

CLEAN = b'<!doctype html><html lang="en"><head><title>Parks</title></head><body><main><h1>Parks</h1></main></body></html>'
BAD = b'<!doctype html><html lang="en"><head><title>Parks</title></head><body><main><h1>Parks</h1><img src="map.svg"></main></body></html>'


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        # any header of the request: User-Agent, and client hints (sec-ch-ua) as well
        headless = any("headless" in value.lower() for value in self.headers.values())
        body = CLEAN if headless else BAD
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)


http.server.HTTPServer(("127.0.0.1", 8000), Handler).serve_forever()
"""


def test_an_app_that_answers_the_headless_browser_differently_is_not_judged_clean(
    tmp_path: Path, browser_image: str
) -> None:
    # Chromium said "HeadlessChrome" in its User-Agent, and the app answered it a clean
    # page: closed, the runner sends a visitor's Chrome User-Agent (client hints follow it).
    # An app can still tell a checker apart by other means (timing, the order of requests):
    # serve proves what the app answered the checker (docs/checks.md).
    result = _serve(tmp_path, browser_image, "exec python3 app.py", files={"app.py": CLOAKING_APP})
    _not_passed(result)


def test_the_violation_every_case_hides_is_found_in_plain_sight(
    tmp_path: Path, browser_image: str
) -> None:
    # The control: without a trick, the same page fails, so a pass below is the trick's.
    result = _serve(tmp_path, browser_image, "exec python3 -m http.server 8000",
                    files={"index.html": HEAD + BAD_IMAGE + FOOT})  # fmt: skip
    _not_passed(result)
    assert result.details["blocking_rules"] == ["image-alt"], result.summary


@pytest.mark.parametrize(
    "outer",
    [
        HEAD + '<iframe title="the page" src="/inner.html"></iframe>' + FOOT,
        # no request at all: the framed document is in the attribute
        HEAD + '<iframe title="the page" srcdoc="&lt;img src=map.svg&gt;"></iframe>' + FOOT,
    ],
    ids=["src", "srcdoc"],
)
def test_a_page_whose_content_is_in_a_frame_is_judged_with_the_frame(
    tmp_path: Path, browser_image: str, outer: str
) -> None:
    # axe-core ran in the top frame's isolated world only, so the framed content was never
    # checked and a titled frame around the real page passed: closed, every frame gets its
    # own world and its own axe-core, and the results are merged.
    inner = HEAD + BAD_IMAGE + FOOT
    result = _serve(tmp_path, browser_image, "exec python3 -m http.server 8000",
                    files={"index.html": outer, "inner.html": inner})  # fmt: skip
    _not_passed(result)
    assert "image-alt" in result.details["blocking_rules"], result.summary
    targets = [n["target"] for v in result.details["pages"][0]["violations"] for n in v["nodes"]]
    assert any(t.startswith("(frame 1)") for t in targets), targets


def test_a_clean_page_with_a_frame_of_another_origin_is_still_judged(
    tmp_path: Path, browser_image: str
) -> None:
    # The frame's request is aborted (no network): Chromium's error page is no content of
    # the delivery and is not judged; the page itself is.
    outer = HEAD + '<iframe title="map" src="http://192.0.2.1/map"></iframe>' + FOOT
    result = _serve(tmp_path, browser_image, "exec python3 -m http.server 8000",
                    files={"index.html": outer})  # fmt: skip
    assert result.status.value == "passed", result.summary


#: the violation inside a closed shadow root, which no script but the page's can open
CLOSED_SHADOW = (
    HEAD + '<div id="host"></div><script>document.getElementById("host")'
    ".attachShadow({mode: 'closed'}).innerHTML = '<img src=\"map.svg\">';</script>" + FOOT
)


#: the same, declared in the markup (no script at all)
CLOSED_SHADOW_MARKUP = (
    HEAD + '<div><template shadowrootmode="closed"><img src="map.svg"></template></div>' + FOOT
)


@pytest.mark.parametrize(
    "page", [CLOSED_SHADOW, CLOSED_SHADOW_MARKUP], ids=["attach-shadow", "declarative"]
)
def test_a_violation_inside_a_closed_shadow_root_is_not_judged_clean(
    tmp_path: Path, browser_image: str, page: str
) -> None:
    # axe-core cannot enter a closed root (its host's shadowRoot is null), so the image
    # without alt passed unseen: closed, the runner refuses a page holding a closed root
    # (the DevTools protocol lists every root, made by script or by markup).
    result = _serve(tmp_path, browser_image, "exec python3 -m http.server 8000",
                    files={"index.html": page})  # fmt: skip
    _not_passed(result)
    assert result.reason_code == "ACCESSIBILITY_PAGE_UNLOADABLE", result.summary
    assert "closed shadow root" in result.details["pages"][0]["error"], result.details


#: the violation arrives a moment after the load event, when axe has already run once
LATE_CONTENT = (
    HEAD + '<div id="late"></div><script>setTimeout(() => { document.getElementById("late")'
    ".innerHTML = '<img src=\"map.svg\">'; }, 1500);</script>" + FOOT
)


def test_content_added_after_the_load_event_is_judged(tmp_path: Path, browser_image: str) -> None:
    # axe ran once, right after the load event, so content a timer added 1.5 s later
    # passed: closed, axe runs again once the network is idle plus the settle time, and
    # both runs' violations are judged (docs/checks.md: later than that is not judged).
    result = _serve(tmp_path, browser_image, "exec python3 -m http.server 8000",
                    files={"index.html": LATE_CONTENT})  # fmt: skip
    _not_passed(result)
    assert result.details["blocking_rules"] == ["image-alt"], result.summary
    assert result.details["pages"][0]["violations"][0]["nodes"][0]["target"] == "img"


#: the violating content is the answer of a request the app answers two seconds late
DELAYED_APP = r"""
import http.server, time

PAGE = b'<!doctype html><html lang="en"><head><title>Parks</title></head><body><main><h1>Parks</h1><div id="late"></div><script>fetch("/late").then(r => r.text()).then(t => { document.getElementById("late").innerHTML = t; });</script></main></body></html>'


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/late":
            time.sleep(2)
            body = b'<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        else:
            body = PAGE
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("127.0.0.1", 8000), Handler).serve_forever()
"""


def test_content_from_a_request_the_app_delays_is_judged(
    tmp_path: Path, browser_image: str
) -> None:
    # The page loads clean and fetches its violation from the app, which answers 2 s late:
    # the second run waits for the network to be idle, so the answer is judged.
    result = _serve(tmp_path, browser_image, "exec python3 app.py", files={"app.py": DELAYED_APP})
    _not_passed(result)
    assert result.details["blocking_rules"] == ["image-alt"], result.summary
