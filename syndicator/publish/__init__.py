"""Publishing stage: per language, the newest items as RSS, Atom, JSON Feed and HTML.

Planned first for every language, from states (ids, dates, hashes: no text);
then the items and the GUIDs of every language's subscription window are
gathered, so entries can link their translations. Then one part at a time (a
language's subscription documents, or a run of its archive pages): its GUIDs
and translations are read, its documents rendered and written, atomically and
only where the bytes changed, before the next part's are read. A large publish
plans half of the languages in a forked process, and shares the parts with
another one, each taking the next part when it is ready (parallel.py): two cores.
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import jinja2
from babel import Locale
from markupsafe import escape

from .. import __version__
from ..config import Config
from ..models import Entry, Item
from ..rows import from_iso
from ..store import Store
from . import archive, collector, feeds, i18n, parallel, planning, websub
from .entries import anchor, make_guid, public_items, shown_entry, url, waiting
from .jsonfeed import jsonfeed
from .machine_dates import rfc3339
from .opml import opml
from .write import Writes

__all__ = ["publish_all", "make_guid", "waiting"]  # waiting: the review queue's
log = logging.getLogger(__name__)
WIDGET_ITEMS = 10
# Publishes that load at least this many items pause the garbage collector (see
# collector.paused). Smaller ones, such as a new item's, gain nothing from it,
# and the full collection that starts a pause costs ~0.1 s in a large process.
PAUSE_COLLECTOR_AT = 1000
# Publishes that load at least this many items are planned and rendered by two
# processes (parallel.halves, parallel.shared). A small one's rendering takes
# milliseconds: a process and its own database connections would cost more than
# they save.
FORK_AT = 1000
# Archive pages per unit of rendering work (planning.units): 10 pages of 100 items
# in 3 formats, ~0.05 s to render. Smaller units end the two processes closer
# together, but read the store in more, smaller queries.
PAGES_PER_UNIT = 10
EMBED_JS = Path(__file__).resolve().parent.parent / "assets" / "embed.js"
# Part of the settings every archive page's digest covers: raised when a fix changes
# what pages already published say, so that the next publish renders each of them
# once (writing only those whose bytes differ). 2: archive entries label their
# original with the source language; language tags in BCP 47 form ("pt-BR"). 3: a
# revision of a translation dates its entry (models.REVISION). 4: Atom entries name
# their author, JSON Feed items too; an RSS description from a summary is HTML;
# every JSON Feed page's feed_url is the subscription feed's; feeds in arrival order.
OUTPUT_REVISION = 4
_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("syndicator", "templates"),
    autoescape=True, keep_trailing_newline=True)


@dataclass(frozen=True)
class Edition:
    """One language's feed, or part of it: what it says about itself and its entries."""
    info: feeds.FeedInfo
    ui: i18n.UI
    head: bool  # whether to render the subscription documents (else only archive pages)
    entries: list[Entry]  # the subscription document's, newest first (empty unless head)
    # RFC 5005 archive pages to render now (page number: entries, oldest first); pages
    # whose entries and settings are as last published are left out.
    pages: dict[int, list[Entry]]
    page_total: int  # how many archive pages there are
    archive_updated: datetime  # the newest archived entry's `updated` (empty newest page)


def publish_all(store: Store, config: Config, now: datetime) -> list[Path]:
    """Write every language's documents; returns the files that changed.

    When nothing a feed shows has changed since the last publish (same data
    version, settings, UI catalogs and time-dependent policies) the stage ends
    at once: an idle cycle renders nothing. Otherwise the subscription
    documents are rendered, and only the archive pages whose entries changed.
    """
    stamp = _stamp(store, config, now)
    if stamp == store.meta_get("published") and _outputs_exist(store, config):
        log.info("nothing changed since the last publish")
        return []
    written = _publish(store, config, now)
    store.meta_set("published", stamp)
    return written


def _settings(config: Config) -> list:
    """Everything besides the data that a published document depends on."""
    catalogs = [i18n.catalog_path(config.translations_dir, lang) for lang in config.languages]
    return [__version__, OUTPUT_REVISION, repr(config.output_dir), config.base_url,
            config.title, config.timezone, config.languages, config.max_items,
            config.archive_size, config.hubs, sorted(config.review.policies.items()),
            [(str(p), p.stat().st_mtime_ns if p.is_file() else 0) for p in catalogs]]


