"""Every format for every language: JSON Feed, OPML, linked language versions,
checked by independent readers (npm: ajv + jsonfeed-schema, feedsmith, rss-parser)."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from lxml import etree

from conftest import ROOT

LANGS = ["en", "ru", "hy", "be", "kk", "ky", "tg"]
ATOM = "{http://www.w3.org/2005/Atom}"
JS = ROOT / "tests" / "js"


def _node_check(*files):
    node = shutil.which("node")
    if not node or not (JS / "node_modules" / "feedsmith").is_dir():
        pytest.fail("the npm checkers are not installed: run `npm install --prefix tests/js` "
                    "(the README's test command does)")
    result = subprocess.run([node, str(JS / "check-feeds.mjs"), *map(str, files)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_every_format_of_every_language_is_read_by_the_npm_readers(published):
    files = [published.feeds / lang / name for lang in LANGS
             for name in ("rss.xml", "atom.xml", "feed.json")]
    for result in _node_check(*files):
        assert "error" not in result, result
        assert result["items"] == 6, result
        if result["file"].endswith(".json"):
            assert result["schemaValid"], result["schemaErrors"]
        else:
            assert result["rssParserItems"] == 6


def test_the_json_feed_schema_check_rejects_an_invalid_feed(tmp_path):
    bad = tmp_path / "feed.json"
    bad.write_text(json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": 3,
                               "items": [{"content_html": "x"}]}))
    [result] = _node_check(bad)
    assert result["schemaValid"] is False


def test_json_feed_declares_language_and_marks_each_item(published):
    for lang in LANGS:
        feed = json.loads((published.feeds / lang / "feed.json").read_text())
        assert feed["language"] == lang and feed["feed_url"].endswith(f"/{lang}/feed.json")
        for item in feed["items"]:
            expected = lang if lang in ("en", "ru", "be") else "en"  # be: argos@ru > apertium
            assert item["language"] == expected
            assert item["_syndicator"]["translation"] in ("source", "translated", "awaiting")


def test_opml_lists_every_language_feed_titled_in_its_own_language(published):
    root = etree.parse(str(published.feeds / "index.opml")).getroot()
    outlines = {o.get("language"): o for o in root.iter("outline")}
    assert set(outlines) == set(LANGS)
    assert outlines["ru"].get("text") == "Новости ОДКБ"
    assert outlines["hy"].get("xmlUrl") == "https://feeds.example.org/hy/rss.xml"
    assert _node_check(published.feeds / "index.opml")[0]["outlines"] == 7


def test_atom_entries_link_every_translation_with_hreflang(published):
    ids = {}
    for lang in LANGS:
        root = etree.parse(str(published.feeds / lang / "atom.xml")).getroot()
        for entry in root.iter(f"{ATOM}entry"):
            links = {l.get("hreflang"): l.get("href") for l in entry.findall(f"{ATOM}link")
                     if l.get("rel") == "alternate"}
            assert set(links) == set(LANGS) - {lang} | {"en"}, (lang, links)
            ids.setdefault(links["en"], {})[lang] = links
    for original, per_lang in ids.items():
        assert set(per_lang) == set(LANGS)
        anchor = per_lang["en"]["ru"].split("#")[1]
        page = (published.feeds / "ru" / "index.html").read_text()
        assert f'id="{anchor}"' in page


def test_json_feed_items_link_every_translation(published):
    feed = json.loads((published.feeds / "ru" / "feed.json").read_text())
    others = {a["language"]: a for a in feed["items"][0]["_syndicator"]["alternates"]}
    assert set(others) == set(LANGS) - {"ru"}
    hy = json.loads((published.feeds / "hy" / "feed.json").read_text())
    assert others["hy"]["id"] == hy["items"][0]["id"]


def test_html_pages_have_hreflang_and_autodiscovery_for_every_format(published):
    page = (published.feeds / "kk" / "index.html").read_text()
    for kind in ("application/rss+xml", "application/atom+xml", "application/feed+json"):
        assert f'type="{kind}"' in page
    for other in set(LANGS) - {"kk"}:
        assert f'hreflang="{other}" href="https://feeds.example.org/{other}/index.html"' in page

