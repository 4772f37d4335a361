"""bench/'s ``--store PATH``: the 10,000-item benchmarks on a store of your own.

Not a benchmark: these check that the scripts' setup accepts a real store, the
one case bench/README.md promises to a reader who re-runs them on theirs.
"""
from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
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


def _last_count(store_path: Path, name: str) -> int | None:
    with closing(sqlite3.connect(store_path)) as db:
        row = db.execute("SELECT last_count FROM source_state WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def test_a_store_whose_source_has_the_benchmarks_name_runs_without_errors(
        bench_modules, tmp_path):
    own_store, store10k = bench_modules
    # A store whose source is called csto-rss too, and listed 20 items last time:
    # the benchmark's own generated store is one.
    made = store10k.build(tmp_path / "made", 40)
    made.close()
    mine = made.config.store_path
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