def _stamp(store: Store, config: Config, now: datetime) -> str:
    parts = [store.data_version(), _settings(config)]
    if any(config.review.delay(lang) for lang in config.targets):
        parts.append(now.isoformat())  # delayed items become due with time alone
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _outputs_exist(store: Store, config: Config) -> bool:
    """Every document the last publish wrote is still there: a file deleted since
    (by hand, or a restore from an older backup) is written again by the next cycle,
    even an idle one, not only once an item on it changes. One listing per language."""
    pages = store.page_counts()
    for lang in config.languages:
        try:
            names = set(os.listdir(config.output_dir / lang))
        except FileNotFoundError:
            return False
        if not {"rss.xml", "atom.xml", "feed.json", "index.html"} <= names:
            return False
        if sum(1 for name in names if _ARCHIVE_PAGE.match(name)) < 3 * pages.get(lang, 0):
            return False
    return True


def _publish(store: Store, config: Config, now: datetime) -> list[Path]:
    # Plan from states (ids, dates, hashes, statuses: no text), then load the text of
    # the subscription windows and of the archive pages that changed, and only that.
    with collector.off():
        plans, layout = _plans(store, config, now)
    wanted = {i for plan in plans.values()
              for i in [*plan.window, *(i for ids in plan.pages.values() for i in ids)]}
    with collector.paused(len(wanted) >= PAUSE_COLLECTOR_AT):
        # Read once for every language (and, forked, for both processes).
        items = public_items(store, config, wanted)
        newest = store.item_states(0, 1)
        newest = from_iso(newest[0][2]) if newest else feeds.EPOCH
        uis = {lang: i18n.UI(config.translations_dir, lang, config.title) for lang in plans}
        # The GUID of each item in each language's subscription document: entries link
        # their other language versions. The rest are read (or minted) part by part.
        shown = {lang: _guids(store, config, lang, plan.window, items)
                 for lang, plan in plans.items()}

        def render(parts: Iterable[planning.Part]) -> list[Path]:
            # A generator: each part's translations are read only when its turn
            # comes, and let go after it. A full rebuild's texts of all 7 languages
            # held at once were most of its peak memory (bench/memory.py).
            editions = (_edition(store, config, plans[part.lang], part, items, shown[part.lang],
                                 uis[part.lang], newest)
                        for part in parts)
            return _write(config, editions, shown)

        # Archive pages first, every one on disk before a subscription document links
        # to it: a crash in between leaves the old subscription documents, whose
        # links still hold (at worst an entry is in both for one cycle, never lost).
        units = planning.units(plans, PAGES_PER_UNIT)
        written = []
        for stage in ([u for u in units if not u.head], [u for u in units if u.head]):
            if len(wanted) >= FORK_AT and parallel.can_fork():
                written += parallel.shared(render, stage, in_child=store.forked)
            else:
                written += render(stage)
        written += _write_all(_index_documents(config, uis).items())
    _remove_pages_beyond(config, plans)
    for lang, plan in plans.items():
        store.save_page_stamps(lang, plan.stamps, plan.page_total)
    store.meta_set("layout", layout.record())
    websub.ping_hubs(config.hubs, _subscription_urls(config, written))
    return written


_ARCHIVE_PAGE = re.compile(r"^(?:rss|atom)-archive-([0-9]+)\.xml$|^feed-archive-([0-9]+)\.json$")


def _remove_pages_beyond(config: Config, plans: dict) -> None:
    """Archive pages numbered beyond a language's page count go: after ``archive_size``
    or ``max_items`` was raised, the old pages' entries are on fewer pages, and the
    old higher-numbered files, still served, would repeat them. Removed once the new
    subscription documents no longer link to them."""
    for lang, plan in plans.items():
        folder = config.output_dir / lang
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        for name in names:
            found = _ARCHIVE_PAGE.match(name)
            if found and int(found.group(1) or found.group(2)) > plan.page_total:
                (folder / name).unlink(missing_ok=True)
                log.info("removed %s: beyond the %d archive pages", folder / name,
                         plan.page_total)


def _write(config: Config, editions: Iterator[Edition], shown: dict[str, dict[str, str]]
           ) -> list[Path]:
    # Each document is written as soon as it is rendered: a full rebuild makes
    # thousands, and holding all their bytes at once would cost hundreds of MB.
    # Each write is atomic; a crash in between leaves every file whole, and the
    # page digests are only saved once everything is written.
    documents = itertools.chain.from_iterable(
        itertools.chain(_documents(config, edition, _alternates(config, shown, edition)).items()
                        if edition.head else (),
                        archive.documents(config, edition, _content))
        for edition in editions)
    return _write_all(documents)


