"""JSON Feed 1.1 for one language (https://jsonfeed.org/version/1.1)."""
from __future__ import annotations

from functools import lru_cache

import orjson

from ..models import Entry
from .authors import person
from .feedinfo import FeedInfo
from .i18n import bcp47


def jsonfeed(info: FeedInfo, entries: list[Entry], content: dict[str, str],
             alternates: dict[str, list[dict]]) -> bytes:
    """``alternates[guid]`` lists the entry's other language versions (``_syndicator``)."""
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": info.title,
        "home_page_url": info.home,
        # Every page: JSON Feed 1.1 makes feed_url "the unique identifier for the feed".
        "feed_url": info.history.url("json", None),
        "description": info.description,
        "language": bcp47(info.lang),
        "authors": [{"name": info.title}],
        "items": [_item(e, content[e.guid], alternates.get(e.guid, [])) for e in entries],
    }
    if info.hubs:
        document["hubs"] = [{"type": "WebSub", "url": hub} for hub in info.hubs]
    if info.history.prev is not None:  # JSON Feed pages to older items with next_url
        document["next_url"] = info.history.url("json", info.history.prev)
    # Compact UTF-8, the bytes json.dumps(ensure_ascii=False, separators=(",", ":"))
    # gives; orjson writes them 2.5x as fast, and JSON was the largest single cost
    # of a full rebuild after the feeds (bench/publish.py).
    return orjson.dumps(document) + b"\n"


def _item(entry: Entry, html: str, alternates: list[dict]) -> dict:
    item = {
        "id": entry.guid,
        "url": entry.item.url,
        "title": entry.title,
        "content_html": html,
        # orjson writes an aware datetime as RFC 3339, the text isoformat() gives.
        "date_published": entry.item.published,
        "date_modified": entry.updated,  # the item's edit, or a revision's
        "language": bcp47(entry.text_lang),
    }
    if entry.summary:
        item["summary"] = entry.summary  # plain text, as JSON Feed's summary is
    if entry.item.author:  # JSON Feed has no address: only a name
        item["authors"] = [{"name": person(entry.item.author).name}]
    if entry.item.categories:
        item["tags"] = list(entry.item.categories)
    image = entry.item.image
    if image:
        item["image"] = image.url
        attachment = {"url": image.url, "mime_type": image.type or "application/octet-stream"}
        if image.length:
            attachment["size_in_bytes"] = image.length
        item["attachments"] = [attachment]
    # JSON Feed extensions start with "_": provenance and the other language versions.
    item["_syndicator"] = {"translation": entry.status, "engine": _engine_name(entry.engine),
                           "alternates": alternates}
    return item


@lru_cache(maxsize=64)  # a handful of engines serve thousands of entries
def _engine_name(engine: str) -> str:
    """Only the engines' names ("argos+apertium"): feeds carry no engine internals."""
    return "+".join(hop.split(":", 1)[0] for hop in engine.split(" > ")) if engine else ""
