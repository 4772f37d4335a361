"""Incremental publishing and catalog merging give the bytes a full rebuild gives.

Publishing renders the subscription documents and only the archive pages whose
entries changed (a digest per page in the store); news.po gets new items'
entries appended without a parse. Both must be invisible in the output: every
file equals what a cold rebuild of the same store writes into an empty folder.
"""
from __future__ import annotations

import dataclasses
import gc
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polib
import pytest
import sqlalchemy as sa
from lxml import etree

from syndicator import approvals, catalog, pofile
from syndicator.catalog import files
from syndicator.catalog import catalog_path, export_catalog
from syndicator.cycle import run_once
from syndicator.errors import PublishError, SyndicatorError
from syndicator.models import REVISION, SourceItem, Translation
from syndicator import publish
from syndicator.publish import feeds, parallel, planning, publish_all, write
from syndicator.store import open_store
from syndicator.translate.packages import install_file

from conftest import ROOT, make_config

NOW = datetime(2030, 1, 2, tzinfo=timezone.utc)


def _item(n: int, title: str | None = None) -> SourceItem:
    return SourceItem("desk", f"item-{n}", f"https://example.org/news/{n}",
                      title or f"Item number {n}", f"Summary {n}.",
                      f"<p>First paragraph of item {n}.</p><p>Second one.</p>",
                      datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=n))


def _translate(store, lang: str, now: datetime) -> None:
    """Machine 'translations' of every item whose translation is missing or old."""
    from syndicator.translate.blocks import segments

    current = store.translations_for(lang, [i.id for i in store.recent_items(None)])
    done = []
    for item in store.recent_items(None):
        if item.id in current and current[item.id].content_hash == item.content_hash:
            continue
        segs = segments(item)
        done.append(Translation(
            item.id, lang, item.content_hash, "translated", title=f"[{lang}] {item.title}",
            summary=f"[{lang}] {item.summary}", body=f"<p>[{lang}] {item.title}</p>",
            engine="test:1", segments=tuple((s.key, s.text, f"[{lang}] {s.text}")
                                            for s in segs)))
    store.save_translations(done, now)


def _export_ru(store, config) -> bool:
    """Merge every stored item's ``ru`` segments into news.po, as a cycle does."""
    items = store.recent_items(None)
    return export_catalog(store, config, "ru", [i.id for i in items],
                          {i.id: i.url for i in items}, NOW)


@pytest.fixture
def setup(tmp_path):
    config = make_config(tmp_path, languages={"targets": ["ru", "hy"]},
                         translations={"dir": str(tmp_path / "translations")},
                         output={"dir": "feeds", "max_items": 2, "archive_size": 2})
    for lang in ("en", "ru", "hy"):
        ui = ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po"
        dest = config.translations_dir / lang / "LC_MESSAGES"
        dest.mkdir(parents=True)
        dest.joinpath("messages.po").write_bytes(ui.read_bytes())
    store = open_store(config.store_path)
    store.upsert_items([_item(n) for n in range(8)], NOW)
    _translate(store, "ru", NOW)
    publish_all(store, config, NOW)
    yield config, store
    store.engine.dispose()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def _cold(config, store, tmp: Path) -> dict[str, bytes]:
    """Everything published from a copy of the store into an empty folder."""
    cold = dataclasses.replace(config, output_dir=tmp / "feeds",
                               store_path=tmp / "var" / "cold.db")
    cold.store_path.parent.mkdir(parents=True)
    with sqlite3.connect(config.store_path) as a, sqlite3.connect(cold.store_path) as b:
        a.backup(b)
    copy = open_store(cold.store_path)
    publish_all(copy, cold, NOW)
    copy.engine.dispose()
    return _files(cold.output_dir)


def test_incremental_publishing_writes_exactly_what_a_cold_rebuild_writes(setup, tmp_path,
                                                                        monkeypatch):
    config, store = setup
    rendered = Counter()
    real_rss = feeds.rss
    monkeypatch.setattr(feeds, "rss", lambda info, *a: rendered.update([info.lang]) or
                        real_rss(info, *a))
    steps = [
        lambda: store.upsert_items([_item(20)], NOW),  # a new item
        lambda: store.upsert_items([_item(21), _item(22)], NOW),  # two, filling a page
        lambda: store.upsert_items([_item(1, "Item one, edited")], NOW),  # an old item edited
        lambda: store.mark_stale("ru", None),  # every translation stale: source text shows
    ]
    for n, step in enumerate(steps, 1):
        step()
        if n < 4:
            _translate(store, "ru", NOW)
        rendered.clear()
        publish_all(store, config, NOW + timedelta(hours=n))
        if n in (1, 3):  # the subscription document and one archive page per language
            assert max(rendered.values()) <= 2, (n, rendered)
        assert _files(config.output_dir) == _cold(config, store, tmp_path / f"cold{n}"), n


