"""The store's tables and their migrations (SQLAlchemy Core, portable SQL).

``MIGRATIONS[n]`` takes a store from schema version n to n + 1; ``migrate``
applies the missing ones in one transaction and refuses a newer store.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from .errors import StoreError

log = logging.getLogger(__name__)
metadata = sa.MetaData()

items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, nullable=False, index=True),
    sa.Column("guid", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False, default=""),
    sa.Column("image", sa.Text),  # JSON [url, type, length]
    sa.Column("categories", sa.Text, nullable=False, default="[]"),
    sa.Column("published", sa.Text, nullable=False, index=True),  # ISO 8601 UTC
    sa.Column("updated", sa.Text, nullable=False, index=True),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("key", sa.Text, index=True),  # models.item_key(id), for news.po (added in v2)
    sa.Column("seq", sa.Integer, index=True),  # data version of its last change (added in v2)
    # Its place in the order items arrived in, 1 for the first; never changes (v7).
    # Feeds order by it, newest first: a late-found item dated years back still
    # enters the subscription documents, and archive pages never reshuffle.
    sa.Column("arrival", sa.Integer),
)
translations = sa.Table(
    "translations", metadata,
    sa.Column("item_id", sa.Text, primary_key=True),
    sa.Column("lang", sa.Text, primary_key=True),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False, default=""),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("body", sa.Text, nullable=False, default=""),
    sa.Column("engine", sa.Text, nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("changed", sa.Text, nullable=False),
    # JSON {segment key: [source text, machine text]}, for news.po (added in v2).
    sa.Column("segments", sa.Text, nullable=False, server_default="{}"),
    # The data version of the row's last change (added in v3): archive pages compare it.
    sa.Column("seq", sa.Integer),
)
memory = sa.Table(  # translation memory: nothing is translated twice
    "memory", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)
guids = sa.Table(  # per-language GUIDs, fixed at first publication
    "guids", metadata,
    sa.Column("item_id", sa.Text, primary_key=True),
    sa.Column("lang", sa.Text, primary_key=True),
    sa.Column("guid", sa.Text, nullable=False, unique=True),
)
http_cache = sa.Table(  # validators for conditional GET
    "http_cache", metadata,
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("etag", sa.Text, nullable=False, default=""),
    sa.Column("last_modified", sa.Text, nullable=False, default=""),
)
source_state = sa.Table(
    "source_state", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("last_attempt", sa.Text, nullable=False, default=""),
    sa.Column("last_success", sa.Text, nullable=False, default=""),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    # Added in v2: back off after failures, and remember how much the source yields.
    sa.Column("next_attempt", sa.Text, nullable=False, server_default=""),
    sa.Column("last_count", sa.Integer, nullable=False, server_default="0"),
)
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started", sa.Text, nullable=False),
    sa.Column("finished", sa.Text, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
)
schema_version = sa.Table(
    "schema_version", metadata, sa.Column("version", sa.Integer, nullable=False),
)


def _v1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[items, translations, memory, guids, http_cache,
                                  source_state, runs])


approvals = sa.Table(  # human translations: they win over machine output, for good
    "approvals", metadata,
    sa.Column("lang", sa.Text, primary_key=True),
    sa.Column("seg_key", sa.Text, primary_key=True),  # the msgctxt of news.po
    # The msgid it translates. Part of the key (v8): a key's block may move, and the
    # text that takes over the key gets its own approval beside the moved one's.
    sa.Column("source_text", sa.Text, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("translator", sa.Text, nullable=False),
    sa.Column("approved_at", sa.Text, nullable=False),
)
history = sa.Table(  # every human change, for the per-segment history
    "history", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lang", sa.Text, nullable=False),
    sa.Column("seg_key", sa.Text, nullable=False, index=True),
    sa.Column("translator", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("old_text", sa.Text, nullable=False),
    sa.Column("new_text", sa.Text, nullable=False),
    sa.Column("via", sa.Text, nullable=False),  # "po" | "web"
)
translators = sa.Table(
    "translators", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("languages", sa.Text, nullable=False),  # JSON array
    sa.Column("created", sa.Text, nullable=False),
)
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id_hash", sa.Text, primary_key=True),  # sha256 of the cookie value
    sa.Column("translator", sa.Text, nullable=False),
    sa.Column("csrf", sa.Text, nullable=False),
    sa.Column("expires", sa.Text, nullable=False),
)
meta = sa.Table(  # small named values: the data version and what each stage last saw
    "meta", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
login_failures = sa.Table(
    "login_failures", metadata,
    sa.Column("key", sa.Text, primary_key=True),  # "user:<name>" or "ip:<address>"
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last", sa.Text, nullable=False),
)


def _v2(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[approvals, history, translators, sessions, login_failures,
                                      meta])
    # Per-segment source and machine text of each translation, for news.po. A store
    # created by v1 of this file already has the column (v1 creates the current table).
    if "segments" not in {c["name"] for c in sa.inspect(conn).get_columns("translations")}:
        conn.execute(sa.text("ALTER TABLE translations ADD COLUMN segments TEXT NOT NULL "
                             "DEFAULT '{}'"))
    state_columns = {c["name"] for c in sa.inspect(conn).get_columns("source_state")}
    for name, ddl in (("next_attempt", "TEXT NOT NULL DEFAULT ''"),
                      ("last_count", "INTEGER NOT NULL DEFAULT 0")):
        if name not in state_columns:
            conn.execute(sa.text(f"ALTER TABLE source_state ADD COLUMN {name} {ddl}"))
    item_columns = {c["name"] for c in sa.inspect(conn).get_columns("items")}
    for name in ("key", "seq"):
        if name not in item_columns:
            kind = "TEXT" if name == "key" else "INTEGER"
            conn.execute(sa.text(f"ALTER TABLE items ADD COLUMN {name} {kind}"))
            conn.execute(sa.text(f"CREATE INDEX ix_items_{name} ON items ({name})"))
    from .models import item_key
    for (item_id,) in conn.execute(sa.select(items.c.id).where(items.c.key.is_(None))).all():
        conn.execute(items.update().where(items.c.id == item_id).values(key=item_key(item_id)))


pages = sa.Table(  # per published archive page: a digest of what it shows (added in v3)
    "pages", metadata,
    sa.Column("lang", sa.Text, primary_key=True),
    sa.Column("page", sa.Integer, primary_key=True),
    sa.Column("stamp", sa.Text, nullable=False),
)
# Covering indexes (v3): publishing orders every item and reads each language's
# translation states without touching the rows' bodies; a translation's
# language is found without a scan.
INDEXES = {  # (v3 also made ix_items_order, by date; v7 replaced it: ARRIVAL_INDEX)
    "ix_translations_state": ("translations", "lang, item_id, content_hash, status, seq, "
                                              "changed"),
}


def _v3(conn: sa.Connection) -> None:
    # Stores written by 88c4a98..02a97ee say version 2, but their v2 step did not
    # yet add the meta table and items.seq (2019e29 put them into _v2 itself).
    # _v2 only adds what is missing, so running it again completes them; for any
    # other store it changes nothing.
    _v2(conn)
    if "seq" not in {c["name"] for c in sa.inspect(conn).get_columns("translations")}:
        conn.execute(sa.text("ALTER TABLE translations ADD COLUMN seq INTEGER"))
    # Rows from before v3 count as changed at version 0: the first merge of news.po
    # and the first publication after the migration take everything in anyway.
    conn.execute(translations.update().where(translations.c.seq.is_(None)).values(seq=0))
    metadata.create_all(conn, tables=[pages])
    for name, (table, columns) in INDEXES.items():
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"))


def _v4(conn: sa.Connection) -> None:
    # Publishing reads only the translations changed since it last ran.
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_translations_seq "
                         "ON translations (lang, seq)"))


def _v5(conn: sa.Connection) -> None:
    # Every cycle, idle ones too, asks per language for the translations to retry
    # (stale, failed, awaiting). Through ix_translations_state that read every
    # translation of the language: ~5 ms per language of 10,000 items, growing with
    # the archive. This index finds just those rows, and covers the lookup.
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_translations_pending "
                         "ON translations (lang, status, item_id)"))


def _v6(conn: sa.Connection) -> None:
    # Items stored before v2, or by the early v2 step, kept items.seq NULL: _v2 added
    # the column and nothing filled it. A language finds its work by items.seq above
    # the data version it last translated up to, or by a translation row it already
    # has, and a target language added later has neither for those items: they
    # stayed "awaiting translation" for good. They get one new data version, later
    # than every language's mark, so each language looks at them once more: the
    # ones it already translated are skipped, the missing ones are translated.
    if conn.execute(sa.select(items.c.id).where(items.c.seq.is_(None)).limit(1)).first() is None:
        return
    from .statements import bump  # statements imports this module
    conn.execute(items.update().where(items.c.seq.is_(None)).values(seq=bump(conn)))


def _v7(conn: sa.Connection) -> None:
    # Feeds were ordered by publication date, so an item found late (a backdated
    # article, a new source's back catalogue) went straight into an archive page,
    # never into the subscription documents, and moved every newer archived entry
    # along (RFC 5005 archive pages should not change). They are now ordered by
    # arrival. The items already stored arrive in the order they had: by date, the
    # newest last, so every published page stays as it is.
    if "arrival" not in {c["name"] for c in sa.inspect(conn).get_columns("items")}:
        conn.execute(sa.text("ALTER TABLE items ADD COLUMN arrival INTEGER"))
    from .statements import arrive  # statements imports this module
    arrive(conn, conn.execute(sa.select(items.c.id).where(items.c.arrival.is_(None)).order_by(
        items.c.published, items.c.id.desc())).scalars().all())
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_items_order"))
    conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS ix_items_arrival ON items "
                         f"({ARRIVAL_INDEX})"))


def _v8(conn: sa.Connection) -> None:
    # An approval belongs to the source text it translates, wherever in its item
    # that text is now. Keyed by (lang, seg_key) alone, approving the paragraph that
    # took over a moved paragraph's key deleted the moved paragraph's approval.
    conn.execute(sa.text("ALTER TABLE approvals RENAME TO approvals_v7"))
    approvals.create(conn)
    conn.execute(sa.text("INSERT INTO approvals SELECT lang, seg_key, source_text, text, "
                         "translator, approved_at FROM approvals_v7"))
    conn.execute(sa.text("DROP TABLE approvals_v7"))


# Covering: publishing orders every item, and reads the states that decide its
# archive pages, without touching the rows' bodies (v7; ix_items_order before).
ARRIVAL_INDEX = "arrival DESC, id, published, updated, content_hash, seq"
MIGRATIONS = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8]  # index + 1: the schema version each produces


def migrate(engine: sa.Engine) -> int:
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        current = conn.execute(sa.select(schema_version.c.version)).scalar() or 0
        if current > len(MIGRATIONS):
            raise StoreError(f"the store has schema version {current}, newer than this "
                             f"syndicator knows ({len(MIGRATIONS)}); upgrade syndicator")
        for version in range(current + 1, len(MIGRATIONS) + 1):
            log.info("migrating the store to schema version %d", version)
            MIGRATIONS[version - 1](conn)
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(version=len(MIGRATIONS)))
    return len(MIGRATIONS)


