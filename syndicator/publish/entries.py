"""What each language's feeds say of an item: its entry (the text, the status
and the date a reader sees), its GUID, its anchor and its public link.

Shared by the publisher and by the review queue (``waiting``): both must decide
exactly alike whether a language shows an item, and with what text.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from ..config import Config
from ..models import Entry, Item, Translation, revised
from ..rows import from_iso
from ..store import Store
from . import planning


def make_guid(base_url: str, lang: str, item: Item) -> str:
    """A tag URI (RFC 4151), unique per language; stored at first publication."""
    digest = hashlib.sha256(item.id.encode()).hexdigest()[:24]
    # The date as isoformat() writes it (what "%Y-%m-%d" gives from year 1000 on):
    # a first publish of 10,000 items mints 70,000 GUIDs, and strftime and
    # urlsplit were two thirds of the 9 µs each took.
    return f"tag:{_host(base_url)},{item.published.date().isoformat()}:{lang}/{digest}"


@lru_cache(maxsize=16)
def _host(base_url: str) -> str:
    return urlsplit(base_url).hostname or "localhost"


def anchor(item: Item) -> str:
    """The id of an item's <article> on every language's index.html."""
    return "item-" + hashlib.sha256(item.id.encode()).hexdigest()[:12]


def url(config: Config, lang: str, name: str) -> str:
    return f"{config.base_url}{lang}/{name}"


def public_items(store: Store, config: Config, item_ids: set[str]) -> dict[str, Item]:
    # Every language shows the same items: make their links public once, not 7 times.
    return {i: _public(config, item) for i, item in store.items_by_id(sorted(item_ids)).items()}


def _public(config: Config, item: Item) -> Item:
    """The item with a link readers can follow: a source link that is not http(s)
    (a file's path, a hostile ``javascript:``) becomes the item's own anchor."""
    # Most links start exactly so: a large publish checks 10,000 before it can fork,
    # and urlsplit took 4 µs each. Any other spelling gets urlsplit's verdict.
    if item.url.startswith(("https://", "http://")) or \
            urlsplit(item.url).scheme in ("http", "https"):
        return item
    return replace(item, url=f"{url(config, config.source_language, 'index.html')}#"
                             f"{anchor(item)}")


def entry_for(config: Config, lang: str, item: Item, guid: str, tr: Translation | None,
           now: datetime) -> Entry | None:
    """The entry ``lang``'s feed shows for ``item``, or None while it waits (policy)."""
    status = planning.decide(config, lang, item.content_hash, tr, now)
    return None if status is None else shown_entry(config, lang, status, item, guid, tr)


def shown_entry(config: Config, lang: str, status: str, item: Item, guid: str,
           tr) -> Entry:
    """The entry of ``item`` in ``lang`` with a decided ``status``. ``tr``: the item's
    ``Translation``, a row of ``Store.translated_texts``, or None."""
    if status == "source":
        return Entry(item, lang, lang, "source", guid, item.title, item.summary, item.body,
                     item.updated)
    if status == "reviewed" or status == "translated":
        if tr.__class__ is Translation:
            title, summary, body, engine, changed = (tr.title, tr.summary, tr.body, tr.engine,
                                                     tr.changed)
        else:  # a row of translated_texts, unpacked: by name, 0.6 µs a field
            _, title, summary, body, engine, changed = tr
            changed = _CHANGED.get(changed) or _changed_at(changed)
        # A revision (a correction, a translation arriving after the source text was
        # shown) dates the entry when later than the item's edit (RFC 4287 4.2.15): it
        # reaches readers who have the entry. A first text of a version does not.
        updated = changed if revised(changed) and changed > item.updated else item.updated
        return Entry(item, lang, lang, status, guid, title, summary, body, updated,
                     "human" if status == "reviewed" else engine)
    # The source text, as the item dates it: "awaiting" or "failed".
    return Entry(item, lang, config.source_language, status, guid, item.title, item.summary,
                 item.body, item.updated)


# Each translation's ``changed``, parsed: a full rebuild reads 60,000, and the
# translations a cycle stores share its second (revisions a microsecond apart).
# Parsed once each, they are also one datetime each, which rfc3339's cache then finds
# at once. A dict, looked up inline: an lru_cache call cost as much again per entry.
_CHANGED: dict[str, datetime] = {}


def _changed_at(text: str) -> datetime:
    if len(_CHANGED) >= 1 << 16:  # a long-running process: start again
        _CHANGED.clear()
    found = _CHANGED[text] = from_iso(text)
    return found


def waiting(store: Store, config: Config, lang: str, now: datetime) -> list[Item]:
    """Recent items that ``lang``'s publish policy holds back (the review queue)."""
    items = store.recent_items(config.max_items)
    translated = store.translations_for(lang, [i.id for i in items])
    return [item for item in items
            if entry_for(config, lang, item, "", translated.get(item.id), now) is None]