def test_editing_the_newest_archived_item_redates_the_empty_newest_archive_page(setup,
                                                                              tmp_path):
    # 8 items, 2 in the window, pages of 2: pages 1-3 are full and page 4, still
    # empty, is dated by the newest archived item (item 5).
    config, store = setup
    edited_at = NOW + timedelta(days=3)
    store.upsert_items([_item(5, "Item five, edited")], edited_at)
    _translate(store, "ru", edited_at)
    publish_all(store, config, edited_at)
    for lang in config.languages:
        empty = config.output_dir / lang / "atom-archive-4.xml"
        assert f"<updated>{edited_at.isoformat()}</updated>" in empty.read_text(), lang
    assert _files(config.output_dir) == _cold(config, store, tmp_path / "cold")


def test_editing_an_older_archived_item_leaves_the_empty_newest_page_unread(setup):
    config, store = setup
    store.upsert_items([_item(3, "Item three, edited")], NOW + timedelta(days=3))
    quick, _ = _both_plans(store, config)
    # Item 3 is on page 2; page 4 is dated by item 5, which did not change.
    assert {lang: sorted(plan.pages) for lang, plan in quick.items()} == \
        {lang: [2] for lang in config.languages}


ATOM = "{http://www.w3.org/2005/Atom}"


def _atom_dates(path: Path) -> tuple[str, dict[str, str]]:
    """(the feed's <updated>, each entry's <updated> by its item's link) of an Atom file."""
    root = etree.parse(str(path)).getroot()
    entries = {next(link.get("href") for link in entry.iter(f"{ATOM}link")
                    if link.get("href").startswith("https://example.org/")):
               entry.findtext(f"{ATOM}updated") for entry in root.iter(f"{ATOM}entry")}
    return root.findtext(f"{ATOM}updated"), entries


def test_a_translators_correction_redates_its_entry_in_that_language_only_as_a_rebuild_does(
        setup, tmp_path, monkeypatch, lexicon_package):
    # 8 items, 2 in the window, pages of 2: item 5, the newest archived, is on page 3,
    # and dates the empty newest page 4. A real cycle (the lexicon model for en→ru).
    config, store = setup
    install_file(lexicon_package, config.argos.packages_dir)
    run_once(config, store=store, now=NOW + timedelta(hours=1))  # hy: awaiting rows, news.po
    before = _files(config.output_dir)
    before_page = _atom_dates(config.output_dir / "ru" / "atom-archive-3.xml")
    fifth = "desk:item-5"
    key = next(k for k, source, _ in store.translations_for("ru", [fifth])[fifth].segments
               if source == "Item number 5")
    assert approvals.approve(store, "ru", key, "Item number 5", "Новость номер пять", "Анна",
                             "review", NOW + timedelta(hours=2))
    full_plans = Counter()
    real_full = planning.full
    monkeypatch.setattr(planning, "full", lambda store, config, lang, *a: full_plans.update(
        [lang]) or real_full(store, config, lang, *a))
    cycle = NOW + timedelta(hours=3)
    report = run_once(config, store=store, now=cycle)
    assert not full_plans  # the quick planner, for every language
    after = _files(config.output_dir)
    assert after == _cold(config, store, tmp_path / "cold")
    changed = {name for name in after if after[name] != before.get(name)}
    # Its page, and the empty newest page's feed date (JSON Feed has none).
    assert changed == {f"ru/{name}" for name in ("atom-archive-3.xml", "rss-archive-3.xml",
                                                "feed-archive-3.json", "atom-archive-4.xml",
                                                "rss-archive-4.xml")}, report.written
    link = "https://example.org/news/5"
    page, entries = _atom_dates(config.output_dir / "ru" / "atom-archive-3.xml")
    revised = entries[link]  # stored then, not approved then; a revision's microseconds
    assert revised == page and revised.startswith(cycle.isoformat()[:19] + ".")
    assert entries["https://example.org/news/4"] == before_page[1]["https://example.org/news/4"]
    assert _atom_dates(config.output_dir / "ru" / "atom-archive-4.xml")[0] == revised
    items = json.loads(after["ru/feed-archive-3.json"])["items"]
    assert [i["date_modified"] for i in items if i["url"] == link] == [revised]
    assert "Новость номер пять" in after["ru/rss-archive-3.xml"].decode()
    assert "<lastBuildDate>Wed, 02 Jan 2030 03:00:00 +0000</lastBuildDate>" in \
        after["ru/rss-archive-3.xml"].decode()
    published = datetime(2024, 1, 6, tzinfo=timezone.utc).isoformat()  # the item's own
    for lang in ("en", "hy"):
        assert _atom_dates(config.output_dir / lang / "atom-archive-3.xml")[1][link] == \
            published


