"""Entry dates in each language: a change of the text a language shows moves its entry's
<updated> (RFC 4287 4.2.15), so feed readers that compare id and updated take
translators' corrections and new translations; nothing else moves it.

Real cycles over the served sample site, with the lexicon model for en→ru (hy has
no model: its entries await translation and show the English text).
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

from lxml import etree

from syndicator.approvals import approve
from syndicator.cycle import retranslate, run_once
from syndicator.publish import waiting
from syndicator.store import open_store
from syndicator.testing.lexicon_model import build_lexicon_package
from syndicator.translate.packages import install_file

from conftest import FROZEN_NOW
from test_catalog import ATOM, project  # noqa: F401 (a fixture)

ROCK = "rock-2024"  # in the URL of the sample site's newest item
ROCK_TITLE = "CSTO Secretary General attends final stage of Rock-2024 training"
FEEDS = ("atom.xml", "rss.xml", "feed.json")


def _later(hours: float):
    return FROZEN_NOW + timedelta(hours=hours)


def _original(entry) -> str:
    return next(link.get("href") for link in entry.iter(f"{ATOM}link")
                if link.get("rel") == "alternate")


class Published:
    """What one language's subscription documents say about dates."""

    def __init__(self, config, lang: str):
        folder = config.output_dir / lang
        atom = etree.parse(str(folder / "atom.xml")).getroot()
        self.feed = atom.findtext(f"{ATOM}updated")
        self.entries = {_original(e): e.findtext(f"{ATOM}updated")
                        for e in atom.iter(f"{ATOM}entry")}
        rss = etree.parse(str(folder / "rss.xml")).getroot()
        self.last_build = rss.findtext("channel/lastBuildDate")
        self.modified = {i["url"]: i["date_modified"] for i in
                         json.loads((folder / "feed.json").read_bytes())["items"]}

    def rock(self, dates: dict[str, str]) -> str:
        return next(date for url, date in dates.items() if ROCK in url)


def _within_second(dates, moment) -> bool:
    """Whether ``dates`` (RFC 3339) are all distinct and in ``moment``'s second: a
    cycle gives each translation it stores its own instant, microseconds apart."""
    dates = list(dates)
    return len(set(dates)) == len(dates) and all(
        moment <= datetime.fromisoformat(d) < moment + timedelta(seconds=1) for d in dates)


def _rss_date(moment) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _snapshot(config, langs=("en", "ru", "hy")) -> dict[str, bytes]:
    return {f"{lang}/{name}": (config.output_dir / lang / name).read_bytes()
            for lang in langs for name in FEEDS}


def _changed_column(config, lang: str) -> dict[str, str]:
    with sqlite3.connect(config.store_path) as db:
        found = dict(db.execute("SELECT item_id, changed FROM translations WHERE lang = ?",
                                (lang,)))
    db.close()
    return found


def test_a_translators_correction_redates_the_entry_and_the_feed_in_that_language_only(
        project):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    ru, en = Published(config, "ru"), Published(config, "en")
    # The first text of each item: dated by the item, as the source feed dates it.
    assert len(ru.entries) == 6 and ru.entries == en.entries and ru.feed == en.feed
    assert ru.modified == ru.entries
    before, first = _snapshot(config, ("en", "hy")), ru.entries

    store = open_store(config.store_path)
    item = next(i for i in store.recent_items(None) if ROCK in i.url)
    key = next(k for k, source, _ in store.translations_for("ru", [item.id])[item.id].segments
               if source == ROCK_TITLE)
    assert approve(store, "ru", key, ROCK_TITLE, "Генсек ОДКБ на финале учений «Рубеж-2024»",
                   "Анна", "review", _later(1))
    run_once(config, now=_later(2))

    ru = Published(config, "ru")
    revised = ru.rock(ru.entries)  # when it was stored, a revision: with microseconds
    assert _within_second([revised], _later(2)) and "." in revised and ru.feed == revised
    assert ru.rock(ru.modified) == revised
    assert ru.last_build == _rss_date(_later(2))
    assert {url: date for url, date in ru.entries.items() if ROCK not in url} == \
        {url: date for url, date in first.items() if ROCK not in url}
    # The source feed and hy (awaiting: the English text) still show what they showed.
    assert _snapshot(config, ("en", "hy")) == before
    item_date = item.updated.isoformat()
    for lang in ("en", "hy"):
        shown = Published(config, lang)
        assert shown.rock(shown.entries) == shown.rock(shown.modified) == item_date, lang


def test_retranslating_into_the_same_text_keeps_every_date_and_byte(project):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    before, changed = _snapshot(config), _changed_column(config, "ru")
    approved, marked, counts = retranslate(config, _later(5), refresh=True)  # --refresh
    assert marked == 6 and counts["ru"] == 6
    assert _snapshot(config) == before
    assert _changed_column(config, "ru") == changed


def test_approving_the_machine_text_as_it_is_keeps_the_entrys_date(project):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    before = _snapshot(config)
    store = open_store(config.store_path)
    item = next(i for i in store.recent_items(None) if ROCK in i.url)
    translation = store.translations_for("ru", [item.id])[item.id]
    key, source, machine = next(s for s in translation.segments if s[1] == ROCK_TITLE)
    assert approve(store, "ru", key, source, machine, "Анна", "review", _later(1))
    run_once(config, now=_later(2))
    assert _snapshot(config) == before  # the same text, still labelled machine translation
    again = store.translations_for("ru", [item.id])[item.id]
    assert again.changed == translation.changed and again.status == "translated"


def test_a_refresh_that_changes_no_text_does_not_hold_delayed_entries_back_again(project):
    configure, _ = project
    config = configure(policy={"default": "machine", "ru": "delay:6h"})
    run_once(config, now=FROZEN_NOW)
    assert Published(config, "ru").entries == {}  # machine text waits six hours
    run_once(config, now=_later(7))
    shown = Published(config, "ru").entries
    assert len(shown) == 6 and shown == Published(config, "en").entries  # the items' dates
    retranslate(config, _later(8), refresh=True)
    store = open_store(config.store_path)
    assert waiting(store, config, "ru", _later(8)) == []
    assert Published(config, "ru").entries == shown


def test_a_translation_arriving_redates_the_entries_it_now_shows(project, tmp_path):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    hy = Published(config, "hy")
    assert hy.entries == Published(config, "en").entries  # the items' own dates
    before = _snapshot(config, ("en", "ru"))
    model = build_lexicon_package(tmp_path / "hy-model", {"said": "ասաց"}, to_code="hy")
    install_file(model, config.argos.packages_dir)
    run_once(config, now=_later(3))
    hy = Published(config, "hy")
    assert len(hy.entries) == 6 and _within_second(hy.entries.values(), _later(3))
    assert hy.modified == hy.entries and hy.feed == max(hy.entries.values())
    assert hy.last_build == _rss_date(_later(3))
    assert _snapshot(config, ("en", "ru")) == before
