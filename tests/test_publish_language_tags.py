"""Languages with a region or a script are configured in Babel's form (``pt_BR``);
every published field that carries a language tag says it in BCP 47 (``pt-BR``),
while folders and URLs keep the configured name."""
from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta, timezone

import feedparser
import pytest
from lxml import etree, html

from syndicator.models import SourceItem, Translation
from syndicator.publish import publish_all
from syndicator.store import open_store

from conftest import ATOM_RNC, make_config, require_shared, require_tool

NOW = datetime(2030, 1, 2, tzinfo=timezone.utc)
TAGS = {"en": "en", "pt_BR": "pt-BR", "sr_Latn": "sr-Latn", "zh_Hant": "zh-Hant"}
ATOM = "{http://www.w3.org/2005/Atom}"
# Every spelling of a language tag in the outputs: lang="…", xml:lang="…",
# hreflang="…" (also escaped in entry HTML and JSON strings), OPML's language="…",
# RSS <language> and JSON Feed "language".
TAG_FIELDS = re.compile(rb'lang(?:uage)?=\\?"([^"\\]*)|<language>([^<]*)<|"language":"([^"]*)"')
BCP47 = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")


@pytest.fixture(scope="module")
def feeds(tmp_path_factory):
    """5 items: 2 in each subscription document, 3 on archive pages. pt_BR has
    translations; sr_Latn and zh_Hant show the English text awaiting one."""
    tmp_path = tmp_path_factory.mktemp("tags")
    config = make_config(tmp_path, languages={"targets": ["pt_BR", "sr_Latn", "zh_Hant"]},
                         output={"dir": "feeds", "max_items": 2, "archive_size": 2})
    store = open_store(config.store_path)
    store.upsert_items([SourceItem("desk", f"item-{n}", f"https://example.org/news/{n}",
                                   f"Item {n}", f"Summary {n}.", f"<p>Body of item {n}.</p>",
                                   datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=n))
                        for n in range(5)], NOW)
    store.save_translations([Translation(item.id, "pt_BR", item.content_hash, "translated",
                                         title=f"Notícia {item.title}", summary="Resumo.",
                                         body="<p>Texto.</p>", engine="test:1")
                             for item in store.recent_items(None)], NOW)
    publish_all(store, config, NOW)
    store.engine.dispose()
    return config.output_dir


def _documents(folder):
    return sorted(p for p in folder.rglob("*") if p.suffix in (".xml", ".json", ".html",
                                                               ".opml"))


def test_every_language_field_of_every_document_is_a_bcp47_tag(feeds):
    found = set()
    for path in _documents(feeds):
        for groups in TAG_FIELDS.findall(path.read_bytes()):
            found.add(b"".join(groups).decode())
    assert found == set(TAGS.values())
    assert all(BCP47.fullmatch(tag) for tag in found)


def test_folders_and_urls_keep_the_configured_language_names(feeds):
    assert {p.name for p in feeds.iterdir() if p.is_dir()} == set(TAGS)
    root = etree.parse(str(feeds / "en" / "atom.xml")).getroot()
    alternates = {link.get("hreflang"): link.get("href") for link in root.findall(f"{ATOM}link")
                  if link.get("type") == "application/atom+xml"}
    assert alternates["pt-BR"] == "https://feeds.example.org/pt_BR/atom.xml"


@pytest.mark.parametrize("lang", TAGS)
def test_feeds_declare_the_tag_to_feed_readers(feeds, lang):
    tag = TAGS[lang]
    for name in ("atom.xml", "rss.xml", "atom-archive-1.xml", "rss-archive-1.xml"):
        parsed = feedparser.parse(str(feeds / lang / name))
        assert parsed.bozo == 0, (name, parsed.get("bozo_exception"))
        assert parsed.feed.language == tag, name
    assert json.loads((feeds / lang / "feed.json").read_bytes())["language"] == tag
    for name in ("index.html", "widget.html"):
        assert html.parse(str(feeds / lang / name)).getroot().get("lang") == tag


def test_entries_awaiting_translation_say_english_and_translated_ones_their_language(feeds):
    entries = feedparser.parse(str(feeds / "zh_Hant" / "atom.xml")).entries
    assert [e.title_detail.language for e in entries] == ["en", "en"]
    entries = feedparser.parse(str(feeds / "pt_BR" / "atom.xml")).entries
    assert [e.title_detail.language for e in entries] == ["pt-BR", "pt-BR"]
    item = json.loads((feeds / "sr_Latn" / "feed.json").read_bytes())["items"][0]
    assert item["language"] == "en"
    assert {a["language"] for a in item["_syndicator"]["alternates"]} == \
        {"en", "pt-BR", "zh-Hant"}


def test_atom_documents_with_region_and_script_tags_validate_against_rfc4287(feeds):
    schema, jing = require_shared(ATOM_RNC), require_tool("jing")
    files = [str(p) for p in sorted(feeds.glob("*/atom*.xml"))]
    assert len(files) == 4 * 3  # each language: atom.xml and 2 archive pages
    result = subprocess.run([jing, "-c", str(schema), *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
