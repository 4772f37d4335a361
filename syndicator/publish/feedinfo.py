"""What a feed document says about itself, whatever its format (RSS, Atom, JSON
Feed): title, language, home, date, and its place among the archive pages (RFC 5005).

``feeds`` re-exports these names (``feeds.FeedInfo``, ``feeds.EPOCH``, …).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..models import Entry


@dataclass(frozen=True)
class History:
    """RFC 5005 links of one document: page numbers of its neighbours (None = none)."""
    folder: str  # the language folder's URL, ending in "/"
    page: int | None = None  # None: the subscription document
    prev: int | None = None  # the next older archive page
    next: int | None = None  # the next newer archive page

    def url(self, fmt: str, page: int | None) -> str:
        names = {"rss": ("rss.xml", "rss-archive-{}.xml"),
                 "atom": ("atom.xml", "atom-archive-{}.xml"),
                 "json": ("feed.json", "feed-archive-{}.json")}[fmt]
        return self.folder + (names[0] if page is None else names[1].format(page))


@dataclass(frozen=True)
class FeedInfo:
    """What a feed says about itself."""
    lang: str
    title: str
    description: str
    home: str  # the language's index.html
    updated: datetime
    alternates: tuple[tuple[str, str], ...]  # (lang, atom url) of the other languages
    history: History
    hubs: tuple[str, ...] = ()  # WebSub hubs (subscription documents only)

    @property
    def rss_url(self) -> str:
        return self.history.url("rss", self.history.page)

    @property
    def atom_url(self) -> str:
        return self.history.url("atom", self.history.page)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def feed_updated(entries: list[Entry], fallback: datetime = EPOCH) -> datetime:
    # The newest entry's ``updated`` (its item's, or a revision's: models.REVISION).
    # Dates come from the store, never from "now", so rebuilding changes no byte;
    # an empty document takes the caller's stored fallback.
    return max((e.updated for e in entries), default=fallback)
