"""Properties that hold for any Unicode text (hypothesis).

- sanitising (``clean_html``) is idempotent, and its output is XML-safe;
- ``plain_text`` is XML-safe and one line, and idempotent;
- RSS, Atom and JSON Feed built from an item whose title and body are the text
  parse, and give the title back; so does a small real publish on a store;
- GUIDs depend only on the item id, the language and the published date, and a
  stored GUID never changes when the item is edited.
"""
from __future__ import annotations

import json
import re
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import lxml.html
import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st
from lxml import etree

from conftest import ROOT, make_config
from syndicator.models import Entry, Item, SourceItem
from syndicator.publish import feeds, make_guid, publish_all
from syndicator.publish.jsonfeed import jsonfeed
from syndicator.sources.clean import clean_html, plain_text, summary_from, xml_safe
from syndicator.store import open_store

BASE = "https://example.org/news/1"
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Any Unicode text, including surrogates and controls, plus text that looks like HTML.
TAGS = ["p", "a", "b", "script", "style", "img", "iframe", "svg", "math", "table", "td",
        "li", "ul", "pre", "code", "br", "div", "span", "noscript", "template", "![CDATA["]
ATTRS = ['href="javascript:alert(1)"', "onclick=alert(1)", 'src="data:x"', 'href="/r"',
         'style="width:expression(1)"', 'title="&quot;&lt;"', "href=https://e.org/?a=1&b=2",
         'cite="javascript:x"', "alt=x"]
piece = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["&amp;", "&lt;", "&gt;", "&#0;", "&#xD800;", "&nbsp;", "]]>", "<!--",
                     "-->", "\u202e", "\u200b", "\ufeff", "\x00", "\ud800", "\r\n", "\t"]),
    st.builds(lambda t, a: f"<{t} {a}>", st.sampled_from(TAGS), st.sampled_from(ATTRS)),
    st.builds(lambda t: f"</{t}>", st.sampled_from(TAGS)),
)
text = st.one_of(st.text(), st.lists(piece, max_size=12).map("".join))


def _xml_text_ok(value: str) -> bool:
    """lxml refuses exactly the strings XML 1.0 cannot carry."""
    try:
        etree.Element("t").text = value
    except ValueError:
        return False
    return True


# --- sanitising ---------------------------------------------------------------------------

@FAST
@given(text)
@example("<a href='x'>&amp;lt;</a>")
@example("<p>a ]]> b</p>\x00\ud800")
@example("\ufeff\ufeff")  # nh3 (html5ever) drops one leading BOM per pass
@example("<pre>\n\nx</pre>")  # each pass loses a leading newline of <pre>
@example("]]><li alt=x><table alt=x>l<li alt=x></table>")  # libxml2 and html5ever nest apart
def test_clean_html_is_idempotent_and_xml_safe(value):
    once = clean_html(value, BASE)
    assert clean_html(once, BASE) == once
    assert not XML_ILLEGAL.search(once) and _xml_text_ok(once)


@FAST
@given(text)
@example("Tom &amp; Jerry\x0b\ud800 \u0085 end")
def test_plain_text_is_xml_safe_and_one_line(value):
    out = plain_text(value)
    assert _xml_text_ok(out) and not XML_ILLEGAL.search(out)
    assert out == out.strip() and not re.search(r"[\n\r\t]", out)


@FAST
@given(st.text().filter(lambda t: "<" not in t and "&" not in t))
def test_plain_text_is_idempotent_on_text_without_markup_characters(value):
    once = plain_text(value)
    assert plain_text(once) == once


# Letters, digits, punctuation, symbols and spaces of any script, but not Latin-1 or
# C1 characters, which the mojibake repair (ftfy) may legitimately rewrite.
title_text = st.text(alphabet=st.characters(
    whitelist_categories=("L", "N", "P", "S", "Zs"), blacklist_characters="".join(
        map(chr, range(0x80, 0x100)))), min_size=1, max_size=40)


@SLOW
@given(st.one_of(title_text, st.lists(st.one_of(title_text, st.sampled_from(
    ["<", ">", "&", "&amp;", "&lt;b&gt;", "<script>", "&#1;"])), max_size=6).map("".join)))
