"""Sources over a real HTTP server on 127.0.0.1: html, feed and files."""
from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import datetime, timezone

from lxml import etree

from syndicator.cycle import fetch_sources, store_results
from syndicator.cycle import Progress, run_once
from syndicator.sources import fetch_source
from syndicator.sources.http import Fetcher
from syndicator.store import open_store

from conftest import feed_source, html_source, make_config

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _fetch(config, name=None):
    source = next(s for s in config.sources if name in (None, s.name))
    fetcher = Fetcher(config.http, config.base_url, sleep=lambda s: None)
    try:
        return fetch_source(source, fetcher, lambda url: ("", ""))
    finally:
        fetcher.close()


def test_html_source_follows_pagination_and_reads_every_article(tmp_path, site):
    result = _fetch(make_config(tmp_path, sources=[html_source(site)]))
    assert result.error == "" and result.problems == ()
    assert len(result.items) == 6  # 4 on page 1, 2 on page 2
    first = result.items[0]
    assert first.title == "CSTO Secretary General attends final stage of Rock-2024 training"
    # The canonical URL is the identity, so the item is the same wherever the page is served.
    assert first.id == "csto:https://en.odkb-csto.org/news/news_odkb/rock-2024/"


def test_html_dates_are_read_in_the_site_timezone_and_kept_as_utc(tmp_path, site):
    result = _fetch(make_config(tmp_path, sources=[html_source(site)]))
    assert result.items[0].published == datetime(2024, 9, 4, 21, 0, tzinfo=timezone.utc)
    assert result.items[-1].published == datetime(2022, 2, 15, 21, 0, tzinfo=timezone.utc)


def test_html_relative_urls_become_absolute(tmp_path, site):
    items = _fetch(make_config(tmp_path, sources=[html_source(site)])).items
    body = next(i for i in items if "crrf" in i.id).body
    assert 'href="https://en.odkb-csto.org/news/2024-09-04-interaction-2024-regrouping.html"' in body
    assert all(i.image.url.startswith("https://en.odkb-csto.org/images/") for i in items)
    assert all(i.image.type == "image/png" for i in items)


def test_html_article_body_excludes_sidebar_and_navigation(tmp_path, site):
    items = _fetch(make_config(tmp_path, sources=[html_source(site)])).items
    for item in items:
        assert "Go back" not in item.body and "Latest news" not in item.body


def test_feed_source_reads_the_sample_rss(tmp_path, site):
    result = _fetch(make_config(tmp_path, sources=[feed_source(site)]))
    assert len(result.items) == 6
    item = result.items[0]
    assert item.id == "csto-rss:https://en.odkb-csto.org/news/news_odkb/rock-2024/"
    assert item.published == datetime(2024, 9, 4, 21, 0, tzinfo=timezone.utc)
    assert item.image.type == "image/png" and item.image.length > 0


def test_conditional_get_sends_validators_and_a_304_yields_nothing(tmp_path, site):
    config = make_config(tmp_path, sources=[feed_source(site)])
    store = open_store(config.store_path)
    first = fetch_sources(config, store, None, NOW, Progress())
    store_results(store, first, NOW)
    second = fetch_sources(config, store, None, NOW, Progress())
    assert len(first[0].items) == 6
    assert second[0].not_modified and second[0].items == ()
    sent = [etag for path, etag in site.handler.requests if path == "/news.rss"]
    assert sent[0] == "" and sent[1].startswith('"')


def test_a_failing_source_is_named_and_does_not_stop_the_others(tmp_path, site):
    site.fault("/broken.rss", 500, b"oops")
    config = make_config(tmp_path, sources=[
        {"name": "broken", "type": "feed", "url": site.url + "broken.rss"},
        feed_source(site, name="good")])
    store = open_store(config.store_path)
    results = fetch_sources(config, store, None, NOW, Progress())
    assert "broken" in results[0].error and "HTTP 500" in results[0].error
    assert site.url + "broken.rss" in results[0].error
    assert len(results[1].items) == 6
    states = {s["name"]: s for s in store.source_states()}
    assert states["broken"]["failures"] == 1 and states["good"]["error"] == ""


