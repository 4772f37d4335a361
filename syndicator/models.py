"""Frozen records passed between the stages of a cycle.

Nothing here does I/O. Each stage takes these in and hands new ones on, so no
stage can change what another stage already holds.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone


def item_key(item_id: str) -> str:
    """Short, stable form of an item id: ``<source>/<16 hex digits>``.

    Segment keys (the msgctxt of news.po) are built from it: a full item id is a
    long URL, and gettext tools wrap such strings at hyphens in their own way.
    """
    source = item_id.split(":", 1)[0]
    return f"{source}/{hashlib.sha256(item_id.encode()).hexdigest()[:16]}"


def item_of(seg_key: str) -> str:
    """The item key (``item_key``) of a segment key: ``<item key>#<field>[<n>]``."""
    return seg_key.rsplit("#", 1)[0]


@dataclass(frozen=True)
class Image:
    url: str
    type: str = ""
    length: int = 0


@dataclass(frozen=True)
class SourceItem:
    """One news item as a source delivered it, already cleaned and absolute."""
    source: str
    guid: str  # GUID, or the canonical URL when the source has none
    url: str
    title: str
    summary: str  # plain text (feeds escape it as HTML where HTML is due: RSS description)
    body: str  # sanitised HTML
    published: datetime | None  # aware UTC; None when the source gave no date
    updated: datetime | None = None
    author: str = ""
    image: Image | None = None
    categories: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """Stable identity: never changes once stored."""
        return f"{self.source}:{self.guid}"

    @property
    def content_hash(self) -> str:
        """Hash of what readers see; a change means the item was edited."""
        payload = json.dumps(
            [self.url, self.title, self.summary, self.body, self.author,
             self.image and [self.image.url, self.image.type, self.image.length],
             list(self.categories)],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Item:
    """An item as stored: a SourceItem plus the store's own bookkeeping."""
    id: str
    source: str
    guid: str
    url: str
    title: str
    summary: str
    body: str
    published: datetime  # aware UTC; first-seen time when the source gave none
    updated: datetime  # changes only when the content hash changes
    content_hash: str
    author: str = ""
    image: Image | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Segment:
    """A piece of an item's text sent to an engine: its title, summary or a body block."""
    item_id: str
    field: str  # "title" | "summary" | "body"
    block: int
    text: str
    part: int = 0  # a block's own text is part 0; its <br> parts and inline elements follow

    @property
    def key(self) -> str:
        """The segment's stable key (the msgctxt of the translators' catalog)."""
        suffix = f".{self.part}" if self.part else ""
        return f"{item_key(self.item_id)}#{self.field}[{self.block}{suffix}]"


# ``Translation.changed`` of a new text for an item version that already had one (a
# translation arriving after the source text was shown, a correction, a new model):
# the store gives it an instant with microseconds, the mark of a revision, which
# alone dates the entry (``revised``). A first text of a version is stored at the
# whole second: the item's own date dates it, as it does before this mark existed.
REVISION = datetime(1, 1, 1, tzinfo=timezone.utc)


def revised(changed: datetime | None) -> bool:
    """Whether a stored ``changed`` is that of a revision (see ``REVISION``)."""
    return changed is not None and changed.microsecond != 0


@dataclass(frozen=True)
class Translation:
    """One item's text in one target language, or why there is none."""
    item_id: str
    lang: str
    content_hash: str  # the item version this translation is of
    status: str  # "translated" (machine) | "reviewed" (all human) | "awaiting" | "failed"
    title: str = ""
    summary: str = ""
    body: str = ""
    engine: str = ""  # e.g. "argos:en_ru-1.9"
    reason: str = ""
    # When the text a feed shows (status, title, summary, body) last changed. None: now,
    # as the store saves it; a re-assembly that gives the same text carries the old one;
    # REVISION: a new text of the same item version (see ``revised``).
    changed: datetime | None = None
    # (segment key, source text, machine text or "") for every segment: news.po's entries.
    segments: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Entry:
    """What one feed entry shows, in one feed language, ready to publish."""
    item: Item
    lang: str  # the feed's language
    text_lang: str  # the language the text is in (the source language while awaiting)
    status: str  # "source" | "translated" | "awaiting" | "failed"
    guid: str
    title: str
    summary: str
    body: str
    # When this text last changed (Atom <updated>, JSON Feed date_modified): the item's
    # ``updated``, or its translation's ``changed`` when that is later.
    updated: datetime
    engine: str = ""


@dataclass(frozen=True)
class SourceResult:
    """What fetching one source produced."""
    name: str
    items: tuple[SourceItem, ...] = ()
    not_modified: bool = False
    error: str = ""
    # Per-item problems, one log line each: items skipped, or kept with a repair
    # (mojibake) or a stand-in (a missing date is the first-seen time).
    problems: tuple[str, ...] = field(default=())
    # (url, etag, last_modified) to store only once the items are stored, so a
    # crash between the two can never hide an item behind a 304.
    validators: tuple[tuple[str, str, str], ...] = ()
    retry_after: float | None = None  # the server asked to wait this long (429/503)
    # How many items the source listed this time, unchanged ones (304s) included;
    # None when unknown (not modified, or failed). The next cycle compares with it.
    found: int | None = None
    # A feed source's address that its relative GUIDs are read against: where it was
    # first found, kept (``guid-base:<source>`` in the store's meta) so that a feed
    # that moves (a redirect, a changed url) keeps its items' identities.
    guid_base: str = ""


@dataclass(frozen=True)
class CycleReport:
    new: int
    updated: int
    translated: dict[str, int]
    written: tuple[str, ...]
    errors: tuple[str, ...]
    max_rss_mb: float = 0.0  # the process's peak memory so far (models included)
    # What could not be read at all: the sources that failed (by name), and why a
    # news.po was left alone. ``once`` exits with 4 when there is any.
    failed: tuple[str, ...] = ()
