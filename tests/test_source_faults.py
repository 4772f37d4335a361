"""Faults inside one item or one source, over real files, real SQLite and a real HTTP
server on 127.0.0.1. Each is reported naming the source, the item and the field, and
none stops the other items, the other sources or the cycle.

Also: conditional GET for feeds that redirect or live on disk, the files source's
cut to its newest items, and JSON Feed sources.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from syndicator.cycle import Progress, fetch_sources, run_once, store_results
from syndicator.models import Image
from syndicator.sources import fetch_source
from syndicator.sources.http import Fetcher
from syndicator.status import collect_status
from syndicator.store import open_store

from conftest import feed_source, html_source, make_config

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
# twin.json holds the entry of twin.atom, written as JSON Feed 1.1.
FEEDS = Path(__file__).parent / "fixtures" / "feeds"
# urllib refuses it (ValueError): an IPv6 bracket that is never closed.
BAD = "http://[x/"


def _fetch(config, name=None):
    source = next(s for s in config.sources if name in (None, s.name))
    fetcher = Fetcher(config.http, config.base_url, sleep=lambda s: None)
    try:
        return fetch_source(source, fetcher, lambda url: ("", ""), now=NOW)
    finally:
        fetcher.close()


def _problems(result, *parts: str) -> list[str]:
    return [p for p in result.problems if all(part in p for part in parts)]


def _serve(site, filename: str, text: str, **extra) -> dict:
    (site.root / filename).write_text(text, encoding="utf-8")
    return {"name": "wire", "type": "feed", "url": site.url + filename, **extra}


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _files_config(tmp_path: Path, **extra):
    return make_config(tmp_path, languages={"targets": []},
                       sources=[{"name": "desk", "type": "files", "path": "drop", **extra}])


def _unreadable(path: Path) -> Path:
    """Make ``path`` a file that cannot be read. Permissions do not stop root, so as
    root it is a link to /proc/self/mem, whose first page is never mapped (EIO)."""
    if os.geteuid() == 0:
        path.symlink_to("/proc/self/mem")
    else:
        path.write_text("---\ntitle: Locked\n---\nx\n", encoding="utf-8")
        path.chmod(0)
    return path


# --- malformed URLs: an item loses an image, or is skipped when the URL is its identity ---

RSS_BAD_URLS = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
<title>Wire</title><link>https://wire.example/</link><description>d</description>
<item><title>Enclosure</title><guid isPermaLink="false">tag:wire,1</guid>
  <link>https://wire.example/1</link><pubDate>Thu, 05 Sep 2024 10:00:00 GMT</pubDate>
  <enclosure url="{BAD}a.png" type="image/png" length="5"/></item>
<item><title>Media</title><guid isPermaLink="false">tag:wire,2</guid>
  <link>https://wire.example/2</link><pubDate>Thu, 05 Sep 2024 10:00:00 GMT</pubDate>
  <media:content url="{BAD}b.png" medium="image"/></item>
<item><title>Fine</title><guid isPermaLink="false">tag:wire,3</guid>
  <link>https://wire.example/3</link><pubDate>Thu, 05 Sep 2024 10:00:00 GMT</pubDate>
  <enclosure url="https://wire.example/c.png" type="image/png" length="5"/></item>
</channel></rss>"""


def test_feed_images_with_malformed_urls_are_dropped_naming_source_item_and_field(
        tmp_path, site):
    result = _fetch(make_config(tmp_path, sources=[_serve(site, "wire.rss", RSS_BAD_URLS)]))
    assert result.error == ""
    assert [(i.title, i.image) for i in result.items] == [
        ("Enclosure", None), ("Media", None),
        ("Fine", Image("https://wire.example/c.png", "image/png", 5))]
    for guid, url in (("tag:wire,1", f"{BAD}a.png"), ("tag:wire,2", f"{BAD}b.png")):
        assert len(_problems(result, "source 'wire'", f"item '{guid}'", "field 'image'",
                             repr(url), "not a valid URL")) == 1
    assert len(result.problems) == 2


