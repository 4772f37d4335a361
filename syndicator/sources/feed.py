"""``type = "feed"``: RSS, Atom or JSON Feed, parsed by feedparser."""
from __future__ import annotations

import calendar
from datetime import datetime, timezone
from urllib.parse import urljoin

import feedparser

from ..config import SourceConfig
from ..errors import SourceError
from ..models import Image, SourceItem, SourceResult
from .clean import clean_html, plain_text, summary_from, web_image
from .http import Fetcher


def read(source: SourceConfig, fetcher: Fetcher, validators) -> SourceResult:
    page = fetcher.get(source.url, *validators(source.url))
    if page.not_modified:
        return SourceResult(name=source.name, not_modified=True)
    parsed = feedparser.parse(page.body, response_headers={
        "content-location": page.url, "content-type": page.content_type or "application/xml"})
    if not parsed.entries and parsed.bozo:
        raise SourceError(source.name, f"not a feed: {parsed.bozo_exception}", url=page.url)
    items, problems, seen = [], [], set()
    for n, entry in enumerate(parsed.entries[: source.max_items]):
        try:
            item = _item(source, page.url, entry, n)
        except SourceError as exc:
            problems.append(str(exc))
            continue
        if item.guid in seen:
            problems.append(str(SourceError(source.name, "duplicate GUID; kept the first",
                                            url=page.url, item=item.guid, field="guid")))
            continue
        seen.add(item.guid)
        items.append(item)
    return SourceResult(name=source.name, items=tuple(items), problems=tuple(problems),
                        validators=((page.url, page.etag, page.last_modified),))


def _item(source: SourceConfig, base: str, entry, n: int) -> SourceItem:
    link = urljoin(base, entry.get("link", "")) if entry.get("link") else ""
    guid = entry.get("id") or link
    label = guid or f"entry #{n + 1}"
    title = plain_text(entry.get("title", ""))
    if not guid:
        raise SourceError(source.name, "entry has neither a GUID nor a link; skipped",
                          url=base, item=label, field="guid")
    if not title:
        raise SourceError(source.name, "entry has no title; skipped", url=base, item=label,
                          field="title")
    body_html = entry.content[0].value if entry.get("content") else entry.get("summary", "")
    body = clean_html(body_html, link or base)
    return SourceItem(
        source=source.name, guid=guid, url=link or base, title=title,
        summary=summary_from(entry.get("summary", "") or body), body=body,
        # dict.get: FeedParserDict would silently map a missing updated_parsed to published.
        published=_date(dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")),
        updated=_date(dict.get(entry, "updated_parsed")),
        author=plain_text(entry.get("author", "")), image=_image(entry, link or base),
        categories=tuple(plain_text(t.get("term", "")) for t in entry.get("tags", [])
                         if t.get("term")),
    )


def _date(parsed) -> datetime | None:
    # feedparser normalises every date to a UTC struct_time.
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc) if parsed else None


def _image(entry, base: str) -> Image | None:
    for enclosure in entry.get("enclosures", []):
        if enclosure.get("type", "").startswith("image/") and enclosure.get("href"):
            length = str(enclosure.get("length", "0"))
            return web_image(urljoin(base, enclosure["href"]), enclosure["type"],
                             int(length) if length.isdigit() else 0)
    for media in entry.get("media_content", []):
        if media.get("url") and media.get("medium", "image") == "image":
            return web_image(urljoin(base, media["url"]), media.get("type", ""))
    return None
