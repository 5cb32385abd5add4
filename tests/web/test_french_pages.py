"""Every dashboard page in French, for every role and the supplier: no English left over.

The known English strings are the catalogue's own: each message whose French differs
from its English. The test follows every link of every page a role can reach (plus
forms refused with errors, error pages and the supplier's status pages) and fails if
one of those English strings is in a French page's visible text. Engine text the
templates mark lang="en" (English sentences from the signed report) is left out: it is
English on purpose and announced as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from tests.dashboard_support import ADMIN, OWNER, PO_FILE, REVIEWER, Service, client_for, csrf_token
from tests.service.test_certificates import FINANCE, OVERRIDE_REASON, _decide, _finance
from tests.web.test_compare_dashboard import add_compared_runs

#: links that are files, not pages, or that change something
NOT_PAGES = re.compile(
    r"(\.(json|log|pdf|csv|pub)$|/files/|/language/|/live$|^/api/|^/static/|/metrics$)"
)
#: more pages than the seeded service has: a loop in the crawl fails instead of running on
MAX_PAGES = 400
#: attributes a person reads (or hears) as well as the text
READ_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")


def english_only_messages(po_file: Path = PO_FILE) -> set[str]:
    """Each English fragment of the catalogue that a French page must not show.

    A message with placeholders gives its literal pieces. Only pieces of two words or more
    count: a lone word is too often a name or data ("Supplier <x> Ltd", "Version 2") or
    French as well ("file d'attente").
    """
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    found: set[str] = set()
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue
            for piece in PLACEHOLDER.split(re.sub(r"<[^>]+>", " ", english)):
                piece = " ".join(piece.split()).strip(" :;,.()—–-")
                if len(piece.split()) >= 2:
                    found.add(piece)
    return found


class VisibleText(HTMLParser):
    """A page's text as read, without scripts, styles and elements marked lang="en"."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._stack: list[bool] = []  # for each open element: is its content left out?

    def _skipping(self) -> bool:
        return any(self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        skip = tag in ("script", "style", "template") or values.get("lang") == "en"
        if not (skip or self._skipping()):
            self.parts.extend(values[name] or "" for name in READ_ATTRIBUTES if values.get(name))
        if tag not in self.VOID:
            self._stack.append(skip)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.parts.append(data)

    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def read(page: str) -> VisibleText:
    parser = VisibleText()
    parser.feed(page)
    parser.close()
    return parser


def leftovers(text: str, english: set[str]) -> list[str]:
    """The English messages found in `text`, as whole words."""
    return sorted(e for e in english if re.search(rf"(?<!\w){re.escape(e)}(?!\w)", text))


def crawl(client: FlaskClient, starts: list[str]) -> Iterator[tuple[str, str]]:
    """(url, html) of every same-site page reachable from `starts`, each path once."""
    seen: set[str] = set()
    queue = list(starts)
    while queue:
        url = urldefrag(queue.pop(0))[0]
        path = urlsplit(url).path
        if path in seen or NOT_PAGES.search(path) or urlsplit(url).netloc:
            continue
        seen.add(path)
        assert len(seen) <= MAX_PAGES, "the crawl does not end"
        reply = client.get(url, headers={"Accept": "text/html"})
        if reply.status_code != 200 or not reply.mimetype.startswith("text/html"):
            continue
        page = reply.get_data(as_text=True)
        yield url, page
        queue.extend(link for link in read(page).links if link.startswith("/"))


@pytest.fixture(scope="module")
def decided(seeded: Service) -> Service:
    """The seeded service with decisions (changes, then an override), a certificate, comparisons, finance."""
    add_compared_runs(seeded)
    _decide(seeded, seeded.ids.rejected, "changes_requested", "Please fix the failing form test.")
    _decide(seeded, seeded.ids.rejected, "accepted", OVERRIDE_REASON)
    _finance(seeded)
    return seeded


@pytest.fixture(scope="module")
def english() -> set[str]:
    found = english_only_messages()
    assert "Sign in" in found and "Record your decision" in found
    return found


def refused_forms(service: Service, client: FlaskClient) -> Iterator[tuple[str, str]]:
    """Pages that come back with the form's errors, and the error pages."""
    ids = service.ids
    token = csrf_token(client, f"/runs/{ids.accepted}")
    for url, data in (
        (f"/runs/{ids.accepted}/decision", {"decision": "changes_requested", "reason": ""}),
        (f"/runs/{ids.errored}/decision", {"decision": "accepted", "reason": "short"}),
        (f"/opportunities/{ids.opportunity}/submissions/new", {"supplier": "", "repo_url": "x"}),
        (f"/opportunities/{ids.opportunity}/specs/new", {}),
        ("/opportunities/new", {"title": ""}),
    ):
        reply = client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)
        yield f"POST {url}", reply.get_data(as_text=True)
    for url in ("/runs?verdict=bogus&since=yesterday", "/runs/no-such-run", "/opportunities/nope",
                f"/runs/{ids.running}/compare/{ids.accepted}"):  # fmt: skip
        yield url, client.get(url, headers={"Accept": "text/html"}).get_data(as_text=True)


