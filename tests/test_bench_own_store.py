"""bench/'s ``--store PATH``: the 10,000-item benchmarks on a store of your own.

Not a benchmark: these check that the scripts' setup accepts a real store, the
one case bench/README.md promises to a reader who re-runs them on theirs.
"""
from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def bench_modules(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("common", "own_store", "store10k"):
        sys.modules.pop(name, None)  # fresh, with the cache folder below
    import common
    import own_store
    import store10k

    monkeypatch.setattr(common, "CACHE", tmp_path / "cache")
    yield own_store, store10k
    for name in ("common", "own_store", "store10k"):
        sys.modules.pop(name, None)


@pytest.fixture
def own_store_file(bench_modules, tmp_path) -> Path:
    """A real store of 40 items whose source is called csto-rss, as the benchmark's
    is, and listed 20 items last time: the benchmark's own generated store."""
    made = bench_modules[1].build(tmp_path / "made", 40)
    made.close()
    made.store.engine.dispose()  # closed, as syndicator leaves it when it exits
    return made.config.store_path


def _last_count(store_path: Path, name: str) -> int | None:
    with closing(sqlite3.connect(store_path)) as db:
        row = db.execute("SELECT last_count FROM source_state WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def test_a_store_whose_source_has_the_benchmarks_name_runs_without_errors(
        bench_modules, own_store_file, tmp_path):
    own_store, store10k = bench_modules
    mine = own_store_file
    assert _last_count(mine, store10k.SOURCE) == store10k.FEED_ITEMS

    # build() asserts that the first cycle on the copy reports no error; before
    # the copy forgot its fetch state, it reported "the source lists no items now".
    bench = store10k.build(tmp_path / "bench", own=own_store.Own(mine))
    try:
        assert bench.n == 40
        assert bench.first_report.errors == ()
        assert bench.first_report.new == 0
        assert _last_count(mine, store10k.SOURCE) == store10k.FEED_ITEMS  # never changed
    finally:
        bench.close()


def test_the_first_new_item_on_a_store_of_your_own_is_appended_to_news_po(
        bench_modules, own_store_file, tmp_path):
    # The import leaves catalogs whose inodes syndicator has not seen. The cold
    # first cycle must merge them in full, as it does on the generated store, so
    # that the first new item (new_item.py's first timed round) appends its
    # entries in place instead of merging a whole news.po.
    from syndicator.catalog import catalog_path
    from syndicator.cycle import run_once

    own_store, store10k = bench_modules
    bench = store10k.build(tmp_path / "bench", own=own_store.Own(own_store_file))
    try:
        config = bench.config
        paths = {lang: catalog_path(config, lang) for lang in config.targets}
        before = {lang: (path.stat().st_ino, path.read_bytes()) for lang, path in paths.items()}
        now = bench.now + timedelta(minutes=10)
        bench.add_feed_item(bench.n + 1, now - timedelta(minutes=1))
        report = run_once(config, store=bench.store, engines=bench.engines, now=now)
        assert report.new == 1 and report.errors == ()
        for lang, path in paths.items():
            inode, old = before[lang]
            new = path.read_bytes()
            assert path.stat().st_ino == inode, f"{lang}: news.po was rewritten, not appended to"
            assert new.startswith(old) and len(new) > len(old), lang
    finally:
        bench.close()


def test_reading_a_store_of_your_own_keeps_its_cached_copy(bench_modules, own_store_file):
    # A read of a WAL-mode store leaves an empty -wal file beside it (SQLite's
    # doing, on a read-only open too). The cache key stat()s the WAL, because a
    # store's latest changes can live there alone; an empty one holds none, so
    # it must not make the next script import the whole store again.
    own_store, store10k = bench_modules
    mine = own_store.Own(own_store_file)
    wal = own_store_file.with_name(own_store_file.name + "-wal")
    assert not wal.exists()  # WAL mode, its last connection closed
    before = own_store.cache_key(mine, store10k.GENERATOR)
    assert own_store.count_and_newest(own_store_file)[0] == 40  # what every script reads
    assert wal.exists() and wal.stat().st_size == 0
    assert own_store.cache_key(mine, store10k.GENERATOR) == before
