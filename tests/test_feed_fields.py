"""Fields of the published feeds as their specs define them, read back from the bytes:

- an item's author is credited in every format: RSS ``dc:creator``, an Atom entry's
  ``author`` (RFC 4287 3.2: a required ``name``, an ``email`` that is an addr-spec),
  a JSON Feed 1.1 item's ``authors`` (a name only: JSON Feed has no address);
- RSS ``<description>`` is entity-encoded HTML: a plain-text summary is HTML-escaped
  before it is XML-escaped, so a reader rendering it shows the text, "<" included;
- every page of a language's JSON Feed carries the subscription feed's ``feed_url``
  (JSON Feed 1.1: "the unique identifier for the feed"); ``next_url`` pages.
"""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

import feedparser
import lxml.html
import pytest
from lxml import etree

from conftest import ATOM_RNC, make_config, require_shared, require_tool
from syndicator.cycle import run_once
from syndicator.models import Entry, Item
from syndicator.publish import feeds
from syndicator.publish.jsonfeed import jsonfeed
from test_formats import _node_check

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
BASE = "https://feeds.example.org/"


def _publish(tmp_path, files: dict[str, str], **output):
    """One cycle over a files source holding ``files`` (name -> text), English only."""
    folder = tmp_path / "drop"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    config = make_config(tmp_path, languages={"targets": []},
                         sources=[{"name": "desk", "type": "files", "path": "drop"}],
                         output={"dir": "feeds", **output})
    report = run_once(config, now=NOW)
    assert not report.errors, report
    return config.output_dir / "en"


def _story(title: str, day: int, *, author: str = "", summary: str = "") -> str:
    lines = [f'title: "{title}"', f"date: 2025-09-{day:02d}T10:00:00Z"]
    lines += [f"author: {json.dumps(author)}"] if author else []
    lines += [f"summary: {json.dumps(summary)}"] if summary else []
    return "---\n" + "\n".join(lines) + f"\n---\n{title}: the body.\n"


# --- authors --------------------------------------------------------------------------

AUTHORS = {"named.md": "Bob <bob@example.org>", "address.md": "desk@example.org",
           "name.md": "Alice Ivanova", "rss-style.md": "carol@example.org (Carol)"}