def test_retry_honours_retry_after_then_reports(tmp_path, site):
    site.fault("/busy.rss", 503, b"", **{"Retry-After": "7"})
    config = make_config(tmp_path, sources=[{"name": "busy", "type": "feed",
                                             "url": site.url + "busy.rss"}])
    waits = []
    fetcher = Fetcher(config.http, sleep=waits.append)
    result = fetch_source(config.sources[0], fetcher, lambda url: ("", ""))
    assert waits == [7.0]  # http.retries = 1 in make_config
    assert "HTTP 503" in result.error
    assert len([p for p, _ in site.handler.requests if p == "/busy.rss"]) == 2


def test_response_size_is_capped(tmp_path, site):
    site.fault("/huge.rss", 200, b"<rss>" + b"x" * 200_000, **{"Content-Type": "text/xml"})
    config = make_config(tmp_path, sources=[{"name": "huge", "type": "feed",
                                             "url": site.url + "huge.rss"}],
                         http={"max_bytes": 100_000, "retries": 0})
    assert "larger than http.max_bytes" in _fetch(config).error


def test_gzip_body_is_capped_after_decompression(tmp_path, site):
    bomb = gzip.compress(b"<rss>" + b" " * 5_000_000)
    site.fault("/bomb.rss", 200, bomb, **{"Content-Encoding": "gzip",
                                          "Content-Type": "application/rss+xml"})
    config = make_config(tmp_path, sources=[{"name": "bomb", "type": "feed",
                                             "url": site.url + "bomb.rss"}],
                         http={"max_bytes": 1_000_000, "retries": 0})
    assert len(bomb) < 1_000_000
    assert "larger than http.max_bytes" in _fetch(config).error


def test_html_layout_change_is_a_loud_error_naming_the_selector(tmp_path, site):
    source = html_source(site)
    source["selectors"]["item"] = "li.renamed-item"
    result = _fetch(make_config(tmp_path, sources=[source]))
    assert result.items == ()
    assert "matched no article links" in result.error and "li.renamed-item" in result.error


def test_html_article_with_bad_date_is_reported_with_url_and_field(tmp_path, site):
    page = site.root / "news" / "2024-09-05-rock-2024.html"
    page.write_text(page.read_text().replace('<div class="news-date">05.09.2024',
                                             '<div class="news-date">yesterday'))
    result = _fetch(make_config(tmp_path, sources=[html_source(site)]))
    assert len(result.items) == 6  # kept, dated when first seen: nothing is lost
    [problem] = result.problems
    assert "'yesterday'" in problem and "2024-09-05-rock-2024.html" in problem
    assert "field 'date'" in problem


def test_files_source_reads_markdown_json_and_html_with_front_matter(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.md").write_text("---\ntitle: Council meets\ndate: 2024-09-05\n"
                                 "tags: [council]\n---\nThe *council* met.\n")
    (folder / "b.json").write_text('{"title": "Summit", "date": "2024-09-06T10:00:00+03:00",'
                                   ' "guid": "summit-1", "body": "<p>Summit held.</p>"}')
    (folder / "c.html").write_text("---\ntitle: Visit\n---\n<p onclick='x()'>A visit.</p>")
    (folder / "broken.md").write_text("---\ndate: 2024-01-01\n---\nno title\n")
    config = make_config(tmp_path, sources=[{"name": "desk", "type": "files", "path": "drop"}])
    result = _fetch(config)
    by_title = {i.title: i for i in result.items}
    assert set(by_title) == {"Council meets", "Summit", "Visit"}
    assert by_title["Council meets"].body == "<p>The <em>council</em> met.</p>"
    assert by_title["Council meets"].published == datetime(2024, 9, 4, 21, tzinfo=timezone.utc)
    assert by_title["Council meets"].categories == ("council",)
    assert by_title["Summit"].id == "desk:summit-1"
    assert by_title["Summit"].published == datetime(2024, 9, 6, 7, tzinfo=timezone.utc)
    assert by_title["Visit"].body == "<p>A visit.</p>"  # sanitised
    assert by_title["Visit"].published is None  # dated at first sight by the store
    [problem] = result.problems
    assert "broken.md" in problem and "field 'title'" in problem


