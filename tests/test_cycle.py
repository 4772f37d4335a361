"""One real cycle end to end: served site → store → argos/CTranslate2 → feeds on disk."""
from __future__ import annotations

import dataclasses
import os
import sqlite3
from datetime import timedelta

import feedparser
from lxml import etree

from syndicator.cycle import run_once
from syndicator.publish import publish_all
from syndicator.status import collect_status
from syndicator.store import open_store

from conftest import FROZEN_NOW

LANGS = ["en", "ru", "hy", "be", "kk", "ky", "tg"]
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _atom(published, lang):
    return etree.parse(str(published.feeds / lang / "atom.xml")).getroot()


def test_every_language_gets_rss_atom_and_an_html_page(published):
    for lang in LANGS:
        for name in ("rss.xml", "atom.xml", "index.html"):
            assert (published.feeds / lang / name).stat().st_size > 500, (lang, name)
    assert (published.feeds / "index.html").is_file()


def test_every_feed_parses_cleanly_with_the_right_language(published):
    for lang in LANGS:
        for name, version in (("rss.xml", "rss20"), ("atom.xml", "atom10")):
            parsed = feedparser.parse(str(published.feeds / lang / name))
            assert parsed.bozo == 0, (lang, name, parsed.get("bozo_exception"))
            assert parsed.version == version
            assert parsed.feed.language == lang
            assert len(parsed.entries) == 6


def test_lexicon_model_words_appear_in_the_russian_feed(published):
    parsed = feedparser.parse(str(published.feeds / "ru" / "atom.xml"))
    titles = [e.title for e in parsed.entries]
    assert "ОДКБ Генеральный секретарь attends final stage of Rock-2024 учения" in titles
    assert all(e.content[0].language == "ru" for e in parsed.entries)
    assert "Машинный перевод" in parsed.entries[0].content[0].value


def test_language_without_a_model_publishes_source_text_labelled_as_source_language(published):
    root = _atom(published, "hy")
    assert root.get(XML_LANG) == "hy"
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 6
    for entry in entries:
        assert entry.get(XML_LANG) == "en"
    first = entries[0]
    assert first.findtext(f"{ATOM}title").startswith("CSTO Secretary General")
    assert "Սպասում է թարգմանության" in first.findtext(f"{ATOM}content")
    rss = etree.parse(str(published.feeds / "hy" / "rss.xml")).getroot()
    assert {item.get(XML_LANG) for item in rss.iter("item")} == {"en"}
    status = collect_status(published.config)
    assert status["languages"]["hy"]["awaiting"] == 6
    assert status["languages"]["hy"]["engine"] is None
    assert status["languages"]["ru"]["translated"] == 6


def test_each_entry_starts_with_a_localised_date_line(published):
    expected = {"en": "September 5, 2024", "ru": "5 сентября 2024 г.",
                "hy": "2024 թ. սեպտեմբերի 5", "be": "5 верасня 2024 г.",
                "kk": "2024 ж. 5 қыркүйек", "ky": "2024-ж., 5-сентябрь", "tg": "05 Сентябр 2024"}
    for lang, line in expected.items():
        content = _atom(published, lang).find(f"{ATOM}entry/{ATOM}content")
        assert content.get("type") == "html"
        first_paragraph = content.text.split("</p>")[0]
        # CLDR puts narrow no-break spaces (U+202F) in some dates: compare as plain spaces.
        assert content.text.startswith("<p lang") and line in first_paragraph.replace(
            "\u202f", " ").replace("\xa0", " ")


def test_dates_come_from_the_store_never_from_now(published, tmp_path):
    """The first text of each item, translated or not, is dated by its item (the
    items are of 2024, the cycle of 2030). A publish at another time, from a copy of
    the store, writes the same bytes."""
    for lang in LANGS:
        for name in ("rss.xml", "atom.xml"):
            text = (published.feeds / lang / name).read_text()
            assert str(FROZEN_NOW.year) not in text, (lang, name)
    root = _atom(published, "en")
    assert root.findtext(f"{ATOM}updated") == "2024-09-04T21:00:00+00:00"
    rss = etree.parse(str(published.feeds / "en" / "rss.xml")).getroot()
    assert rss.findtext("channel/lastBuildDate") == "Wed, 04 Sep 2024 21:00:00 +0000"
    assert rss.findtext("channel/item/pubDate") == "Wed, 04 Sep 2024 21:00:00 +0000"
    copy = dataclasses.replace(published.config, output_dir=tmp_path / "feeds",
                               store_path=tmp_path / "copy.db")
    with sqlite3.connect(published.config.store_path) as a, sqlite3.connect(
            copy.store_path) as b:
        a.backup(b)
    a.close(), b.close()
    store = open_store(copy.store_path)
    publish_all(store, copy, FROZEN_NOW + timedelta(days=400))
    store.engine.dispose()
    assert _files(copy.output_dir) == _files(published.feeds)


