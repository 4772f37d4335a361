"""Translators' catalogs: news.po entries, corrections that win for good, policies."""
from __future__ import annotations

import gc
import json
import shutil
import sqlite3
import subprocess
from datetime import timedelta

import feedparser
import polib
import pytest
from lxml import etree

import syndicator.pofile as pofile
from syndicator.approvals import segment_history
from syndicator.catalog import catalog_path, export_catalogs
from syndicator.cycle import retranslate, run_once
from syndicator.models import item_key
from syndicator.publish import waiting
from syndicator.store import open_store
from syndicator.testing.lexicon_model import build_lexicon_package
from syndicator.translate.packages import install_file

from conftest import (FROZEN_NOW, LEXICON, ROOT, SAMPLE_SITE, Site, html_source, live_objects,
                      make_config)

ATOM = "{http://www.w3.org/2005/Atom}"
ROCK_TITLE = "ОДКБ Генеральный секретарь attends final stage of Rock-2024 учения"


@pytest.fixture
def project(tmp_path, lexicon_package):
    shutil.copytree(SAMPLE_SITE, tmp_path / "site")
    shutil.copytree(ROOT / "translations", tmp_path / "translations",
                    ignore=shutil.ignore_patterns("news.po*", "glossary.toml"))
    site = Site(tmp_path / "site")

    def configure(output=None, **review):
        config = make_config(tmp_path, sources=[html_source(site)],
                             languages={"targets": ["ru", "hy"]},
                             translations={"dir": "translations"},
                             output={"dir": "feeds", **(output or {})},
                             review=review or {"policy": {"default": "machine"}})
        install_file(lexicon_package, config.argos.packages_dir)
        return config

    yield configure, site
    site.close()


def _po(config, lang):
    return polib.pofile(str(catalog_path(config, lang)))


def _titles(config, lang):
    root = etree.parse(str(config.output_dir / lang / "atom.xml")).getroot()
    return {e.findtext(f"{ATOM}title"): e for e in root.iter(f"{ATOM}entry")}


def _edit(config, lang, edits: dict[str, str], translator="Анна <anna@example.org>"):
    """Edit entries as a PO editor would: new msgstr, fuzzy cleared, Last-Translator set."""
    po = _po(config, lang)
    for entry in po:
        if entry.msgid in edits:
            entry.msgstr = edits[entry.msgid]
            if "fuzzy" in entry.flags:
                entry.flags.remove("fuzzy")
    po.metadata["Last-Translator"] = translator
    po.save()


def test_news_po_has_one_entry_per_segment_with_engine_reference_and_fuzzy(project):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    po = _po(config, "ru")
    title = next(e for e in po if e.msgid.startswith("CSTO Secretary General attends"))
    assert title.msgctxt.startswith("csto/") and title.msgctxt.endswith("#title[0]")
    assert title.msgstr == ROCK_TITLE and title.fuzzy
    assert title.comment.startswith("machine: argos:en_ru-1.0")
    assert title.occurrences == [("https://en.odkb-csto.org/news/news_odkb/rock-2024/", "")]
    assert {e.msgctxt for e in po} == {e.msgctxt for e in _po(config, "hy")}
    untranslated = next(e for e in _po(config, "hy") if e.msgid == title.msgid)
    assert untranslated.msgstr == "" and not untranslated.fuzzy


def test_items_beyond_the_feed_window_get_their_entries_and_their_edits(project):
    # A first cycle, or one after an outage, can bring more items than the
    # subscription feed shows; the archive publishes them all, so translators
    # must find them all in news.po, and an edit of an old one too.
    configure, site = project
    config = configure(output={"max_items": 2})
    run_once(config, now=FROZEN_NOW)
    items = open_store(config.store_path).recent_items(None)
    assert len(items) == 6
    for lang in ("ru", "hy"):
        keys = {e.msgctxt.split("#")[0] for e in _po(config, lang)}
        assert keys == {item_key(item.id) for item in items}, lang
    page = site.root / "news" / "2022-02-16-joint-position-terrorism-extremism.html"
    page.write_text(page.read_text().replace("Extremism was signed", "Extremism was adopted"))
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    titles = {e.msgid for e in _po(config, "ru") if e.msgctxt.endswith("#title[0]")}
    assert "Joint Position of the SCO RATS, the CIS ATC and the CSTO Secretariat on " \
           "Combating Terrorism and Extremism was adopted" in titles


