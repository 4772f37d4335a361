"""One feed entry, RSS, Atom or JSON Feed alike, checked and cleaned into a SourceItem.

The format readers (``feed.py`` through feedparser, ``jsonfeed.py`` through the
json module) only say what an entry holds, and whether each text is HTML
("html"), plain text ("text") or undeclared (""). Every check and cleaning step
is here, so that both formats give the same items and the same problems.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin

from ..config import SourceConfig
from ..errors import SourceError
from ..models import Image, SourceItem
from .checks import (bad_url, date_problem, mojibake_problem, optional_image,
                     repair_mojibake)
from .clean import (clean_html, guessed_text, html_text, plain_text, shorten, summary_from,
                    text_as_html)


@dataclass
class RawEntry:
    """An entry as its format delivered it: texts not yet cleaned, URLs not yet joined."""
    id: str = ""
    link: str = ""
    link_field: str = "link"  # the link's name in the format, for problems
    title: str = ""
    summary: str = ""
    body: str = ""
    # How "title", "summary", "body" and "names" (author, tags) are read: "html",
    # "text", or "" where the format does not say.
    kinds: dict[str, str] = field(default_factory=dict)
    published: datetime | None = None  # aware UTC, or None when absent or unusable
    updated: datetime | None = None
    date_text: str = ""  # the date as written, for the problem line when it is unusable
    date_expected: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    # Image candidates, best first: (URL as written, media type, length as written).
    images: tuple[tuple[str, str, object], ...] = ()
    notes: list[str] = field(default_factory=list)  # what the format reader dropped


def label(entry: RawEntry, n: int) -> str:
    """How problems name an entry: its GUID, else its link, else its position."""
    return entry.id or entry.link or f"entry #{n + 1}"


def to_item(source: SourceConfig, base: str, entry: RawEntry,
            n: int) -> tuple[SourceItem, list[str]]:
    """The entry as a SourceItem, and its problems. Raises SourceError to skip it."""
    notes = list(entry.notes)
    link = _link(source, base, entry, n, notes)
    guid = entry.id or link
    name = guid or f"entry #{n + 1}"
    if not guid:
        # "usable": feedparser itself empties an RSS or Atom link (or permalink
        # GUID) that urllib cannot parse, so the entry may well have had one.
        raise SourceError(source.name, "entry has neither a GUID nor a usable link; "
                          "skipped", url=base, item=name, field="guid")
    text, repaired = repair_mojibake({"title": entry.title, "summary": entry.summary,
                                      "body": entry.body})
    if repaired:
        notes.append(mojibake_problem(source.name, base, name, repaired))
    kinds = entry.kinds
    title = _text(text["title"], kinds.get("title", ""))
    if not title:
        raise SourceError(source.name, "entry has no title; skipped", url=base, item=name,
                          field="title")
    body = text_as_html(text["body"]) if kinds.get("body") == "text" else text["body"]
    body = clean_html(body, link or base)
    if entry.published is None:
        notes.append(date_problem(source.name, base, name, entry.date_text,
                                  entry.date_expected if entry.date_text else ""))
    item = SourceItem(
        source=source.name, guid=guid, url=link or base, title=title,
        summary=shorten(_text(text["summary"], kinds.get("summary", "")))
        if text["summary"] else summary_from(body), body=body,
        published=entry.published, updated=entry.updated,
        author=_text(entry.author, kinds.get("names", "")),
        image=_image(source, base, link or base, name, entry.images, notes),
        categories=tuple(_text(tag, kinds.get("names", "")) for tag in entry.tags if tag),
    )
    return item, notes


def _link(source: SourceConfig, base: str, entry: RawEntry, n: int, notes: list[str]) -> str:
    """The entry's absolute link, or "" without a usable one. A link that cannot be
    parsed skips the entry only when it would be its identity (no GUID)."""
    if not entry.link:
        return ""
    try:
        return urljoin(base, entry.link)
    except ValueError:
        if not entry.id:
            raise bad_url(source.name, base, f"entry #{n + 1}", entry.link_field, entry.link,
                          "the entry has no GUID either; skipped") from None
        notes.append(str(bad_url(source.name, base, entry.id, entry.link_field, entry.link,
                                 "the item links to the feed instead")))
        return ""


def _image(source: SourceConfig, feed: str, base: str, name: str,
           candidates: tuple[tuple[str, str, object], ...], notes: list[str]) -> Image | None:
    """The first image candidate, resolved against ``base``. One whose URL cannot be
    parsed is reported and the next is tried: an image is decoration, never a
    reason to lose the item."""
    for href, media_type, length in candidates:
        image = optional_image(source.name, feed, name, "image", href, base, notes,
                               media_type, byte_count(length))
        if image:
            return image
    return None


def _text(value: str, kind: str) -> str:
    """A one-line field as plain text: HTML reduced to its text, plain text kept."""
    return {"html": html_text, "text": plain_text}.get(kind, guessed_text)(value)


def byte_count(value) -> int:
    """An enclosure's length, or 0 (unknown) for anything but a plain byte count.

    ASCII digits only ("²" passes str.isdigit() but not int()), and at most 15 of
    them: a petabyte is more than any image, and JSON Feed readers (and orjson)
    hold integers in 64 bits at most."""
    value = str(value if value is not None else "").strip()
    return int(value) if re.fullmatch(r"[0-9]{1,15}", value) else 0
