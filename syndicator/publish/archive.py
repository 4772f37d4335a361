"""RFC 5005 archives: older entries in fixed pages that new items never reshuffle.

Entries beyond the subscription window are numbered from the oldest; page p
holds archived entries (p-1)*size … p*size-1. A new item pushes one entry out
of the subscription document into the newest page, so one cycle rewrites the
subscription document and at most one archive page. When a page fills up, the
next (empty) page is created in the same write, so the full page's
``next-archive`` link never has to be added later; an edited old item
rewrites only its own page (and the empty newest page, which the newest
archived entry dates).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ..config import Config
from . import feeds, i18n
from .jsonfeed import jsonfeed


def page_count(archived: int, size: int) -> int:
    """Pages for ``archived`` entries: full pages plus the (possibly empty) newest one."""
    return archived // size + 1 if archived else 0


def documents(config: Config, edition, render_content) -> Iterator[tuple[Path, bytes]]:
    """The edition's archive pages to render (``edition.pages``), in RSS, Atom and JSON Feed.

    Yielded one by one, so that a full rebuild (hundreds of pages per language)
    never holds all of them in memory at once.
    """
    lang, count = edition.info.lang, edition.page_total
    folder = config.output_dir / lang
    for page, oldest_first in sorted(edition.pages.items()):
        entries = oldest_first[::-1]  # newest first
        # The empty newest page is dated by the newest archived entry, not the epoch.
        info = replace(edition.info, updated=feeds.feed_updated(entries,
                                                                edition.archive_updated),
                       hubs=(), history=replace(
            edition.info.history, page=page, prev=page - 1 or None,
            next=page + 1 if page < count else None))
        dates = {e.guid: i18n.date_line(e.item.published, lang, config.timezone)
                 for e in entries}
        content = feeds.Content({e.guid: render_content(e, edition.ui, dates[e.guid])
                                 for e in entries})
        yield folder / f"rss-archive-{page}.xml", feeds.rss(info, entries, content)
        yield folder / f"atom-archive-{page}.xml", feeds.atom(info, entries, content,
                                                               _originals(config, lang, entries))
        yield folder / f"feed-archive-{page}.json", jsonfeed(info, entries, content, {})


def _originals(config: Config, lang: str, entries) -> dict[str, list[tuple[str, str]]]:
    """Each entry's link to its original, in the source language: the one link of
    the subscription document's that an archived entry keeps. Those to the other
    languages' versions point at their index.html, which holds only the window."""
    if lang == config.source_language:
        return {}  # the original is in this feed's own language
    return {e.guid: [(config.source_language, e.item.url)] for e in entries}