def test_enclosure_lengths_that_are_not_plain_byte_counts_are_dropped_and_published(
        tmp_path, site):
    # A 23-digit length does not fit a JSON Feed reader's integers (nor orjson's);
    # "²" passes str.isdigit() but not int(). Neither may stop the cycle.
    rss = site.root / "news.rss"
    text = rss.read_text(encoding="utf-8")
    text = text.replace('length="74"', 'length="99999999999999999999999"', 1)
    text = text.replace('length="74"', 'length="²"', 1)
    rss.write_text(text, encoding="utf-8")
    config = make_config(tmp_path, languages={"targets": ["ru"]},
                         sources=[feed_source(site)])
    report = run_once(config, now=NOW)
    assert report.new == 6 and not report.errors, report
    for lang in ("en", "ru"):
        feed = json.loads((config.output_dir / lang / "feed.json").read_bytes())
        sizes = [a.get("size_in_bytes") for item in feed["items"]
                 for a in item.get("attachments", [])]
        assert len(sizes) == 6 and sizes.count(None) == 2
        assert all(0 < size < 100 for size in sizes if size is not None)  # the sample's own


# --- plain text is text: "<" and "&" in it are characters, not markup -----------------

ATOM_ENTRIES = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Wire</title><id>tag:wire,2024:feed</id>
<updated>2024-09-05T10:00:00Z</updated>
<entry><title type="text">Why x&lt;y and z&gt;w in &lt;CSTO&gt; drills</title>
  <id>tag:wire,2024:text</id><link href="https://wire.example/text"/>
  <updated>2024-09-05T10:00:00Z</updated>
  <author><name>Bob &lt;bob@example.org&gt;</name></author>
  <category term="x&lt;y"/>
  <summary type="text">Summary: a &lt;b&gt; element</summary>
  <content type="text">Body: 1 &lt; 2

and 3 &gt; 2</content></entry>
<entry><title type="html">&lt;b&gt;Bold&lt;/b&gt; news &amp;amp; views</title>
  <id>tag:wire,2024:html</id><link href="https://wire.example/html"/>
  <updated>2024-09-05T11:00:00Z</updated></entry>
</feed>"""


def _served_feed(site, name: str, text: str) -> dict:
    (site.root / name).write_text(text, encoding="utf-8")
    return {"name": "wire", "type": "feed", "url": site.url + name}


def test_atom_plain_text_keeps_angle_brackets_and_html_titles_are_reduced_to_text(
        tmp_path, site):
    source = _served_feed(site, "wire.atom", ATOM_ENTRIES)
    result = _fetch(make_config(tmp_path, sources=[source]))
    assert result.error == "" and result.problems == ()
    text, html = result.items
    assert text.title == "Why x<y and z>w in <CSTO> drills"
    assert text.author == "Bob <bob@example.org>"
    assert text.categories == ("x<y",)
    assert text.summary == "Summary: a <b> element"
    assert text.body == "<p>Body: 1 &lt; 2</p><p>and 3 &gt; 2</p>"
    assert html.title == "Bold news & views"  # type="html": its text, tags gone


def test_rss_titles_keep_lone_angle_brackets_and_lose_markup(tmp_path, site):
    rss = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>Wire</title><link>https://wire.example/</link><description>d</description>
<item><title>Why x&lt;y and z&gt;w in &lt;CSTO&gt; drills</title>
  <author>Bob &lt;bob@example.org&gt;</author><link>https://wire.example/1</link></item>
<item><title>&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;Escaped&lt;/b&gt; markup</title>
  <link>https://wire.example/2</link></item>
</channel></rss>"""
    result = _fetch(make_config(tmp_path, sources=[_served_feed(site, "wire.rss", rss)]))
    text, markup = result.items
    assert (text.title, text.author) == ("Why x<y and z>w in <CSTO> drills",
                                         "Bob <bob@example.org>")
    # RSS does not say whether a title is HTML: one that holds tags is read as HTML.
    assert markup.title == "alert(1)Escaped markup"


def test_angle_brackets_in_a_title_reach_every_published_feed(tmp_path, site):
    source = _served_feed(site, "wire.atom", ATOM_ENTRIES)
    config = make_config(tmp_path, languages={"targets": []}, sources=[source])
    report = run_once(config, now=NOW)
    assert report.new == 2 and not report.errors, report
    wanted = "Why x<y and z>w in <CSTO> drills"
    feeds = config.output_dir / "en"
    rss = etree.parse(str(feeds / "rss.xml")).findall("channel/item/title")
    atom = etree.parse(str(feeds / "atom.xml")).findall(
        "{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}title")
    jsonfeed = json.loads((feeds / "feed.json").read_bytes())["items"]
    assert wanted in [t.text for t in rss]
    assert wanted in [t.text for t in atom]
    assert wanted in [item["title"] for item in jsonfeed]


