"""Publishing stage: per language, the newest items as RSS, Atom, JSON Feed and HTML.

Everything is gathered first (items, translations, GUIDs for every
language, so entries can link their translations), then rendered, then
written atomically and only where the bytes changed.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from babel import Locale
from markupsafe import escape

from .. import __version__
from ..config import Config
from ..models import Entry, Item, Translation
from ..store import Store
from . import archive, feeds, i18n, websub
from .jsonfeed import jsonfeed
from .opml import opml
from .write import write_if_changed

log = logging.getLogger(__name__)
WIDGET_ITEMS = 10
EMBED_JS = Path(__file__).resolve().parent.parent / "assets" / "embed.js"
_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("syndicator", "templates"),
    autoescape=True, keep_trailing_newline=True)


@dataclass(frozen=True)
class Edition:
    """One language's feed: what it says about itself and its entries."""
    info: feeds.FeedInfo
    ui: i18n.UI
    entries: list[Entry]  # the subscription document's, newest first
    archived: list[Entry]  # every older entry, oldest first (RFC 5005 archives)


def publish_all(store: Store, config: Config, now: datetime) -> list[Path]:
    """Write every language's documents; returns the files that changed.

    When nothing a feed shows has changed since the last publish (same data
    version, settings, UI catalogs and time-dependent policies) the stage ends
    at once: an idle cycle renders nothing.
    """
    stamp = _stamp(store, config, now)
    if stamp == store.meta_get("published") and _outputs_exist(config):
        log.info("nothing changed since the last publish")
        return []
    written = _publish(store, config, now)
    store.meta_set("published", stamp)
    return written


def _stamp(store: Store, config: Config, now: datetime) -> str:
    catalogs = [i18n.catalog_path(config.translations_dir, lang) for lang in config.languages]
    parts = [__version__, store.data_version(), repr(config.output_dir), config.base_url,
             config.title, config.timezone, config.languages, config.max_items,
             config.archive_size, config.hubs, sorted(config.review.policies.items()),
             [(str(p), p.stat().st_mtime_ns if p.is_file() else 0) for p in catalogs]]
    if any(config.review.delay(lang) for lang in config.targets):
        parts.append(now.isoformat())  # delayed items become due with time alone
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _outputs_exist(config: Config) -> bool:
    return all((config.output_dir / lang / name).is_file() for lang in config.languages
               for name in ("rss.xml", "atom.xml", "feed.json", "index.html"))


def _publish(store: Store, config: Config, now: datetime) -> list[Path]:
    items = store.recent_items(None)
    editions = {lang: _edition(store, config, lang, items, now) for lang in config.languages}
    documents: dict[Path, bytes] = {}
    for lang, edition in editions.items():
        documents.update(_documents(config, edition, _alternates(config, editions, lang)))
        documents.update(archive.documents(config, edition, _content))
    documents.update(_index_documents(config, editions))
    written = [path for path, data in documents.items() if write_if_changed(path, data)]
    for path in written:
        log.info("wrote %s", path)
    websub.ping_hubs(config.hubs, _subscription_urls(config, written))
    return written


def _subscription_urls(config: Config, written: list[Path]) -> list[str]:
    """Public URLs of the changed subscription feeds (the topics hubs know)."""
    names = {"rss.xml", "atom.xml", "feed.json"}
    return [url(config, p.parent.name, p.name) for p in written
            if p.name in names and p.parent.parent == config.output_dir]


def make_guid(base_url: str, lang: str, item: Item) -> str:
    """A tag URI (RFC 4151), unique per language; stored at first publication."""
    digest = hashlib.sha256(item.id.encode()).hexdigest()[:24]
    host = urlsplit(base_url).hostname or "localhost"
    return f"tag:{host},{item.published:%Y-%m-%d}:{lang}/{digest}"


def anchor(item: Item) -> str:
    """The id of an item's <article> on every language's index.html."""
    return "item-" + hashlib.sha256(item.id.encode()).hexdigest()[:12]


def url(config: Config, lang: str, name: str) -> str:
    return f"{config.base_url}{lang}/{name}"


def _edition(store: Store, config: Config, lang: str, items: list[Item],
             now: datetime) -> Edition:
    by_id = {item.id: item for item in items}
    guids = store.guids_for(lang, list(by_id),
                            lambda item_id: make_guid(config.base_url, lang, by_id[item_id]))
    translated = ({} if lang == config.source_language
                  else store.translations_for(lang, list(by_id)))
    items = [_public(config, item) for item in items]
    visible = [e for e in (_entry(config, lang, item, guids[item.id], translated.get(item.id),
                                  now) for item in items) if e is not None]
    entries, archived = visible[:config.max_items], visible[config.max_items:][::-1]
    ui = i18n.UI(config.translations_dir, lang, config.title)
    info = feeds.FeedInfo(
        lang=lang, title=ui.title, description=ui.description,
        home=url(config, lang, "index.html"),
        # A feed whose items all wait for review is dated by the newest item it holds back.
        updated=feeds.feed_updated(entries, items[0].updated if items else feeds.EPOCH),
        alternates=tuple((other, url(config, other, "atom.xml"))
                         for other in config.languages if other != lang),
        history=feeds.History(url(config, lang, ""),
                              prev=archive.page_count(len(archived), config.archive_size)
                              or None),
        hubs=config.hubs)
    return Edition(info, ui, entries, archived)


def _public(config: Config, item: Item) -> Item:
    """The item with a link readers can follow: a source link that is not http(s)
    (a file's path, a hostile ``javascript:``) becomes the item's own anchor."""
    if urlsplit(item.url).scheme in ("http", "https"):
        return item
    return replace(item, url=f"{url(config, config.source_language, 'index.html')}#"
                             f"{anchor(item)}")


