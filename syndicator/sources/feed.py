"""``type = "feed"``: RSS and Atom, parsed by feedparser, or JSON Feed (jsonfeed.py).

Both formats become ``RawEntry``s, which ``entries.to_item`` checks and cleans.
"""
from __future__ import annotations

import calendar
import functools
import xml.parsers.expat
from datetime import datetime, timezone
from typing import Any
from xml.sax import SAXException

import feedparser

from ..config import SourceConfig
from ..errors import SourceError
from ..models import SourceResult
from . import jsonfeed
from .charset import as_utf8, xml_needs_transcoding
from .entries import RawEntry, to_item
from .http import Fetcher, Page, source_hosts

_DATE_RANGE = "a date between the years 1 and 9999 in UTC"


def read(source: SourceConfig, fetcher: Fetcher, validators, guid_base: str = "") -> SourceResult:
    page = fetcher.get(source.url, *validators(source.url), hosts=source_hosts(source))
    # Kept under the URL they are looked up by next time, not the final one: after a
    # redirect (or for a file:// URL, which the fetcher spells file://localhost/...)
    # the next request is for source.url again.
    fresh = ((source.url, page.etag, page.last_modified),)
    if page.not_modified:
        return SourceResult(name=source.name, not_modified=True)
    if not page.body.strip():
        raise SourceError(source.name, "the response body is empty (a 200 with no feed)",
                          url=page.url)
    base = guid_base or page.url
    if jsonfeed.is_json(page):
        entries, raw, problems = jsonfeed.parse(source, page)
    else:
        parsed, notes = _parse(source, page, base)
        # Atom says whether each text is plain or HTML; RSS does not, and feedparser's
        # "text/plain" for an RSS title is a guess.
        declared = parsed.get("version", "").startswith("atom")
        entries, problems = parsed.entries, notes + _malformed(source, page, parsed)
        raw = functools.partial(_raw, declared=declared)
    items, seen = [], set()
    for n, entry in enumerate(entries[: source.max_items]):
        try:
            item, notes = to_item(source, page.url, raw(entry, n), n)
        except SourceError as exc:
            problems.append(str(exc))
            continue
        if item.guid in seen:
            problems.append(str(SourceError(source.name, "duplicate GUID; kept the first",
                                            url=page.url, item=item.guid, field="guid")))
            continue
        seen.add(item.guid)
        items.append(item)
        problems += notes
    return SourceResult(name=source.name, items=tuple(items), problems=tuple(problems),
                        validators=fresh, found=len(entries), guid_base=base)


def _parse(source: SourceConfig, page: Page, guid_base: str) -> tuple[Any, list[str]]:
    """The parsed feed, and notes on how it was read (a wrong charset)."""
    body = page.body
    if declares_entities(body):
        # Entity declarations are how "billion laughs" and XXE attacks start; no real
        # feed needs them, so the document is refused before any parser expands one.
        raise SourceError(source.name, "the document declares XML entities (<!ENTITY>); "
                          "refused, as an entity-expansion attack would be", url=page.url)
    notes, content_type = [], page.content_type
    charset, wrong = xml_needs_transcoding(body, content_type)
    if charset:
        body, content_type = as_utf8(body, charset, content_type)
        if wrong:  # told apart from an undeclared charset, which is no one's mistake
            notes.append(str(SourceError(source.name, f"declares the charset {wrong}, which "
                                         f"does not decode it; read as {charset}",
                                         url=page.url, field="charset")))
    parsed = _feedparser(body, content_type, page.url)
    if guid_base != page.url and parsed.entries:
        # feedparser reads a relative GUID (an RSS <guid>12345</guid>, a permalink by
        # default) against the document's address: from a new address, every item
        # would be new. Links stay read against where the feed is now.
        ids = [e.get("id") for e in _feedparser(body, content_type, guid_base).entries]
        for entry, stable in zip(parsed.entries, ids):
            if stable is not None:
                entry["id"] = stable
    if not parsed.entries and parsed.bozo:
        raise SourceError(source.name, f"not a feed: {parsed.bozo_exception}", url=page.url)
    if not parsed.entries and not parsed.get("version"):
        raise SourceError(source.name, "not a feed: no RSS, Atom or JSON Feed document "
                          "(an HTML page?)", url=page.url)
    return parsed, notes


