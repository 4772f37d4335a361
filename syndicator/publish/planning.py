"""Which items each language shows where, and which archive pages must be rendered.

Planning works from states alone (ids, dates, hashes, statuses: no text). Each
archive page has a digest that covers the settings, its number, whether a
newer page follows, and per entry the item's and translation's versions and
the entry's status; a page is rendered when its digest differs from the one
recorded at its last publication, or when one of its files is missing.

Two planners give the same plan:
- ``full`` reads every item's and translation's state: always right, but its
  cost grows with the archive (70,000 rows for 10,000 items in 7 languages);
- ``quick`` reads only what changed since the last publish (new items, changed
  translations) plus the subscription window and the pages those changes
  touch. It applies when every item is shown (no review policy holds any
  back) and the settings are as last published; otherwise the full planner
  runs. Items are ordered by arrival (``items.arrival``), which no edit
  changes: new items come first, and nothing ever moves between pages.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime

from ..config import Config
from ..rows import from_iso
from ..store import Store
from . import archive

ARCHIVE_NAMES = ("rss-archive-{}.xml", "atom-archive-{}.xml", "feed-archive-{}.json")
# Each changed item costs the quick planner counts on the order index (up to ~1.5 ms
# for an old item among 10,000); past this many, reading every state once (the full
# planner, ~0.15 s per language of 10,000 items) is faster.
MAX_CHANGED = 100


@dataclass(frozen=True)
class Plan:
    """One language's entries worked out from states alone (ids, hashes, statuses)."""
    lang: str
    window: list[str]  # item ids of the subscription document, newest first
    status: dict[str, str]  # entry status per item id to render
    pages: dict[int, list[str]]  # archive pages to render: item ids, oldest first
    page_total: int
    archive_updated: str  # the newest archived entry's updated, ISO; "" if none is
    stamps: dict[int, str]  # the rendered pages' new digests


@dataclass(frozen=True)
class Part:
    """Some of one language's documents, rendered together: its subscription
    documents (``head``) and the archive pages ``pages``."""
    lang: str
    head: bool
    pages: tuple[int, ...]

    def __str__(self) -> str:  # in errors: "publishing ru, hy (archive pages 5-8), ..."
        if self.head:
            return self.lang
        first, last = self.pages[0], self.pages[-1]
        return f"{self.lang} (archive page{f's {first}-{last}' if last > first else f' {first}'})"


def units(plans: dict[str, Plan], pages_per_unit: int) -> list[Part]:
    """Everything to render, in units of work for ``parallel.shared``: language by
    language, its subscription documents, then its archive pages in runs of
    ``pages_per_unit``. Each process then writes one folder at a time: ext4 wrote
    the same 2,138 files (create, fsync, rename) 1.6-2.3x as slowly when each run
    of pages went to another language's folder."""
    found = []
    for lang, plan in plans.items():
        pages = sorted(plan.pages)
        found.append(Part(lang, True, ()))
        found += [Part(lang, False, tuple(pages[start:start + pages_per_unit]))
                  for start in range(0, len(pages), pages_per_unit)]
    return found


@dataclass(frozen=True)
class Layout:
    """What the last publish saw: the data version, item count and newest item's rowid."""
    version: int
    count: int
    mark: int
    settings: str  # digest of the settings

    def record(self) -> str:
        return f"{self.version} {self.count} {self.mark} {self.settings}"

    @classmethod
    def load(cls, text: str) -> "Layout | None":
        parts = text.split()
        return cls(*map(int, parts[:3]), parts[3]) if len(parts) == 4 else None


def settings_digest(settings: str) -> str:
    return hashlib.sha256(settings.encode()).hexdigest()