def _files(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_guids_are_unique_per_language_and_links_absolute(published):
    seen = set()
    for lang in LANGS:
        root = _atom(published, lang)
        ids = [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
        assert len(set(ids)) == 6 and not seen & set(ids)
        seen.update(ids)
        for link in root.iter(f"{ATOM}link"):
            assert link.get("href").startswith("https://"), link.get("href")
        self_link = [l for l in root.findall(f"{ATOM}link") if l.get("rel") == "self"]
        assert self_link[0].get("href") == f"https://feeds.example.org/{lang}/atom.xml"
        rss = etree.parse(str(published.feeds / lang / "rss.xml")).getroot()
        assert rss.findtext("channel/link") == f"https://feeds.example.org/{lang}/index.html"
        atom_self = rss.find("channel/{http://www.w3.org/2005/Atom}link")
        assert atom_self.get("rel") == "self"
        assert atom_self.get("href") == f"https://feeds.example.org/{lang}/rss.xml"


def test_atom_feeds_name_an_author_and_entries_have_distinct_updated(published):
    for lang in LANGS:
        root = _atom(published, lang)
        children = [child.tag for child in root]
        assert children.index(f"{ATOM}author") < children.index(f"{ATOM}entry")
        assert root.findtext(f"{ATOM}author/{ATOM}name")
        updated = [e.findtext(f"{ATOM}updated") for e in root.iter(f"{ATOM}entry")]
        assert len(set(updated)) == len(updated)


def test_feed_titles_come_from_the_ui_catalogs(published):
    titles = {lang: _atom(published, lang).findtext(f"{ATOM}title") for lang in LANGS}
    assert titles["en"] == "CSTO News"
    assert titles["ru"] == "Новости ОДКБ"
    assert titles["kk"] == "ҰҚШҰ жаңалықтары"


def test_html_page_has_autodiscovery_links(published):
    page = (published.feeds / "ru" / "index.html").read_text()
    assert ('<link rel="alternate" type="application/rss+xml"' in page
            and 'href="https://feeds.example.org/ru/rss.xml"' in page)
    assert 'type="application/atom+xml"' in page
    assert '<html lang="ru"' in page and "ОДКБ Генеральный секретарь" in page


def test_second_cycle_rewrites_no_file(published):
    files = sorted(p for p in published.feeds.rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    report = run_once(published.config, now=FROZEN_NOW + timedelta(hours=1))
    assert report.written == () and report.new == 0 and report.updated == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before


def test_edited_source_item_updates_its_entry_with_the_same_guid(published):
    page = published.site.root / "news" / "2024-09-05-rock-2024.html"
    before = {e.findtext(f"{ATOM}title"): e for e in _atom(published, "ru").iter(f"{ATOM}entry")}
    old = before["ОДКБ Генеральный секретарь attends final stage of Rock-2024 учения"]
    page.write_text(page.read_text().replace("attends final stage", "said at final stage"))
    later = FROZEN_NOW + timedelta(days=1)
    report = run_once(published.config, now=later)
    assert report.updated == 1 and report.new == 0
    for lang in LANGS:
        entries = list(_atom(published, lang).iter(f"{ATOM}entry"))
        assert len(entries) == 6
    after = {e.findtext(f"{ATOM}id"): e for e in _atom(published, "ru").iter(f"{ATOM}entry")}
    new = after[old.findtext(f"{ATOM}id")]
    assert new.findtext(f"{ATOM}title") == "ОДКБ Генеральный секретарь заявил at final stage of Rock-2024 учения"
    assert new.findtext(f"{ATOM}updated") == later.isoformat()
    assert new.findtext(f"{ATOM}published") == old.findtext(f"{ATOM}published")
    assert os.path.exists(published.feeds / "ru" / "atom.xml")
