"""RFC 5005 archives: paging links, no duplicates, and writes that stay small."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from syndicator.cycle import run_once
from syndicator.publish import write
from syndicator.translate.packages import install_file

from conftest import (ATOM_RNC, FROZEN_NOW, SAMPLE_SITE, Site, html_source, make_config,
                      require_shared, require_tool)

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
LANGS = ["en", "ru", "hy"]


@pytest.fixture
def archived(tmp_path, lexicon_package):
    shutil.copytree(SAMPLE_SITE, tmp_path / "site")
    site = Site(tmp_path / "site")
    config = make_config(tmp_path, sources=[html_source(site)],
                         languages={"targets": ["ru", "hy"]},
                         output={"dir": "feeds", "max_items": 2, "archive_size": 2})
    install_file(lexicon_package, config.argos.packages_dir)
    run_once(config, now=FROZEN_NOW)
    yield config, site
    site.close()


def _links(path):
    root = etree.parse(str(path)).getroot()
    return {l.get("rel"): l.get("href") for l in root.findall(f"{ATOM}link")}, root


def test_older_items_move_to_linked_archive_pages_marked_fh_archive(archived):
    config, _ = archived
    folder = config.output_dir / "ru"
    links, root = _links(folder / "atom.xml")
    assert links["prev-archive"].endswith("/ru/atom-archive-3.xml")
    assert root.find(f"{FH}archive") is None
    for page, prev, nxt in ((1, None, 2), (2, 1, 3), (3, 2, None)):
        links, root = _links(folder / f"atom-archive-{page}.xml")
        assert root.find(f"{FH}archive") is not None
        assert links["self"].endswith(f"/ru/atom-archive-{page}.xml")
        assert links["current"].endswith("/ru/atom.xml")
        assert (links.get("prev-archive") or "").endswith(f"atom-archive-{prev}.xml" if prev else "")
        assert ("next-archive" in links) == (nxt is not None)
    rss = etree.parse(str(folder / "rss-archive-2.xml")).getroot()
    rels = {l.get("rel") for l in rss.iter(f"{ATOM}link")}
    assert {"self", "prev-archive", "next-archive", "current"} <= rels
    assert rss.find(f"channel/{FH}archive") is not None


def test_every_item_appears_exactly_once_across_subscription_and_archives(archived):
    config, _ = archived
    for lang in LANGS:
        for fmt, pattern in (("atom", "atom*.xml"), ("rss", "rss*.xml")):
            ids = Counter()
            for path in (config.output_dir / lang).glob(pattern):
                parsed = feedparser.parse(str(path))
                assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
                ids.update(e.id for e in parsed.entries)
            assert len(ids) == 6 and set(ids.values()) == {1}, (lang, fmt, ids)


def test_archive_documents_validate_against_rfc4287(archived):
    config, _ = archived
    schema, jing = require_shared(ATOM_RNC), require_tool("jing")
    files = sorted(str(p) for p in config.output_dir.glob("*/atom*.xml"))
    result = subprocess.run([jing, "-c", str(schema), *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def _entry_links(path) -> list[list[tuple[str | None, str]]]:
    """(hreflang, href) of each Atom entry's text/html alternate links."""
    root = etree.parse(str(path)).getroot()
    return [[(link.get("hreflang"), link.get("href")) for link in entry.findall(f"{ATOM}link")
             if link.get("rel") == "alternate" and link.get("type") == "text/html"]
            for entry in root.iter(f"{ATOM}entry")]


def test_archive_entries_label_their_original_with_the_source_language(archived):
    """ru entries are translated, hy ones await translation: in both, as in the
    subscription document, the original article is the English one."""
    config, _ = archived
    for lang in LANGS:
        for path in sorted((config.output_dir / lang).glob("atom*.xml")):
            for links in _entry_links(path):
                originals = [hreflang for hreflang, href in links
                             if not href.startswith(config.base_url)]
                assert originals == ["en"], (lang, path.name, links)


def test_entry_links_to_other_languages_point_at_pages_that_hold_the_entry(archived):
    """An index.html holds only its subscription window: archive entries link
    no other language's page, subscription entries link the window's anchors."""
    config, _ = archived
    for path in sorted(config.output_dir.glob("*/atom*.xml")):
        for links in _entry_links(path):
            for hreflang, href in links:
                if href.startswith(config.base_url):
                    page, anchor = href[len(config.base_url):].split("#")
                    assert page == f"{hreflang}/index.html", (path, href)
                    held = (config.output_dir / page).read_text()
                    assert f'id="{anchor}"' in held, (path, href)


def _add_article(site, n: int, date: str | None = None):
    """Publish a new article on the served site, at the top of the listing."""
    news = site.root / "news"
    date = date or f"0{n}.10.2024"
    template = (news / "2024-09-05-rock-2024.html").read_text()
    page = template.replace("rock-2024/", f"new-{n}/").replace("05.09.2024", date) \
        .replace("attends final stage of Rock-2024 training", f"opens session {n}")
    (news / f"new-{n}.html").write_text(page)
    listing = (news / "index.html").read_text()
    item = (f'<li class="news-item"><span class="news-date">{date}</span> '
            f'<a class="news-link" href="new-{n}.html">Session {n}</a></li>\n')
    (news / "index.html").write_text(listing.replace('<ul class="news-list">',
                                                     '<ul class="news-list">\n' + item, 1))


def _kind(path) -> tuple[str, str]:
    """(language, format) of a feed document."""
    fmt = "json" if path.suffix == ".json" else re.match(r"(rss|atom)", path.name)[1]
    return path.parent.name, fmt