@example("Use the <b> tag")
@example("AT&amp;T")
def test_html_titles_are_decoded_once(value):
    """An article's <h1> shows ``value``; the published title is ``value``, not ``value``
    decoded a second time (html.py passes text_content() to plain_text)."""
    import html as html_lib

    from syndicator.config import config_from_dict
    from syndicator.sources import html as html_source
    from syndicator.sources.http import Fetcher

    expected = re.sub(r"\s+", " ", xml_safe(value)).strip()
    assume(expected)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "index.html").write_text(
            '<ul><li class="i"><a class="l" href="a.html">x</a></li></ul>', "utf-8")
        (root / "a.html").write_text(
            f'<html><body><h1>{html_lib.escape(value)}</h1><p class="d">01.02.2024</p>'
            '<div class="b"><p>Body.</p></div></body></html>', "utf-8")
        config = config_from_dict({
            "site": {"base_url": "https://feeds.example.org/"},
            "sources": [{"name": "web", "type": "html", "url": (root / "index.html").as_uri(),
                         "selectors": {"item": "li.i", "link": "a.l", "title": "h1",
                                       "date": "p.d", "body": "div.b"}}]},
            root / "config.toml")
        fetcher = Fetcher(config.http, config.base_url)
        try:
            result = html_source.read(config.sources[0], fetcher, lambda url: ("", ""))
        finally:
            fetcher.close()
    assert [item.title for item in result.items] == [expected]


# --- XML and JSON built from the text -----------------------------------------------------

def _item(title: str, body: str, *, item_id: str = "desk:one", url: str = BASE,
          published: datetime = datetime(2024, 9, 5, 7, 30, tzinfo=timezone.utc)) -> Item:
    return Item(id=item_id, source=item_id.split(":")[0], guid=item_id.split(":", 1)[1],
                url=url, title=title, summary=summary_from(body), body=body,
                published=published, updated=published + timedelta(hours=1),
                content_hash="0" * 64, author=title[:20], categories=(title[:10] or "x",))


def _info(updated: datetime) -> feeds.FeedInfo:
    return feeds.FeedInfo(
        lang="ru", title="Новости ОДКБ", description="Описание", updated=updated,
        home="https://feeds.example.org/ru/index.html",
        alternates=(("en", "https://feeds.example.org/en/atom.xml"),),
        history=feeds.History("https://feeds.example.org/ru/"))


@FAST
@given(text, text)
@example("]]>", "<p>]]></p><![CDATA[x]]>")
@example("\ud800\x01 title \u202e", "<svg onload=x>\x00")
def test_rss_atom_and_json_built_from_any_text_parse_and_keep_the_title(raw_title, raw_body):
    title, body = plain_text(raw_title), clean_html(raw_body, BASE)
    assume(title)
    item = _item(title, body)
    guid = make_guid("https://feeds.example.org/", "ru", item)
    entry = Entry(item, "ru", "en", "awaiting", guid, title, item.summary, body, item.updated)
    content = {guid: f"<p>date</p>\n{body}"}
    info = _info(item.updated)
    rss = feeds.rss(info, [entry], content)
    atom = feeds.atom(info, [entry], content, {guid: [("en", BASE)]})
    document = json.loads(jsonfeed(info, [entry], content, {}))
    for data in (rss, atom):
        etree.fromstring(data)
        parsed = feedparser.parse(data)
        assert parsed.bozo == 0, parsed.bozo_exception
        assert [e.id for e in parsed.entries] == [guid]
    rss_title = etree.fromstring(rss).find("channel/item/title").text or ""
    atom_title = etree.fromstring(atom).find(f"{{{feeds.ATOM}}}entry/{{{feeds.ATOM}}}title")
    assert rss_title == title and atom_title.text == title
    assert atom_title.get("type") in (None, "text")
    assert document["items"][0]["title"] == title
    assert document["items"][0]["content_html"] == content[guid]


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1f", "\ud800", "\ufffe", "\uffff"])
@pytest.mark.parametrize("field", ["title", "content"])
def test_a_character_xml_forbids_is_refused_naming_the_field_and_the_entry(field, bad):
    """Intake removes such characters; if one still reaches a writer, the
    document is refused with the field and entry named, never written broken."""
    item = _item("Summit", "<p>Body</p>")
    guid = make_guid("https://feeds.example.org/", "ru", item)
    title = f"Sum{bad}mit" if field == "title" else "Summit"
    entry = Entry(item, "ru", "ru", "translated", guid, title, "", "<p>Body</p>", item.updated)
    content = {guid: f"<p>Bo{bad}dy</p>" if field == "content" else "<p>Body</p>"}
    # A second, clean entry first: the column a value sits in must not shift.
    clean = replace(entry, guid=guid + "-2", title="Clean")
    content[clean.guid] = "<p>Clean</p>"
    info = _info(item.updated)
    for write in (lambda: feeds.rss(info, [clean, entry], content),
                  lambda: feeds.atom(info, [clean, entry], content, {})):
        with pytest.raises(ValueError, match=rf"^{field} of entry '{re.escape(guid)}': "
                                             rf"character U\+{ord(bad):04X} is not allowed"):
            write()


