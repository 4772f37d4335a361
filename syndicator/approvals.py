"""Human translations: approvals and their history.

One code path records a translator's text, whether it comes from a news.po
saved in a PO editor (``catalog.import_catalog``) or from the review page
(``web/review.py``); assembling an item's translation and the news.po merge read
them back.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable

import sqlalchemy as sa

from .models import item_key, item_of
from .rows import from_iso, iso
from .schema import approvals, history, items, translations
from .statements import ids_as_json, mark_segment_stale
from .store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Approval:
    lang: str
    seg_key: str
    source_text: str
    text: str
    translator: str
    approved_at: datetime
    # Texts approved under the key asked for before (from ``history``), when the
    # caller asked ``Approved`` for them: a copy of news.po saved before this
    # approval gives them back, and they are not a translator's new edit.
    earlier: frozenset[str] = frozenset()


def _approval(row) -> Approval:
    return Approval(row.lang, row.seg_key, row.source_text, row.text, row.translator,
                    from_iso(row.approved_at))


def approvals_for(store: Store, lang: str) -> list[Approval]:
    """Every approval of the language: a key may hold several, one per source text
    approved under it (see ``Approved``)."""
    with store.engine.connect() as conn:
        return [_approval(r) for r in conn.execute(
            sa.select(approvals).where(approvals.c.lang == lang))]


# CROSS JOIN makes SQLite take the prefixes as the outer loop, each a range of the
# primary key; a plain JOIN let it read every approval of the language instead.
_OF_ITEMS = sa.text(
    "SELECT a.* FROM json_each(:prefixes) AS p CROSS JOIN approvals AS a"
    " WHERE a.lang = :lang AND a.seg_key >= p.value || '#'"
    " AND a.seg_key < p.value || '$'")  # "$" follows "#"


def approvals_of_items(store: Store, lang: str, item_ids: list[str]) -> list[Approval]:
    """Every approval of these items' segments, whatever their keys are now.

    A segment key holds its block's number (``…#body[2]``), so a paragraph added
    above an approved one moves that approval's text to another key. One range
    of the primary key per item: the cost follows the items asked for. On
    SQLite, one statement for all of them (the prefixes bound as one JSON array):
    a statement per item was a third of a translation run that the memory
    answers entirely (bench/cache_hit.py)."""
    prefixes = [item_key(item_id) for item_id in item_ids]  # keys are "<prefix>#…"
    with store.engine.connect() as conn:
        if ids_as_json(conn):
            return [_approval(r) for r in conn.execute(_OF_ITEMS, {
                "prefixes": json.dumps(prefixes), "lang": lang})]
        return [_approval(r) for prefix in prefixes for r in conn.execute(
            sa.select(approvals).where(approvals.c.lang == lang,
                                       approvals.c.seg_key >= prefix + "#",
                                       approvals.c.seg_key < prefix + "$"))]


class Approved:
    """Approvals found for a segment by its key and source text.

    A block's approval follows its source text within the item: when blocks
    move (a paragraph inserted or removed above), the approval of a text the
    item still has is found under its new key, never given to the text that
    took over its old key, and approving that other text keeps it.
    """

    def __init__(self, found: Iterable[Approval], earlier: dict[str, set[str]] | None = None):
        """``earlier``: the texts approved under each key over time (``earlier_texts``),
        which ``get`` then gives with each approval."""
        self._earlier = earlier or {}
        self._exact: dict[tuple[str, str], Approval] = {}
        self._under_key: dict[str, list[Approval]] = {}  # newest first
        self._by_text: dict[tuple[str, str], Approval] = {}
        for approval in sorted(found, key=lambda a: a.approved_at):  # the latest wins
            self._exact[approval.seg_key, approval.source_text] = approval
            self._under_key.setdefault(approval.seg_key, []).insert(0, approval)
            self._by_text[item_of(approval.seg_key), approval.source_text] = approval

    def get(self, key: str, source: str) -> Approval | None:
        """The approval of this segment's source text: the one given under its key,
        else the newest of that text in the item, under whichever key it was given
        (None: none yet). A text an item holds twice keeps an approval per place."""
        approval = self._exact.get((key, source)) or self._by_text.get((item_of(key), source))
        if approval and key in self._earlier:
            return replace(approval, earlier=frozenset(self._earlier[key]))
        return approval

    def stale(self, key: str, item_texts: set[str]) -> Approval | None:
        """The key's approval when its source was edited: the newest one under the
        key that translated a text the item (whose segments' texts are
        ``item_texts``) no longer has."""
        return next((a for a in self._under_key.get(key, ())
                     if a.source_text not in item_texts), None)


def approve(store: Store, lang: str, seg_key: str, source_text: str, text: str,
            translator: str, via: str, now: datetime) -> bool:
    """Record a human translation; the one code path for PO files and the review page.

    Returns False when nothing changed (the same text was already approved).
    """
    if not text.strip():
        raise ValueError("an approved translation cannot be empty")
    if (kept := publishable(text)) != text.strip():
        log.warning("the approved text of %s [%s] had characters XML forbids (a pasted "
                    "line break is U+000B); they were removed", seg_key, lang)
    text = kept
    if not text:
        return False  # nothing but control characters: nothing to publish
    with store.engine.begin() as conn:
        # The new approval replaces this text's under this key, and those under keys
        # whose block the text has left (moved, then approved here): they would win
        # if the blocks moved back. One under a key that holds the same text now (a
        # text the item has twice) stays. Another text's approval under this key
        # stays too: its block moved, and it is found under its new key.
        here = _current_sources(conn, lang, seg_key)
        same_text = sa.and_(_of_item(lang, seg_key), approvals.c.source_text == source_text)
        rows = [r for r in conn.execute(sa.select(approvals).where(same_text)
                                        .order_by(approvals.c.approved_at))
                if r.seg_key == seg_key or (here and here.get(r.seg_key) != source_text)]
        row = next((r for r in rows if r.seg_key == seg_key), None)
        if row and row.text == text:
            return False
        row = row or (rows[-1] if rows else None)  # the text history records as replaced
        conn.execute(approvals.delete().where(
            same_text, approvals.c.seg_key.in_([r.seg_key for r in rows])))
        conn.execute(approvals.insert().values(
            lang=lang, seg_key=seg_key, source_text=source_text, text=text,
            translator=translator, approved_at=iso(now)))
        conn.execute(history.insert().values(
            lang=lang, seg_key=seg_key, translator=translator, at=iso(now),
            old_text=row.text if row else "", new_text=text, via=via))
        mark_segment_stale(conn, lang, seg_key)
    log.info("%s approved %s [%s] via %s", translator, seg_key, lang, via)
    return True


def _current_sources(conn, lang: str, seg_key: str) -> dict[str, str] | None:
    """Each segment key of the item's translation into ``lang`` and its source text
    now; None when the item has none yet (then no other key's approval is touched)."""
    found = conn.execute(sa.select(translations.c.segments).join(
        items, items.c.id == translations.c.item_id).where(
        items.c.key == item_of(seg_key), translations.c.lang == lang)).scalar()
    return {key: source for key, source, _machine in json.loads(found)} if found else None


def _of_item(lang: str, seg_key: str) -> sa.ColumnElement[bool]:
    prefix = item_of(seg_key)  # keys are "<item key>#…"; "$" follows "#"
    return sa.and_(approvals.c.lang == lang, approvals.c.seg_key >= prefix + "#",
                   approvals.c.seg_key < prefix + "$")


# What XML 1.0 forbids; one such character would make every feed of the language
# unwritable. Other invisible characters (bidi isolates, joiners) stay: a translator
# may need them.
_FORBIDDEN = re.compile("[\x00-\x08\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def publishable(text: str) -> str:
    """A translator's text as it is approved and published: stripped, without the
    characters XML forbids. Word's line break (Shift+Enter) pastes as U+000B: it and
    a page break become spaces."""
    return _FORBIDDEN.sub("", text.replace("\x0b", " ").replace("\x0c", " ")).strip()


def earlier_texts(store: Store, lang: str) -> dict[str, set[str]]:
    """Every text ever approved in the language, per key (its history: human edits
    only, so it stays small beside the translations)."""
    found: dict[str, set[str]] = {}
    with store.engine.connect() as conn:
        for key, text in conn.execute(sa.select(history.c.seg_key, history.c.new_text)
                                      .where(history.c.lang == lang)):
            found.setdefault(key, set()).add(text)
    return found


def segment_history(store: Store, lang: str, seg_key: str) -> list[dict]:
    query = (sa.select(history).where(history.c.lang == lang, history.c.seg_key == seg_key)
             .order_by(history.c.id))
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
