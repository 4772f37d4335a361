"""Translators' catalogs: ``translations/<lang>/LC_MESSAGES/news.po``.

One entry per segment: ``msgctxt`` is the segment key, ``msgid`` the source
text, ``msgstr`` the translation, ``#.`` the engine that produced it, ``#:``
the item URL, ``#, fuzzy`` for machine output no human has reviewed.

A human correction wins for good. Filling or editing a ``msgstr`` and clearing
``fuzzy`` (in any PO editor, or on the review page) goes through
``approvals.approve``: the text is recorded in the store's ``approvals`` (the
approved translation memory) with its history, and the item is re-assembled.
No machine run, model change or ``--refresh`` touches an approval.

Writing merges, never clobbers: lock, re-read, merge, atomic replace. Entry
order is stable (new entries go at the end) and lines wrap the gettext way.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
from ast import literal_eval
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import polib
from babel.messages.plurals import get_plural

from .approvals import Approval, approvals_for, approve
from .config import Config
from . import pofile
from .publish.write import append_in_place, repair_append, write_if_changed
from .heap import frees_when_done
from .models import Item
from .store import Store

log = logging.getLogger(__name__)
WRAP = pofile.WIDTH
MACHINE_MARK = "machine:"


def catalog_path(config: Config, lang: str) -> Path:
    return config.translations_dir / lang / "LC_MESSAGES" / "news.po"


# --- news.po --------------------------------------------------------------------

@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if repair_append(path):
                log.warning("%s: took back the end of an append that a stopped process "
                            "left half-written; its entries are merged again", path)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path, lang: str, now: datetime | None = None) -> polib.POFile:
    if path.is_file():
        return polib.pofile(str(path), wrapwidth=WRAP)
    plurals = get_plural(lang)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M+0000")
    po = polib.POFile(wrapwidth=WRAP)
    po.header = (f"News content of syndicator, {lang}. To correct a translation, edit its\n"
                 "msgstr and clear the fuzzy flag: the next cycle publishes it, and no\n"
                 "machine run will ever overwrite it.")
    po.metadata = {"Project-Id-Version": "syndicator news", "POT-Creation-Date": stamp,
                   "PO-Revision-Date": stamp, "Last-Translator": "syndicator",
                   "Language-Team": lang, "Language": lang, "MIME-Version": "1.0",
                   "Content-Type": "text/plain; charset=UTF-8",
                   "Content-Transfer-Encoding": "8bit",
                   "Plural-Forms": plurals.plural_forms,
                   "X-Generator": "syndicator"}
    return po


def _translator(po: polib.POFile) -> str:
    """The PO editor's Last-Translator (Poedit, Lokalize and Weblate set it)."""
    name = po.metadata.get("Last-Translator", "").strip()
    return name if name and name != "syndicator" else "po-file"


def import_catalog(store: Store, config: Config, lang: str, now: datetime) -> int:
    """Approve every filled, non-fuzzy entry that differs from what the store knows."""
    path = catalog_path(config, lang)
    if not path.is_file():
        return 0
    stamp = repr(_stamp(path))
    if stamp == store.meta_get(f"po:{lang}"):
        return 0  # nobody touched the file since syndicator last read or wrote it
    count = _approve_saved(store, path, lang, now)
    store.meta_set(f"po:{lang}", stamp)
    return count


@frees_when_done  # the whole parsed file (see heap.collect_and_release)
def _approve_saved(store: Store, path: Path, lang: str, now: datetime) -> int:
    with _locked(path):
        po = _read(path, lang)
    known = approvals_for(store, lang)
    count = 0
    for entry in po:
        if entry.obsolete or entry.fuzzy or not entry.msgctxt or not entry.msgstr.strip():
            continue
        old = known.get(entry.msgctxt)
        if old and old.text == entry.msgstr.strip() and old.source_text == entry.msgid:
            continue
        count += approve(store, lang, entry.msgctxt, entry.msgid, entry.msgstr,
                         _translator(po), "po", now)
    return count


def export_catalog(store: Store, config: Config, lang: str, item_ids: list[str],
                   urls: dict[str, str], now: datetime) -> bool:
    """Merge this language's segments into news.po; returns True when the file changed.

    When the file is exactly as syndicator last wrote it and the only translations
    that changed since are of items it holds no entry for yet (new items), their
    entries are appended to the file's bytes without parsing it: the result is the
    same as a full merge, at a cost that does not grow with the file. When it is
    exactly as syndicator wrote it but old entries change too (an edited item),
    only ``item_ids``' entries are parsed and rewritten (``_splice``).
    """
    path = catalog_path(config, lang)
    version = str(store.data_version())
    merged = _append_new(store, config, lang, item_ids, urls, now)
    if merged is None:
        merged = _splice(store, config, lang, item_ids, urls)
    if merged is not None:
        store.meta_set(f"exported:{lang}", version)
        return merged
    return _merge_whole(store, lang, path, item_ids, urls, now, version)