def test_revisions_stored_in_the_same_second_date_their_entries_apart(setup):
    """Each revision gets its own instant, so entries never share an <updated>
    (the W3C validator's DuplicateUpdated), even when two runs share a second;
    first translations keep their items' dates."""
    config, store = setup  # 8 translations stored at NOW: their items date them
    current = store.translations_for("ru", [f"desk:item-{n}" for n in range(8)])
    revised_at = NOW + timedelta(hours=1)
    for batch in (range(0, 3), range(3, 5)):  # two runs in one second
        store.save_translations([dataclasses.replace(
            current[f"desk:item-{n}"], title=f"Revised {n}", changed=REVISION)
            for n in batch], revised_at)
    publish_all(store, config, revised_at)
    dates = {link: date for path in sorted((config.output_dir / "ru").glob("atom*.xml"))
             for link, date in _atom_dates(path)[1].items()}
    revised = [dates[f"https://example.org/news/{n}"] for n in range(5)]
    assert len(set(revised)) == 5
    assert all(date.startswith(revised_at.isoformat()[:19] + ".") for date in revised)
    for n in (5, 6, 7):
        assert dates[f"https://example.org/news/{n}"] == \
            (datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=n)).isoformat()


def _both_plans(store, config):
    """(quick plans, full plans) per language for the store as it is now."""
    settings = repr(publish._settings(config))
    last = planning.Layout.load(store.meta_get("layout"))
    new, edited = store.changes_since(last.version, last.mark)
    states = store.item_states()
    return ({lang: planning.quick(store, config, lang, settings, last, last.count + len(new),
                                  new, edited, NOW) for lang in config.languages},
            {lang: planning.full(store, config, lang, states, settings, NOW)
             for lang in config.languages})


def test_the_quick_plan_equals_the_full_plan_after_new_items_and_translations(setup):
    config, store = setup
    backdated = dataclasses.replace(_item(30), published=datetime(2024, 1, 4, 12,
                                                                  tzinfo=timezone.utc))
    steps = [
        lambda: store.upsert_items([_item(20)], NOW),  # a new item
        lambda: store.upsert_items([_item(21), _item(22)], NOW),  # two: a new page
        lambda: store.upsert_items([backdated], NOW),  # a new item among archived ones
        lambda: store.upsert_items([_item(1, "Item one, edited")], NOW),  # edited in place
        lambda: store.mark_stale("ru", None),  # every translation changes
        lambda: (config.output_dir / "hy" / "feed-archive-2.json").unlink(),
    ]
    for n, step in enumerate(steps, 1):
        step()
        _translate(store, "ru", NOW)
        quick, full = _both_plans(store, config)
        assert None not in quick.values(), n
        assert quick == full, n
        publish_all(store, config, NOW + timedelta(hours=n))
        assert any(plan.pages for plan in full.values()), n  # the step changed pages


def test_when_many_translations_changed_the_full_planner_runs(setup, monkeypatch):
    config, store = setup
    monkeypatch.setattr(planning, "MAX_CHANGED", 3)
    store.mark_stale("ru", None)  # what `translate --refresh` does: 8 translations change
    _translate(store, "ru", NOW)
    quick, _ = _both_plans(store, config)
    assert quick["ru"] is None and quick["en"] is not None


def test_an_edit_that_redates_an_item_keeps_its_place_and_rewrites_only_its_page(
        setup, tmp_path):
    config, store = setup
    before = _files(config.output_dir)
    # Item 2 is on archive page 2 (0 1 | 2 3 | 4 5 | empty; 7 and 6 subscribed).
    redated = dataclasses.replace(_item(2, "Item two, redated"),
                                  published=datetime(2024, 2, 1, tzinfo=timezone.utc))
    store.upsert_items([redated], NOW)
    assert store.meta_get("layout")  # nothing moves: the quick planner still applies
    publish_all(store, config, NOW)
    after = _files(config.output_dir)
    assert after == _cold(config, store, tmp_path / "cold")
    assert {name for name in after if after[name] != before.get(name)} == {
        f"{lang}/{kind}-archive-2.{ext}" for lang in ("en", "ru", "hy")
        for kind, ext in (("rss", "xml"), ("atom", "xml"), ("feed", "json"))}
    assert b"2024-02-01" in after["en/atom-archive-2.xml"]


def test_a_missing_archive_page_is_rendered_again_at_the_next_publish(setup):
    config, store = setup
    page = config.output_dir / "ru" / "atom-archive-1.xml"
    data = page.read_bytes()
    page.unlink()
    store.upsert_items([_item(30)], NOW)
    publish_all(store, config, NOW)
    assert page.read_bytes() == data


def test_a_settings_change_renders_every_archive_page(setup, monkeypatch):
    config, store = setup
    pages = Counter()
    real_atom = feeds.atom
    monkeypatch.setattr(feeds, "atom", lambda info, *a: pages.update(
        [info.history.page]) or real_atom(info, *a))
    retitled = dataclasses.replace(config, title="Other News")
    publish_all(store, retitled, NOW)
    assert {p for p in pages if p} == {1, 2, 3, 4}  # 6 archived entries in pages of 2, and the empty newest