def test_a_new_item_rewrites_the_subscription_and_at_most_one_archive_page(archived):
    config, site = archived
    for n, when in ((1, 1), (2, 2), (3, 3)):
        before = {p: p.read_bytes() for p in config.output_dir.rglob("*") if p.is_file()}
        _add_article(site, n)
        report = run_once(config, now=FROZEN_NOW + timedelta(hours=when))
        assert report.new == 1
        feeds = [p for p in map(__import__("pathlib").Path, report.written)
                 if p.suffix in (".xml", ".json") and p.parent != config.output_dir]
        rewritten = Counter(_kind(p) for p in feeds if p in before)
        created = Counter(_kind(p) for p in feeds if p not in before)
        assert rewritten and max(rewritten.values()) <= 2, (n, sorted(map(str, feeds)))
        assert not created or max(created.values()) <= 1, created


def test_archive_pages_reach_the_disk_before_a_subscription_document_links_them(
        archived, monkeypatch):
    config, site = archived
    renamed, replace = [], os.replace

    def spy(tmp, path):  # watches the renames that publish each file; changes nothing
        replace(tmp, path)
        renamed.append(Path(path).name)

    monkeypatch.setattr(write.os, "replace", spy)
    _add_article(site, 1)  # the subscription documents change, and the newest page
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    heads = [n for n, name in enumerate(renamed) if name in ("rss.xml", "atom.xml", "feed.json")]
    pages = [n for n, name in enumerate(renamed) if "-archive-" in name]
    # A crash between the two leaves old subscription documents linking to pages
    # that exist, never new ones linking to a page not yet written.
    assert len(heads) == 9 and len(pages) == 9 and max(pages) < min(heads), renamed


def test_an_archive_page_deleted_by_hand_is_written_again_by_the_next_idle_cycle(archived):
    config, _ = archived
    page = config.output_dir / "ru" / "atom-archive-1.xml"
    published = page.read_bytes()
    page.unlink()
    report = run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    assert report.new == 0 and page.read_bytes() == published
    assert [p for p in report.written if p.endswith(".xml")] == [str(page)]


def test_raising_archive_size_removes_the_pages_beyond_the_new_count(archived):
    config, site = archived
    assert (config.output_dir / "ru" / "atom-archive-3.xml").is_file()
    config = make_config(config.output_dir.parent, sources=[html_source(site)],
                         languages={"targets": ["ru", "hy"]},
                         output={"dir": "feeds", "max_items": 2, "archive_size": 10})
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    for lang in LANGS:
        folder = config.output_dir / lang
        assert sorted(p.name for p in folder.glob("*-archive-*")) == [
            "atom-archive-1.xml", "feed-archive-1.json", "rss-archive-1.xml"]
        ids = Counter(e.id for p in folder.glob("atom*.xml")
                      for e in feedparser.parse(str(p)).entries)
        assert len(ids) == 6 and set(ids.values()) == {1}, (lang, ids)


def _page_entries(config, lang: str) -> dict[str, set[str]]:
    """Entry ids of each of ``lang``'s Atom documents, by file name."""
    return {p.name: {e.findtext(f"{ATOM}id") for e in etree.parse(str(p)).iter(f"{ATOM}entry")}
            for p in (config.output_dir / lang).glob("atom*.xml")}


def _feed_dates(config, lang: str) -> tuple:
    """(Atom feed updated, RSS lastBuildDate) of ``lang``'s subscription documents."""
    folder = config.output_dir / lang
    return (feedparser.parse(folder / "atom.xml").feed.updated_parsed,
            feedparser.parse(folder / "rss.xml").feed.updated_parsed)


def test_an_item_found_late_enters_the_subscription_feeds_and_moves_no_archived_entry(
        archived):
    # A backdated article, or one the listing shows only now: dated before every
    # item published so far. Subscribers must still get it, and archive pages
    # must keep their entries (RFC 5005: an archive document should not change).
    config, site = archived
    before = {lang: _page_entries(config, lang) for lang in LANGS}
    dated = {lang: _feed_dates(config, lang) for lang in LANGS}
    _add_article(site, 9, date="03.01.2020")
    report = run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    assert report.new == 1
    for lang in LANGS:
        folder = config.output_dir / lang
        atom = feedparser.parse(folder / "atom.xml")
        late = next(e for e in atom.entries if "opens session 9" in e.title)
        assert late.published == "2020-01-02T21:00:00+00:00"  # the source's date, Moscow
        # It changed the feed now: the entry and the feed say so, and no date goes back.
        assert late.updated == atom.feed.updated
        new_dates = _feed_dates(config, lang)
        assert all(new > old for new, old in zip(new_dates, dated[lang])), (lang, new_dates)
        assert "opens session 9" in (folder / "rss.xml").read_text()
        assert "opens session 9" in (folder / "feed.json").read_text()
        after = _page_entries(config, lang)
        for name, entries in before[lang].items():
            if name != "atom.xml":  # each archive page keeps every entry it had
                assert entries <= after[name], (lang, name)
        grown = [n for n in before[lang] if n != "atom.xml" and after[n] != before[lang][n]]
        assert len(grown) <= 1, (lang, grown)  # the window's oldest entry moves to one page


def test_an_edited_old_item_rewrites_only_its_archive_page(archived):
    config, site = archived
    page = site.root / "news" / "2022-02-16-joint-position-terrorism-extremism.html"
    page.write_text(page.read_text().replace("was signed", "was signed in Moscow"))
    report = run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    assert report.updated == 1
    names = sorted({__import__("pathlib").Path(p).name for p in report.written})
    assert names == ["atom-archive-1.xml", "feed-archive-1.json", "rss-archive-1.xml"]
