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

import sqlalchemy as sa

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


def approvals_for(store: Store, lang: str, keys: list[str] | None = None) -> dict[str, Approval]:
    query = sa.select(approvals).where(approvals.c.lang == lang)
    if keys is not None:
        query = query.where(approvals.c.seg_key.in_(keys))
    with store.engine.connect() as conn:
        return {r.seg_key: Approval(r.lang, r.seg_key, r.source_text, r.text, r.translator,
                                    from_iso(r.approved_at)) for r in conn.execute(query)}


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
