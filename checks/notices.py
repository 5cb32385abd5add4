"""Copyright notices in licence files: what may be set aside, and what is an added term.

A licence text is judged without its copyright lines, because they name the holder
and vary by project. Only the notice itself may be set aside: the copyright marker,
years and ranges, the holders (with their e-mail or web address) and "All rights
reserved". Anything else written on such a line ("Any government use requires a
separate paid licence.", "All rights reserved; this licence may be revoked") is a
term added to the licence, and the owner must see it.

A holder is free text, so the rule is a grammar plus tell-tales, and it errs on the
side of "this is a term":

* a notice line is split into sentences (at ``;`` and at a full stop followed by a
  capital or a digit, initials and titles such as "J." or "Dr." aside); every
  sentence must begin with a copyright marker or be "All rights reserved";
* in what remains once markers, years, addresses and "All rights reserved" are
  taken out (the holder), words that belong to licence terms (use, licence,
  requires, fee, revoke, government, ...), money or percent signs, or more words
  than a list of holders needs, make it a term.
"""

from __future__ import annotations

import re

#: a holder longer than this is prose, not a list of names (the longest plain one in
#: 3,379 real notice lines, docs/licence-detection.md, has 14 words)
MAX_HOLDER_WORDS = 24
#: what is quoted of an added term (the whole line stays in the file)
MAX_QUOTED = 200

# A line that is a copyright notice ("Copyright (c) 2024 Jane", "(c) 2024 X", "© X",
# "All rights reserved."). Not a line that merely starts with the word: licence texts
# wrap "copyright notice and this permission notice" onto a new line differently.
NOTICE_LINE = re.compile(
    r"(?i)^[\s#*/>|-]*(copyright\s*(\(c\)|©|\d{4}|\[yyyy\]|<year>|by\b)|\(c\)\s*\d|©"
    r"|all rights reserved\b|spdx-filecopyrighttext)"
)

#: decoration around a notice: comment markers, quoting, rules
_LEADING = " \t\r\n\f\v\xa0#*/>|-"
_TRAILING = " \t\r\n\f\v\xa0#*/|-"
# An e-mail address, also written "<jane at example.org>" or "<jane at example dot org>"
# (lengths bounded as RFC 5321 bounds them, so a long run of word characters stays linear)
_EMAIL = re.compile(
    r"<?[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}>?"
    r"|(?i:<[\w.+-]{1,64}\s+at\s+[\w-]{1,63}(?:(?:\.|\s+dot\s+)[\w-]{1,63}){1,8}>)"
)
# What opens a notice: a copyright marker, or a year (a second holder after ";").
_OPENING = re.compile(
    r"(?i)^(?:portions\s+)?(?:copyright\b\s*:?|\(c\)|©|spdx-filecopyrighttext\s*:"
    r"|(?:authors?|contributors?|maintainers?)\s*:)|^(?:1[89]|20)\d\d\b"
)
_MARKERS = re.compile(r"(?i)\bcopyright\b|\(c\)|©|\bspdx-filecopyrighttext\s*:|\[yyyy\]|<year>")
_YEARS = re.compile(
    r"(?i)\b(?:1[89]|20)\d\d\b\+?"
    r"(?:\s*(?:[-–—]|\bto\b|\buntil\b)\s*(?:(?:1[89]|20)?\d\d\b|present\b|now\b|date\b))?"
)
# "All rights reserved", or its first words when the line wraps after them.
_RIGHTS = re.compile(r"(?i)\ball\s+rights\s+reserved\b|\ball(?:\s+rights)?[\s.]*$")
# A pointer to the list of authors ("See AUTHORS for more details."): names, no terms.
_AUTHORS_POINTER = re.compile(
    r"(?i)^see\s+(?:the\s+)?(?:authors|contributors|credits)(?:\.\w+)?(?:\s+file)?"
    r"(?:\s+for\s+(?:more|further|the\s+full)\s+(?:details|information|list))?[\s.]*$"
)
# "." or "?" then a capital ends a sentence, unless it follows an initial or a title.
_STOP = re.compile(r"[.?]\s+|;\s*")
_NOT_AN_END = re.compile(r"(?:^|[\s(.-])(?:[^\W\d_]|Dr|Mr|Mrs|Ms|Prof|St|Jr|Sr|Co|Mt|Hon)\.$")
_WORD = re.compile(r"[^\W\d_]+")
_MONEY = re.compile(r"[%$€£¥]")