def test_a_new_output_revision_renders_every_archive_page_published_before(setup,
                                                                           monkeypatch):
    """After an upgrade that changes what pages say, no page keeps the old text."""
    config, store = setup
    pages = Counter()
    real_atom = feeds.atom
    monkeypatch.setattr(feeds, "atom", lambda info, *a: pages.update(
        [(info.lang, info.history.page)]) or real_atom(info, *a))
    monkeypatch.setattr(publish, "OUTPUT_REVISION", publish.OUTPUT_REVISION + 1)
    publish_all(store, config, NOW)
    assert {key for key in pages if key[1]} == {(lang, page) for lang in config.languages
                                                for page in (1, 2, 3, 4)}


@contextmanager
def _whole_reads():
    """Counts the reads of a whole news.po (part by part, or parsed whole) meanwhile."""
    calls = Counter()
    real_read, real_parts = files.read, pofile.read_in_parts
    files.read = lambda *a, **k: calls.update(["read"]) or real_read(*a, **k)
    pofile.read_in_parts = lambda *a, **k: calls.update(["parts"]) or real_parts(*a, **k)
    try:
        yield calls
    finally:
        files.read, pofile.read_in_parts = real_read, real_parts


def test_appended_catalog_entries_equal_a_full_merge(setup, tmp_path):
    config, store = setup
    items = store.recent_items(None)
    urls = {i.id: i.url for i in items}
    export_catalog(store, config, "ru", [i.id for i in items], urls, NOW)
    store.upsert_items([_item(40), _item(41)], NOW)
    _translate(store, "ru", NOW)
    items = store.recent_items(None)
    urls = {i.id: i.url for i in items}
    path = catalog_path(config, "ru")
    original = path.read_bytes()
    with _whole_reads() as calls:
        assert export_catalog(store, config, "ru", [i.id for i in items[:4]], urls, NOW)
    assert not calls  # appended, not read whole
    appended = path.read_bytes()
    # The same merge the slow way: the file as it was, and a stamp that forces a parse.
    path.write_bytes(original)
    store.meta_set("po-written:ru", "")
    assert export_catalog(store, config, "ru", [i.id for i in items[:4]], urls, NOW)
    assert path.read_bytes() == appended
    assert b"Item number 41" in appended


def test_an_edited_item_is_merged_into_the_catalog_without_parsing_it_as_a_full_merge_is(
        setup):
    config, store = setup
    _export_ru(store, config)
    path = catalog_path(config, "ru")
    # Edited items (a new title; a new summary), an item new to the catalog and a
    # reviewer's approval from the review page, all merged in the same cycle.
    store.upsert_items([_item(5, "Item number 5, corrected"), _item(50)], NOW)
    edited = dataclasses.replace(_item(6), summary="Summary 6, with a new figure.")
    store.upsert_items([edited], NOW)
    key = next(k for k, source, _ in store.translations_for("ru", ["desk:item-3"])[
        "desk:item-3"].segments if source == "Summary 3.")
    approvals.approve(store, "ru", key, "Summary 3.", "Резюме 3.", "Анна", "review", NOW)
    _translate(store, "ru", NOW)
    original = path.read_bytes()
    with _whole_reads() as calls:
        assert _export_ru(store, config)
    assert not calls  # spliced, not read whole
    spliced = path.read_bytes()
    for text in ("Item number 5, corrected", "Item number 50", 'msgstr "Резюме 3."',
                 'msgid "Summary 6, with a new figure."', '#| msgid "Summary 6."'):
        assert text.encode() in spliced, text
    # The same merge the slow way: the file as it was, and a stamp that forces a parse.
    path.write_bytes(original)
    store.meta_set("po-written:ru", "")
    assert _export_ru(store, config)
    assert path.read_bytes() == spliced


def _one_paragraph(n: int) -> SourceItem:
    """Item ``n`` edited: its second paragraph removed."""
    return dataclasses.replace(_item(n), body=f"<p>First paragraph of item {n}.</p>")


def _keys(store, n: int) -> set[str]:
    item_id = f"desk:item-{n}"
    return {key for key, _, _ in store.translations_for("ru", [item_id])[item_id].segments}


