"""The store: one SQLite file, reached through SQLAlchemy Core.

The SQL stays portable (no SQLite-only statements outside ``_sqlite_pragmas``
and the integrity check) so that a PostgreSQL URL can be used later. The
tables and their migrations live in ``schema.py``, the conversions between
rows and records (UTC dates, JSON columns) in ``rows.py``, the statements
its methods share (reads by a list of ids, the data version) in
``statements.py``; ``open_store`` applies the missing migrations.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Iterable

import sqlalchemy as sa

from .errors import StoreError
from .fetchlog import FetchLog
from .models import REVISION, Item, SourceItem, Translation
from .rows import from_iso, iso, item_from_row, item_values
from .schema import guids, items, memory, meta, migrate, pages, translations
from .statements import (among, arrive, bump, by_date_then_id_descending, instant_iso,
                         meta_put, revision_instants, still_as_read, unique_updated)

log = logging.getLogger(__name__)


class Store(FetchLog):
    """All reads and writes of syndicator's state (what sources and cycles did: FetchLog)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def forked(self) -> None:
        """Call first in a forked child: it opens connections of its own, and leaves
        the parent's, which two processes must not share, to the parent."""
        self.engine.dispose(close=False)

    # --- the data version: a counter bumped by every change a feed could show ----

    def meta_get(self, key: str, default: str = "") -> str:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
        return default if value is None else value

    def meta_set(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            meta_put(conn, key, value)

    def data_version(self) -> int:
        return int(self.meta_get("version", "0"))

    # --- items ---------------------------------------------------------------

    def upsert_items(self, found: Iterable[SourceItem], now: datetime) -> tuple[int, int]:
        """Store new items and edits; returns (new, updated). Unchanged items cost one read.

        New items arrive after every stored one, among themselves by date (the
        oldest first), so a cycle's order does not depend on its sources' order."""
        new: list[tuple[str, str]] = []  # (published, id) of each new item
        updated = 0
        starts: dict[str, datetime] = {}
        with self.engine.begin() as conn:
            latest = conn.execute(sa.select(sa.func.max(items.c.updated))).scalar()
            for item in found:
                row = conn.execute(sa.select(items.c.content_hash, items.c.published)
                                   .where(items.c.id == item.id)).first()
                if row is None:
                    values = item_values(item, now, None)
                    if latest and values["updated"] < latest:
                        # Found late (dated before what the feeds hold): it enters the
                        # subscription documents now, so it is "updated" now, and their
                        # own date, the newest entry's, never goes back.
                        values["updated"] = max(iso(now), values["updated"])
                    values = unique_updated(conn, values, starts)
                    conn.execute(items.insert().values(seq=bump(conn), **values))
                    new.append((values["published"], item.id))
                elif row.content_hash != item.content_hash:
                    # A changed date keeps the item's place (its arrival): pages show
                    # the new date, and nothing moves.
                    values = item_values(item, now, from_iso(row.published))
                    conn.execute(items.update().where(items.c.id == item.id).values(
                        seq=bump(conn), **unique_updated(conn, values, starts)))
                    updated += 1
            arrive(conn, by_date_then_id_descending(new))
        return len(new), updated

    def recent_items(self, limit: int | None) -> list[Item]:
        """Items newest first (by arrival: the order of every feed); ``limit=None``
        for all of them."""
        query = sa.select(items).order_by(items.c.arrival.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [item_from_row(r) for r in conn.execute(query)]

    def item_states(self, offset: int = 0, limit: int | None = None) -> list[sa.Row]:
        """Items newest first, as (id, published, updated, content_hash, seq) with
        ISO dates: what decides a feed's order and its archive pages, without bodies
        (read from a covering index). ``offset``/``limit`` take a slice of that order."""
        query = sa.select(items.c.id, items.c.published, items.c.updated,
                          items.c.content_hash, items.c.seq) \
            .order_by(items.c.arrival.desc()).offset(offset).limit(limit)
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def item_positions(self, item_ids: list[str]) -> dict[str, int]:
        """Each item's place in the newest-first order of ``item_states`` (0 = newest),
        counted on the order index: no item rows are read."""
        found = {}
        with self.engine.connect() as conn:
            for item_id in item_ids:
                arrival = conn.execute(sa.select(items.c.arrival)
                                       .where(items.c.id == item_id)).scalar_one()
                found[item_id] = conn.execute(sa.select(sa.func.count()).where(
                    items.c.arrival > arrival)).scalar()
        return found

    def changes_since(self, version: int, mark: int) -> tuple[set[str], set[str]]:
        """(ids of the items stored after ``mark``, ids of the older items changed
        after data version ``version``)."""
        new = self.items_after(mark)
        query = sa.select(items.c.id).where(items.c.seq > version)
        with self.engine.connect() as conn:
            return new, {r[0] for r in conn.execute(query)} - new

    def translations_changed(self, lang: str, version: int) -> set[str]:
        """Item ids whose translation into ``lang`` changed after data version ``version``."""
        query = sa.select(translations.c.item_id).where(translations.c.lang == lang,
                                                        translations.c.seq > version)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def last_item_mark(self) -> int:
        """The rowid of the newest stored item. Items are never deleted, so SQLite
        gives every later item a greater rowid (see ``items_after``)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT coalesce(max(rowid), 0) FROM items")).scalar()

    def items_after(self, mark: int) -> set[str]:
        """Ids of the items stored after ``last_item_mark()`` returned ``mark``."""
        with self.engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT id FROM items WHERE rowid > :mark"),
                                    {"mark": mark}).scalars())

    def items_by_id(self, item_ids: list[str]) -> dict[str, Item]:
        with self.engine.connect() as conn:
            found = map(item_from_row, among(conn, sa.select(items), items.c.id, item_ids))
            return {item.id: item for item in found}

    def items_needing(self, lang: str, include_awaiting: bool) -> list[Item]:
        """Items, newest arrival first, without an up-to-date translation into ``lang``.

        Two indexed lookups, never a scan of every item: items changed since this
        language's last translation run (``items.seq``), and items whose
        translation is stale or failed (or awaiting an engine, when one now
        serves the language, ``include_awaiting``).
        """
        pending = ["stale", "failed"] + (["awaiting"] if include_awaiting else [])
        since = int(self.meta_get(f"translated:{lang}", "0"))
        with self.engine.connect() as conn:
            changed = conn.execute(sa.select(items).where(items.c.seq > since)).all()
            retry = conn.execute(sa.select(items).join(translations, sa.and_(
                translations.c.item_id == items.c.id, translations.c.lang == lang))
                .where(translations.c.status.in_(pending))).all()
        rows = {row.id: row for row in [*changed, *retry]}
        candidates = {item_id: item_from_row(row) for item_id, row in rows.items()}
        current = self.translations_for(lang, list(candidates))
        done = ("translated", "reviewed") if include_awaiting else ("translated", "reviewed",
                                                                     "awaiting")
        needed = [item for item in candidates.values()
                  if item.id not in current or current[item.id].status not in done
                  or current[item.id].content_hash != item.content_hash]
        # In the feeds' order (newest arrival first): a run cut short by a stop
        # leaves the subscription window translated before the archive.
        return sorted(needed, key=lambda i: rows[i.id].arrival or 0, reverse=True)

    def translated_up_to(self, lang: str, version: int) -> None:
        """Every item changed up to ``version`` has been through translation into lang."""
        self.meta_set(f"translated:{lang}", str(version))

    def count_items(self) -> dict[str, int]:
        query = sa.select(items.c.source, sa.func.count()).group_by(items.c.source)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).all())

    # --- translations and memory --------------------------------------------

    def save_translations(self, done: Iterable[Translation], now: datetime,
                          read_at: dict[tuple[str, str], int | None] | None = None) -> None:
        """Store translations, each as its item's one row in its language.

        ``changed`` (when the text a feed shows last changed: a review delay counts
        from it) is kept when the translation carries one (a re-assembly into the same
        text, ``translate._dated``); a revision (``models.REVISION``, which dates its
        entry) gets an instant of its own in ``now``'s second (``statements.revision_instants``); else it
        is ``now``. ``seq`` is always the new data version: the row changed.

        ``read_at``: each (item id, language)'s ``seq`` when the caller read what it
        assembled the translation from. A row changed since (a translator's approval
        marked it stale meanwhile) is left as it is, for the next run to assemble.
        """
        # The last one per item and language wins, as one write after another would.
        done = list({(tr.item_id, tr.lang): tr for tr in done}.values())
        if not done:
            return
        with self.engine.begin() as conn:
            # First the write (SQLite begins the transaction there): from then on no
            # approval can commit between the check below and the rows saved.
            version = bump(conn)
            if read_at is not None:
                done = still_as_read(conn, done, read_at)
                if not done:
                    return
            changed = {}
            for lang in {tr.lang for tr in done}:
                fresh = [tr.item_id for tr in done
                         if tr.lang == lang and tr.changed is REVISION]
                if fresh:
                    changed.update(((item_id, lang), instant) for item_id, instant
                                   in revision_instants(conn, lang, fresh, now).items())
            # Two executemany statements, not two statements per row: building and
            # compiling a statement per row was most of a cycle that the translation
            # memory answers entirely (bench/cache_hit.py).
            conn.execute(translations.delete().where(
                translations.c.item_id == sa.bindparam("old_item"),
                translations.c.lang == sa.bindparam("old_lang")),
                [{"old_item": tr.item_id, "old_lang": tr.lang} for tr in done])
            conn.execute(translations.insert(), [
                {"item_id": tr.item_id, "lang": tr.lang, "content_hash": tr.content_hash,
                 "status": tr.status, "title": tr.title, "summary": tr.summary,
                 "body": tr.body, "engine": tr.engine, "reason": tr.reason,
                 "changed": iso(now) if tr.changed is None else changed[tr.item_id, tr.lang]
                 if tr.changed is REVISION else instant_iso(tr.changed), "seq": version,
                 "segments": json.dumps(tr.segments, ensure_ascii=False)} for tr in done])

    def mark_stale(self, lang: str | None = None, since: datetime | None = None) -> int:
        """Mark translations for re-translation (``translate --refresh``); returns how many.

        Memory entries stay: only segments whose key changed (model, glossary) miss.
        """
        query = translations.update().where(translations.c.status.in_(("translated", "reviewed")))
        if lang:
            query = query.where(translations.c.lang == lang)
        if since:
            query = query.where(translations.c.item_id.in_(
                sa.select(items.c.id).where(items.c.published >= iso(since))))
        with self.engine.begin() as conn:
            version = bump(conn)
            return conn.execute(query.values(status="stale", seq=version)).rowcount

    def translations_for(self, lang: str, item_ids: list[str]) -> dict[str, Translation]:
        """Translations by item id, with their per-segment record (news.po's entries)."""
        # The columns in Translation's field order, so rows fill it positionally.
        columns = [translations.c[f.name] for f in dataclasses.fields(Translation)]
        found = {}
        with self.engine.connect() as conn:
            query = sa.select(*columns).where(translations.c.lang == lang)
            for row in among(conn, query, translations.c.item_id, item_ids):
                found[row[0]] = Translation(*row[:9], from_iso(row[9]),
                                            tuple(map(tuple, json.loads(row[10]))))
        return found

    def translated_texts(self, lang: str, item_ids: list[str]) -> dict[str, sa.Row]:
        """Per item id: (item_id, title, summary, body, engine, changed) of its translation
        into ``lang``, the fields a feed shows, ``changed`` as ISO text (by name too:
        ``row.body``, but unpacking is 15 times as fast). A full rebuild reads 60,000; a
        ``Translation`` each, with its other columns and its parsed date, cost 45 ms more
        per language (the 10,000-item benchmark store)."""
        query = sa.select(translations.c.item_id, translations.c.title, translations.c.summary,
                          translations.c.body, translations.c.engine, translations.c.changed
                          ).where(translations.c.lang == lang)
        with self.engine.connect() as conn:
            return {row[0]: row for row in among(conn, query, translations.c.item_id, item_ids)}

    def translation_seqs(self, lang: str, item_ids: list[str]) -> dict[str, int | None]:
        """The data version of each translation's last change (None: before v3)."""
        with self.engine.connect() as conn:
            return dict(among(conn, sa.select(translations.c.item_id, translations.c.seq)
                               .where(translations.c.lang == lang),
                               translations.c.item_id, item_ids))

    def translation_states(self, lang: str, item_ids: list[str] | None = None
                           ) -> dict[str, sa.Row]:
        """Per item id: (item_id, content_hash, status, changed, seq) of its translation
        into ``lang`` (of ``item_ids`` only, if given), read from a covering index."""
        query = sa.select(translations.c.item_id, translations.c.content_hash,
                          translations.c.status, translations.c.changed,
                          translations.c.seq).where(translations.c.lang == lang)
        with self.engine.connect() as conn:
            if item_ids is None:
                return {r[0]: r for r in conn.execute(query).all()}
            return {r[0]: r for r in among(conn, query, translations.c.item_id, item_ids)}

    # --- published archive pages ---------------------------------------------

    def page_stamps(self, lang: str) -> dict[int, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(pages.c.page, pages.c.stamp)
                                     .where(pages.c.lang == lang)).all())

    def page_counts(self) -> dict[str, int]:
        """How many archive pages each language has published."""
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(pages.c.lang, sa.func.count())
                                     .group_by(pages.c.lang)).all())

    def save_page_stamps(self, lang: str, stamps: dict[int, str], count: int) -> None:
        """Record the digests of pages just published; forget pages beyond ``count``."""
        with self.engine.begin() as conn:
            conn.execute(pages.delete().where(pages.c.lang == lang, sa.or_(
                pages.c.page > count, pages.c.page.in_(list(stamps)))))
            if stamps:
                conn.execute(pages.insert(), [{"lang": lang, "page": p, "stamp": s}
                                              for p, s in stamps.items()])

    def translation_counts(self) -> dict[str, dict[str, int]]:
        query = sa.select(translations.c.lang, translations.c.status, sa.func.count()) \
            .group_by(translations.c.lang, translations.c.status)
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for lang, status, n in conn.execute(query):
                counts.setdefault(lang, {})[status] = n
        return counts

    def failure_reasons(self, lang: str) -> dict[str, int]:
        query = (sa.select(translations.c.reason, sa.func.count())
                 .where(translations.c.lang == lang, translations.c.status == "failed")
                 .group_by(translations.c.reason))
        with self.engine.connect() as conn:
            return dict(conn.execute(query).all())

    def memory_get(self, keys: list[str]) -> dict[str, str]:
        with self.engine.connect() as conn:
            return dict(among(conn, sa.select(memory.c.key, memory.c.text), memory.c.key, keys))

    def memory_put(self, entries: dict[str, str]) -> None:
        if not entries:
            return
        with self.engine.begin() as conn:
            known = {row[0] for row in among(conn, sa.select(memory.c.key), memory.c.key,
                                              list(entries))}
            rows = [{"key": k, "text": v} for k, v in entries.items() if k not in known]
            if rows:
                conn.execute(memory.insert(), rows)

    # --- GUIDs ---------------------------------------------------------------

    def guids_for(self, lang: str, item_ids: list[str], make: callable) -> dict[str, str]:
        """Per-language GUIDs; new ones are made by ``make(item_id)`` and then never change."""
        with self.engine.begin() as conn:
            known = dict(among(conn, sa.select(guids.c.item_id, guids.c.guid)
                                .where(guids.c.lang == lang), guids.c.item_id, item_ids))
            fresh = [{"item_id": i, "lang": lang, "guid": make(i)}
                     for i in item_ids if i not in known]
            if fresh:
                conn.execute(guids.insert(), fresh)
            known.update({row["item_id"]: row["guid"] for row in fresh})
        return known

    def integrity_ok(self) -> bool:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (status, serve) never block a cycle
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_store(path: Path) -> Store:
    """Open (creating if needed) the SQLite store at ``path`` and migrate it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except sa.exc.DatabaseError as exc:
        raise StoreError(f"{path}: not a usable syndicator store ({exc.orig})") from None
    return Store(engine)