def test_catalogs_pass_msgfmt_check_and_are_written_exactly_as_msgcat_writes(project):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    _edit(config, "ru", {"The event took place at the basic training ground for the CSTO "
                         "rescue units “Rock City-Astana”.": "Мероприятие прошло на полигоне."})
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    for lang in ("ru", "hy"):
        path = catalog_path(config, lang)
        check = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(path)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        msgcat = subprocess.run(["msgcat", str(path)], capture_output=True, text=True)
        assert msgcat.stdout == path.read_text(encoding="utf-8")


def test_a_correction_is_published_and_survives_refresh_and_a_model_change(project, tmp_path):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    source = "CSTO Secretary General attends final stage of Rock-2024 training"
    _edit(config, "ru", {source: "Генсек ОДКБ на учениях «Рубеж-2024»"})
    approved, _, _ = retranslate(config, FROZEN_NOW)  # `syndicator translations import`
    assert approved == {"ru": 1, "hy": 0}
    entry = _titles(config, "ru")["Генсек ОДКБ на учениях «Рубеж-2024»"]
    assert "Машинный перевод" in entry.findtext(f"{ATOM}content")  # body is still machine
    # A different model (new version, new words) and a forced refresh:
    other = build_lexicon_package(tmp_path / "v2", {**LEXICON, "training": "тренировка"},
                                  package_version="2.0")
    shutil.rmtree(config.argos.packages_dir)
    install_file(other, config.argos.packages_dir)
    retranslate(config, FROZEN_NOW + timedelta(hours=1), refresh=True)
    titles = _titles(config, "ru")
    assert "Генсек ОДКБ на учениях «Рубеж-2024»" in titles
    assert any("тренировка" in t for t in titles)  # the other items took the new model
    po = _po(config, "ru")
    assert next(e for e in po if e.msgid == source).msgstr == "Генсек ОДКБ на учениях «Рубеж-2024»"
    history = segment_history(open_store(config.store_path), "ru",
                              next(e for e in po if e.msgid == source).msgctxt)
    assert [(h["translator"], h["via"]) for h in history] == [("Анна <anna@example.org>", "po")]


def test_a_changed_source_makes_the_entry_fuzzy_with_its_previous_msgid(project):
    configure, site = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    old = "CSTO Secretary General attends final stage of Rock-2024 training"
    _edit(config, "ru", {old: "Генсек ОДКБ на учениях"})
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    page = site.root / "news" / "2024-09-05-rock-2024.html"
    page.write_text(page.read_text().replace("attends final stage", "visits final stage"))
    run_once(config, now=FROZEN_NOW + timedelta(hours=2))
    entry = next(e for e in _po(config, "ru") if e.msgid.startswith("CSTO Secretary General "
                                                                    "visits"))
    assert entry.fuzzy and entry.previous_msgid == old
    assert entry.msgstr == "Генсек ОДКБ на учениях"  # the human text is the starting point
    # Policy "machine" (default): subscribers see the new machine text until re-review.
    assert "ОДКБ Генеральный секретарь visits final stage of Rock-2024 учения" in _titles(
        config, "ru")


def test_stale_policy_approved_keeps_the_old_approved_text(project):
    configure, site = project
    config = configure(policy={"default": "machine"}, stale={"ru": "approved"})
    run_once(config, now=FROZEN_NOW)
    _edit(config, "ru", {"CSTO Secretary General attends final stage of Rock-2024 training":
                         "Генсек ОДКБ на учениях"})
    page = site.root / "news" / "2024-09-05-rock-2024.html"
    page.write_text(page.read_text().replace("attends final stage", "visits final stage"))
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    assert "Генсек ОДКБ на учениях" in _titles(config, "ru")