def _write_all(documents: Iterable[tuple[Path, bytes]]) -> list[Path]:
    written = []
    with Writes() as writes:
        for path, data in documents:
            if writes.write_if_changed(path, data):
                log.info("wrote %s", path)
                written.append(path)
    return written


def _plans(store: Store, config: Config, now: datetime) -> tuple[dict, planning.Layout]:
    """Every language's plan, and the layout to record once it is published."""
    # Read first: a change made while this publish runs is seen by the next one.
    version, mark = store.data_version(), store.last_item_mark()
    settings = repr(_settings(config))
    last = planning.Layout.load(store.meta_get("layout"))
    new, edited = store.changes_since(last.version, last.mark) if last else (set(), set())
    count = last.count + len(new) if last else 0
    plans = {lang: planning.quick(store, config, lang, settings, last, count, new, edited, now)
             for lang in config.languages}
    unplanned = [lang for lang, plan in plans.items() if plan is None]
    if unplanned:
        states = store.item_states()
        count = len(states)

        def plan(langs: list[str]) -> list[planning.Plan]:
            return [planning.full(store, config, lang, states, settings, now) for lang in langs]

        # Full plans of a large store take ~0.06 s per language (10,000 items), all
        # before rendering can start: half of the languages are planned in a child.
        if count >= FORK_AT and len(unplanned) > 1 and parallel.can_fork():
            found = parallel.halves(plan, unplanned, in_child=store.forked)
        else:
            found = plan(unplanned)
        plans.update((found_plan.lang, found_plan) for found_plan in found)
    return plans, planning.Layout(version, count, mark, planning.settings_digest(settings))


def _subscription_urls(config: Config, written: list[Path]) -> list[str]:
    """Public URLs of the changed subscription feeds (the topics hubs know)."""
    names = {"rss.xml", "atom.xml", "feed.json"}
    return [url(config, p.parent.name, p.name) for p in written
            if p.name in names and p.parent.parent == config.output_dir]


def _guids(store: Store, config: Config, lang: str, item_ids: Iterable[str],
           items: dict[str, Item]) -> dict[str, str]:
    """The GUIDs of ``item_ids`` in ``lang``, minted for those new to it."""
    return store.guids_for(lang, list(item_ids),
                           lambda item_id: make_guid(config.base_url, lang, items[item_id]))


def _edition(store: Store, config: Config, plan: planning.Plan, part: planning.Part,
             items: dict[str, Item], shown: dict[str, str], ui: i18n.UI, newest: datetime
             ) -> Edition:
    """``shown``: the GUIDs of the language's subscription window, already read."""
    lang = plan.lang
    window = plan.window if part.head else []
    archived = [i for page in part.pages for i in plan.pages[page]]
    guids = {**shown, **_guids(store, config, lang, archived, items)} if archived else shown
    translated = ({} if lang == config.source_language
                  else store.translated_texts(lang, [*window, *archived]))

    def entry(item_id: str) -> Entry:
        # The plan already decided each status (planning.decide): not twice.
        return shown_entry(config, lang, plan.status[item_id], items[item_id], guids[item_id],
                      translated.get(item_id))

    entries = [entry(i) for i in window]
    info = feeds.FeedInfo(
        lang=lang, title=ui.title, description=ui.description,
        home=url(config, lang, "index.html"),
        # A feed whose items all wait for review is dated by the newest item it holds back.
        updated=feeds.feed_updated(entries, newest),
        alternates=tuple((other, url(config, other, "atom.xml"))
                         for other in config.languages if other != lang),
        history=feeds.History(url(config, lang, ""), prev=plan.page_total or None),
        hubs=config.hubs)
    pages = {page: [entry(i) for i in plan.pages[page]] for page in part.pages}
    return Edition(info, ui, part.head, entries, pages, plan.page_total,
                   from_iso(plan.archive_updated) if plan.archive_updated else feeds.EPOCH)