@SLOW
@given(text, text)
def test_a_real_publish_of_any_text_gives_documents_that_parse(raw_title, raw_body):
    title, body = plain_text(raw_title), clean_html(raw_body, BASE)
    assume(title)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = make_config(root, languages={"targets": ["ru", "ar"]},
                             translations={"dir": str(ROOT / "translations")})
        store = open_store(config.store_path)
        now = datetime(2030, 1, 2, tzinfo=timezone.utc)
        store.upsert_items([SourceItem("desk", "one", BASE, title, summary_from(body), body,
                                       datetime(2024, 9, 5, tzinfo=timezone.utc))], now)
        publish_all(store, config, now)
        store.engine.dispose()
        for lang in ("en", "ru", "ar"):
            folder_ = config.output_dir / lang
            for name in ("rss.xml", "atom.xml"):
                data = (folder_ / name).read_bytes()
                etree.fromstring(data)
                parsed = feedparser.parse(data)
                assert parsed.bozo == 0, (lang, name, parsed.bozo_exception)
            items = json.loads((folder_ / "feed.json").read_text("utf-8"))["items"]
            assert [i["title"] for i in items] == [title]
            for name in ("index.html", "widget.html"):
                page = (folder_ / name).read_text("utf-8")
                assert not XML_ILLEGAL.search(page)
                shown = lxml.html.document_fromstring(page).xpath(
                    "//article/h3/a | //li/*[@dir='auto']")
                assert [el.text_content() for el in shown] == [title]


# --- GUIDs ---------------------------------------------------------------------------------

moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                       timezones=st.just(timezone.utc))


@FAST
@given(st.text(min_size=1), st.sampled_from(["en", "ru", "hy", "be", "kk", "ky", "tg"]),
       moments, text, text, st.text(), moments)
def test_make_guid_depends_only_on_item_id_language_and_published_date(
        item_id, lang, published, title, body, url, updated):
    item = _item("t", "<p>b</p>", item_id="s:" + item_id, published=published)
    guid = make_guid("https://feeds.example.org/", lang, item)
    same_day = published.replace(hour=(published.hour + 1) % 24)
    assume(same_day.date() == published.date())
    edited = replace(item, title=title, body=body, summary=body, url=url, updated=updated,
                     content_hash="f" * 64, author=title, categories=(), image=None,
                     published=same_day)
    assert make_guid("https://feeds.example.org/", lang, edited) == guid
    assert make_guid("https://feeds.example.org/", "ar", item) != guid or lang == "ar"
    other = replace(item, id=item.id + "x")
    assert make_guid("https://feeds.example.org/", lang, other) != guid
    next_day = replace(item, published=published + timedelta(days=1))
    assert make_guid("https://feeds.example.org/", lang, next_day) != guid
    assert guid.startswith("tag:feeds.example.org,") and f":{lang}/" in guid


edits = st.fixed_dictionaries({
    "title": text.map(plain_text).filter(bool),
    "body": text.map(lambda t: clean_html(t, BASE)),
    "url": st.sampled_from([BASE, "https://example.org/moved", "https://other.example/x"]),
    "published": st.one_of(st.none(), moments),
})


@SLOW
@given(st.lists(edits, min_size=1, max_size=3))
def test_a_stored_guid_never_changes_when_the_item_is_edited(versions):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = make_config(root, languages={"targets": ["ru"]},
                             translations={"dir": str(ROOT / "translations")})
        store = open_store(config.store_path)
        now = datetime(2030, 1, 2, tzinfo=timezone.utc)
        first = SourceItem("desk", "one", BASE, "First title", "", "<p>First.</p>",
                           datetime(2024, 9, 5, tzinfo=timezone.utc))
        store.upsert_items([first], now)
        publish_all(store, config, now)

        def guids():
            return {lang: [i["id"] for i in json.loads(
                (config.output_dir / lang / "feed.json").read_text("utf-8"))["items"]]
                for lang in ("en", "ru")}

        before = guids()
        for n, version in enumerate(versions, 1):
            edited = replace(first, title=version["title"], body=version["body"],
                             summary=summary_from(version["body"]), url=version["url"],
                             published=version["published"])
            store.upsert_items([edited], now + timedelta(days=n))
            publish_all(store, config, now + timedelta(days=n))
            assert guids() == before
        # Not even a new base_url changes a GUID that was published once.
        moved = make_config(root, languages={"targets": ["ru"]},
                            translations={"dir": str(ROOT / "translations")},
                            site={"title": "CSTO News", "base_url": "https://new.example/",
                                  "source_language": "en", "timezone": "Europe/Moscow"})
        publish_all(store, moved, now + timedelta(days=9))
        assert guids() == before
        store.engine.dispose()
