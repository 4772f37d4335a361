"""news.po on disk: read and written under a lock, merged three ways.

Writing merges, never clobbers: lock, re-read, merge, atomic replace. Entry
order is stable (new entries go at the end) and lines wrap the gettext way.
A merge is made in the cheapest way that gives the full merge's bytes:

- ``append_new``: only new items' entries, appended to the file's bytes;
- ``splice``: only the merged items' entries parsed and rewritten;
- ``merge_whole``: the whole file read, part by part, and rewritten.

The first two apply only while the file is byte for byte syndicator's last
write; a translator's save always gets the full merge.
"""
from __future__ import annotations

import fcntl
from array import array
import logging
import os
import re
from ast import literal_eval
from contextlib import contextmanager
from itertools import pairwise
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import polib
from babel.messages.plurals import get_plural

from .. import pofile
from ..approvals import Approved, approvals_for, approvals_of_items, earlier_texts
from ..heap import frees_when_done
from ..models import item_key
from ..publish.write import append_in_place, commit, discard, repair_append, stage
from ..store import Store
from .entries import Retired, merge, update

log = logging.getLogger(__name__)
WRAP = pofile.WIDTH


@contextmanager
def locked(path: Path) -> Iterator[None]:
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


def read(path: Path, lang: str, now: datetime | None = None) -> polib.POFile:
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