def test_entries_of_a_removed_paragraph_leave_news_po_spliced_as_in_a_full_merge(setup):
    config, store = setup
    _export_ru(store, config)
    path = catalog_path(config, "ru")
    before = _keys(store, 7)
    store.upsert_items([_one_paragraph(7)], NOW)
    _translate(store, "ru", NOW)
    removed = before - _keys(store, 7)
    assert len(removed) == 1  # body[1], "Second one."
    original = path.read_bytes()
    assert all(f'msgctxt "{key}"'.encode() in original for key in removed)
    with _whole_reads() as calls:
        assert _export_ru(store, config)
    assert not calls  # spliced, not read whole
    spliced = path.read_bytes()
    assert not any(f'msgctxt "{key}"'.encode() in spliced for key in removed)
    assert b'msgid "First paragraph of item 7."' in spliced
    assert len(spliced.split(b'msgid "Second one."')) == 8  # items 0-6 keep theirs
    # The same merge the slow way: the file as it was, and a stamp that forces a parse.
    path.write_bytes(original)
    store.meta_set("po-written:ru", "")
    assert _export_ru(store, config)
    assert path.read_bytes() == spliced


def test_a_removed_summary_whose_key_wraps_leaves_news_po_spliced_as_in_a_full_merge(setup):
    config, store = setup
    # A source name of 42 characters: "#title[0]" keys fit on the msgctxt line, and
    # "#summary[0]", two characters longer, wraps (msgctxt "" and the key below).
    long_name = "regional-press-office-of-the-secretariat-x"
    item = dataclasses.replace(_item(90), source=long_name)
    store.upsert_items([item], NOW)
    _translate(store, "ru", NOW)
    _export_ru(store, config)
    path = catalog_path(config, "ru")
    original = path.read_bytes()
    assert b'msgctxt ""\n"' + long_name.encode() in original  # the summary's key wraps
    store.upsert_items([dataclasses.replace(item, summary="")], NOW)
    _translate(store, "ru", NOW)
    with _whole_reads() as calls:
        assert _export_ru(store, config)
    assert not calls  # spliced, not read whole
    spliced = path.read_bytes()
    assert b"Summary 90." not in spliced and b"Item number 90" in spliced
    path.write_bytes(original)
    store.meta_set("po-written:ru", "")
    assert _export_ru(store, config)
    assert path.read_bytes() == spliced


def test_a_removed_paragraph_edited_by_hand_stays_until_imported_and_its_text_returns(
        setup):
    config, store = setup
    _export_ru(store, config)
    path = catalog_path(config, "ru")
    key = next(k for k, source, _ in store.translations_for("ru", ["desk:item-6"])[
        "desk:item-6"].segments if source == "Second one.")
    po = polib.pofile(str(path))
    entry = next(e for e in po if e.msgctxt == key)
    entry.msgstr, entry.flags = "Второй абзац.", []
    po.save()  # a translator's correction, not imported yet
    store.upsert_items([_one_paragraph(6)], NOW)  # the source drops that paragraph
    _translate(store, "ru", NOW)
    _export_ru(store, config)
    assert "Второй абзац." in path.read_text(encoding="utf-8")  # kept for the import
    assert catalog.import_catalog(store, config, "ru", NOW) == 1
    _export_ru(store, config)
    assert f'msgctxt "{key}"' not in path.read_text(encoding="utf-8")
    store.upsert_items([_item(6)], NOW)  # the paragraph comes back, and so does the text
    _translate(store, "ru", NOW)
    _export_ru(store, config)
    back = next(e for e in polib.pofile(str(path)) if e.msgctxt == key)
    assert back.msgstr == "Второй абзац." and not back.fuzzy


def test_a_save_while_entries_are_appended_is_merged_not_overwritten(setup, monkeypatch):
    config, store = setup
    _export_ru(store, config)
    path = catalog_path(config, "ru")
    store.upsert_items([_item(60)], NOW)
    _translate(store, "ru", NOW)
    real_translations_for = store.translations_for

    def editor_saves_meanwhile(*args, **kwargs):
        # The append has checked the file and is gathering the new entries
        # when a PO editor (which takes no lock) saves a correction.
        monkeypatch.setattr(store, "translations_for", real_translations_for)  # once
        time.sleep(0.01)
        po = polib.pofile(str(path), wrapwidth=79)
        entry = next(e for e in po if e.msgstr == "[ru] Summary 3.")
        entry.msgstr, entry.flags = "Резюме 3.", []
        po.save()
        return real_translations_for(*args, **kwargs)
    monkeypatch.setattr(store, "translations_for", editor_saves_meanwhile)
    assert _export_ru(store, config)
    text = path.read_text(encoding="utf-8")
    assert 'msgstr "Резюме 3."' in text and "Item number 60" in text
    assert text.count("Item number 60") == text.count("Item number 7")  # each entry once
    assert catalog.import_catalog(store, config, "ru", NOW) == 1  # the correction still counts


KILLED_MID_APPEND = """
import os, sys
from pathlib import Path
from syndicator.publish import write

path, extra = Path(sys.argv[1]), sys.argv[2].encode()
st = os.stat(path)
real_write = os.write
def write_half_then_die(fd, data):
    real_write(fd, bytes(data[:len(data) // 2]))
    os._exit(9)  # killed: no cleanup runs
write.os.write = write_half_then_die
write.append_in_place(path, extra, (st.st_mtime_ns, st.st_size, st.st_ino))
"""