def test_feed_link_that_is_not_a_url_skips_the_entry_only_when_it_is_its_identity(
        tmp_path, site):
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "Wire", "items": [
        {"id": "kept", "url": f"{BAD}k", "title": "Kept", "date_published": "2024-09-05"},
        {"url": f"{BAD}s", "title": "Skipped", "date_published": "2024-09-05"}]}
    source = _serve(site, "wire.json", json.dumps(document))
    result = _fetch(make_config(tmp_path, sources=[source]))
    [kept] = result.items
    assert (kept.guid, kept.url) == ("kept", source["url"])
    assert _problems(result, "source 'wire'", "item 'kept'", "field 'url'", repr(f"{BAD}k"),
                     "links to the feed instead")
    assert _problems(result, "item 'entry #2'", "field 'url'", repr(f"{BAD}s"), "skipped")
    assert len(result.problems) == 2


def test_rss_entry_whose_only_identity_is_not_a_url_is_skipped_and_named(tmp_path, site):
    # feedparser empties a permalink GUID (and a link) that urllib cannot parse.
    rss = RSS_BAD_URLS.replace('<guid isPermaLink="false">tag:wire,3</guid>\n  '
                               '<link>https://wire.example/3</link>', f'<guid>{BAD}3</guid>')
    result = _fetch(make_config(tmp_path, sources=[_serve(site, "wire.rss", rss)]))
    assert [i.title for i in result.items] == ["Enclosure", "Media"]
    assert _problems(result, "source 'wire'", "item 'entry #3'", "field 'guid'",
                     "neither a GUID nor a usable link; skipped")


ATOM_DATES = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Wire</title><id>tag:wire</id>
<updated>2024-09-05T10:00:00Z</updated>
<entry><title>Year one</title><id>tag:wire,1</id><link href="https://wire.example/1"/>
  <updated>0001-01-01T00:00:00+01:00</updated></entry>
<entry><title>Year 9999</title><id>tag:wire,2</id><link href="https://wire.example/2"/>
  <updated>9999-12-31T23:59:59-05:00</updated></entry>
<entry><title>Fine</title><id>tag:wire,3</id><link href="https://wire.example/3"/>
  <updated>2024-09-05T10:00:00Z</updated></entry>