def _feedparser(body: bytes, content_type: str, location: str):
    return feedparser.parse(body, response_headers={
        "content-location": location, "content-type": content_type or "application/xml"})


def _malformed(source: SourceConfig, page: Page, parsed) -> list[str]:
    """Entries that feedparser recovered from broken XML are kept, with one warning."""
    if not parsed.bozo or not isinstance(parsed.bozo_exception, SAXException):
        return []  # encoding and media-type notes are not worth a warning
    return [str(SourceError(source.name, f"malformed XML ({parsed.bozo_exception}); read "
                            f"{len(parsed.entries)} entries leniently", url=page.url))]


def declares_entities(body: bytes) -> bool:
    """Does the document's DTD declare an entity? Only the prolog is parsed."""
    if body.lstrip()[:1] == b"{":
        return False  # JSON Feed
    found = []

    class Done(Exception):
        pass

    def on_entity(*_args) -> None:
        found.append(True)
        raise Done

    def on_root(*_args) -> None:
        raise Done  # declarations can only come before the root element

    parser = xml.parsers.expat.ParserCreate()
    parser.EntityDeclHandler = on_entity
    parser.StartElementHandler = on_root
    try:
        parser.Parse(body, True)
    except Done:
        pass
    except (xml.parsers.expat.ExpatError, ValueError, LookupError):
        # Not well-formed before its root: judge by the bytes instead.
        return b"<!ENTITY" in body or "<!ENTITY".encode("utf-16-le") in body
    return bool(found)


def _raw(entry, _n: int, *, declared: bool) -> RawEntry:
    """What feedparser read of one entry, for entries.to_item. (The entry's position
    ``_n`` is for jsonfeed's reader, which names entries that have no id yet.)"""
    content = entry.content[0].value if entry.get("content") else entry.get("summary", "")
    # dict.get: FeedParserDict would silently map a missing updated_parsed to published.
    published_parsed = dict.get(entry, "published_parsed")
    updated_parsed = dict.get(entry, "updated_parsed")
    published = _date(published_parsed or updated_parsed)
    images = [(e["href"], e["type"], e.get("length")) for e in entry.get("enclosures", [])
              if e.get("type", "").startswith("image/") and e.get("href")]
    images += [(m["url"], m.get("type", ""), 0) for m in entry.get("media_content", [])
               if m.get("url") and m.get("medium", "image") == "image"]
    return RawEntry(
        id=entry.get("id") or "", link=entry.get("link") or "",
        title=entry.get("title", ""), summary=entry.get("summary", ""), body=content,
        kinds=_kinds(entry, declared), published=published,
        updated=_date(updated_parsed),
        date_text=dict.get(entry, "published") or dict.get(entry, "updated") or "",
        # feedparser read the date, but it falls outside the years 1-9999 once in UTC
        date_expected=(_DATE_RANGE if (published_parsed or updated_parsed)
                       and published is None else ""),
        author=entry.get("author", ""),
        tags=tuple(t.get("term", "") for t in entry.get("tags", []) if t.get("term")),
        images=tuple(images))


def _kinds(entry, declared: bool) -> dict[str, str]:
    """How each field is read: "html", "text", or "" where the feed does not say."""
    content = entry.content[0] if entry.get("content") else None
    # feedparser copies a content into a missing summary, without its detail.
    summary = entry.get("summary_detail") or content
    return {"title": _kind(entry.get("title_detail"), declared),
            "summary": _kind(summary, declared), "body": _kind(content or summary, declared),
            # Atom's author names and category terms are plain text; RSS does not say.
            "names": "text" if declared else ""}


def _kind(detail, declared: bool) -> str:
    """feedparser marks the HTML (and XHTML) it finds; its text/plain counts only
    where the format declares it (Atom), as in RSS it is a guess."""
    mime = (detail or {}).get("type", "")
    if mime in ("text/html", "application/xhtml+xml"):
        return "html"
    return "text" if declared and mime == "text/plain" else ""


def _date(parsed) -> datetime | None:
    """feedparser's UTC struct_time as a datetime; None when there is none, or when
    it is outside datetime's years 1-9999 ("0001-01-01T00:00:00+01:00")."""
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
