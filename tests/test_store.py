"""The SQLite store: migrations, identity, edits and the translation memory."""
from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest
import sqlalchemy as sa

from conftest import ROOT, make_config

from syndicator import statements
from syndicator.cycle import run_once
from syndicator.errors import StoreError
from syndicator.models import SourceItem
from syndicator.publish import publish_all
from syndicator.approvals import Approval, Approved, approvals_for, approve
from syndicator.schema import MIGRATIONS, schema_version
from syndicator.store import open_store
from syndicator.translate.packages import install_file

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


# Stores written by the code of each earlier schema (its commit is in the file name;
# sqlite3 .dump), each holding two items, their Russian translations and the GUIDs
# they were published under.
# "v2-early" is what the code of 88c4a98..02a97ee wrote as version 2, before
# 2019e29 added the meta table and items.seq to the v2 step itself.
STORES = Path(__file__).parent / "fixtures" / "stores"
OLD_STORES = sorted(STORES.glob("*.sql"))
# The v1 store as the code of v5 (136ef4e) left it after upgrading it and running a
# cycle with Kyrgyz newly added to the targets (and an en→ky engine), when the
# source had a third item: its two old items never got a data version (items.seq),
# and Kyrgyz had translated up to a later one. Not among OLD_STORES: it has three items.
LANGUAGE_ADDED = STORES / "language-added" / "v5-136ef4e-from-v1.sql"
# The v4 store as the code of 571001d (schema v7) upgraded it, then one title approved
# in Russian (approvals were keyed by language and segment key until v8).
APPROVED_V7 = STORES / "approved" / "v7-571001d.sql"


def _load_dump(dump: Path, tmp_path: Path) -> Path:
    path = tmp_path / "var" / "syndicator.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.executescript(dump.read_text(encoding="utf-8"))
    db.close()
    return path


@pytest.mark.parametrize("dump", OLD_STORES, ids=lambda p: p.stem)
def test_a_store_written_by_an_older_version_is_upgraded_and_keeps_its_entries(tmp_path, dump):
    store = open_store(_load_dump(dump, tmp_path))
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(schema_version.c.version)).scalar() == len(MIGRATIONS)
    assert store.integrity_ok()
    items = store.recent_items(None)
    assert [i.title for i in items] == [f"Council of Foreign Ministers meets in Minsk ({n})"
                                        for n in (2, 1)]
    assert items[1].image.url == "https://csto.example.org/img/1.jpg"
    assert items[1].categories == ("Security", "Minsk")

    config = make_config(tmp_path, languages={"targets": ["ru"]})
    publish_all(store, config, NOW)
    for lang, title in (("ru", "Совет министров иностранных дел собрался в Минске"),
                        ("en", "Council of Foreign Ministers meets in Minsk")):
        feed = feedparser.parse((config.output_dir / lang / "atom.xml").read_bytes())
        assert feed.bozo == 0
        # The GUIDs subscribers already have: no entry comes back as a new one.
        assert sorted(e.id for e in feed.entries) == [
            f"tag:feeds.example.org,2024-09-01:{lang}/{n}" for n in (1, 2)]
        assert all(e.title.startswith(title) for e in feed.entries)


def test_an_approval_of_a_v7_store_stays_and_its_key_can_hold_another_texts(tmp_path):
    store = open_store(_load_dump(APPROVED_V7, tmp_path))
    (kept,) = approvals_for(store, "ru")
    assert (kept.text, kept.translator) == ("Совет министров собрался в Минске (одобрено)", "Анна")
    # The block under that key is now another text: its approval goes beside the
    # first one, which v7 would have deleted.
    assert approve(store, "ru", kept.seg_key, "Another title", "Другой заголовок", "Борис",
                   "web", NOW)
    assert sorted(a.text for a in approvals_for(store, "ru")) == [
        "Другой заголовок", "Совет министров собрался в Минске (одобрено)"]
    assert store.integrity_ok()


def test_an_edited_blocks_old_approval_is_found_under_its_key_beside_a_moved_ones():
    key, moved_to = "src/0123456789abcdef#body[0]", "src/0123456789abcdef#body[3]"
    edited = Approval("ru", key, "A", "а", "anna", NOW)
    moved = Approval("ru", key, "N", "н", "boris", NOW + timedelta(days=1))
    approved = Approved([edited, moved])
    # "A" was edited in place to "A2"; "N", approved later under the same key, has
    # moved to another block and is still in the item.
    assert approved.stale(key, {"A2", "N"}) == edited
    assert approved.get(moved_to, "N") == moved and approved.get(key, "A2") is None


KY_LEXICON = {"Council": "Кеңеши", "ministers": "министрлер"}


@pytest.fixture(scope="module")
def ky_package(tmp_path_factory) -> Path:
    """A real en→ky argos package (the lexicon model): Kyrgyz as a newly added target."""
    from syndicator.testing.lexicon_model import build_lexicon_package

    return build_lexicon_package(tmp_path_factory.mktemp("ky"), KY_LEXICON,
                                 from_code="en", to_code="ky")