def _entry(config: Config, lang: str, item: Item, guid: str, tr: Translation | None,
           now: datetime) -> Entry | None:
    """The entry ``lang``'s feed shows for ``item``, or None while it waits (policy)."""
    if lang == config.source_language:
        return Entry(item, lang, lang, "source", guid, item.title, item.summary, item.body)
    current = tr if tr and tr.content_hash == item.content_hash else None
    if current and current.status == "reviewed":
        return Entry(item, lang, lang, "reviewed", guid, current.title, current.summary,
                     current.body, "human")
    policy = config.review.policy(lang)
    if policy == "reviewed":
        return None  # only approved translations are published in this language
    if current and current.status == "translated":
        delay = config.review.delay(lang)
        if delay and current.changed and (now - current.changed).total_seconds() < delay:
            return None  # machine output waits for review until the delay is over
        return Entry(item, lang, lang, "translated", guid, current.title, current.summary,
                     current.body, current.engine)
    # No usable translation: publish the source text, labelled with the *source*
    # language, and say it awaits translation. Never dropped, never mislabelled.
    status = "failed" if current and current.status == "failed" else "awaiting"
    return Entry(item, lang, config.source_language, status, guid, item.title, item.summary,
                 item.body)


def waiting(store: Store, config: Config, lang: str, now: datetime) -> list[Item]:
    """Recent items that ``lang``'s publish policy holds back (the review queue)."""
    items = store.recent_items(config.max_items)
    translated = store.translations_for(lang, [i.id for i in items])
    return [item for item in items
            if _entry(config, lang, item, "", translated.get(item.id), now) is None]


def _alternates(config: Config, editions: dict[str, Edition], lang: str) -> dict[str, list]:
    """Per entry GUID in ``lang``: its versions in the other languages."""
    guids = {other: {e.item.id: e.guid for e in ed.entries} for other, ed in editions.items()}
    links = {}
    for entry in editions[lang].entries:
        links[entry.guid] = [
            {"language": other,
             "url": entry.item.url if other == config.source_language
             else f"{url(config, other, 'index.html')}#{anchor(entry.item)}",
             "id": guids[other][entry.item.id]}
            for other in config.languages
            if other != lang and entry.item.id in guids[other]]  # held back by a policy
    return links


def _content(entry: Entry, ui: i18n.UI, date_line: str) -> str:
    """Entry HTML: the localised date line, a provenance note, the body, the source link."""
    parts = [f'<p lang="{entry.lang}"><time datetime="{entry.item.published.isoformat()}">'
             f"{escape(date_line)}</time></p>"]
    if entry.status == "translated":
        parts.append(f'<p lang="{entry.lang}"><em>{escape(ui._(i18n.MACHINE))}</em></p>')
    elif entry.status == "reviewed":
        parts.append(f'<p lang="{entry.lang}"><em>{escape(ui._(i18n.REVIEWED))}</em></p>')
    elif entry.status in ("awaiting", "failed"):
        parts.append(f'<p lang="{entry.lang}"><em>{escape(ui._(i18n.AWAITING))}</em></p>')
    parts.append(entry.body)
    parts.append(f'<p lang="{entry.lang}"><a href="{escape(entry.item.url)}">'
                 f"{escape(ui._(i18n.READ_ORIGINAL))}</a></p>")
    return "\n".join(parts)


def _language_links(config: Config, name: str) -> list[tuple[str, str, str]]:
    return [(lang, url(config, lang, name), i18n.language_name(lang))
            for lang in config.languages]


def _documents(config: Config, edition: Edition, alternates: dict[str, list]
               ) -> dict[Path, bytes]:
    info, lang, entries = edition.info, edition.info.lang, edition.entries
    dates = {e.guid: i18n.date_line(e.item.published, lang, config.timezone) for e in entries}
    content = {e.guid: _content(e, edition.ui, dates[e.guid]) for e in entries}
    entry_links = {guid: [(a["language"], a["url"]) for a in links]
                   for guid, links in alternates.items()}
    page = _templates.get_template("index.html").render(
        lang=lang, direction=Locale.parse(lang).text_direction, info=info, ui=edition.ui,
        strings=i18n, entries=entries, dates=dates, anchor=anchor,
        json_url=url(config, lang, "feed.json"),
        languages=_language_links(config, "index.html"),
        pages=[(o, u) for o, u, _ in _language_links(config, "index.html") if o != lang])
    widget = _templates.get_template("widget.html").render(
        lang=lang, direction=Locale.parse(lang).text_direction, info=info,
        entries=entries[:WIDGET_ITEMS], dates=dates)
    folder = config.output_dir / lang
    return {folder / "widget.html": widget.encode(),
            folder / "rss.xml": feeds.rss(info, entries, content),
            folder / "atom.xml": feeds.atom(info, entries, content, entry_links),
            folder / "feed.json": jsonfeed(info, entries, content, alternates),
            folder / "index.html": page.encode()}


def _index_documents(config: Config, editions: dict[str, Edition]) -> dict[Path, bytes]:
    languages_page = _templates.get_template("languages.html").render(
        source_lang=config.source_language, title=config.title,
        languages=_language_links(config, "index.html"))
    listing = [{"lang": lang, "title": ed.info.title, "description": ed.info.description,
                "rss_url": ed.info.rss_url, "home": ed.info.home}
               for lang, ed in editions.items()]
    return {config.output_dir / "index.html": languages_page.encode(),
            config.output_dir / "index.opml": opml(config.title, listing),
            config.output_dir / "embed.js": EMBED_JS.read_bytes()}