def test_an_append_cut_short_by_a_kill_is_taken_back_and_merged_again(setup):
    config, store = setup
    _export_ru(store, config)
    path = catalog_path(config, "ru")
    whole = path.read_bytes()
    entry = '\nmsgctxt "desk/x#title"\nmsgid "Cut"\nmsgstr "Обрезано"\n'
    child = subprocess.run([sys.executable, "-c", KILLED_MID_APPEND, str(path), entry])
    assert child.returncode == 9
    assert path.read_bytes() != whole and path.read_bytes().startswith(whole)  # half an entry
    store.upsert_items([_item(61)], NOW)
    _translate(store, "ru", NOW)
    assert catalog.import_catalog(store, config, "ru", NOW) == 0  # nothing half-read approved
    assert _export_ru(store, config)
    text = path.read_text(encoding="utf-8")
    assert "Обрез" not in text and "Item number 61" in text
    assert not list(path.parent.glob(".*.append"))
    # The same merge into the file as it was before the kill.
    path.write_bytes(whole)
    store.meta_set("po-written:ru", "")
    _export_ru(store, config)
    assert path.read_text(encoding="utf-8") == text


def test_an_edited_catalog_is_merged_by_parsing_it(setup):
    config, store = setup
    _export_ru(store, config)
    path = catalog_path(config, "ru")
    path.write_text(path.read_text(encoding="utf-8").replace("[ru] Summary 8.",
                                                             "Резюме 8."), encoding="utf-8")
    store.upsert_items([_item(50)], NOW)
    _translate(store, "ru", NOW)
    items = store.recent_items(None)
    assert files.append_new(store, path, "ru", [i.id for i in items],
                            {i.id: i.url for i in items}, NOW) is None


def test_publishing_reads_states_from_covering_indexes(setup):
    _, store = setup
    with store.engine.connect() as conn:
        names = {r[1] for r in conn.exec_driver_sql("PRAGMA index_list(translations)")} | \
            {r[1] for r in conn.exec_driver_sql("PRAGMA index_list(items)")}
        assert {"ix_translations_state", "ix_items_arrival"} <= names
        assert "ix_items_order" not in names  # by date: replaced in v7, no longer kept up
        for query in (sa.text("SELECT item_id, content_hash, status, changed, seq "
                              "FROM translations WHERE lang = 'ru'"),
                      sa.text("SELECT id, published, updated, content_hash, seq FROM items "
                              "ORDER BY arrival DESC LIMIT 3 OFFSET 2"),
                      sa.text("SELECT count(*) FROM items WHERE arrival > 3")):
            plan = " ".join(r[-1] for r in conn.execute(sa.text(
                "EXPLAIN QUERY PLAN " + query.text)))
            assert "COVERING INDEX" in plan and "TEMP B-TREE" not in plan, plan


def test_an_idle_cycle_reads_no_table_whole_and_no_language_whole(setup):
    """What an idle cycle reads must not grow with the archive: no SCAN of items
    or translations, and no index range that holds every translation of a
    language (which is as long as the archive)."""
    config, store = setup
    run_once(config, store=store, now=NOW)  # news.po made, feeds as they will stay
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not executemany:
            seen.append((statement, tuple(parameters)))
    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        report = run_once(config, store=store, now=NOW)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    assert report.new == report.updated == 0 and not report.written and not report.errors
    whole = re.compile(r"SCAN (items|translations)\b"
                       r"|SEARCH translations USING (COVERING )?INDEX \w+ \(lang=\?\)$")
    with store.engine.connect() as conn:
        plans = {statement: [row[-1] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters)]
            for statement, parameters in dict.fromkeys(seen)}
    assert any("translations" in statement for statement in plans)
    assert not [(s, line) for s, lines in plans.items() for line in lines
                if whole.match(line)]


def test_a_write_that_fails_in_a_batch_is_raised_and_leaves_no_temp_file(tmp_path,
                                                                          monkeypatch):
    real_replace = write.os.replace

    def disk_full_for_atom(src, dst):
        if Path(dst).name == "atom.xml":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)
    monkeypatch.setattr(write.os, "replace", disk_full_for_atom)
    with pytest.raises(OSError, match="No space"):
        with write.Writes() as writes:
            assert writes.write_if_changed(tmp_path / "rss.xml", b"<rss/>")
            assert writes.write_if_changed(tmp_path / "atom.xml", b"<feed/>")
    assert (tmp_path / "rss.xml").read_bytes() == b"<rss/>"
    assert [p.name for p in tmp_path.iterdir()] == ["rss.xml"]  # no temp file left