@pytest.mark.parametrize("dump", [*OLD_STORES, LANGUAGE_ADDED], ids=lambda p: p.stem)
def test_old_items_of_an_upgraded_store_are_translated_into_a_newly_added_language(
        tmp_path, dump, ky_package):
    """A language finds its work by the items' data version (items.seq, newer than
    the one it last translated up to) or by a translation row it already has. Items
    stored before v2 had no data version, so a target language added after the
    upgrade found them neither way: they stayed "awaiting translation" for good."""
    path = _load_dump(dump, tmp_path)
    shutil.copytree(ROOT / "translations", tmp_path / "translations",
                    ignore=shutil.ignore_patterns("news.po", "*.lock"))
    config = make_config(tmp_path, languages={"targets": ["ru", "ky"]},
                         translations={"dir": str(tmp_path / "translations")})
    install_file(ky_package, config.argos.packages_dir)
    store = open_store(path)
    ids = [item.id for item in store.recent_items(None)]
    russian = store.translations_for("ru", ids)

    report = run_once(config, store=store, now=NOW)
    assert report.translated == {"ru": 0, "ky": 2}, report
    kyrgyz = store.translations_for("ky", ids)
    assert {i: tr.status for i, tr in kyrgyz.items()} == {i: "translated" for i in ids}
    assert all(tr.title.startswith("Кеңеши of Foreign Ministers meets in Minsk (")
               for tr in kyrgyz.values()), kyrgyz
    assert store.translations_for("ru", ids) == russian  # no engine for ru: kept as it was
    feed = feedparser.parse((config.output_dir / "ky" / "atom.xml").read_bytes())
    assert sorted(e.title for e in feed.entries) == sorted(tr.title for tr in kyrgyz.values())
    # Found once: the next cycle has nothing left to translate.
    assert run_once(config, store=store, now=NOW + timedelta(hours=1)).translated == {
        "ru": 0, "ky": 0}


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


@pytest.mark.parametrize("as_json", [True, False], ids=["json_each", "in_lists"])
def test_reads_by_a_list_of_ids_find_every_row_asked_for_and_no_other(tmp_path, monkeypatch,
                                                                        as_json):
    # SQLite reads a list of ids in one statement (a JSON array); other databases
    # would get IN lists of 500. Both asked for 608 of 1,207 ids (more than one IN
    # list), odd characters included.
    monkeypatch.setattr(statements, "ids_as_json", lambda conn: as_json)
    store = open_store(tmp_path / "s.db")
    odd = ['quote"d', "back\\slash", "it's", "ünï 中文", "line\nbreak", "[1]", "%"]
    guids = [f"g{n}" for n in range(1200)] + odd
    store.upsert_items([_item(guid=g) for g in guids], NOW)
    store.memory_put({f"k:{g}": f"text {g}" for g in guids})
    asked = [f"s:{g}" for g in guids[:1200:2] + odd] + ["s:missing"]

    assert set(store.items_by_id(asked)) == set(asked) - {"s:missing"}
    assert store.memory_get([f"k:{g}" for g in odd] + ["k:none"]) == {
        f"k:{g}": f"text {g}" for g in odd}
    made = store.guids_for("ru", asked, lambda i: f"tag:{i}")
    assert store.guids_for("ru", asked + ["s:g1"], lambda i: f"new:{i}") == {
        **made, "s:g1": "new:s:g1"}
    assert store.items_by_id([]) == {}


def test_items_arrive_by_date_within_a_batch_and_after_every_earlier_batch(tmp_path):
    store = open_store(tmp_path / "s.db")
    day = datetime(2024, 9, 5, tzinfo=timezone.utc)
    older = datetime(2020, 1, 3, tzinfo=timezone.utc)
    store.upsert_items([_item(guid=g, url=f"https://x.org/{g}",
                              published=day - timedelta(days=d))
                        for g, d in (("c", 0), ("b", 1), ("a", 0), ("d", 1))], NOW)
    # Newest first; items sharing a date by id, as when feeds were ordered by date.
    assert [i.guid for i in store.recent_items(None)] == ["a", "c", "b", "d"]
    store.upsert_items([_item(guid="late", url="https://x.org/late", published=older)], NOW)
    store.upsert_items([_item(guid="c", url="https://x.org/c", published=older,
                              title="Redated")], NOW)
    assert [i.guid for i in store.recent_items(None)] == ["late", "a", "c", "b", "d"]
    states = store.item_states(1, 2)
    assert [row[0] for row in states] == [i.id for i in store.recent_items(3)[1:]]
    assert store.item_positions([states[1][0]]) == {states[1][0]: 2}


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


def test_storing_many_items_of_one_instant_costs_the_same_per_item(tmp_path):
    # An undated archive: every item is first seen at the same instant. The
    # statements each new item costs must not grow with the items already at
    # that instant (a probe per taken second made the 1,200th item of an instant
    # cost 1,200 queries, and 1,200 such items took 150 s to store).
    store = open_store(tmp_path / "s.db")
    statements = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))
    costs = []
    for batch in range(3):
        statements.clear()
        store.upsert_items([_item(guid=f"g{batch}-{n}", published=None) for n in range(400)],
                           NOW)
        costs.append(len(statements))
    assert costs[0] == costs[1] == costs[2], costs
    updated = sorted(i.updated for i in store.recent_items(None))
    assert len(set(updated)) == 1200
    assert updated[-1] - updated[0] == timedelta(seconds=1199)