def test_hand_translation_publishes_a_language_without_engine_as_human_translated(project):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    key_prefix = next(e.msgctxt for e in _po(config, "hy")
                      if e.msgid.startswith("CSTO Secretary General attends")).split("#")[0]
    po = _po(config, "hy")
    for entry in po:
        if entry.msgctxt.startswith(key_prefix):
            entry.msgstr = "ՀԱՊԿ " + str(len(entry.msgid))  # a translator's own text
    po.save()
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    root = etree.parse(str(config.output_dir / "hy" / "atom.xml")).getroot()
    entries = list(root.iter(f"{ATOM}entry"))
    human = [e for e in entries if e.findtext(f"{ATOM}title").startswith("ՀԱՊԿ")]
    assert len(human) == 1 and len(entries) == 6
    assert human[0].get("{http://www.w3.org/XML/1998/namespace}lang") is None  # feed's hy
    terms = {c.get("term") for c in human[0].findall(f"{ATOM}category")}
    assert "human-reviewed" in terms


def test_a_translator_save_during_the_merge_survives(project, monkeypatch):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    path = catalog_path(config, "ru")
    real_entry_bytes = pofile.entry_bytes
    saved = {"done": False}

    def render_then_translator_saves(entry):
        # Every merge, whole or spliced, renders entries between reading the file
        # and replacing it: the editor's save lands right then.
        data = real_entry_bytes(entry)
        if not saved["done"]:
            saved["done"] = True
            edited = _po(config, "ru")
            for other in edited:
                if other.msgid.startswith("Consultations held on the agenda"):
                    other.msgstr, other.flags = "Консультации по повестке ГА ООН", []
            edited.save()
        return data

    monkeypatch.setattr(pofile, "entry_bytes", render_then_translator_saves)
    store = open_store(config.store_path)
    store.mark_stale("ru")
    export_catalogs(store, config, FROZEN_NOW)
    monkeypatch.setattr(pofile, "entry_bytes", real_entry_bytes)
    assert saved["done"]
    assert "Консультации по повестке ГА ООН" in path.read_text(encoding="utf-8")
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    assert "Консультации по повестке ГА ООН" in _titles(config, "ru")


def test_an_editor_saving_an_old_copy_after_a_cycle_loses_nothing(project):
    configure, site = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    path = catalog_path(config, "ru")
    opened = _po(config, "ru")  # the translator opens the file ...
    shutil.copy(SAMPLE_SITE / "news" / "index.html", site.root / "news" / "index.html")
    page = site.root / "news" / "2024-09-04-unga-79-consultations.html"
    page.write_text(page.read_text().replace("were held", "took place"))
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))  # ... a cycle merges an edit ...
    for entry in opened:
        if entry.msgid.startswith("Chief of the CSTO Joint Staff gives briefing"):
            entry.msgstr, entry.flags = "Начальник Объединённого штаба ОДКБ провёл брифинг", []
    opened.save()  # ... and the editor saves its old copy over the merged file.
    run_once(config, now=FROZEN_NOW + timedelta(hours=2))
    text = path.read_text(encoding="utf-8")
    assert "Начальник Объединённого штаба ОДКБ провёл брифинг" in text
    assert "took place" in text  # the merged entry is back
    assert "Начальник Объединённого штаба ОДКБ провёл брифинг" in _titles(config, "ru")


def test_policy_reviewed_publishes_only_approved_items_and_lists_the_queue(project):
    configure, _ = project
    config = configure(policy={"default": "machine", "ru": "reviewed"})
    run_once(config, now=FROZEN_NOW)
    assert _titles(config, "ru") == {}
    store = open_store(config.store_path)
    assert len(waiting(store, config, "ru", FROZEN_NOW)) == 6
    title = "CSTO Secretary General attends final stage of Rock-2024 training"
    po = _po(config, "ru")
    prefix = next(e.msgctxt for e in po if e.msgid == title).split("#")[0]
    for entry in po:
        if entry.msgctxt.startswith(prefix) and "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")  # the translator approves the machine text as is
    po.save()
    run_once(config, now=FROZEN_NOW + timedelta(minutes=5))
    assert list(_titles(config, "ru")) == [ROCK_TITLE]
    assert len(waiting(store, config, "ru", FROZEN_NOW)) == 5
    assert len(_titles(config, "hy")) == 6  # other languages follow their own policy


def test_policy_delay_publishes_machine_output_after_the_delay(project):
    configure, _ = project
    config = configure(policy={"default": "machine", "ru": "delay:6h"})
    run_once(config, now=FROZEN_NOW)
    assert _titles(config, "ru") == {}
    run_once(config, now=FROZEN_NOW + timedelta(hours=5, minutes=59))
    assert _titles(config, "ru") == {}
    run_once(config, now=FROZEN_NOW + timedelta(hours=6))
    assert len(_titles(config, "ru")) == 6