def decide(config: Config, lang: str, content_hash: str, tr, now: datetime) -> str | None:
    """The status of ``lang``'s entry for an item, or None while it waits (policy).

    ``tr`` is the item's translation (a ``Translation`` or a state row with
    ``content_hash``, ``status`` and ``changed``), or None.
    """
    if lang == config.source_language:
        return "source"
    current = tr if tr is not None and tr.content_hash == content_hash else None
    if current is not None and current.status == "reviewed":
        return "reviewed"
    if config.review.policy(lang) == "reviewed":
        return None  # only approved translations are published in this language
    if current is not None and current.status == "translated":
        delay = config.review.delay(lang)
        changed = current.changed
        if delay and changed:
            changed = from_iso(changed) if isinstance(changed, str) else changed
            # From the second it was stored: the store's microseconds only tell apart
            # the translations stored in one second (statements.revision_instants).
            if (now - changed.replace(microsecond=0)).total_seconds() < delay:
                return None  # machine output waits for review until the delay is over
        return "translated"
    # No usable translation: the source text, labelled with the *source* language,
    # saying it awaits translation. Never dropped, never mislabelled.
    return "failed" if current is not None and current.status == "failed" else "awaiting"


def _shows_everything(config: Config, lang: str) -> bool:
    return lang == config.source_language or (
        config.review.policy(lang) != "reviewed" and not config.review.delay(lang))


def _visible(config: Config, lang: str, rows, trs: dict, now: datetime):
    """(id, updated, digest line, status) of each of ``rows`` that ``lang`` shows.

    ``rows`` are item states ``(id, published, updated, content_hash, seq)``;
    ``updated`` is the entry's, as ``entries.shown_entry`` dates it: the item's, or its
    translation's ``changed`` when that is a revision (``models.revised``), later,
    and the entry shows the translation.
    (ISO text in UTC, compared as such: text that sorts as its instants do, ``rows.iso``
    and ``statements.instant_iso``.) The digest line need not hold it: the translation's
    ``seq`` moves with ``changed``."""
    source, plain = lang == config.source_language, _shows_everything(config, lang)
    for row in rows:
        item_id, content_hash = row[0], row[3]
        tr = trs.get(item_id)
        if source:
            shown = "source"
        elif tr is None or tr[1] != content_hash:
            shown = None if config.review.policy(lang) == "reviewed" else "awaiting"
        elif tr[2] == "translated" and plain:
            shown = "translated"
        else:
            shown = decide(config, lang, content_hash, tr, now)
        if shown is not None:
            line = f"{' '.join(map(str, row))} {shown} {tr[4] if tr else None}"
            updated = row[2]
            # A revision's changed has microseconds ("."), a first text's none.
            if (shown == "translated" or shown == "reviewed") and "." in tr[3] \
                    and tr[3] > updated:
                updated = tr[3]
            yield item_id, updated, line, shown


def _digest(settings: str, lang: str, page: int, total: int, rows: list,
            newest_archived_updated: str) -> str:
    """``rows``: (id, updated, digest line, status) of the page's entries."""
    digest = hashlib.sha256(repr((settings, lang, page, page < total,
                                  newest_archived_updated if not rows else "")).encode())
    digest.update("\n".join(row[2] for row in rows).encode())
    return digest.hexdigest()


def _on_disk(config: Config, lang: str) -> set[str]:
    try:
        return set(os.listdir(config.output_dir / lang))
    except FileNotFoundError:
        return set()


def _stale(page: int, stamp: str, known: dict[int, str], files: set[str]) -> bool:
    return known.get(page) != stamp or not all(
        name.format(page) in files for name in ARCHIVE_NAMES)


def full(store: Store, config: Config, lang: str, states: list, settings: str,
         now: datetime) -> Plan:
    """The plan from every item's state (``store.item_states()``, newest first)."""
    trs = {} if lang == config.source_language else store.translation_states(lang)
    visible = list(_visible(config, lang, states, trs, now))
    window, archived = visible[:config.max_items], visible[config.max_items:][::-1]
    size, total = config.archive_size, archive.page_count(len(archived), config.archive_size)
    newest = archived[-1][1] if archived else ""
    known, files = store.page_stamps(lang), _on_disk(config, lang)
    pages, stamps, status = {}, {}, {row[0]: row[3] for row in window}
    for page in range(1, total + 1):
        rows = archived[(page - 1) * size: page * size]
        stamp = _digest(settings, lang, page, total, rows, newest)
        if _stale(page, stamp, known, files):
            pages[page], stamps[page] = [row[0] for row in rows], stamp
            status.update((row[0], row[3]) for row in rows)
    return Plan(lang, [row[0] for row in window], status, pages, total, newest, stamps)


