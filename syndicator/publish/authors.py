"""An item's author as Atom and JSON Feed name a person: a name, and an address.

Sources give the author as one line of plain text (``Item.author``), in the form
the source wrote it: a name, an address, or both, as "Bob <bob@example.org>"
(front matter, mail), "bob@example.org (Bob)" (RSS ``<author>``) or
"Bob (bob@example.org)" (feedparser's reading of an Atom author with an email).
RSS publishes that line as it came (``dc:creator``). Atom (RFC 4287 3.2) wants
a ``name``, always, and an optional ``email`` that is an RFC 5322 addr-spec;
JSON Feed 1.1 has a ``name`` and no address. Anything that is not one of those
forms with an addr-spec in it is a name, whole: "Bob (Reuters)", "<CSTO> desk",
"Alice, Bob" (a JSON Feed source's authors, joined).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"  # RFC 5322 atext
# addr-spec as dot-atom "@" dot-atom: what bylines hold. A quoted local part or
# a domain literal ("[192.0.2.1]") is read as part of a name.
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")
_FORMS = (re.compile(r"(?P<name>[^<>]*?)\s*<(?P<email>[^<>]*)>"),  # Bob <bob@…>, <bob@…>
          re.compile(r"(?P<email>\S+)\s+\((?P<name>[^()]*)\)"),  # bob@… (Bob)
          re.compile(r"(?P<name>[^()]*?)\s*\((?P<email>[^()]*)\)"))  # Bob (bob@…)


class Person(NamedTuple):
    name: str  # the address when the author is only that
    email: str = ""  # an addr-spec, or ""


@lru_cache(maxsize=4096)  # a rebuild's 70,000 entries have few distinct authors
def person(author: str) -> Person:
    """``author`` (an ``Item.author``, not empty) as a name and an address."""
    author = author.strip()
    if _ADDRESS.fullmatch(author):
        return Person(author, author)
    for form in _FORMS:
        found = form.fullmatch(author)
        if found and _ADDRESS.fullmatch(email := found["email"].strip()):
            return Person(_unquoted(found["name"].strip()) or email, email)
    return Person(author)


def _unquoted(name: str) -> str:
    """A display name written as an RFC 5322 quoted string ("Smith, Bob") unquoted."""
    if len(name) > 1 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1]).strip()
    return name
