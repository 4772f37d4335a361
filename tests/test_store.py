"""The SQLite store: migrations, identity, edits and the translation memory."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from syndicator.errors import StoreError
from syndicator.models import SourceItem
from syndicator.schema import MIGRATIONS, schema_version
from syndicator.store import open_store

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _item(**changes):
    base = dict(source="s", guid="g1", url="https://x.org/1", title="Title", summary="",
                body="<p>Body</p>", published=datetime(2024, 9, 5, tzinfo=timezone.utc))
    return SourceItem(**{**base, **changes})


def test_a_new_store_is_migrated_to_the_latest_schema(tmp_path):
    store = open_store(tmp_path / "s.db")
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(schema_version.c.version)).scalar() == len(MIGRATIONS)
    assert store.integrity_ok()


def test_a_store_from_a_newer_syndicator_is_refused(tmp_path):
    store = open_store(tmp_path / "s.db")
    with store.engine.begin() as conn:
        conn.execute(schema_version.update().values(version=99))
    with pytest.raises(StoreError, match="newer than this syndicator"):
        open_store(tmp_path / "s.db")


def test_a_file_that_is_not_a_store_is_refused_with_its_path(tmp_path):
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="s.db"):
        open_store(path)


def test_unchanged_items_are_not_rewritten_and_edits_keep_identity(tmp_path):
    store = open_store(tmp_path / "s.db")
    assert store.upsert_items([_item()], NOW) == (1, 0)
    assert store.upsert_items([_item()], NOW + timedelta(hours=1)) == (0, 0)
    assert store.upsert_items([_item(title="New title")], NOW + timedelta(hours=2)) == (0, 1)
    [item] = store.recent_items(10)
    assert item.id == "s:g1" and item.title == "New title"
    assert item.published == datetime(2024, 9, 5, tzinfo=timezone.utc)
    assert item.updated == NOW + timedelta(hours=2)


def test_an_undated_item_keeps_its_first_seen_date(tmp_path):
    store = open_store(tmp_path / "s.db")
    store.upsert_items([_item(published=None)], NOW)
    store.upsert_items([_item(published=None, title="edited")], NOW + timedelta(days=3))
    [item] = store.recent_items(10)
    assert item.published == NOW


def test_translation_memory_stores_each_key_once(tmp_path):
    store = open_store(tmp_path / "s.db")
    store.memory_put({"k1": "один"})
    store.memory_put({"k1": "другой", "k2": "два"})
    assert store.memory_get(["k1", "k2", "k3"]) == {"k1": "один", "k2": "два"}


def test_guids_are_fixed_at_first_publication(tmp_path):
    store = open_store(tmp_path / "s.db")
    first = store.guids_for("ru", ["a"], lambda i: f"tag:one/{i}")
    again = store.guids_for("ru", ["a", "b"], lambda i: f"tag:two/{i}")
    assert first == {"a": "tag:one/a"} and again == {"a": "tag:one/a", "b": "tag:two/b"}


def test_items_dated_the_same_instant_get_distinct_updated_values(tmp_path):
    store = open_store(tmp_path / "s.db")
    store.upsert_items([_item(guid=f"g{n}") for n in range(3)], NOW)
    items = store.recent_items(10)
    assert {i.published for i in items} == {datetime(2024, 9, 5, tzinfo=timezone.utc)}
    assert len({i.updated for i in items}) == 3
    assert max(i.updated for i in items) - min(i.updated for i in items) == timedelta(seconds=2)