def test_large_publishes_pause_the_garbage_collector_and_restore_it(setup, monkeypatch):
    """A publish of many items pauses the collector (a full rebuild runs ~20% faster),
    a small one renders with it on; planning never runs it. Whatever happens, the
    host process gets it back as it was: on, or off if it was off."""
    config, store = setup
    seen, planned = [], []
    real_rss, real_quick = feeds.rss, planning.quick
    monkeypatch.setattr(feeds, "rss", lambda *a: seen.append(gc.isenabled()) or real_rss(*a))
    monkeypatch.setattr(planning, "quick",
                        lambda *a: planned.append(gc.isenabled()) or real_quick(*a))
    store.upsert_items([_item(29)], NOW)
    publish_all(store, config, NOW + timedelta(minutes=30))  # a few items: below the mark
    assert seen and all(seen)
    assert planned and not any(planned)  # planning makes no cycles: never collected
    monkeypatch.setattr(publish, "PAUSE_COLLECTOR_AT", 1)
    seen.clear()
    store.upsert_items([_item(30)], NOW)
    publish_all(store, config, NOW + timedelta(hours=1))
    assert seen and not any(seen) and gc.isenabled()

    def broken(*args):
        raise ValueError("feed title: character U+0000 is not allowed in XML")
    monkeypatch.setattr(feeds, "rss", broken)
    store.upsert_items([_item(31)], NOW)
    with pytest.raises(ValueError):
        publish_all(store, config, NOW + timedelta(hours=2))
    assert gc.isenabled()
    monkeypatch.setattr(feeds, "rss", real_rss)
    monkeypatch.setattr(planning, "quick", broken)
    store.upsert_items([_item(32)], NOW)
    with pytest.raises(ValueError):
        publish_all(store, config, NOW + timedelta(hours=2, minutes=30))
    assert gc.isenabled()
    monkeypatch.setattr(planning, "quick", real_quick)
    gc.disable()
    try:
        publish_all(store, config, NOW + timedelta(hours=3))
        assert not gc.isenabled()
    finally:
        gc.enable()


def _forking(monkeypatch, log: Path) -> None:
    """Every publish forks; each feeds.rss call notes its process, language and page
    ("head" for the subscription document) in ``log``, each full plan its process and
    language in ``log`` with the suffix ``.plans``."""
    monkeypatch.setattr(publish, "FORK_AT", 1)
    monkeypatch.setattr(publish, "PAGES_PER_UNIT", 1)
    real_rss, real_full = feeds.rss, planning.full

    def noted(info, *args):
        with log.open("a") as f:
            f.write(f"{os.getpid()} {info.lang} {info.history.page or 'head'}\n")
        return real_rss(info, *args)

    def planned(store, config, lang, *args):
        with log.with_suffix(".plans").open("a") as f:
            f.write(f"{os.getpid()} {lang}\n")
        return real_full(store, config, lang, *args)
    monkeypatch.setattr(feeds, "rss", noted)
    monkeypatch.setattr(planning, "full", planned)


def test_a_large_publish_plans_and_renders_in_two_processes(setup, tmp_path, monkeypatch):
    """Same bytes as a publish in one process. Every other language is planned in the
    second process. Rendering is shared out in units (language by language, its
    subscription documents, then runs of its archive pages): the first unit is
    rendered here, the last there, the rest by whichever process asks first."""
    config, store = setup
    with sqlite3.connect(config.store_path) as db:  # as at a first publish: both mint GUIDs
        db.execute("DELETE FROM guids")
    db.close()
    serial = _cold(config, store, tmp_path / "serial")
    _forking(monkeypatch, tmp_path / "rss.log")
    assert _cold(config, store, tmp_path / "forked") == serial
    with sqlite3.connect(tmp_path / "forked" / "var" / "cold.db") as db:
        assert db.execute("SELECT count(*), count(DISTINCT guid) FROM guids").fetchone() == (
            8 * 3, 8 * 3)
    db.close()
    lines = [line.split() for line in (tmp_path / "rss.log").read_text().splitlines()]
    assert len(lines) == len({(lang, page) for _, lang, page in lines})  # none twice
    renderers = {(lang, page): int(pid) for pid, lang, page in lines}
    last = max(int(page) for _, page in renderers if page != "head")
    assert last >= 3 and sorted(renderers) == sorted(
        (lang, page) for lang in config.languages
        for page in ["head", *map(str, range(1, last + 1))])
    assert renderers["en", "head"] == os.getpid()
    assert renderers[config.languages[-1], str(last)] != os.getpid()
    planners = [line.split() for line in (tmp_path / "rss.plans").read_text().splitlines()]
    assert sorted(lang for _, lang in planners) == sorted(config.languages)  # each once
    assert [(lang, int(pid) == os.getpid()) for pid, lang in planners
            if lang in ("en", "hy")] == [("en", True), ("hy", True)]
    assert [int(pid) for pid, lang in planners if lang == "ru"] not in ([], [os.getpid()])


