"""Real validators and readers on the published feeds: jing (RFC 4287 RELAX NG) and newsboat."""
from __future__ import annotations

import sqlite3
import subprocess

from conftest import ATOM_RNC, require_shared, require_tool

LANGS = ["en", "ru", "hy", "be", "kk", "ky", "tg"]


def test_every_atom_feed_validates_against_the_rfc4287_schema(published):
    schema = require_shared(ATOM_RNC)
    jing = require_tool("jing")
    files = [str(published.feeds / lang / "atom.xml") for lang in LANGS]
    result = subprocess.run([jing, "-c", str(schema), *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_jing_rejects_an_invalid_atom_document(tmp_path):
    """The validator check above can fail: a feed without <id> is refused."""
    schema = require_shared(ATOM_RNC)
    jing = require_tool("jing")
    bad = tmp_path / "bad.xml"
    bad.write_text('<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title>'
                   "<updated>2024-01-01T00:00:00Z</updated></feed>")
    result = subprocess.run([jing, "-c", str(schema), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0


def test_newsboat_reads_every_item_of_every_rss_feed(published, tmp_path):
    newsboat = require_tool("newsboat")
    urls = tmp_path / "urls"
    urls.write_text("".join(f"file://{published.feeds / lang / 'rss.xml'}\n" for lang in LANGS))
    config = tmp_path / "config"
    config.write_text(f"error-log \"{tmp_path / 'errors.log'}\"\n")
    cache = tmp_path / "cache.db"
    result = subprocess.run(
        [newsboat, "-u", str(urls), "-c", str(cache), "-C", str(config), "-x", "reload"],
        capture_output=True, text=True, timeout=120, env={"HOME": str(tmp_path), "TERM": "dumb"})
    assert result.returncode == 0, result.stdout + result.stderr
    errors = tmp_path / "errors.log"
    assert not errors.exists() or errors.read_text().strip() == ""
    with sqlite3.connect(cache) as db:
        rows = db.execute("select feedurl, title, url, pubDate from rss_item").fetchall()
    per_feed = {}
    for feedurl, title, url, pub_date in rows:
        per_feed.setdefault(feedurl, []).append(title)
        assert url.startswith("https://") and pub_date > 0
    assert len(per_feed) == 7 and all(len(titles) == 6 for titles in per_feed.values())
    ru = next(titles for feed, titles in per_feed.items() if "/ru/" in feed)
    assert "ОДКБ Генеральный секретарь attends final stage of Rock-2024 учения" in ru