def stamp(path: Path) -> tuple:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def append_new(store: Store, path: Path, lang: str, item_ids: list[str],
                urls: dict[str, str], now: datetime) -> bool | None:
    """The append-only merge (see ``export_catalog``); None when it does not apply.

    It applies when the file is byte for byte syndicator's last merge and every
    changed translation is of an item stored after that merge: none of their keys
    can be in the file. Their entries are then appended in place (journaled, see
    ``append_in_place``), and the file is never read: the cost does not grow
    with the catalog."""
    since = store.meta_get(f"exported:{lang}")
    if not since or not path.is_file():
        return None
    seqs = store.translation_seqs(lang, item_ids)
    if any(seq is None for seq in seqs.values()):
        return None  # a row from before seq was recorded: merge the slow, sure way
    fresh = [i for i in item_ids if i in seqs and seqs[i] > int(since)]
    with locked(path):
        before = stamp(path)
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
        approved = Approved(approvals_of_items(store, lang, fresh))
        po, by_key = polib.POFile(wrapwidth=WRAP), {}
        for item_id in fresh:
            tr = wanted.get(item_id)
            for key, source, machine in (tr.segments if tr else ()):
                merge(po, by_key, key, source, machine, approved.get(key, source), tr.engine,
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


# An entry's msgctxt line as pofile writes a key that needs no wrapping or escaping,
# and a wrapped one: ``msgctxt ""`` and the key's pieces on the lines below.
_MSGCTXT = re.compile(rb'^msgctxt "(.*)"$', re.MULTILINE)
_WRAPPED = re.compile(rb'^msgctxt ""\n((?:".*"\n)+)', re.MULTILINE)


def _key_in(block: bytes) -> bytes | None:
    """The msgctxt of an entry block, as written (escapes are not undone)."""
    if found := _MSGCTXT.search(block):
        return found.group(1) or _wrapped_key(block)
    return None


def _wrapped_key(block: bytes) -> bytes | None:
    found = _WRAPPED.search(block)
    return b"".join(line[1:-1] for line in found.group(1).split(b"\n") if line) if found else None


def splice(store: Store, path: Path, lang: str, item_ids: list[str],
            urls: dict[str, str]) -> bool | None:
    """The full merge (see ``export_catalog``) made on the file's bytes; None when it
    does not apply.

    It applies when the file is byte for byte syndicator's last merge, without
    obsolete entries, as for an append. Only the entries of ``item_ids`` are
    parsed and merged (those of segments the items no longer have are dropped,
    as ``Retired`` says); every other entry keeps its bytes, which are what
    rendering it again would give, since syndicator rendered them; new entries
    go at the end, where the full merge puts them. The full merge parses and
    renders every entry: with an item edited in a catalog of 10,000 items
    (50,000 entries, 28 MB), ~4 s per language, growing with the history.
    """
    if not path.is_file():
        return None
    wanted = store.translations_for(lang, item_ids)
    keys = {key.encode("utf-8"): key for tr in wanted.values() for key, _, _ in tr.segments}
    if not _plain(keys.values()):
        return None  # a key gettext would wrap or escape: let polib read the file
    approved = Approved(approvals_for(store, lang), earlier_texts(store, lang))
    items = {item_key(i) for i, tr in wanted.items() if tr.segments}
    retired = Retired(items, set(keys.values()), approved)
    with locked(path):
        before = stamp(path)
        if _append_mark(store, lang, before) is None:
            return None  # saved by someone else since, or not appendable (obsolete entries)
        blocks = path.read_bytes().split(b"\n\n")  # the header, then one per entry
        blocks[-1] = blocks[-1][:-1]  # without the file's last newline
        where = {}  # key -> index of its block; the last one, as the full merge's by_key
        gone = []  # indexes of other blocks of these items: segments they no longer have
        items_bytes = {i.encode("utf-8") for i in items}
        for index in range(1, len(blocks)):
            key = _key_in(blocks[index])
            if key in keys:
                where[keys[key]] = index
            elif key and key.rsplit(b"#", 1)[0] in items_bytes:
                gone.append(index)  # a wrapped key too: polib reads it for Retired
        po = _parsed(blocks, sorted(where.values()))
        by_key = {e.msgctxt: e for e in po if e.msgctxt}
        for index, entry in zip(gone, _parsed(blocks, gone)):
            if retired(entry):
                blocks[index] = None
        for item_id in item_ids:
            tr = wanted.get(item_id)
            for key, source, machine in (tr.segments if tr else ()):
                merge(po, by_key, key, source, machine, approved.get(key, source), tr.engine,
                      urls[item_id])
        for key, index in where.items():
            blocks[index] = pofile.entry_bytes(by_key[key])
        blocks += [pofile.entry_bytes(entry) for key, entry in by_key.items() if key not in where]
        pieces = _Blocks(block for block in blocks if block is not None)
        tmp = stage(path, pieces)  # not joined: the file's bytes are held once, not twice
        if stamp(path) != before:
            discard(tmp)
            return None  # saved by an editor meanwhile: the full merge reads that save
        if tmp is not None:
            commit(tmp, path)
        _written(store, lang, path, before, tmp is not None, pieces.appendable)
        return tmp is not None


def _parsed(blocks: list[bytes], indexes: list[int]) -> polib.POFile:
    """The entries of ``blocks[indexes]``, parsed under the file's header (block 0)."""
    return polib.pofile(b"\n\n".join([blocks[0], *(blocks[i] for i in indexes)])
                        .decode("utf-8"), wrapwidth=WRAP)


def merge_whole(store: Store, lang: str, path: Path, item_ids: list[str],
                 urls: dict[str, str], now: datetime, version: str) -> bool:
    """The full merge: read the file, merge ``item_ids``' segments, write it whole.

    The file is read and written part by part (``_merged_in_parts``), so that
    memory does not grow with the catalog; where that could differ from polib's
    reading of the whole file (``pofile.Unstreamable``), it is parsed whole."""
    wanted = store.translations_for(lang, item_ids)
    approved = Approved(approvals_for(store, lang), earlier_texts(store, lang))
    merges: dict[str, list[tuple]] = {}  # key -> its _merge calls, in the full merge's order
    for item_id in item_ids:
        tr = wanted.get(item_id)
        for key, source, machine in (tr.segments if tr else ()):
            merges.setdefault(key, []).append(
                (source, machine, approved.get(key, source), tr.engine, urls[item_id]))
    segmented = [item_id for item_id, tr in wanted.items() if tr.segments]
    # Only these items' approvals are kept through the merge, not the language's.
    retired = Retired({item_key(i) for i in segmented}, set(merges),
                      Approved(approvals_of_items(store, lang, segmented)))
    del wanted, approved
    for _attempt in range(5):
        with locked(path):
            before = stamp(path)
            tmp, blocks = _stage_merge(path, lang, merges, retired, now)
            # A PO editor does not take our lock: if the file changed while we merged,
            # merge again from its new contents rather than overwrite the save.
            if stamp(path) == before:
                if tmp is not None:
                    commit(tmp, path)
                _written(store, lang, path, before, tmp is not None, blocks.appendable)
                store.meta_set(f"exported:{lang}", version)
                return tmp is not None
            discard(tmp)
    log.warning("%s kept changing while syndicator merged it; will retry next cycle", path)
    return False


def _stage_merge(path: Path, lang: str, merges: dict[str, list[tuple]], retired: Retired,
                 now: datetime) -> tuple[str | None, "_Blocks"]:
    """The merged file in a temp file beside ``path`` (None: the same bytes as now)."""
    try:
        blocks = _Blocks(_merged_in_parts(path, lang, merges, retired, now))
        return stage(path, blocks), blocks
    except pofile.Unstreamable as why:
        log.info("%s: read whole (%s)", path, why)
    # Parsed whole outside the except block: its traceback would keep the
    # abandoned reading's part and obsolete entries alive under the whole parse.
    return _stage_parsed_whole(path, lang, merges, retired, now)


@frees_when_done  # the whole parsed file (see heap.collect_and_release)
def _stage_parsed_whole(path: Path, lang: str, merges: dict[str, list[tuple]],
                        retired: Retired, now: datetime) -> tuple[str | None, "_Blocks"]:
    blocks = _Blocks(_merged_parsed_whole(path, lang, merges, retired, now))
    return stage(path, blocks), blocks


def _merged_in_parts(path: Path, lang: str, merges: dict[str, list[tuple]],
                     retired: Retired, now: datetime) -> Iterator[bytes]:
    """The full merge's blocks (``pofile.blocks``), made from one part of the file
    at a time: the entries of ``merges``' keys are merged as they pass, ``retired``
    ones are left out, the keys the file lacks become new entries after the last
    entry, and obsolete entries go last. A key found twice raises ``Unstreamable``: the whole parse merges
    into the last of them, and which is last is known only at the end."""
    parts = pofile.read_in_parts(path) if path.is_file() else [read(path, lang, now)]
    # Every key's hash, 8 bytes an entry: a key twice is only found at the end, and
    # sends the file to the whole parse (exact; a hash collision costs only that).
    merged, obsolete, keys = set(), [], array("q")
    for number, part in enumerate(parts):
        if number == 0:
            yield pofile.header_bytes(part)
        for entry in part:
            if entry.msgctxt and not entry.obsolete:
                keys.append(hash(entry.msgctxt))
            if entry.msgctxt and entry.msgctxt in merges:  # as the whole merge's by_key
                merged.add(entry.msgctxt)
                for source, machine, approval, engine, _url in merges[entry.msgctxt]:
                    update(entry, source, machine, approval, engine)
            if entry.obsolete:
                obsolete.append(pofile.entry_bytes(entry))
            elif not retired(entry):
                yield pofile.entry_bytes(entry)
    if any(a == b for a, b in pairwise(sorted(keys))):
        raise pofile.Unstreamable("a msgctxt is in it twice")  # _duplicates mends it
    new, by_key = polib.POFile(), {}
    for key, calls in merges.items():
        for args in (calls if key not in merged else ()):
            merge(new, by_key, key, *args)
    yield from (pofile.entry_bytes(entry) for entry in new)
    yield from obsolete


def _merged_parsed_whole(path: Path, lang: str, merges: dict[str, list[tuple]],
                         retired: Retired, now: datetime) -> Iterator[bytes]:
    po = read(path, lang, now)
    by_key = {e.msgctxt: e for e in po if e.msgctxt}
    _duplicates(po, path)
    for entry in [e for e in po if retired(e)]:
        po.remove(entry)
    for key, calls in merges.items():
        for args in calls:
            merge(po, by_key, key, *args)
    yield from pofile.blocks(po)


def _duplicates(po: polib.POFile, path: Path) -> None:
    """An entry whose msgctxt a later entry has too (an editor's copy and paste) is
    removed: msgfmt refuses the pair, even as an obsolete entry, and the later one
    is the one imported. A different text of it stays, as a translator's comment
    on the later one."""
    last = {e.msgctxt: e for e in po if e.msgctxt and not e.obsolete}
    for entry in [e for e in po if e.msgctxt and not e.obsolete]:
        kept = last[entry.msgctxt]
        if kept is entry:
            continue
        po.remove(entry)
        if entry.msgstr and entry.msgstr != kept.msgstr:
            note = f"an earlier copy of this entry said: {entry.msgstr}"
            kept.tcomment = f"{kept.tcomment}\n{note}" if kept.tcomment else note
        log.warning("%s: msgctxt %r is in it twice; the later entry is used, the earlier "
                    "one removed (a different text of it is kept as a comment)", path,
                    entry.msgctxt)


class _Blocks:
    """A PO file's bytes, passed on block by block as ``pofile.render`` joins them,
    noting whether the whole is appendable (see ``_written``)."""

    def __init__(self, blocks: Iterator[bytes]):
        self._blocks, self._end, self._obsolete = blocks, b"", False

    def __iter__(self) -> Iterator[bytes]:
        for number, block in enumerate(self._blocks):
            self._obsolete = self._obsolete or b"#~ " in block
            if number:
                yield b"\n\n"
            yield block
            self._end = (self._end + (b"\n\n" if number else b"") + block[-2:])[-2:]
        self._end = (self._end + b"\n")[-2:]
        yield b"\n"

    @property
    def appendable(self) -> bool:
        # Obsolete entries (#~) go last in gettext's order: new ones must come before.
        end = self._end
        return end.endswith(b"\n") and not end.endswith(b"\n\n") and not self._obsolete


def _written(store: Store, lang: str, path: Path, before: tuple, changed: bool,
             appendable: bool) -> None:
    """Remember the stamp of a file whose bytes are exactly syndicator's last merge.

    ``appendable``: the file ends with one entry and a single newline and holds no
    obsolete entries, so new entries may simply follow its last byte."""
    if changed:
        # Our own write must not look like a translator's save next cycle;
        # edits we have not imported yet stay visible (the stamp stays old).
        if repr(before) == store.meta_get(f"po:{lang}") or not before:
            store.meta_set(f"po:{lang}", repr(stamp(path)))
    written = repr(stamp(path))
    store.meta_set(f"po-written:{lang}", written)
    # Items stored after this mark have no entry in the file: their keys are new.
    store.meta_set(f"po-append:{lang}",
                   repr((written, store.last_item_mark())) if appendable else "")