@frees_when_done  # the whole parsed file (see heap.collect_and_release)
def _merge_whole(store: Store, lang: str, path: Path, item_ids: list[str],
                 urls: dict[str, str], now: datetime, version: str) -> bool:
    """The full merge: parse the file, merge ``item_ids``' segments, render it whole."""
    wanted = store.translations_for(lang, item_ids)
    approved = approvals_for(store, lang)
    for _attempt in range(5):
        with _locked(path):
            before = _stamp(path)
            po = _read(path, lang, now)
            by_key = {e.msgctxt: e for e in po if e.msgctxt}
            for item_id in item_ids:
                tr = wanted.get(item_id)
                for key, source, machine in (tr.segments if tr else ()):
                    _merge(po, by_key, key, source, machine, approved.get(key),
                           tr.engine, urls[item_id])
            data = pofile.render(po)
            # A PO editor does not take our lock: if the file changed while we merged,
            # merge again from its new contents rather than overwrite the save.
            if _stamp(path) == before:
                changed = write_if_changed(path, data)
                _written(store, lang, path, before, changed, _appendable(data))
                store.meta_set(f"exported:{lang}", version)
                return changed
    log.warning("%s kept changing while syndicator merged it; will retry next cycle", path)
    return False


def _written(store: Store, lang: str, path: Path, before: tuple, changed: bool,
             appendable: bool) -> None:
    """Remember the stamp of a file whose bytes are exactly syndicator's last merge.

    ``appendable``: the file ends with one entry and a single newline and holds no
    obsolete entries, so new entries may simply follow its last byte."""
    if changed:
        # Our own write must not look like a translator's save next cycle;
        # edits we have not imported yet stay visible (the stamp stays old).
        if repr(before) == store.meta_get(f"po:{lang}") or not before:
            store.meta_set(f"po:{lang}", repr(_stamp(path)))
    stamp = repr(_stamp(path))
    store.meta_set(f"po-written:{lang}", stamp)
    # Items stored after this mark have no entry in the file: their keys are new.
    store.meta_set(f"po-append:{lang}",
                   repr((stamp, store.last_item_mark())) if appendable else "")


def _appendable(data: bytes) -> bool:
    # Obsolete entries (#~) go last in gettext's order: new entries must come before them.
    return data.endswith(b"\n") and not data.endswith(b"\n\n") and b"#~ " not in data


def _append_new(store: Store, config: Config, lang: str, item_ids: list[str],
                urls: dict[str, str], now: datetime) -> bool | None:
    """The append-only merge (see ``export_catalog``); None when it does not apply.

    It applies when the file is byte for byte syndicator's last merge and every
    changed translation is of an item stored after that merge: none of their keys
    can be in the file. Their entries are then appended in place (journaled, see
    ``append_in_place``), and the file is never read: the cost does not grow
    with the catalog."""
    path = catalog_path(config, lang)
    since = store.meta_get(f"exported:{lang}")
    if not since or not path.is_file():
        return None
    seqs = store.translation_seqs(lang, item_ids)
    if any(seq is None for seq in seqs.values()):
        return None  # a row from before seq was recorded: merge the slow, sure way
    fresh = [i for i in item_ids if i in seqs and seqs[i] > int(since)]
    with _locked(path):
        before = _stamp(path)
        if repr(before) != store.meta_get(f"po-written:{lang}"):
            return None  # someone saved the file since syndicator wrote it
        if not fresh:
            return False
        mark = _append_mark(store, lang, before)
        if mark is None:
            return None  # not appendable (obsolete entries), or recorded by an older version
        if not set(fresh) <= store.items_after(mark):
            return None  # a re-translated item: its entries are updated in place
        wanted = store.translations_for(lang, fresh)
        keys = [key for tr in wanted.values() for key, _, _ in tr.segments]
        if not _plain(keys):
            return None  # a key gettext would wrap or escape: let polib write it
        approved = approvals_for(store, lang, keys)
        po, by_key = polib.POFile(wrapwidth=WRAP), {}
        for item_id in fresh:
            tr = wanted.get(item_id)
            for key, source, machine in (tr.segments if tr else ()):
                _merge(po, by_key, key, source, machine, approved.get(key), tr.engine,
                       urls[item_id])
        if not len(po):
            return False
        blocks = "\n\n".join("\n".join(pofile.entry_lines(e)) for e in po)
        if not append_in_place(path, ("\n" + blocks + "\n").encode("utf-8"), before):
            return None  # saved by an editor while we prepared: merge its new contents
        _written(store, lang, path, before, True, appendable=True)
        return True


def _append_mark(store: Store, lang: str, before: tuple) -> int | None:
    """The item mark recorded with the file's last write (see ``_written``) if the file
    is still byte for byte that write (stamp ``before``) and it was appendable;
    else None."""
    written, mark = literal_eval(store.meta_get(f"po-append:{lang}") or "('', 0)")
    return mark if written == repr(before) else None


def _plain(keys) -> bool:
    """True when every key's msgctxt line is written as is: no escapes, no wrapping."""
    return all(polib.escape(key) == key and len(f'msgctxt "{key}"') <= WRAP for key in keys)


