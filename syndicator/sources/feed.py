"""``type = "feed"``: RSS, Atom or JSON Feed, parsed by feedparser."""
from __future__ import annotations

import calendar
import re
import xml.parsers.expat
from datetime import datetime, timezone
from urllib.parse import urljoin
from xml.sax import SAXException

import feedparser

from ..config import SourceConfig
from ..errors import SourceError
from ..models import Image, SourceItem, SourceResult
from .charset import xml_needs_transcoding
from .checks import date_problem, mojibake_problem, repair_mojibake
from .clean import (clean_html, guessed_text, html_text, plain_text, shorten, summary_from,
                    text_as_html, web_image)
from .http import Fetcher, Page, source_hosts


def read(source: SourceConfig, fetcher: Fetcher, validators) -> SourceResult:
    page = fetcher.get(source.url, *validators(source.url), hosts=source_hosts(source))
    if page.not_modified:
        return SourceResult(name=source.name, not_modified=True)
    parsed = _parse(source, page)
    problems = _malformed(source, page, parsed)
    items, seen = [], set()
    # Atom says whether each text is plain or HTML; RSS does not, and feedparser's
    # "text/plain" for an RSS title is a guess.
    declared = parsed.version.startswith("atom")
    for n, entry in enumerate(parsed.entries[: source.max_items]):
        try:
            item, notes = _item(source, page.url, entry, n, declared)
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
                        validators=((page.url, page.etag, page.last_modified),),
                        found=len(parsed.entries))


def _parse(source: SourceConfig, page: Page):
    body = page.body
    if declares_entities(body):
        # Entity declarations are how "billion laughs" and XXE attacks start; no real
        # feed needs them, so the document is refused before any parser expands one.
        raise SourceError(source.name, "the document declares XML entities (<!ENTITY>); "
                          "refused, as an entity-expansion attack would be", url=page.url)
    charset = xml_needs_transcoding(body, page.content_type)
    if charset:
        body = body.decode(charset, errors="replace").encode("utf-8")
    parsed = feedparser.parse(body, response_headers={
        "content-location": page.url, "content-type": page.content_type or "application/xml"})
    if not parsed.entries and parsed.bozo:
        raise SourceError(source.name, f"not a feed: {parsed.bozo_exception}", url=page.url)
    if not parsed.entries and not parsed.version:
        raise SourceError(source.name, "not a feed: no RSS, Atom or JSON Feed document "
                          "(an HTML page?)", url=page.url)
    return parsed


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


def _item(source: SourceConfig, base: str, entry, n: int,
          declared: bool) -> tuple[SourceItem, list[str]]:
    link = urljoin(base, entry.get("link", "")) if entry.get("link") else ""
    guid = entry.get("id") or link
    label = guid or f"entry #{n + 1}"
    if not guid:
        raise SourceError(source.name, "entry has neither a GUID nor a link; skipped",
                          url=base, item=label, field="guid")
    kinds = _kinds(entry, declared)
    text, repaired = repair_mojibake({
        "title": entry.get("title", ""), "summary": entry.get("summary", ""),
        "body": entry.content[0].value if entry.get("content") else entry.get("summary", "")})
    notes = [mojibake_problem(source.name, base, label, repaired)] if repaired else []
    title = _text(text["title"], kinds["title"])
    if not title:
        raise SourceError(source.name, "entry has no title; skipped", url=base, item=label,
                          field="title")
    body = text_as_html(text["body"]) if kinds["body"] == "text" else text["body"]
    body = clean_html(body, link or base)
    # dict.get: FeedParserDict would silently map a missing updated_parsed to published.
    published = _date(dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed"))
    if published is None:
        raw = dict.get(entry, "published") or dict.get(entry, "updated") or ""
        notes.append(date_problem(source.name, base, label, raw))
    item = SourceItem(
        source=source.name, guid=guid, url=link or base, title=title,
        summary=shorten(_text(text["summary"], kinds["summary"]))
        if text["summary"] else summary_from(body), body=body,
        published=published, updated=_date(dict.get(entry, "updated_parsed")),
        author=_text(entry.get("author", ""), kinds["names"]),
        image=_image(entry, link or base),
        categories=tuple(_text(t.get("term", ""), kinds["names"])
                         for t in entry.get("tags", []) if t.get("term")),
    )
    return item, notes


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


def _text(value: str, kind: str) -> str:
    """A one-line field as plain text: HTML reduced to its text, plain text kept."""
    return {"html": html_text, "text": plain_text}.get(kind, guessed_text)(value)


def _date(parsed) -> datetime | None:
    # feedparser normalises every date to a UTC struct_time.
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc) if parsed else None


def _byte_count(value) -> int:
    """An enclosure's length, or 0 (unknown) for anything but a plain byte count.

    ASCII digits only ("²" passes str.isdigit() but not int()), and at most 15 of
    them: a petabyte is more than any image, and JSON Feed readers (and orjson)
    hold integers in 64 bits at most."""
    value = str(value or "").strip()
    return int(value) if re.fullmatch(r"[0-9]{1,15}", value) else 0


def _image(entry, base: str) -> Image | None:
    for enclosure in entry.get("enclosures", []):
        if enclosure.get("type", "").startswith("image/") and enclosure.get("href"):
            return web_image(urljoin(base, enclosure["href"]), enclosure["type"],
                             _byte_count(enclosure.get("length")))
    for media in entry.get("media_content", []):
        if media.get("url") and media.get("medium", "image") == "image":
            return web_image(urljoin(base, media["url"]), media.get("type", ""))
    return None