# Words of licence terms, never of a holder's name (whatever their case). "Government"
# is not one: public bodies hold copyrights ("Crown Copyright (Government Digital Service)").
_TERM_WORDS = re.compile(
    r"(?i)^(?:licen[cs](?!ors?$)\w*|sublicen[cs]\w*|use|uses|used|using|usage|utilis\w*"
    r"|permi(?:t|ts|tted|tting|ssions?|ssible)|autoris\w*|authori[sz]\w*|revo[ck]\w*"
    r"|révo\w*|requir\w*|exig\w*|pay|pays|paid|payments?|payable|payant\w*|fees?"
    r"|royalt\w*|redevance\w*|invoic\w*|purchas\w*|subscri\w*|commercial\w*"
    r"|noncommercial|resale|resell\w*|sell|sells|selling|sold|prohibit\w*|forbid\w*"
    r"|interdit\w*|restrict\w*|exclusive\w*|terms?|conditions?|agreements?|contracts?"
    r"|consent\w*|approv\w*|rights|except\w*|excluding|unless|without|provided|subject"
    r"|notwithstanding|void|terminat\w*|expir\w*|valid\w*|invalid\w*|warrant\w*|liab\w*"
    r"|withdraw\w*|cancel\w*|suspend\w*|deny|denied|waive\w*|customers?|clients?|buyers?"
    r"|owe[sd]?|yearly|annual\w*|monthly|copies|redistribut\w*|modif\w*|evaluation"
    r"|not|only|must|shall|should|would|could)$"
)
# Words of sentences and terms that are names or parts of names when capitalised
# ("Brian May", "Will Smith", "Price", "Grant"): terms only in lower case.
_LOWER_TERM_WORDS = frozenset(
    {"may", "will", "can", "no", "any", "price", "prices", "cost", "costs", "charge", "charges",
     "sale", "sales", "grant", "is", "are", "was", "were", "be", "been", "this", "that", "these",
     "it", "under", "from", "if", "when", "per", "you", "your", "we", "our", "us", "they", "to"}
)  # fmt: skip


def is_notice_line(line: str) -> bool:
    """Whether ``line`` is laid out as a copyright notice (it may still add terms)."""
    return NOTICE_LINE.search(line) is not None


def terms_beyond_notice(line: str) -> str:
    """What ``line`` says beyond a copyright notice, as written; "" when it is only a notice.

    A line that does not begin with a copyright marker or "All rights reserved" is all
    beyond a notice.
    """
    body = _EMAIL.sub(" ", line.lstrip(_LEADING).rstrip(_TRAILING))
    extra = [s for s in _sentences(body) if not _is_notice_sentence(s)]
    return " ".join(extra)[:MAX_QUOTED]


def holder_is_plain(words: list[str]) -> bool:
    """Whether a holder's words (as a licence template captured them) carry no term."""
    return len(words) <= MAX_HOLDER_WORDS and not any(_is_term_word(w) for w in words)


def _sentences(text: str) -> list[str]:
    """``text`` cut where a sentence ends (see the module's docstring), without blanks."""
    sentences: list[str] = []
    start = 0
    for stop in _STOP.finditer(text):
        # the last few characters tell an initial or a title (and keep a long line linear)
        head = text[max(start, stop.start() - 8) : stop.start() + 1]
        following = text[stop.end() : stop.end() + 1]
        is_end = stop.group().startswith(";") or (
            following.isupper() and not _NOT_AN_END.search(head)
        )
        if is_end:
            sentences.append(text[start : stop.end()])
            start = stop.end()
    sentences.append(text[start:])
    return [s.strip() for s in sentences if s.strip(" \t.,;")]


def _is_notice_sentence(sentence: str) -> bool:
    """A sentence that is "All rights reserved", a pointer to the authors, or a plain notice."""
    rest = _RIGHTS.sub(" ", sentence)
    if not rest.strip(" \t.,;") or _AUTHORS_POINTER.match(sentence):
        return True
    opening = _OPENING.match(sentence)
    if opening is None:
        return False
    holder = _YEARS.sub(" ", _MARKERS.sub(" ", _RIGHTS.sub(" ", sentence[opening.start() :])))
    if _MONEY.search(holder):
        return False
    return holder_is_plain(_words(holder))


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _is_term_word(word: str) -> bool:
    return _TERM_WORDS.match(word) is not None or word in _LOWER_TERM_WORDS
