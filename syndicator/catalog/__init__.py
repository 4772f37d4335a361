"""Translators' catalogs: ``translations/<lang>/LC_MESSAGES/news.po``.

One entry per segment: ``msgctxt`` is the segment key, ``msgid`` the source
text, ``msgstr`` the translation, ``#.`` the engine that produced it, ``#:``
the item URL, ``#, fuzzy`` for machine output no human has reviewed.

A human correction wins for good. Filling or editing a ``msgstr`` and clearing
``fuzzy`` (in any PO editor, or on the review page) goes through
``approvals.approve``: the text is recorded in the store's ``approvals`` (the
approved translation memory) with its history, and the item is re-assembled.
No machine run, model change or ``--refresh`` touches an approval.

Writing merges, never clobbers (``files``); the rule for one entry is in
``entries``.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

import polib

from .. import pofile
from ..approvals import Approval, Approved, approve, approvals_for, earlier_texts, publishable
from ..config import Config
from ..errors import CatalogError
from ..heap import frees_when_done
from ..models import Item
from ..store import Store
from .entries import as_written, superseded
from .files import append_new, locked, merge_whole, read, splice, stamp

log = logging.getLogger(__name__)


def catalog_path(config: Config, lang: str) -> Path:
    return config.translations_dir / lang / "LC_MESSAGES" / "news.po"


def _translator(po: polib.POFile) -> str:
    """The PO editor's Last-Translator (Poedit, Lokalize and Weblate set it)."""
    name = po.metadata.get("Last-Translator", "").strip()
    return name if name and name != "syndicator" else "po-file"


def import_catalog(store: Store, config: Config, lang: str, now: datetime) -> int:
    """Approve every filled, non-fuzzy entry that differs from what the store knows."""
    path = catalog_path(config, lang)
    if not path.is_file():
        return 0
    seen = repr(stamp(path))
    if seen == store.meta_get(f"po:{lang}"):
        return 0  # nobody touched the file since syndicator last read or wrote it
    with _catalog_errors(path, "cannot be read; its corrections wait until it is fixed"):
        count = _approve_saved(store, path, lang, now)
    store.meta_set(f"po:{lang}", seen)
    return count


@contextmanager
def _catalog_errors(path: Path, consequence: str) -> Iterator[None]:
    """polib reports a syntax error as OSError (with its line), an undecodable file
    as UnicodeError: both become a CatalogError naming the file."""
    try:
        yield
    except (OSError, UnicodeError, ValueError) as exc:
        message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        raise CatalogError(f"{message} ({consequence})") from exc


def _approve_saved(store: Store, path: Path, lang: str, now: datetime) -> int:
    known = Approved(approvals_for(store, lang), earlier_texts(store, lang))
    with locked(path):
        try:
            translator, edits = _saved_edits(pofile.read_in_parts(path), known)
        except pofile.Unstreamable as why:
            log.info("%s: read whole (%s)", path, why)
            edits = None
        if edits is None:  # outside the except block, as in files._stage_merge
            translator, edits = _edits_parsed_whole(path, lang, known)
    count = 0
    for edit in edits:
        if edit.superseded_by:
            log.warning("%s: %s: kept %s's newer approval; this copy of the file was "
                        "saved before it, and gives back a text approved earlier (%r)",
                        path, edit.key, edit.superseded_by.translator, edit.text)
            continue
        count += approve(store, lang, edit.key, edit.source, edit.text, translator, "po", now)
    return count


@dataclass(frozen=True)
class _Edit:
    key: str
    source: str
    text: str
    superseded_by: Approval | None  # see entries.superseded: not taken


@frees_when_done  # the whole parsed file (see heap.collect_and_release)
def _edits_parsed_whole(path: Path, lang: str, known: Approved) -> tuple[str, list[_Edit]]:
    return _saved_edits([read(path, lang)], known)


