"""Statements the store's methods share, run on the caller's connection or
inside its transaction: reads by a list of ids, the meta table and its data
version, the unique ``updated`` instant of a stored item, the instants of
revised translations, the mark an approval leaves on its item's translation,
and the check that a translation was not changed while it was made."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from .rows import from_iso, iso, iter_chunks
from .models import item_of
from .schema import items, meta, translations

log = logging.getLogger(__name__)
CHUNK = 500  # ids per IN (...) clause: under SQLite's bound-variable limit


def among(conn: sa.Connection, query: sa.Select, column: sa.Column, ids: list) -> list:
    """The rows of ``query`` whose ``column`` is one of ``ids``.

    On SQLite, one statement, the ids bound as one JSON array (``json_each``),
    each looked up on the index: a full rebuild asks for 10,000 ids per language,
    and 20 IN lists of 500, each compiled anew by SQLAlchemy, took twice as long
    (0.31 s against 0.13-0.16 s per language, bench/publish.py). Elsewhere, IN lists.
    """
    if ids_as_json(conn):
        listed = sa.func.json_each(json.dumps(ids)).table_valued("value")
        return conn.execute(query.where(column.in_(sa.select(listed.c.value)))).all()
    return [row for chunk in iter_chunks(ids, CHUNK)
            for row in conn.execute(query.where(column.in_(chunk))).all()]


def ids_as_json(conn: sa.Connection) -> bool:
    return conn.dialect.name == "sqlite"


def meta_put(conn: sa.Connection, key: str, value: str) -> None:
    if conn.execute(sa.select(meta.c.key).where(meta.c.key == key)).first():
        conn.execute(meta.update().where(meta.c.key == key).values(value=value))
    else:
        conn.execute(meta.insert().values(key=key, value=value))


def bump(conn: sa.Connection) -> int:
    """Advance the data version, inside the caller's transaction."""
    current = conn.execute(sa.select(meta.c.value).where(meta.c.key == "version")).scalar()
    version = int(current or 0) + 1
    meta_put(conn, "version", str(version))
    return version


def arrive(conn: sa.Connection, item_ids: list[str]) -> None:
    """Give ``item_ids`` the next arrival numbers (``items.arrival``), in that order."""
    if not item_ids:
        return
    first = (conn.execute(sa.select(sa.func.max(items.c.arrival))).scalar() or 0) + 1
    conn.execute(items.update().where(items.c.id == sa.bindparam("item_id"))
                 .values(arrival=sa.bindparam("n")),
                 [{"item_id": i, "n": n} for n, i in enumerate(item_ids, first)])


def by_date_then_id_descending(rows: list[tuple[str, str]]) -> list[str]:
    """The ids of (published, id) ``rows`` in the order they arrive in: by date, the
    oldest first, and those sharing a date by id, descending, so that the newest-first
    order of the feeds lists them by id, as it did when it ordered by date."""
    by_id = sorted(rows, key=lambda row: row[1], reverse=True)
    return [item_id for _, item_id in sorted(by_id, key=lambda row: row[0])]  # stable


UPDATED_WINDOW = 3600  # seconds of `updated` values read at once by unique_updated


def unique_updated(conn: sa.Connection, values: dict, starts: dict[str, datetime]) -> dict:
    """Give each item its own `updated` instant (a second later when taken).

    Sites that publish dates without times give many items the same instant;
    feed readers and the W3C validator (DuplicateUpdated) expect entry
    `updated` values to differ. Stored once, so the value never moves again.
    ``starts`` (one per batch of writes): per instant asked for, where the next
    search for a free one starts, since every second before it is taken.
    """
    asked = values["updated"]
    moment = starts.get(asked) or from_iso(asked)
    while True:
        # The instants taken in the next hour, in one indexed read. A probe per
        # second made the k-th item of an instant cost k queries: an undated
        # archive of 1,200 items (all first seen "now") took 150 s to store.
        # iso() is fixed-width UTC, so its text sorts as the instants do.
        end = moment + timedelta(seconds=UPDATED_WINDOW)
        taken = set(conn.execute(sa.select(items.c.updated).where(
            items.c.updated >= iso(moment), items.c.updated < iso(end),
            items.c.id != values["id"])).scalars())
        while moment < end:
            if iso(moment) not in taken:
                starts[asked] = moment + timedelta(seconds=1)
                return {**values, "updated": iso(moment)}
            moment += timedelta(seconds=1)


def revision_instants(conn: sa.Connection, lang: str, item_ids: list[str], now: datetime
              ) -> dict[str, str]:
    """A ``changed`` for each revision of ``item_ids``' translations into ``lang``: all
    distinct, with microseconds (the mark of a revision, ``models.revised``).

    A revised entry is dated by its ``changed``, and feed readers and the W3C
    validator (DuplicateUpdated) expect a feed's entries to differ in ``updated``;
    a new model can revise a language's every entry in one cycle. So each takes
    its own instant in ``now``'s second, a microsecond apart, after the last one
    this language took in that second (kept in ``meta``: reading the language's
    ``changed`` values would cost as much as its archive). Microseconds, not the
    seconds items are spread by: a review delay counts from ``changed``, and 10,000
    revisions must not be dated, or held back, hours ahead. The first item given
    gets the latest instant: translation runs give the newest first.
    """
    second = now.astimezone(timezone.utc).replace(microsecond=0)
    start, key = iso(second), f"changed:{lang}"
    last = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
    moment = second
    if last and start <= last < iso(second + timedelta(seconds=1)):
        moment = from_iso(last)  # later in the same second
    found = {}
    for item_id in reversed(item_ids):
        moment += timedelta(microseconds=1 if moment.microsecond != 999_999 else 2)
        found[item_id] = instant_iso(moment)
    meta_put(conn, key, found[item_ids[0]])
    return found


def instant_iso(moment: datetime) -> str:
    """``rows.iso``, with the microseconds of an instant that has them: the same text
    for whole seconds, and the text of two instants still sorts as they do."""
    moment = moment.astimezone(timezone.utc)
    return iso(moment) if not moment.microsecond else moment.isoformat()


def mark_segment_stale(conn: sa.Connection, lang: str, seg_key: str) -> None:
    """Make the next cycle re-assemble the item a human just corrected, in the
    approval's own transaction: the approval is never stored without its mark."""
    key = item_of(seg_key)
    conn.execute(translations.update().where(
        translations.c.lang == lang,
        translations.c.item_id.in_(sa.select(items.c.id).where(items.c.key == key)))
        .values(status="stale", seq=bump(conn)))


def still_as_read(conn: sa.Connection, done: list, read_at: dict[tuple[str, str], int | None]
                  ) -> list:
    """The translations of ``done`` whose row has not changed since ``read_at``.

    An engine run takes minutes; a translator approving a block of an item in
    the chunk meanwhile marks its row stale. Saving over it would drop that
    approval until the item changed again: the row stays stale instead, and the
    next run assembles it with the approval."""
    now_at: dict[tuple[str, str], int | None] = {}
    for lang in {tr.lang for tr in done}:
        query = sa.select(translations.c.item_id, translations.c.seq).where(
            translations.c.lang == lang)
        ids = [tr.item_id for tr in done if tr.lang == lang]
        now_at.update(((item_id, lang), seq) for item_id, seq in
                      among(conn, query, translations.c.item_id, ids))
    kept = []
    for tr in done:
        if now_at.get((tr.item_id, tr.lang)) == read_at.get((tr.item_id, tr.lang)):
            kept.append(tr)
        else:
            log.info("%s [%s] changed while it was translated (an approval): "
                     "the next run assembles it", tr.item_id, tr.lang)
    return kept