def _alternates(config: Config, shown: dict[str, dict[str, str]], edition: Edition
                ) -> dict[str, list]:
    """Per entry GUID of ``edition``: its versions in the other languages.

    ``shown[lang]``: item id -> GUID of each entry of ``lang``'s subscription document.
    """
    lang, links = edition.info.lang, {}
    for entry in edition.entries:
        links[entry.guid] = [
            {"language": i18n.bcp47(other),
             "url": entry.item.url if other == config.source_language
             else f"{url(config, other, 'index.html')}#{anchor(entry.item)}",
             "id": shown[other][entry.item.id]}
            for other in config.languages
            if other != lang and entry.item.id in shown[other]]  # held back by a policy
    return links


def _content(entry: Entry, ui: i18n.UI, date_line: str) -> str:
    """Entry HTML: the localised date line, a provenance note, the body, the source link."""
    lang, item = i18n.bcp47(entry.lang), entry.item
    # One string per entry and language: a full rebuild makes 70,000 of them.
    note = ui.notes.get(entry.status)
    note = f'<p lang="{lang}"><em>{note}</em></p>\n' if note is not None else ""
    return (f'<p lang="{lang}"><time datetime="{rfc3339(item.published).decode()}">'
            f"{_escaped(date_line)}</time></p>\n{note}{entry.body}\n"
            f'<p lang="{lang}"><a href="{_escaped(item.url)}">{ui.read_original}</a></p>')


# Every language writes each item's link, and each day's date line is shared by
# the items of that day: a full rebuild's 70,000 entries hold ~10,000 distinct
# links and ~9,000 lines. Escaping each anew took ~0.18 s of a rebuild's ~6 s of
# CPU, and isoformat() of each date ~0.19 s more (now rfc3339's cached bytes).
@lru_cache(maxsize=1 << 15)
def _escaped(text: str) -> str:
    return str(escape(text))


def _language_links(config: Config, name: str) -> list[tuple[str, str, str]]:
    """(BCP 47 tag, URL, own name) of every language's ``name``."""
    return [(i18n.bcp47(lang), url(config, lang, name), i18n.language_name(lang))
            for lang in config.languages]


def _tagged(entries: list[Entry]) -> list[Entry]:
    """``entries`` as the HTML templates take them: ``text_lang`` goes into lang
    attributes, so as a BCP 47 tag (the feeds compare it in the configured form)."""
    return [replace(e, text_lang=i18n.bcp47(e.text_lang)) for e in entries]


def _documents(config: Config, edition: Edition, alternates: dict[str, list]
               ) -> dict[Path, bytes]:
    info, lang, entries = edition.info, edition.info.lang, edition.entries
    dates = {e.guid: i18n.date_line(e.item.published, lang, config.timezone) for e in entries}
    content = feeds.Content({e.guid: _content(e, edition.ui, dates[e.guid]) for e in entries})
    entry_links = {guid: [(a["language"], a["url"]) for a in links]
                   for guid, links in alternates.items()}
    tag, tagged = i18n.bcp47(lang), _tagged(entries)
    page = _templates.get_template("index.html").render(
        lang=tag, direction=Locale.parse(lang).text_direction, info=info, ui=edition.ui,
        strings=i18n, entries=tagged, dates=dates, anchor=anchor,
        json_url=url(config, lang, "feed.json"),
        languages=_language_links(config, "index.html"),
        pages=[(o, u) for o, u, _ in _language_links(config, "index.html") if o != tag])
    widget = _templates.get_template("widget.html").render(
        lang=tag, direction=Locale.parse(lang).text_direction, info=info,
        entries=tagged[:WIDGET_ITEMS], dates=dates)
    folder = config.output_dir / lang
    return {folder / "widget.html": widget.encode(),
            folder / "rss.xml": feeds.rss(info, entries, content),
            folder / "atom.xml": feeds.atom(info, entries, content, entry_links),
            folder / "feed.json": jsonfeed(info, entries, content, alternates),
            folder / "index.html": page.encode()}


def _index_documents(config: Config, uis: dict[str, i18n.UI]) -> dict[Path, bytes]:
    languages_page = _templates.get_template("languages.html").render(
        source_lang=i18n.bcp47(config.source_language), title=config.title,
        languages=_language_links(config, "index.html"))
    # The same title, description and URLs as each language's feeds (_edition).
    listing = [{"lang": i18n.bcp47(lang), "title": ui.title, "description": ui.description,
                "rss_url": url(config, lang, "rss.xml"), "home": url(config, lang, "index.html")}
               for lang, ui in uis.items()]
    return {config.output_dir / "index.html": languages_page.encode(),
            config.output_dir / "index.opml": opml(config.title, listing),
            config.output_dir / "embed.js": EMBED_JS.read_bytes()}