def test_a_process_that_renders_slowly_takes_fewer_units_of_work():
    """The units of a large publish go to whichever process asks first: while this one
    is held up on its first unit (a busy core), the other takes all the rest."""
    def work(units):
        taken = []
        for unit in units:
            taken.append(unit)
            if os.getpid() == me and unit == 0:
                time.sleep(2)
        return [(os.getpid(), taken)]
    me = os.getpid()
    (mine, ours), (theirs, others) = parallel.shared(work, range(8), in_child=lambda: None)
    assert mine == me != theirs
    assert (ours, others) == ([0], [7, 6, 5, 4, 3, 2, 1])


def test_an_error_planning_in_the_second_process_fails_the_publish_and_writes_nothing(
        setup, tmp_path, monkeypatch):
    config, store = setup
    _forking(monkeypatch, tmp_path / "rss.log")
    noted, me = planning.full, os.getpid()

    def broken_there(store, config, lang, *args):
        if os.getpid() != me:
            raise PublishError(f"planning {lang}: the store is unreadable")
        return noted(store, config, lang, *args)
    monkeypatch.setattr(planning, "full", broken_there)
    store.upsert_items([_item(43)], NOW)
    moved = dataclasses.replace(config, output_dir=tmp_path / "moved")  # a full plan
    with pytest.raises(PublishError, match="planning ru: the store is unreadable"):
        publish_all(store, moved, NOW + timedelta(hours=1))
    assert not moved.output_dir.exists()
    monkeypatch.setattr(planning, "full", noted)
    publish_all(store, moved, NOW + timedelta(hours=1))
    assert _files(moved.output_dir) == _cold(moved, store, tmp_path / "cold")


def test_an_error_in_the_second_process_fails_the_publish_and_the_next_one_redoes_it(
        setup, tmp_path, monkeypatch):
    config, store = setup
    _forking(monkeypatch, tmp_path / "rss.log")
    noted, me = feeds.rss, os.getpid()

    def broken_there(info, *args):
        if os.getpid() != me:
            raise ValueError("entry 'desk/item-3' title: character U+0000 is not allowed")
        return noted(info, *args)
    monkeypatch.setattr(feeds, "rss", broken_there)
    store.upsert_items([_item(40)], NOW)
    _translate(store, "ru", NOW)
    shutil.rmtree(config.output_dir)  # a rebuild: the last pages are rendered there
    with pytest.raises(ValueError, match="desk/item-3"):
        publish_all(store, config, NOW + timedelta(hours=1))
    assert not [p for p in config.output_dir.rglob("*") if ".tmp" in p.name]
    monkeypatch.setattr(feeds, "rss", noted)
    publish_all(store, config, NOW + timedelta(hours=1))
    assert _files(config.output_dir) == _cold(config, store, tmp_path / "cold")
    assert "Item number 40" in (config.output_dir / "ru" / "rss.xml").read_text()


def test_a_second_process_that_dies_is_reported_with_the_pages_it_took(setup, tmp_path,
                                                                   monkeypatch):
    config, store = setup
    _forking(monkeypatch, tmp_path / "rss.log")
    noted, me = feeds.rss, os.getpid()
    monkeypatch.setattr(feeds, "rss", lambda info, *a: os._exit(7) if os.getpid() != me
                        else noted(info, *a))
    store.upsert_items([_item(41)], NOW)
    shutil.rmtree(config.output_dir)
    with pytest.raises(SyndicatorError, match=r"publishing hy \(archive page \d+\): .*exit "
                                              r"code 7"):
        publish_all(store, config, NOW + timedelta(hours=1))
    # Subscription documents wait until every archive page is written: none would
    # link to a page that is missing.
    assert not list(config.output_dir.glob("*/rss.xml"))
    monkeypatch.setattr(feeds, "rss", noted)
    publish_all(store, config, NOW + timedelta(hours=2))
    assert "Item number 41" in (config.output_dir / "hy" / "rss.xml").read_text()


def test_when_both_processes_fail_this_ones_error_is_raised_and_the_others_logged(
        setup, tmp_path, monkeypatch, caplog):
    config, store = setup
    _forking(monkeypatch, tmp_path / "rss.log")

    def broken(info, *args):
        where = "subscription" if info.history.page is None else f"page {info.history.page}"
        raise ValueError(f"entry 'desk/item-5' in {info.lang} {where}: title is empty")
    monkeypatch.setattr(feeds, "rss", broken)
    store.upsert_items([_item(42)], NOW)
    shutil.rmtree(config.output_dir)
    with pytest.raises(ValueError, match=r"in en page 1:"):  # archive pages come first
        publish_all(store, config, NOW + timedelta(hours=1))
    # The other process stopped at its first unit, the last: the last language's last page.
    assert re.search(r"publishing hy \(archive page (\d+)\) failed too: entry 'desk/item-5' "
                     r"in hy page \1:", caplog.text), caplog.text