def french_pages(service: Service) -> Iterator[tuple[str, str, str]]:
    """(who, url, html) for every page of every role, signed out, and the supplier's."""
    anonymous = client_for(service, None, "fr")
    yield "signed out", "/sign-in", anonymous.get("/sign-in").get_data(as_text=True)
    token = csrf_token(anonymous, "/sign-in")
    refused = anonymous.post(
        "/sign-in", data={"email": OWNER, "password": "no", "csrf_token": token}
    )
    yield "signed out", "POST /sign-in", refused.get_data(as_text=True)
    for who in (OWNER, ADMIN, REVIEWER, FINANCE):
        client = client_for(service, who, "fr")
        for url, page in crawl(client, ["/", "/runs", "/opportunities", "/certificates"]):
            yield who, url, page
        if who == OWNER:
            for url, page in refused_forms(service, client):
                yield who, url, page
    supplier = service.app.test_client()
    supplier.set_cookie("acceptance_lang", "fr")
    for url, page in crawl(supplier, [f"/status/{service.ids.status_token}"]):
        yield "supplier", url, page


def test_every_page_in_french_has_no_english_message_left(
    decided: Service, english: set[str]
) -> None:
    found: dict[str, list[str]] = {}
    visited = 0
    for who, url, page in french_pages(decided):
        visited += 1
        assert '<html lang="fr">' in page, (who, url)
        for message in leftovers(read(page).text(), english):
            found.setdefault(message, []).append(f"{who} {url}")
    assert visited > 30, "the crawl reached too few pages"
    report = "\n".join(f"{m!r}: {', '.join(where[:3])}" for m, where in sorted(found.items()))
    assert not found, f"English on French pages:\n{report}"


def test_the_walk_notices_an_english_message_and_ignores_marked_engine_text(
    english: set[str],
) -> None:
    page = ('<html lang="fr"><p>Décision <span>Record your decision</span></p>'
            '<p lang="en">Sign in <b>Record your decision</b></p><script>"Sign in"</script></html>')  # fmt: skip
    assert leftovers(read(page).text(), english) == ["Record your decision"]


# ---------------------------------------------------------------- check summaries, typography


def check_section(page: str, heading: str) -> str:
    """The HTML of the check whose heading starts with `heading`."""
    found = re.search(rf'<section class="check[^>]*>\s*<h3[^>]*>\s*{re.escape(heading)}.*?</section>',
                      page, re.S)  # fmt: skip
    assert found, heading
    return found.group(0)


def test_check_summaries_are_said_in_french_from_the_reports_fields(seeded: Service) -> None:
    french = client_for(seeded, OWNER, "fr")
    page = french.get(f"/runs/{seeded.ids.rejected}").get_data(as_text=True)
    functional = check_section(page, "Tests fonctionnels")
    assert '<p class="check__summary">3 réussis, 2 échoués, 0 en erreur, 1 ignoré</p>' in functional
    assert "Échoué</span>" in functional  # the check's status, masculine (un contrôle)
    # The engine's own sentence is still there, after, and marked as English.
    assert re.search(
        r'Dans le rapport signé\u00a0:\s*<span lang="en">2 of 5 tests failed</span>', functional
    )
    dependencies = check_section(page, "Vulnérabilités des dépendances")
    assert ("Aucune vulnérabilité connue dans les 12 paquets installés\u00a0; "
            "1 ignorée par la spécification.") in dependencies  # fmt: skip
    assert "1 constat de sécurité bloque l’acceptation." in check_section(
        page, "Analyse statique de sécurité"
    )
    assert ("Licence MIT, trouvée dans LICENSE\u00a0: autorisée par la spécification\u00a0; "
            "1 dépendance sous une licence incompatible.") in page  # fmt: skip
    accepted = french.get(f"/runs/{seeded.ids.accepted}").get_data(as_text=True)
    assert "5 réussis, 0 échoué, 0 en erreur, 1 ignoré" in accepted
    assert ("Aucun constat de sécurité ne bloque l’acceptation\u00a0; 1 sous le seuil de la "
            "spécification ou exempté.") in accepted  # fmt: skip
    assert "Réussi</span>" in check_section(accepted, "Tests fonctionnels")


def test_english_readers_get_the_engines_sentence_alone(seeded: Service) -> None:
    page = client_for(seeded, OWNER).get(f"/runs/{seeded.ids.rejected}").get_data(as_text=True)
    functional = check_section(page, "Functional tests")
    assert '<p class="check__summary"><span>2 of 5 tests failed</span></p>' in functional
    assert "In the signed report:" not in page


#: a plain space before « : ; ! ? », or none where French wants one: before « ; ! ? » always,
#: before « : » where it is punctuation (then a space follows), not in https:// or 14:15
MISSING_NO_BREAK_SPACE = re.compile(r" [:;!?]|(?<=[\w)»”%])[;!?]|(?<=[\w)»”%]):(?=\s|$)")


def test_french_punctuation_has_a_no_break_space_before_it() -> None:
    with PO_FILE.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    wrong = []
    for message in catalog:
        if not message.id:
            continue  # the header
        for text in message.string if isinstance(message.string, tuple) else (message.string,):
            for found in MISSING_NO_BREAK_SPACE.finditer(text):
                wrong.append(
                    f"{message.id!r}: …{text[max(0, found.start() - 20) : found.end() + 5]}…"
                )
    assert wrong == []