def test_an_items_author_is_credited_in_rss_atom_and_json_feed(tmp_path):
    stories = {name: _story(name.removesuffix(".md"), n + 1, author=author)
               for n, (name, author) in enumerate(AUTHORS.items())}
    stories["anonymous.md"] = _story("anonymous", 9)
    folder = _publish(tmp_path, stories)
    # title -> (name, email) each format credits; None: no author of its own.
    wanted = {"named": ("Bob", "bob@example.org"),
              "address": ("desk@example.org", "desk@example.org"),
              "name": ("Alice Ivanova", None),
              "rss-style": ("Carol", "carol@example.org"), "anonymous": None}

    rss = etree.parse(str(folder / "rss.xml")).getroot()
    creators = {item.findtext("title"): item.findtext(f"{DC}creator")
                for item in rss.iter("item")}
    assert creators == {"named": "Bob <bob@example.org>", "address": "desk@example.org",
                        "name": "Alice Ivanova", "rss-style": "carol@example.org (Carol)",
                        "anonymous": None}  # as the source wrote it

    atom = etree.parse(str(folder / "atom.xml")).getroot()
    credited = {}
    for entry in atom.iter(f"{ATOM}entry"):
        authors = entry.findall(f"{ATOM}author")
        assert len(authors) <= 1
        credited[entry.findtext(f"{ATOM}title")] = (
            (authors[0].findtext(f"{ATOM}name"), authors[0].findtext(f"{ATOM}email"))
            if authors else None)
    assert credited == wanted
    # A reader sees each entry's own author; the anonymous entry has only the feed's.
    parsed = feedparser.parse(str(folder / "atom.xml"))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    by_title = {e.title: e.get("author_detail") for e in parsed.entries}
    assert by_title["named"] == {"name": "Bob", "email": "bob@example.org"}
    assert by_title["anonymous"] is None and parsed.feed.author_detail == {"name": "CSTO News"}

    document = json.loads((folder / "feed.json").read_bytes())
    names = {item["title"]: item.get("authors") for item in document["items"]}
    assert names == {title: [{"name": who[0]}] if who else None
                     for title, who in wanted.items()}

    for checked in _node_check(folder / "feed.json", folder / "atom.xml"):
        assert "error" not in checked and checked["items"] == 5, checked
        assert checked.get("schemaValid", True), checked["schemaErrors"]
    jing = require_tool("jing")
    schema = require_shared(ATOM_RNC)  # last: skips where ../shared is absent
    result = subprocess.run([jing, "-c", str(schema), str(folder / "atom.xml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _entry(author: str, summary: str = "") -> Entry:
    published = datetime(2025, 9, 1, 10, tzinfo=timezone.utc)
    item = Item(id="desk:1", source="desk", guid="1", url="https://news.example/1",
                title="Story", summary=summary, body="<p>Body</p>", published=published,
                updated=published + timedelta(hours=1), content_hash="0" * 64, author=author)
    return Entry(item, "en", "en", "source", "tag:feeds.example.org,2025-09-01:en/1", "Story",
                 summary, item.body, item.updated)


def _info(page: int | None = None) -> feeds.FeedInfo:
    return feeds.FeedInfo(lang="en", title="Site", description="About",
                          home=BASE + "en/index.html", updated=NOW, alternates=(),
                          history=feeds.History(BASE + "en/", page=page))


def _written(entry: Entry, page: int | None = None) -> tuple[bytes, bytes, dict]:
    content = {entry.guid: f"<p>date</p>\n{entry.body}"}
    info = _info(page)
    return (feeds.rss(info, [entry], content), feeds.atom(info, [entry], content, {}),
            json.loads(jsonfeed(info, [entry], content, {})))


@pytest.mark.parametrize("author, name, email", [
    ("Bob <bob@example.org>", "Bob", "bob@example.org"),
    ('"Smith, Bob" <bob@example.org>', "Smith, Bob", "bob@example.org"),
    ("<bob@example.org>", "bob@example.org", "bob@example.org"),
    ("bob@example.org", "bob@example.org", "bob@example.org"),
    ("bob@example.org (Bob Smith)", "Bob Smith", "bob@example.org"),
    ("Bob Smith (bob@example.org)", "Bob Smith", "bob@example.org"),  # feedparser's Atom
    ("Bob (Reuters)", "Bob (Reuters)", None),
    ("Bob <bob at example dot org>", "Bob <bob at example dot org>", None),
    ("<CSTO> press office", "<CSTO> press office", None),
    ("Алиса <алиса@пример.рф>", "Алиса <алиса@пример.рф>", None),  # not an RFC 5322 addr-spec
    ("Alice <alice@example.org>, Bob <bob@example.org>",
     "Alice <alice@example.org>, Bob <bob@example.org>", None),
    ("Tom & Jerry", "Tom & Jerry", None),
])
def test_an_author_is_split_into_a_name_and_an_address_only_when_it_holds_one(
        author, name, email):
    rss, atom, document = _written(_entry(author))
    assert etree.fromstring(rss).findtext(f"channel/item/{DC}creator") == author
    [credited] = etree.fromstring(atom).findall(f"{ATOM}entry/{ATOM}author")
    assert credited.findtext(f"{ATOM}name") == name
    assert credited.findtext(f"{ATOM}email") == email
    tags = [f"{ATOM}name", f"{ATOM}email"] if email else [f"{ATOM}name"]
    assert [child.tag for child in credited] == tags
    assert document["items"][0]["authors"] == [{"name": name}]


def test_an_entry_without_an_author_is_credited_to_the_site_alone():
    rss, atom, document = _written(_entry(""))
    assert b"dc:creator" not in rss
    root = etree.fromstring(atom)
    assert root.find(f"{ATOM}entry/{ATOM}author") is None
    assert root.findtext(f"{ATOM}author/{ATOM}name") == "Site"
    assert "authors" not in document["items"][0] and document["authors"] == [{"name": "Site"}]


def test_a_forbidden_character_in_an_author_is_refused_by_name_in_atom_too():
    entry = _entry("Bob\x00 <bob@example.org>")
    content = {entry.guid: "<p>Body</p>"}
    with pytest.raises(ValueError, match=r"^author of entry '.*': character U\+0000"):
        feeds.atom(_info(), [entry], content, {})


# --- RSS description ----------------------------------------------------------------------

# Text, not HTML, to the files source (no HTML tag in it): it stays as written.
SUMMARY = "Why x<y and <CSTO> drills: 1 < 2 & 3 > 2"


def _description_html(rss: bytes) -> str:
    return etree.fromstring(rss).findtext("channel/item/description")


def test_a_plain_text_summary_is_html_escaped_in_the_rss_description(tmp_path):
    folder = _publish(tmp_path, {"a.md": _story("Drills", 1, summary=SUMMARY)})
    data = (folder / "rss.xml").read_bytes()
    # Escaped twice: once for HTML, once for XML.
    assert (b"<description>Why x&amp;lt;y and &amp;lt;CSTO&amp;gt; drills: "
            b"1 &amp;lt; 2 &amp;amp; 3 &amp;gt; 2</description>") in data
    html = _description_html(data)
    assert html == "Why x&lt;y and &lt;CSTO&gt; drills: 1 &lt; 2 &amp; 3 &gt; 2"
    fragment = lxml.html.fragment_fromstring(html, create_parent="div")
    assert len(fragment) == 0 and fragment.text_content() == SUMMARY  # no elements
    # A reader that treats the description as HTML shows the summary's text.
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0
    assert lxml.html.fragment_fromstring(parsed.entries[0].summary,
                                         create_parent="div").text_content() == SUMMARY
    # JSON Feed's summary is plain text, and Atom entries carry none.
    assert json.loads((folder / "feed.json").read_bytes())["items"][0]["summary"] == SUMMARY
    atom = etree.parse(str(folder / "atom.xml")).getroot()
    assert atom.find(f"{ATOM}entry/{ATOM}summary") is None


def test_without_a_summary_the_description_is_the_entry_html_escaped_once():
    rss, _, _ = _written(_entry("", summary=""))
    html = _description_html(rss)
    assert html == "<p>date</p>\n<p>Body</p>"
    assert [p.text for p in lxml.html.fragment_fromstring(html, create_parent="div")] == [
        "date", "Body"]
    assert b"content:encoded" not in rss


def test_with_a_summary_content_encoded_keeps_the_entry_html():
    rss, _, _ = _written(_entry("", summary="3 < 4"))
    root = etree.fromstring(rss)
    assert root.findtext("channel/item/description") == "3 &lt; 4"
    encoded = root.findtext("channel/item/{http://purl.org/rss/1.0/modules/content/}encoded")
    assert encoded == "<p>date</p>\n<p>Body</p>"


# --- JSON Feed pages ----------------------------------------------------------------------

def test_every_json_feed_page_carries_the_subscription_feeds_url_and_pages_with_next_url(
        tmp_path):
    folder = _publish(tmp_path, {f"{n}.md": _story(f"Story {n}", n) for n in range(1, 6)},
                      max_items=2, archive_size=1)
    pages = sorted(p.name for p in folder.glob("feed*.json"))
    assert pages == ["feed-archive-1.json", "feed-archive-2.json", "feed-archive-3.json",
                     "feed-archive-4.json", "feed.json"]
    seen, name = [], "feed.json"
    while name:  # follow next_url from the subscription feed to the oldest page
        document = json.loads((folder / name).read_bytes())
        assert document["feed_url"] == BASE + "en/feed.json", name
        seen += [item["title"] for item in document["items"]]
        name = document.get("next_url", "").removeprefix(BASE + "en/")
    assert seen == [f"Story {n}" for n in range(5, 0, -1)]
    # Newest archive page (empty: newest always exists) down to the oldest.
    assert json.loads((folder / "feed.json").read_bytes())["next_url"] == (
        BASE + "en/feed-archive-4.json")
    assert "next_url" not in json.loads((folder / "feed-archive-1.json").read_bytes())