# An entry's msgctxt line as pofile writes a key that needs no wrapping or escaping.
_MSGCTXT = re.compile(rb'^msgctxt "(.*)"$', re.MULTILINE)


def _splice(store: Store, config: Config, lang: str, item_ids: list[str],
            urls: dict[str, str]) -> bool | None:
    """The full merge (see ``export_catalog``) made on the file's bytes; None when it
    does not apply.

    It applies when the file is byte for byte syndicator's last merge, without
    obsolete entries, as for an append. Only the entries of ``item_ids`` are
    parsed and merged; every other entry keeps its bytes, which are what
    rendering it again would give, since syndicator rendered them; new entries
    go at the end, where the full merge puts them. The full merge parses and
    renders every entry: with an item edited in a catalog of 10,000 items
    (50,000 entries, 28 MB), ~4 s per language, growing with the history.
    """
    path = catalog_path(config, lang)
    if not path.is_file():
        return None
    wanted = store.translations_for(lang, item_ids)
    keys = {key.encode("utf-8"): key for tr in wanted.values() for key, _, _ in tr.segments}
    if not _plain(keys.values()):
        return None  # a key gettext would wrap or escape: let polib read the file
    approved = approvals_for(store, lang)
    with _locked(path):
        before = _stamp(path)
        if _append_mark(store, lang, before) is None:
            return None  # saved by someone else since, or not appendable (obsolete entries)
        blocks = path.read_bytes()[:-1].split(b"\n\n")  # the header, then one per entry
        where = {}  # key -> index of its block; the last one, as the full merge's by_key
        for index in range(1, len(blocks)):
            found = _MSGCTXT.search(blocks[index])
            if found and found.group(1) in keys:
                where[keys[found.group(1)]] = index
        po = polib.pofile(b"\n\n".join([blocks[0], *(blocks[i] for i in sorted(where.values()))])
                          .decode("utf-8"), wrapwidth=WRAP)
        by_key = {e.msgctxt: e for e in po if e.msgctxt}
        for item_id in item_ids:
            tr = wanted.get(item_id)
            for key, source, machine in (tr.segments if tr else ()):
                _merge(po, by_key, key, source, machine, approved.get(key), tr.engine,
                       urls[item_id])
        for key, index in where.items():
            blocks[index] = pofile.entry_bytes(by_key[key])
        blocks += [pofile.entry_bytes(entry) for key, entry in by_key.items() if key not in where]
        data = b"\n\n".join(blocks) + b"\n"
        if _stamp(path) != before:
            return None  # saved by an editor meanwhile: the full merge reads that save
        changed = write_if_changed(path, data)
        _written(store, lang, path, before, changed, _appendable(data))
        return changed


def _stamp(path: Path) -> tuple:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _mark(engine: str, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{MACHINE_MARK} {engine} ({digest})"


def _untouched_machine(entry: polib.POEntry) -> bool:
    """True when msgstr is still exactly the machine text syndicator wrote."""
    if not entry.msgstr:
        return True
    digest = hashlib.sha256(entry.msgstr.encode()).hexdigest()[:12]
    return f"({digest})" in entry.comment


def _merge(po, by_key, key: str, source: str, machine: str, approval: Approval | None,
           engine: str, url: str) -> None:
    entry = by_key.get(key)
    if entry is None:
        entry = polib.POEntry(msgctxt=key, msgid=source, occurrences=[(url, None)])
        po.append(entry)
        by_key[key] = entry
    if entry.msgid != source:
        # The source changed: fuzzy, with the previous source, keeping any human
        # text as the translator's starting point.
        entry.previous_msgid = entry.msgid
        entry.msgid = source
        if entry.msgstr and not _untouched_machine(entry):
            entry.flags = sorted(set(entry.flags) | {"fuzzy"})
            return
        entry.msgstr = ""
    if approval and approval.source_text == source:
        entry.msgstr, entry.comment = approval.text, f"reviewed by {approval.translator}"
        entry.flags = [f for f in entry.flags if f != "fuzzy"]
        entry.previous_msgid = None
    elif machine and _untouched_machine(entry) and not (entry.msgstr and not entry.fuzzy):
        entry.msgstr, entry.comment = machine, _mark(engine, machine)
        entry.flags = sorted(set(entry.flags) | {"fuzzy"})
    elif not machine and not entry.msgstr:
        entry.comment = "no engine serves this language yet: translate by hand"
        entry.flags = [f for f in entry.flags if f != "fuzzy"]


def _targets(config: Config) -> list[str]:
    return [lang for lang in config.targets if lang != config.source_language]


def import_catalogs(store: Store, config: Config, now: datetime) -> dict[str, int]:
    """Approve the human edits in every language's news.po; returns counts per language."""
    return {lang: import_catalog(store, config, lang, now) for lang in _targets(config)}


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
    changed = []
    for lang in _targets(config):
        items = items_to_merge(store, lang, window)
        if export_catalog(store, config, lang, [i.id for i in items],
                          {item.id: item.url for item in items}, now):
            changed.append(catalog_path(config, lang))
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
