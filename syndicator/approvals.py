"""Human translations: approvals and their history.

One code path records a translator's text, whether it comes from a news.po
saved in a PO editor (``catalog.import_catalog``) or from the review page
(``web/review.py``); assembling an item's translation and the news.po merge read
them back.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import sqlalchemy as sa

from .models import item_key
from .rows import from_iso, iso
from .schema import approvals, history
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


def _approval(row) -> Approval:
    return Approval(row.lang, row.seg_key, row.source_text, row.text, row.translator,
                    from_iso(row.approved_at))


def approvals_for(store: Store, lang: str, keys: list[str] | None = None) -> dict[str, Approval]:
    query = sa.select(approvals).where(approvals.c.lang == lang)
    if keys is not None:
        query = query.where(approvals.c.seg_key.in_(keys))
    with store.engine.connect() as conn:
        return {r.seg_key: _approval(r) for r in conn.execute(query)}


def approvals_of_items(store: Store, lang: str, item_ids: list[str]) -> list[Approval]:
    """Every approval of these items' segments, whatever their keys are now.

    A segment key holds its block's number (``…#body[2]``), so a paragraph added
    above an approved one moves that approval's text to another key. One range
    of the primary key per item: the cost follows the items asked for."""
    found = []
    with store.engine.connect() as conn:
        for item_id in item_ids:
            prefix = item_key(item_id)  # every key of the item starts with "<prefix>#"
            found += [_approval(r) for r in conn.execute(sa.select(approvals).where(
                approvals.c.lang == lang, approvals.c.seg_key >= prefix + "#",
                approvals.c.seg_key < prefix + "$"))]  # "$" follows "#"
    return found


class Approved:
    """Approvals found for a segment by its key and source text.

    A block's approval follows its source text within the item: when blocks
    move (a paragraph inserted or removed above), the approval of a text the
    item still has is found under its new key, never given to the text that
    took over its old key.
    """

    def __init__(self, found: Iterable[Approval]):
        self._by_key: dict[str, Approval] = {}
        self._by_text: dict[tuple[str, str], Approval] = {}
        for approval in sorted(found, key=lambda a: a.approved_at):  # the latest wins
            self._by_key[approval.seg_key] = approval
            self._by_text[_item_of(approval.seg_key), approval.source_text] = approval

    def get(self, key: str, source: str) -> Approval | None:
        """The approval of this segment's source text (None: none yet)."""
        approval = self._by_key.get(key)
        if approval and approval.source_text == source:
            return approval
        return self._by_text.get((_item_of(key), source))

    def stale(self, key: str, item_texts: set[str]) -> Approval | None:
        """The key's approval when its source was edited: it translated a text that
        the item (whose segments' texts are ``item_texts``) no longer has."""
        approval = self._by_key.get(key)
        return approval if approval and approval.source_text not in item_texts else None


def _item_of(seg_key: str) -> str:
    return seg_key.rsplit("#", 1)[0]


def approve(store: Store, lang: str, seg_key: str, source_text: str, text: str,
            translator: str, via: str, now: datetime) -> bool:
    """Record a human translation; the one code path for PO files and the review page.

    Returns False when nothing changed (the same text was already approved).
    """
    text = text.strip()
    if not text:
        raise ValueError("an approved translation cannot be empty")
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(approvals).where(
            approvals.c.lang == lang, approvals.c.seg_key == seg_key)).first()
        if row and row.text == text and row.source_text == source_text:
            return False
        conn.execute(approvals.delete().where(approvals.c.lang == lang,
                                              approvals.c.seg_key == seg_key))
        conn.execute(approvals.insert().values(
            lang=lang, seg_key=seg_key, source_text=source_text, text=text,
            translator=translator, approved_at=iso(now)))
        conn.execute(history.insert().values(
            lang=lang, seg_key=seg_key, translator=translator, at=iso(now),
            old_text=row.text if row else "", new_text=text, via=via))
    store.mark_segment_stale(lang, seg_key)
    log.info("%s approved %s [%s] via %s", translator, seg_key, lang, via)
    return True


def segment_history(store: Store, lang: str, seg_key: str) -> list[dict]:
    query = (sa.select(history).where(history.c.lang == lang, history.c.seg_key == seg_key)
             .order_by(history.c.id))
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