</feed>"""


def test_atom_dates_outside_years_1_to_9999_in_utc_are_dated_when_first_seen(tmp_path, site):
    config = make_config(tmp_path, languages={"targets": []},
                         sources=[_serve(site, "wire.atom", ATOM_DATES)])
    result = _fetch(config)
    assert [(i.title, i.published) for i in result.items] == [
        ("Year one", None), ("Year 9999", None),
        ("Fine", datetime(2024, 9, 5, 10, tzinfo=timezone.utc))]
    for guid, raw in (("tag:wire,1", "0001-01-01T00:00:00+01:00"),
                      ("tag:wire,2", "9999-12-31T23:59:59-05:00")):
        assert len(_problems(result, "source 'wire'", f"item '{guid}'", "field 'date'",
                             repr(raw), "dated when first seen")) == 1
    report = run_once(config, now=NOW)  # and the cycle stores and publishes all three
    assert report.new == 3 and len(report.errors) == 2, report
    assert {i.title: i.published for i in open_store(config.store_path).recent_items(None)
            }["Year one"] == NOW


def test_html_malformed_urls_skip_only_what_they_identify(tmp_path, site):
    news = site.root / "news"

    def edit(name: str, old: str, new: str) -> None:
        page = news / name
        text = page.read_text(encoding="utf-8")
        assert old in text
        page.write_text(text.replace(old, new, 1), encoding="utf-8")

    edit("index.html", '<li class="news-item">',
         f'<li class="news-item"><a class="news-link" href="{BAD}">Broken</a></li>'
         '<li class="news-item">')
    edit("2024-09-05-rock-2024.html", 'rel="canonical" href="https://en.odkb-csto.org/',
         f'rel="canonical" href="{BAD}')
    edit("2024-09-04-crrf-joint-training-session.html", '<base href="https://',
         f'<base href="{BAD}')
    edit("2024-09-04-interaction-2024-regrouping.html", 'src="../images/', f'src="{BAD}')
    result = _fetch(make_config(tmp_path, sources=[html_source(site)]))
    assert result.error == ""
    by_url = {i.url.rsplit("/", 2)[-2]: i for i in result.items}
    assert len(result.items) == 5 and "rock-2024" not in by_url  # the others all come
    assert by_url["interaction-2024-regrouping"].image is None
    # Without a usable <base href>, links resolve against the page's own URL.
    assert (f'href="{site.url}news/2024-09-04-interaction-2024-regrouping.html"'
            in by_url["crrf-joint-training-session"].body)
    listing = site.url + "news/index.html"
    assert _problems(result, "source 'csto'", f"url '{listing}'", "field 'selectors.link'",
                     repr(BAD), "not followed")
    assert _problems(result, "2024-09-05-rock-2024.html", "field 'canonical'", "skipped")
    assert _problems(result, "crrf-joint-training-session.html", "field 'base'")
    assert _problems(result, "interaction-2024-regrouping.html", "field 'selectors.image'",
                     "published without the image")
    assert len(result.problems) == 4


def test_html_malformed_next_link_ends_pagination_with_a_problem(tmp_path, site):
    index = site.root / "news" / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace(
        'class="next" rel="next" href="page-2.html"', f'class="next" rel="next" href="{BAD}"'),
        encoding="utf-8")
    result = _fetch(make_config(tmp_path, sources=[html_source(site)]))
    assert len(result.items) == 4  # page 1 only
    [problem] = result.problems
    assert "field 'selectors.next'" in problem and "later listing pages" in problem


def test_files_front_matter_malformed_urls_drop_the_image_or_skip_an_unidentified_item(
        tmp_path):
    _folder(tmp_path, {
        "a-image.md": f"---\ntitle: Image\nimage: {BAD}i.png\n---\nx\n",
        "b-url-and-guid.md": f"---\ntitle: Linked\nguid: g-1\nurl: {BAD}u\n---\nx\n",
        "c-url-only.md": f"---\ntitle: Unidentified\nurl: {BAD}u\n---\nx\n",
        # Valid as written; once tidy_fields removes the control character, the
        # zone id of the IPv6 address is empty and urllib refuses the URL.
        "d-control.json": json.dumps({"title": "Control",
                                      "image": "http://[fe80::1%\u0001]/a.png"}),
        "e-fine.md": "---\ntitle: Fine\nimage: https://example.org/f.png\n---\nx\n"})
    result = _fetch(_files_config(tmp_path))
    by_title = {i.title: i for i in result.items}
    assert set(by_title) == {"Image", "Linked", "Control", "Fine"}
    assert by_title["Image"].image is None and by_title["Control"].image is None
    assert by_title["Fine"].image.url == "https://example.org/f.png"
    assert (by_title["Linked"].guid, by_title["Linked"].url[:8]) == ("g-1", "file:///")
    assert _problems(result, "source 'desk'", "item 'a-image.md'", "field 'image'")
    assert _problems(result, "item 'b-url-and-guid.md'", "field 'url'", "links to its file")
    assert _problems(result, "item 'c-url-only.md'", "field 'url'", "skipped")
    assert _problems(result, "item 'd-control.json'", "field 'image'")
    assert len(result.problems) == 4


# --- files and file:// URLs that cannot be read -------------------------------------------

def test_files_source_skips_an_unreadable_file_naming_it_and_ignores_editor_lock_files(
        tmp_path):
    folder = _folder(tmp_path, {"fine.md": "---\ntitle: Fine\n---\nx\n"})
    (folder / ".#fine.md").symlink_to("editor@host.4242")  # Emacs's lock: dangling
    (folder / "draft.md").symlink_to("gone.md")  # dangling too, but not hidden
    _unreadable(folder / "locked.md")
    result = _fetch(_files_config(tmp_path))
    assert result.error == "" and [i.title for i in result.items] == ["Fine"]
    assert _problems(result, "source 'desk'", "item 'draft.md'", "cannot read", "skipped")
    assert _problems(result, "source 'desk'", "item 'locked.md'", "cannot read", "skipped")
    assert len(result.problems) == 2  # nothing about the lock file


def test_unreadable_file_feed_is_its_sources_error_and_the_other_sources_still_run(tmp_path):
    feed = _unreadable(tmp_path / "news.rss")
    _folder(tmp_path, {"fine.md": "---\ntitle: Fine\n---\nx\n"})
    config = make_config(tmp_path, sources=[
        {"name": "disk", "type": "feed", "url": feed.as_uri()},
        {"name": "desk", "type": "files", "path": "drop"}])
    store = open_store(config.store_path)
    results = fetch_sources(config, store, None, NOW, Progress())
    assert results[0].error.startswith("source 'disk': ")
    assert "cannot read" in results[0].error and str(feed) in results[0].error
    assert [i.title for i in results[1].items] == ["Fine"]


def test_an_unforeseen_exception_fails_only_its_source_with_a_traceback_and_the_cycle_goes_on(
        tmp_path, site, caplog):
    # Config loading refuses an unknown type; a SourceConfig built in code is not
    # checked, so no reader exists for it: a fault no reader foresaw.
    config = make_config(tmp_path, languages={"targets": []},
                         sources=[html_source(site, name="odd"), feed_source(site)])
    odd, good = config.sources
    config = replace(config, sources=(replace(odd, type="sitemap"), good))
    with caplog.at_level(logging.ERROR, logger="syndicator.sources"):
        report = run_once(config, now=NOW)
    assert report.new == 6, report  # the feed's items
    [error] = report.errors
    assert error.startswith("source 'odd': unexpected KeyError") and "traceback" in error
    [record] = [r for r in caplog.records if r.getMessage() == error]
    assert record.exc_info is not None
    states = {s["name"]: s for s in open_store(config.store_path).source_states()}
    assert states["odd"]["error"] == error and states["odd"]["failures"] == 1


# --- conditional GET where the URL fetched is not the URL configured -----------------------

def _fetch_twice(config):
    store = open_store(config.store_path)
    first = fetch_sources(config, store, None, NOW, Progress())
    store_results(store, first, NOW)
    second = fetch_sources(config, store, None, NOW, Progress())
    return first[0], second[0]


def test_a_feed_that_redirects_gets_its_304_on_the_second_fetch(tmp_path, site):
    site.fault("/old.rss", 301, Location=site.url + "news.rss")
    config = make_config(tmp_path, sources=[feed_source(site, url=site.url + "old.rss")])
    first, second = _fetch_twice(config)
    assert len(first.items) == 6
    assert second.not_modified and second.items == () and second.error == ""
    sent = [etag for path, etag in site.handler.requests if path == "/news.rss"]
    assert sent[0] == "" and sent[1].startswith('"')


BARE_GUIDS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Desk</title><link>https://csto.example.org/</link>
<description>d</description>
<item><title>First</title><guid>101</guid><link>https://csto.example.org/n/101</link>
<pubDate>Mon, 02 Sep 2024 10:00:00 GMT</pubDate></item>
<item><title>Second</title><guid>102</guid><link>https://csto.example.org/n/102</link>
<pubDate>Tue, 03 Sep 2024 10:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_a_feed_with_bare_guids_keeps_its_items_when_it_moves_or_its_url_changes(
        tmp_path, site):
    # Many CMSes write a bare number as the GUID, which RSS takes for a permalink:
    # feedparser reads it against the document's address.
    for folder in ("feeds", "moved"):
        (site.root / folder).mkdir()
        (site.root / folder / "desk.rss").write_text(BARE_GUIDS, encoding="utf-8")
    config = make_config(tmp_path, sources=[feed_source(site, url=site.url + "feeds/desk.rss")])
    store = open_store(config.store_path)
    first = fetch_sources(config, store, None, NOW, Progress())
    assert store_results(store, first, NOW) == (2, 0)
    ids = {i.id for i in store.recent_items(None)}
    site.fault("/feeds/desk.rss", 301, Location=site.url + "moved/desk.rss")
    (site.root / "moved" / "desk.rss").write_text(BARE_GUIDS.replace("<title>First", "<title>1st"),
                                                  encoding="utf-8")  # an edit, to be seen
    moved = fetch_sources(config, store, None, NOW, Progress())
    assert store_results(store, moved, NOW) == (0, 1)
    config = make_config(tmp_path, sources=[feed_source(site, url=site.url + "moved/desk.rss")])
    renamed = fetch_sources(config, store, None, NOW, Progress())
    assert renamed[0].not_modified or store_results(store, renamed, NOW) == (0, 0)
    assert {i.id for i in store.recent_items(None)} == ids and len(ids) == 2


def test_a_file_feed_gets_its_304_on_the_second_fetch(tmp_path, site):
    config = make_config(tmp_path, sources=[
        {"name": "disk", "type": "feed", "url": (site.root / "news.rss").as_uri()}])
    first, second = _fetch_twice(config)
    assert len(first.items) == 6
    assert second.not_modified and second.items == ()


# --- files: more files than max_items -----------------------------------------------------

def test_files_source_over_max_items_takes_the_newest_by_date_and_says_what_it_left_out(
        tmp_path):
    files = {f"2024-09-0{day}-news.md": f"---\ntitle: Day {day}\ndate: 2024-09-0{day}\n---\nx\n"
             for day in range(1, 6)}
    # Names need not sort by date: this one sorts first and is the newest.
    files["aaa-breaking.md"] = "---\ntitle: Breaking\ndate: 2024-09-06T09:00:00\n---\nx\n"
    # Undated files go by when they were saved: this one now, the other in 2020.
    files["undated.md"] = "---\ntitle: Undated\n---\nx\n"
    files["old-undated.md"] = "---\ntitle: Old, undated\n---\nx\n"
    folder = _folder(tmp_path, files)
    os.utime(folder / "old-undated.md", (1_600_000_000, 1_600_000_000))
    result = _fetch(_files_config(tmp_path, max_items=4))
    assert [i.title for i in result.items] == ["Day 4", "Day 5", "Breaking", "Undated"]
    [problem] = result.problems
    assert "source 'desk'" in problem and "field 'max_items'" in problem
    assert "8 items" in problem and "4 older" in problem and "'2024-09-03-news.md'" in problem


# --- html: errors name their source, so status shows them ---------------------------------

def test_unparseable_html_article_is_shown_in_status_under_its_source(tmp_path, site):
    (site.root / "news" / "2024-09-05-rock-2024.html").write_bytes(b"")
    config = make_config(tmp_path, languages={"targets": []}, sources=[html_source(site)])
    report = run_once(config, now=NOW)
    assert report.new == 5
    [problem] = report.errors
    assert problem.startswith("source 'csto': unparseable HTML")
    assert "2024-09-05-rock-2024.html" in problem
    [status] = collect_status(config)["sources"]
    assert status["problems"] == [problem]


def test_unparseable_html_listing_is_its_sources_error(tmp_path, site):
    (site.root / "news" / "index.html").write_bytes(b"")
    result = _fetch(make_config(tmp_path, sources=[html_source(site)]))
    assert result.error.startswith("source 'csto': unparseable HTML")


# --- JSON Feed ----------------------------------------------------------------------------

def test_json_feed_entry_becomes_the_same_item_as_its_atom_twin(tmp_path, site):
    site.fault("/wire.feed", 200, (FEEDS / "twin.json").read_bytes(),
               **{"Content-Type": "application/feed+json"})
    (site.root / "wire.atom").write_bytes((FEEDS / "twin.atom").read_bytes())
    config = make_config(tmp_path, sources=[
        {"name": "json", "type": "feed", "url": site.url + "wire.feed"},
        {"name": "atom", "type": "feed", "url": site.url + "wire.atom"}])
    from_json, from_atom = _fetch(config, "json"), _fetch(config, "atom")
    assert from_json.error == "" and from_json.problems == ()
    [item] = from_json.items
    assert item == replace(from_atom.items[0], source="json")
    assert item.url == site.url + "news/1" and item.title == "Why x<y in <CSTO> drills"
    assert "bad()" not in item.body and "onclick" not in item.body
    assert item.image == Image(site.url + "img/1.png", "image/png", 74)
    assert item.published == datetime(2024, 9, 5, 7, tzinfo=timezone.utc)


def test_json_feed_items_are_read_and_bad_ones_reported_naming_item_and_field(tmp_path, site):
    # Version 1: its single top-level author is every item's author.
    odd_fields = (FEEDS / "version-1-odd-fields.json").read_text(encoding="utf-8")
    config = make_config(tmp_path, languages={"targets": []},
                         sources=[_serve(site, "wire.json", odd_fields)])
    result = _fetch(config)
    assert result.error == "" and result.found == 5
    plain, odd = result.items
    assert (plain.guid, plain.url, plain.author) == ("42", "https://wire.example/42", "The desk")
    assert plain.body == "<p>One &lt; two.</p><p>Second paragraph.</p>"
    assert plain.published == datetime(2024, 9, 5, tzinfo=timezone.utc)
    assert plain.image == Image("https://wire.example/42.jpg", "image/jpeg", 0)
    assert plain.categories == ("council",)
    assert (odd.guid, odd.published, odd.image, odd.categories) == (
        "https://wire.example/43", None, None, ("fine",))
    item43 = "item 'https://wire.example/43'"
    assert _problems(result, "source 'wire'", item43, "field 'date'", "'yesterday'")
    assert _problems(result, item43, "field 'image'", repr(f"{BAD}i.png"))
    assert _problems(result, item43, "field 'tags'", "ignored")
    assert _problems(result, "item 'entry #3'", "neither a GUID nor a usable link", "skipped")
    assert _problems(result, "item 't'", "field 'title'", "list", "skipped")
    assert _problems(result, "item 'entry #5'", "not an object", "skipped")
    assert len(result.problems) == 6
    report = run_once(config, now=NOW)  # and the cycle stores them
    assert report.new == 2 and len(report.errors) == 6


def test_documents_that_are_not_json_feeds_are_their_sources_errors(tmp_path, site):
    bodies = {"list.json": "[]", "version.json": '{"version": "1.1", "items": []}',
              "broken.json": '{"version": "https://jsonfeed.org/version/1.1", "items": [',
              "deep.json": "{" + '"a":[' * 100_000}
    sources = [_serve(site, name, body, name=name) for name, body in bodies.items()]
    config = make_config(tmp_path, sources=[*sources, feed_source(site)])
    results = fetch_sources(config, open_store(config.store_path), None, NOW, Progress())
    errors = {r.name: r.error for r in results}
    assert "not a JSON Feed: the document is a list" in errors["list.json"]
    assert "not a JSON Feed: its version is '1.1'" in errors["version.json"]
    assert "field 'version'" in errors["version.json"]
    assert "not a JSON Feed: Expecting value" in errors["broken.json"]
    assert "not a JSON Feed" in errors["deep.json"]
    assert all(error.startswith(f"source '{name}'") for name, error in errors.items()
               if name in bodies)
    assert len(results[-1].items) == 6  # the other source still runs