def test_provenance_is_a_stable_category_a_note_and_a_json_field(project):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    entry = _titles(config, "ru")[ROCK_TITLE]
    assert {c.get("term") for c in entry.findall(f"{ATOM}category")} == {"machine-translation"}
    assert "Машинный перевод" in entry.findtext(f"{ATOM}content")
    rss = etree.parse(str(config.output_dir / "ru" / "rss.xml")).getroot()
    assert "machine-translation" in [c.text for c in rss.iter("category")]
    feed = json.loads((config.output_dir / "ru" / "feed.json").read_text())
    assert feed["items"][0]["_syndicator"]["translation"] == "translated"
    assert feed["items"][0]["_syndicator"]["engine"] == "argos"
    assert "en_ru" not in (config.output_dir / "ru" / "feed.json").read_text()


UPGRADE = ROOT / "tests" / "fixtures" / "upgrade-2c0dcfd"


def test_a_correction_in_a_catalog_written_before_an_upgrade_is_published_after_it(
        tmp_path, lexicon_package):
    """The store and the Russian news.po as syndicator 2c0dcfd (schema v4) left
    them after one cycle over the sample site with the lexicon model; then, before
    the upgrade, a translator corrected one title there (msgstr filled, fuzzy
    cleared). The upgraded syndicator takes the correction in, publishes it and
    keeps it, under the GUIDs the entries already had."""
    store_path = tmp_path / "var" / "syndicator.db"
    store_path.parent.mkdir()
    with sqlite3.connect(store_path) as db:
        db.executescript((UPGRADE / "syndicator.sql").read_text(encoding="utf-8"))
        old_guids = sorted(g for (g,) in db.execute("SELECT guid FROM guids WHERE lang = 'ru'"))
    db.close()
    catalogs = tmp_path / "translations"
    (catalogs / "ru" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(UPGRADE / "news.po", catalogs / "ru" / "LC_MESSAGES" / "news.po")
    config = make_config(tmp_path, languages={"targets": ["ru"]},
                         translations={"dir": str(catalogs)})
    install_file(lexicon_package, config.argos.packages_dir)

    report = run_once(config, now=FROZEN_NOW)

    assert not report.errors, report.errors
    feed = feedparser.parse((config.output_dir / "ru" / "atom.xml").read_bytes())
    assert feed.bozo == 0
    assert sorted(e.id for e in feed.entries) == old_guids and len(old_guids) == 6
    corrected = [e for e in feed.entries if e.title == "ИСПРАВЛЕНО ПЕРЕВОДЧИКОМ"]
    assert len(corrected) == 1
    entry = next(e for e in polib.pofile(str(catalog_path(config, "ru")))
                 if e.msgstr == "ИСПРАВЛЕНО ПЕРЕВОДЧИКОМ")
    assert "fuzzy" not in entry.flags
    # A machine run over everything (translate --refresh), then a cycle, keep it.
    retranslate(config, FROZEN_NOW + timedelta(hours=1), refresh=True, lang="ru")
    run_once(config, now=FROZEN_NOW + timedelta(hours=2))
    feed = feedparser.parse((config.output_dir / "ru" / "atom.xml").read_bytes())
    assert [e.title for e in feed.entries].count("ИСПРАВЛЕНО ПЕРЕВОДЧИКОМ") == 1


def test_a_whole_parsed_news_po_is_freed_as_soon_as_the_merge_is_done(project):
    # polib's entries hold reference cycles: a parsed catalog waits for the cyclic
    # collector, whose full collections are rare, and stood under every later
    # stage of a cold cycle (bench/memory.py). With automatic collection off, only
    # the catalog stage's own collection can free them.
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    _edit(config, "ru", {})  # a PO editor's save: the next cycle reads and merges it whole
    gc.collect()
    gc.disable()
    try:
        report = run_once(config, now=FROZEN_NOW + timedelta(hours=1))
        alive = live_objects(polib.POEntry)
    finally:
        gc.enable()
    assert report.errors == ()
    assert alive == 0
