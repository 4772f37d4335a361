"""A store of your own for the 10,000-item benchmarks: ``--store PATH [--config FILE]``.

By default bench/idle.py, new_item.py, publish.py and memory.py run on the
generated store of bench/store10k.py. With ``--store`` they run on a copy of an
existing syndicator store instead, such as a deployment's
``var/syndicator.db`` (an older schema is migrated on the copy). The file is
read through SQLite's backup API and never changed.

Its languages are those it holds translations for, with English as the source
language, unless ``--config`` names the config.toml it was made with. Then
the site (title, base URL, source language, time zone), the target languages,
the output sizes (``max_items``, ``archive_size``) and the review policies come
from that file. Sources, paths, HTTP settings, WebSub hubs and engines stay the
benchmark's: nothing leaves 127.0.0.1. The one source is the feed served there,
empty at first, so the store's items are all the archive there is (the copy
forgets the fetch state of a source of the benchmark's name); the engine
is the instant stand-in; the news.po catalogs are exported from the store.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import common


@dataclasses.dataclass(frozen=True)
class Own:
    store: Path
    config: Path | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--items``, ``--store`` and ``--config``: the store a script runs on."""
    parser.add_argument("--items", type=int, default=10_000,
                        help="items in the generated store (not with --store)")
    parser.add_argument("--store", type=Path, metavar="PATH",
                        help="an existing syndicator store (SQLite file) to run on instead "
                             "of the generated one; it is copied, never changed")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="with --store: the config.toml it was made with (site, "
                             "languages, output sizes and review policies are taken from it)")


def from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Own | None:
    if args.store is None:
        if args.config is not None:
            parser.error("--config goes with --store")
        return None
    if not args.store.is_file():
        parser.error(f"--store {args.store}: no such file")
    if args.config is not None and not args.config.is_file():
        parser.error(f"--config {args.config}: no such file")
    return Own(args.store.resolve(), args.config.resolve() if args.config else None)


def arguments(own: Own | None, items: int) -> list[str]:
    """The command-line arguments that name the same store (for a child process)."""
    if own is None:
        return ["--items", str(items)]
    return ["--store", str(own.store)] + (["--config", str(own.config)] if own.config else [])


def _read(path: Path, query: str) -> list[tuple]:
    # Read-only: the user's file is never written, not even a journal.
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        return db.execute(query).fetchall()


def configure(config, own: Own):
    """The benchmark's ``config`` with the languages and site of ``own``."""
    if own.config is None:
        langs = [lang for (lang,) in _read(own.store, "SELECT DISTINCT lang FROM translations "
                                                      "ORDER BY lang")]
        targets = tuple(lang for lang in langs if lang != config.source_language)
        if not targets:
            raise SystemExit(f"{own.store}: no translations to publish; pass --config "
                             "with the languages")
        return dataclasses.replace(config, targets=targets)
    from syndicator.config import load_config

    user = load_config(own.config)
    return dataclasses.replace(
        config, title=user.title, base_url=user.base_url,
        source_language=user.source_language, timezone=user.timezone, targets=user.targets,
        max_items=user.max_items, archive_size=user.archive_size, review=user.review)


def cache_key(own: Own, generator: int) -> str:
    """Changes with the file (and its WAL), its config, the schema and the
    benchmark's generator."""
    from syndicator.schema import MIGRATIONS

    # A store in WAL mode may hold its latest changes in the -wal file alone. An
    # empty one holds none, and any read leaves one behind (read-only too): it
    # made the second script import the whole store again.
    files = [own.store, own.store.with_name(own.store.name + "-wal")]
    stats = [(st.st_size, st.st_mtime_ns)
             for st in (f.stat() for f in files if f.exists()) if st.st_size]
    config = own.config.read_bytes() if own.config else b""
    digest = hashlib.sha256(repr((str(own.store), stats, len(MIGRATIONS),
                                  generator)).encode() + config)
    return "own-" + digest.hexdigest()[:16]


def count_and_newest(store_path: Path) -> tuple[int, datetime | None]:
    """How many items the store holds, and its newest date (published or updated)."""
    from syndicator.rows import from_iso

    count, published, updated = _read(
        store_path, "SELECT count(*), max(published), max(updated) FROM items")[0]
    dates = [from_iso(d) for d in (published, updated) if d]
    return count, max(dates, default=None)


def bench_now(store_path: Path, default: datetime) -> datetime:
    """The benchmark's clock: ``default``, or just after the store's newest item, so
    that the items the scripts add are the newest, as new items are."""
    newest = count_and_newest(store_path)[1]
    return max(default, newest + timedelta(minutes=1)) if newest else default


def forget_fetch_state(store, names: list[str]) -> None:
    """Drop the copy's fetch state of the benchmark's sources.

    A store of your own may hold a source of the same name (the benchmark's is
    csto-rss): what it listed last time would make the empty served feed an
    error ("the source lists no items now"), and its failures a back-off that
    skips the benchmark's fetches."""
    import sqlalchemy as sa

    from syndicator.schema import source_state

    with store.engine.begin() as conn:
        conn.execute(sa.delete(source_state).where(source_state.c.name.in_(names)))


def import_store(bench, own: Own, now: datetime) -> None:
    """Copy ``own.store`` into ``bench`` and export its news.po catalogs, as
    ``store10k._generate`` makes them: every item's segments, oldest first."""
    from syndicator.catalog import export_catalog
    from syndicator.store import open_store

    config = bench.config
    start = time.perf_counter()
    common.copy_store(own.store, config.store_path)
    store = open_store(config.store_path)  # migrates the copy
    forget_fetch_state(store, [source.name for source in config.sources])
    bench.timings["copy of your store"] = time.perf_counter() - start
    start = time.perf_counter()
    items = store.recent_items(None)[::-1]
    urls = {item.id: item.url for item in items}
    for lang in config.targets:
        export_catalog(store, config, lang, [item.id for item in items], urls, now)
    bench.timings["catalogs"] = time.perf_counter() - start
    bench.entries = []  # the served feed starts empty: no item is listed twice
    # As after store10k._generate: the first cycle merges every catalog in full.
    # The copies have new inodes, so syndicator cannot tell them from files a
    # translator saved; with the store's own "exported" mark that merge (tens of
    # seconds and ~150 MB over a 36 MB news.po) waited for the first new item,
    # inside a timed round of new_item.py and after memory.py's cold cycle.
    store.meta_set("exported", "")
    store.engine.dispose()