def test_files_front_matter_text_keeps_angle_brackets_and_escaped_html_is_decoded_once(
        tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.md").write_text('---\ntitle: "Why x<y and z>w in <CSTO> drills"\n'
                                 'author: "Bob <bob@example.org>"\n'
                                 'summary: "1 < 2 & 3 > 2"\n---\nBody.\n')
    (folder / "b.md").write_text('---\ntitle: "Tom &amp; Jerry &lt;3"\n'
                                 'author: "<b>Eve</b>"\n---\nBody.\n')
    result = _fetch(make_config(tmp_path, sources=[{"name": "desk", "type": "files",
                                                    "path": "drop"}]))
    text, escaped = result.items
    assert text.title == "Why x<y and z>w in <CSTO> drills"
    assert (text.author, text.summary) == ("Bob <bob@example.org>", "1 < 2 & 3 > 2")
    assert (escaped.title, escaped.author) == ("Tom & Jerry <3", "Eve")


# --- files: tags and dates as editors write them ----------------------------------------

def _files_result(tmp_path, files: dict[str, str]):
    folder = tmp_path / "drop"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return _fetch(make_config(tmp_path, sources=[{"name": "desk", "type": "files",
                                                  "path": "drop"}]))


def test_files_tags_may_be_one_string_or_a_number(tmp_path):
    result = _files_result(tmp_path, {
        "a.md": "---\ntitle: One\ntags: council\n---\nx\n",
        "b.md": "---\ntitle: Two\ntags: 2024\n---\nx\n",
        "c.md": "---\ntitle: Three\ntags: [council, 2024]\n---\nx\n",
        "d.json": '{"title": "Four", "tags": "summit"}'})
    assert result.error == "" and result.problems == ()
    assert {i.title: i.categories for i in result.items} == {
        "One": ("council",), "Two": ("2024",), "Three": ("council", "2024"),
        "Four": ("summit",)}


def test_files_item_with_bad_tags_is_skipped_naming_file_and_field_and_others_come_through(
        tmp_path):
    result = _files_result(tmp_path, {
        "a.md": "---\ntitle: Good\ntags: council\n---\nx\n",
        "b.md": "---\ntitle: Bad\ntags: {council: yes}\n---\nx\n",
        "c.md": "---\ntitle: Also good\ntags: 2024\n---\nx\n"})
    assert result.error == ""
    assert [i.title for i in result.items] == ["Good", "Also good"]
    [problem] = result.problems
    assert "'b.md'" in problem and "field 'tags'" in problem and "skipped" in problem


def test_files_item_with_an_impossible_date_is_published_dated_when_first_seen(tmp_path):
    result = _files_result(tmp_path, {
        "a.md": "---\ntitle: Impossible\ndate: 2024-13-45\n---\nx\n",
        "b.md": "---\ntitle: Fine\ndate: 2024-09-05\n---\nx\n"})
    by_title = {i.title: i for i in result.items}
    assert by_title["Impossible"].published is None  # dated when first seen: nothing lost
    assert by_title["Fine"].published == datetime(2024, 9, 4, 21, tzinfo=timezone.utc)
    [problem] = result.problems
    assert "'a.md'" in problem and "field 'date'" in problem and "'2024-13-45'" in problem


# --- html: a selector lxml cannot use ----------------------------------------------------

def test_an_invalid_selector_is_its_sources_error_and_the_other_sources_still_run(
        tmp_path, site):
    # Config loading refuses such a selector; a SourceConfig built in code is not checked.
    config = make_config(tmp_path, sources=[html_source(site), feed_source(site)])
    html, feed = config.sources
    broken = replace(html, selectors=replace(html.selectors, item="li[["))
    config = replace(config, sources=(broken, feed))
    results = fetch_sources(config, open_store(config.store_path), None, NOW, Progress())
    assert "'li[['" in results[0].error and "field 'selectors.item'" in results[0].error
    assert results[0].items == ()
    assert len(results[1].items) == 6