def quick(store: Store, config: Config, lang: str, settings: str, last: Layout | None,
          count: int, new: set[str], edited: set[str], now: datetime) -> Plan | None:
    """The plan from what changed since ``last`` (None when it does not apply).

    ``count``: items now; ``new``: ids of the items stored since; ``edited``: ids
    of older items changed since (in place). Items are ordered newest first
    (position k); archived items are numbered from the oldest (a = count - 1 - k)."""
    size, window_size = config.archive_size, config.max_items
    if (last is None or last.settings != settings_digest(settings)
            or not _shows_everything(config, lang)
            or last.count <= window_size):  # nothing was archived: the full plan is small
        return None
    archived, old_archived = count - window_size, last.count - window_size
    total, old_total = archive.page_count(archived, size), archive.page_count(old_archived, size)
    known = store.page_stamps(lang)
    if set(known) != set(range(1, old_total + 1)):
        return None
    changed = new | edited | store.translations_changed(lang, last.version)
    if len(changed) > MAX_CHANGED:
        return None  # e.g. after `translate --refresh`: one pass over all is cheaper
    positions = store.item_positions(sorted(changed))
    dirty = set()
    # New items arrive first (newest), so each lands in the window and pushes the
    # window's oldest entry into the archive, after every entry already there. More
    # new items than the window holds put the rest on the newest pages: from the
    # page of the oldest of them on, every page changes.
    shifted = [count - 1 - positions[i] if positions[i] >= window_size else old_archived
               for i in new]
    if shifted:
        dirty.update(range(min(shifted) // size + 1, total + 1))
    if total != old_total:
        dirty.add(old_total)  # its "next-archive" link appears
    dirty.update((count - 1 - k) // size + 1 for k in positions.values() if k >= window_size)
    if archived % size == 0 and window_size in positions.values():
        dirty.add(total)  # the empty newest page is dated by the newest archived entry
    files = _on_disk(config, lang)
    dirty.update(p for p in range(1, total + 1)
                 if not all(name.format(p) in files for name in ARCHIVE_NAMES))
    return _plan_pages(store, config, lang, settings, count, total, dirty, known, files, now)


def _plan_pages(store: Store, config: Config, lang: str, settings: str, count: int,
                total: int, dirty: set[int], known: dict[int, str], files: set[str],
                now: datetime) -> Plan:
    """Read the window and the ``dirty`` pages only, and digest those pages."""
    size, window_size = config.archive_size, config.max_items
    window = _rows(store, config, lang, 0, window_size, now)
    newest = _rows(store, config, lang, window_size, 1, now)[0][1]
    pages, stamps, status = {}, {}, {row[0]: row[3] for row in window}
    for page in sorted(p for p in dirty if p >= 1):
        lo, hi = (page - 1) * size, min(page * size, count - window_size)  # archive indexes
        rows = _rows(store, config, lang, count - hi, hi - lo, now)[::-1] if hi > lo else []
        stamp = _digest(settings, lang, page, total, rows, newest)
        if _stale(page, stamp, known, files):
            pages[page], stamps[page] = [row[0] for row in rows], stamp
            status.update((row[0], row[3]) for row in rows)
    return Plan(lang, [row[0] for row in window], status, pages, total, newest, stamps)


def _rows(store: Store, config: Config, lang: str, offset: int, limit: int,
          now: datetime) -> list:
    states = store.item_states(offset, limit)
    trs = ({} if lang == config.source_language
           else store.translation_states(lang, [row[0] for row in states]))
    return list(_visible(config, lang, states, trs, now))