def _saved_edits(parts, known: Approved) -> tuple[str, list[_Edit]]:
    """The file's translator, and its reviewed entries whose text the store does not
    hold yet. Approved only once the whole file was read."""
    translator, edits = "po-file", []
    for number, part in enumerate(parts):
        if number == 0:
            translator = _translator(part)
        for entry in part:
            if entry.obsolete or entry.fuzzy or not entry.msgctxt or not entry.msgstr.strip():
                continue
            if as_written(entry):
                continue  # approved text as syndicator wrote it, perhaps in a stale copy
            old = known.get(entry.msgctxt, entry.msgid)
            if old and old.text == publishable(entry.msgstr):
                continue
            edits.append(_Edit(entry.msgctxt, entry.msgid, entry.msgstr,
                               old if old and superseded(entry, old) else None))
    return translator, edits


def export_catalog(store: Store, config: Config, lang: str, item_ids: list[str],
                   urls: dict[str, str], now: datetime) -> bool:
    """Merge this language's segments into news.po; returns True when the file changed.

    The cheapest of ``files``' three ways that gives the full merge's bytes: new
    items' entries appended (``append_new``), an edited item's entries spliced in
    (``splice``), else the whole file read and written part by part
    (``merge_whole``), as after a translator's save.
    """
    path = catalog_path(config, lang)
    version = str(store.data_version())
    with _catalog_errors(path, "left as it is; its new entries wait until it is fixed"):
        merged = append_new(store, path, lang, item_ids, urls, now)
        if merged is None:
            merged = splice(store, path, lang, item_ids, urls)
        if merged is not None:
            store.meta_set(f"exported:{lang}", version)
            return merged
        return merge_whole(store, lang, path, item_ids, urls, now, version)


def _targets(config: Config) -> list[str]:
    return [lang for lang in config.targets if lang != config.source_language]


def import_catalogs(store: Store, config: Config, now: datetime) -> dict[str, int]:
    """Approve the human edits in every language's news.po; returns counts per language.

    A file that cannot be read is that language's problem only (``catalog_problems``):
    the others are imported, and the cycle goes on."""
    counts = {}
    for lang in _targets(config):
        try:
            counts[lang] = import_catalog(store, config, lang, now)
            if store.meta_get(f"po-problem:{lang}"):
                store.meta_set(f"po-problem:{lang}", "")
        except CatalogError as exc:
            log.error("%s", exc)
            store.meta_set(f"po-problem:{lang}", str(exc))
            counts[lang] = 0
    return counts


def catalog_problems(store: Store, config: Config) -> tuple[str, ...]:
    """Why a language's news.po was left alone, for the cycle's report."""
    return tuple(problem for lang in _targets(config)
                 if (problem := store.meta_get(f"po-problem:{lang}")))


def export_catalogs(store: Store, config: Config, now: datetime) -> list[Path]:
    """Merge the segments of the recent items, and of older items whose translations
    changed (``items_to_merge``), into every news.po; returns the files changed.

    Each language's merge appends only the new items' entries when it can (see
    ``export_catalog``); nothing runs at all when no translation or approval
    changed since the last merge."""
    version = str(store.data_version())
    if version == store.meta_get("exported") and all(
            catalog_path(config, lang).is_file() for lang in _targets(config)):
        return []  # no translation or approval changed since the last merge
    window = store.recent_items(config.max_items)
    changed, failed = [], False
    for lang in _targets(config):
        items = items_to_merge(store, lang, window)
        try:
            if export_catalog(store, config, lang, [i.id for i in items],
                              {item.id: item.url for item in items}, now):
                changed.append(catalog_path(config, lang))
        except CatalogError as exc:  # its own since-mark stays: it catches up once fixed
            log.error("%s", exc)
            store.meta_set(f"po-problem:{lang}", str(exc))
            failed = True
    if not failed:
        store.meta_set("exported", version)
    return changed


def items_to_merge(store: Store, lang: str, window: list[Item]) -> list[Item]:
    """The feed window's items (newest first), then every older item whose
    translation into ``lang`` changed since the last merge, newest first.

    A first cycle, or one after an outage, can bring more items than the window
    holds, and an old item can be edited: the archive publishes them all, so
    translators must find their entries too. One indexed lookup per language."""
    since = int(store.meta_get(f"exported:{lang}") or 0)
    older = store.translations_changed(lang, since) - {item.id for item in window}
    if not older:
        return window
    found = sorted(store.items_by_id(sorted(older)).values(), key=lambda item: item.id)
    return window + sorted(found, key=lambda item: item.published, reverse=True)

