"""Publishing stage: per language, the newest items as RSS, Atom and an HTML page.

Everything for a language is gathered first (items, translations, GUIDs),
then rendered, then written atomically and only where the bytes changed.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from babel import Locale
from markupsafe import escape

from ..config import Config
from ..models import Entry, Item, Translation
from ..store import Store
from . import feeds, i18n
from .write import write_if_changed

log = logging.getLogger(__name__)
_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("syndicator", "templates"),
    autoescape=True, trim_blocks=False, keep_trailing_newline=True)


def publish_all(store: Store, config: Config, now: datetime) -> list[Path]:
    """Write every language's documents; returns the files that changed."""
    items = store.recent_items(config.max_items)
    written = []
    for lang in config.languages:
        entries = _entries(store, config, lang, items)
        for path, data in _documents(config, lang, entries, now).items():
            if write_if_changed(path, data):
                written.append(path)
    languages_page = _templates.get_template("languages.html").render(
        source_lang=config.source_language, title=config.title,
        languages=_language_links(config, "index.html"))
    if write_if_changed(config.output_dir / "index.html", languages_page.encode()):
        written.append(config.output_dir / "index.html")
    for path in written:
        log.info("wrote %s", path)
    return written


def make_guid(base_url: str, lang: str, item: Item) -> str:
    """A tag URI (RFC 4151), unique per language; stored at first publication."""
    digest = hashlib.sha256(item.id.encode()).hexdigest()[:24]
    host = urlsplit(base_url).hostname or "localhost"
    return f"tag:{host},{item.published:%Y-%m-%d}:{lang}/{digest}"


def _entries(store: Store, config: Config, lang: str, items: list[Item]) -> list[Entry]:
    by_id = {item.id: item for item in items}
    guids = store.guids_for(lang, list(by_id),
                            lambda item_id: make_guid(config.base_url, lang, by_id[item_id]))
    translated = ({} if lang == config.source_language
                  else store.translations_for(lang, list(by_id)))
    return [_entry(config, lang, item, guids[item.id], translated.get(item.id))
            for item in items]


def _entry(config: Config, lang: str, item: Item, guid: str, tr: Translation | None) -> Entry:
    if lang == config.source_language:
        return Entry(item, lang, lang, "source", guid, item.title, item.summary, item.body)
    if tr and tr.status == "translated" and tr.content_hash == item.content_hash:
        return Entry(item, lang, lang, "translated", guid, tr.title, tr.summary, tr.body,
                     tr.engine)
    # No usable translation: publish the source text, labelled with the *source*
    # language, and say it awaits translation. Never dropped, never mislabelled.
    status = tr.status if tr else "awaiting"
    return Entry(item, lang, config.source_language, status, guid, item.title, item.summary,
                 item.body)


def _content(entry: Entry, ui: i18n.UI, date_line: str) -> str:
    """Entry HTML: the localised date line, a provenance note, the body, the source link."""
    parts = [f'<p lang="{entry.lang}"><time datetime="{entry.item.published.isoformat()}">'
             f"{escape(date_line)}</time></p>"]
    if entry.status == "translated":
        parts.append(f'<p lang="{entry.lang}"><em>{escape(ui._(i18n.MACHINE))}</em></p>')
    elif entry.status in ("awaiting", "failed"):
        parts.append(f'<p lang="{entry.lang}"><em>{escape(ui._(i18n.AWAITING))}</em></p>')
    parts.append(entry.body)
    parts.append(f'<p lang="{entry.lang}"><a href="{escape(entry.item.url)}">'
                 f"{escape(ui._(i18n.READ_ORIGINAL))}</a></p>")
    return "\n".join(parts)


def _url(config: Config, lang: str, name: str) -> str:
    return f"{config.base_url}{lang}/{name}"


def _language_links(config: Config, name: str) -> list[tuple[str, str, str]]:
    return [(lang, _url(config, lang, name), i18n.language_name(lang))
            for lang in config.languages]


def _documents(config: Config, lang: str, entries: list[Entry], now: datetime
               ) -> dict[Path, bytes]:
    ui = i18n.UI(config.translations_dir, lang, config.title)
    info = feeds.FeedInfo(
        lang=lang, title=ui.title, description=ui.description,
        home=_url(config, lang, "index.html"), rss_url=_url(config, lang, "rss.xml"),
        atom_url=_url(config, lang, "atom.xml"),
        # An empty feed has no item dates; its date is fixed at the epoch of its
        # first build rather than "now", so rebuilding changes no byte.
        updated=feeds.feed_updated(entries, datetime.fromtimestamp(0, now.tzinfo)),
        alternates=tuple((other, _url(config, other, "atom.xml"))
                         for other in config.languages if other != lang))
    dates = {e.guid: i18n.date_line(e.item.published, lang, config.timezone) for e in entries}
    content = {e.guid: _content(e, ui, dates[e.guid]) for e in entries}
    page = _templates.get_template("index.html").render(
        lang=lang, direction=Locale.parse(lang).text_direction, info=info, ui=ui,
        strings=i18n, entries=entries, dates=dates,
        languages=_language_links(config, "index.html"),
        pages=[(o, u) for o, u, _ in _language_links(config, "index.html") if o != lang])
    folder = config.output_dir / lang
    return {folder / "rss.xml": feeds.rss(info, entries, content),
            folder / "atom.xml": feeds.atom(info, entries, content),
            folder / "index.html": page.encode()}
