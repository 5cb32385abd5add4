"""The pages the supplier delivers exist and link to each other (stdlib only)."""

from html.parser import HTMLParser
from pathlib import Path

SITE = Path(__file__).resolve().parent.parent


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value for name, value in attrs if tag == "a" and name == "href" and value]


def links_of(page: str) -> list[str]:
    parser = Links()
    parser.feed((SITE / page).read_text(encoding="utf-8"))
    return parser.hrefs


def test_home_links_to_contact() -> None:
    assert "contact.html" in links_of("index.html")


def test_contact_links_home() -> None:
    assert "index.html" in links_of("contact.html")
