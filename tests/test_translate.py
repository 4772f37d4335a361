"""Translation through the real argos engine (CTranslate2 + SentencePiece) on lexicon models."""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone

import pytest

from syndicator.cycle import run_once
from syndicator.errors import ConfigError, TranslationError
from syndicator.models import SourceItem
from syndicator.store import open_store
from syndicator.testing.lexicon_model import build_lexicon_package
from syndicator.translate import Engines, translate_pending
from syndicator.translate.argos import ArgosEngine, threads
from syndicator.translate.packages import install_file
from syndicator.translate.split import split_sentences

from conftest import LEXICON, ROOT, make_config, require_tool

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Spy:
    """Wraps the real engine and records what it was asked to translate."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def translate(self, texts, src, tgt):
        self.calls.append((src, tgt, list(texts)))
        return self.engine.translate(texts, src, tgt)


def _item(guid, title, body="<p>The CSTO said.</p>"):
    return SourceItem(source="s", guid=guid, url=f"https://x.org/{guid}", title=title,
                      summary="", body=body, published=datetime(2024, 9, 5, tzinfo=timezone.utc))


@pytest.fixture
def setup(tmp_path, lexicon_package):
    config = make_config(tmp_path, languages={"targets": ["ru", "hy"]})
    install_file(lexicon_package, config.argos.packages_dir)
    store = open_store(config.store_path)
    engines = Engines(config)
    spy = Spy(engines.engine("argos"))
    engines._engines["argos"] = spy
    return config, store, engines, spy


def test_items_are_translated_and_languages_without_engine_await(setup):
    config, store, engines, spy = setup
    store.upsert_items([_item("1", "Secretary General said")], NOW)
    assert translate_pending(store, engines, config, NOW) == {"ru": 1, "hy": 0}
    ru = store.translations_for("ru", ["s:1"])["s:1"]
    assert (ru.status, ru.title, ru.body) == ("translated", "Генеральный секретарь заявил",
                                             "<p>The ОДКБ заявил.</p>")
    assert ru.engine == "argos:en_ru-1.0"
    hy = store.translations_for("hy", ["s:1"])["s:1"]
    assert hy.status == "awaiting" and "no engine translates en→hy" in hy.reason


def test_nothing_is_translated_twice_and_edits_send_only_changed_segments(setup):
    config, store, engines, spy = setup
    store.upsert_items([_item("1", "Secretary General said",
                              "<p>The CSTO said.</p><p>Second block.</p>")], NOW)
    translate_pending(store, engines, config, NOW)
    assert len(spy.calls) == 1
    translate_pending(store, engines, config, NOW)
    assert len(spy.calls) == 1  # nothing new: no engine call at all
    store.upsert_items([_item("1", "Secretary General said",
                              "<p>The CSTO said.</p><p>Edited block.</p>")], NOW)
    store.upsert_items([_item("2", "Secretary General said")], NOW)  # same title as item 1
    translate_pending(store, engines, config, NOW)
    assert spy.calls[-1][2] == ["Edited block."]
    assert store.translations_for("ru", ["s:2"])["s:2"].title == "Генеральный секретарь заявил"


def test_a_pivot_hop_sends_no_sentence_its_pivot_language_already_sent(tmp_path,
                                                                      lexicon_package):
    # Belarusian's default route is argos@ru > apertium: its first hop is the very
    # en→ru translation Russian's own route makes, the cycle's costliest step.
    require_tool("apertium")
    config = make_config(tmp_path, languages={"targets": ["ru", "be"]})
    install_file(lexicon_package, config.argos.packages_dir)
    store, engines = open_store(config.store_path), Engines(config)
    spy = engines._engines["argos"] = Spy(engines.engine("argos"))
    store.upsert_items([_item("1", "Secretary General said",
                              "<p>The CSTO said.</p><p>The news said.</p>")], NOW)
    assert translate_pending(store, engines, config, NOW) == {"ru": 1, "be": 1}
    sent = [t for src, tgt, texts in spy.calls if (src, tgt) == ("en", "ru") for t in texts]
    assert sorted(sent) == ["Secretary General said", "The CSTO said.", "The news said."]
    be = store.translations_for("be", ["s:1"])["s:1"]
    assert be.status == "translated" and be.engine.startswith("argos:en_ru-1.0 > apertium")
    assert be.title.startswith("Генеральны сакратар")  # apertium's be of the ru text
    assert len(spy.calls) == 1  # one engine call in all: Russian's


def test_pivot_through_english_when_no_direct_pair(tmp_path):
    packages = tmp_path / "packages"
    for src, tgt, lexicon in (("ky", "en", {"айтты": "said"}), ("en", "ru", {"said": "заявил"})):
        install_file(build_lexicon_package(tmp_path / f"{src}{tgt}", lexicon, from_code=src,
                                           to_code=tgt), packages)
    config = make_config(tmp_path, translation={"argos": {"packages_dir": str(packages)}})
    engine = ArgosEngine(config.argos)
    assert engine.model_version("ky", "ru") == "argos:ky_en-1.0+en_ru-1.0"
    assert engine.translate(["Министр айтты."], "ky", "ru") == ["Министр заявил."]
    assert engine.route("ru", "ky") is None


def test_default_threads_run_a_batch_per_core_in_parallel_without_oversubscribing(tmp_path):
    cores = len(os.sched_getaffinity(0))
    inter, intra = threads(make_config(tmp_path).argos)
    assert inter * intra <= max(cores, inter) and intra >= 1
    assert inter > 1 if cores > 1 else inter == 1
    explicit = {"argos": {"inter_threads": 1, "intra_threads": 3}}
    assert threads(make_config(tmp_path, translation=explicit).argos) == (1, 3)
    with pytest.raises(ConfigError, match=r"translation\.argos\.inter_threads: -1 must be 0"):
        make_config(tmp_path, translation={"argos": {"inter_threads": -1}})


def test_a_missing_pair_raises_a_translation_error(tmp_path):
    engine = ArgosEngine(make_config(tmp_path).argos)
    with pytest.raises(TranslationError, match="no package for en→ru"):
        engine.translate(["x"], "en", "ru")


def test_an_engine_that_breaks_mid_run_marks_its_language_failed_and_others_publish(
        tmp_path, lexicon_package):
    from conftest import Site, SAMPLE_SITE, html_source

    shutil.copytree(SAMPLE_SITE, tmp_path / "site")
    site = Site(tmp_path / "site")
    try:
        ky = build_lexicon_package(tmp_path / "ky", {"said": "айтты"}, to_code="ky")
        config = make_config(tmp_path, sources=[html_source(site)],
                             languages={"targets": ["ru", "ky"]})
        for package in (lexicon_package, ky):
            install_file(package, config.argos.packages_dir)
        engines = Engines(config)
        # The model files vanish after the engine saw the package (a disk swap, a bad upgrade).
        shutil.rmtree(config.argos.packages_dir / "translate-en_ru-1.0" / "model")
        engines.refresh = lambda: None  # keep the stale view, as a long-running process would
        report = run_once(config, engines=engines, now=NOW)
    finally:
        site.close()
    assert report.translated == {"ru": 0, "ky": 6}
    store = open_store(config.store_path)
    failed = store.translations_for("ru", [i.id for i in store.recent_items(10)])
    assert {t.status for t in failed.values()} == {"failed"}
    assert "model/model.bin" in next(iter(failed.values())).reason
    ru_feed = (config.output_dir / "ru" / "atom.xml").read_text()
    assert ru_feed.count("<entry") == 6 and 'xml:lang="en"' in ru_feed
    assert "CSTO Secretary General attends" in ru_feed  # the title is never an error text


def test_sentence_splitting_is_offline_for_every_target_language():
    text = "The CSTO met in Moscow on 5 Sept. 2024. Mr. Zas spoke! Did he? Yes."
    assert split_sentences(text, "en") == ["The CSTO met in Moscow on 5 Sept. 2024.",
                                           "Mr. Zas spoke!", "Did he?", "Yes."]
    assert split_sentences("Министр выступил. Затем он уехал.", "be") == [
        "Министр выступил.", "Затем он уехал."]
    assert split_sentences("", "tg") == []


def test_lexicon_fixture_is_the_documented_one():
    assert LEXICON["said"] == "заявил"


def _with_glossary(tmp_path, lexicon_package, glossary: str):
    path = tmp_path / "glossary.toml"
    path.write_text(glossary, encoding="utf-8")
    config = make_config(tmp_path, languages={"targets": ["ru"]},
                         translation={"argos": {"packages_dir": "argos-packages"},
                                      "glossary": str(path), "chain": ["argos"]})
    install_file(lexicon_package, config.argos.packages_dir)
    return config, path


GLOSSARY = '''
[terms."Secretariat"]
ru = "Секретариат"
[keep]
terms = ["Secretary General"]
'''


def test_glossary_forces_terms_and_keeps_names_through_the_real_engine(tmp_path, lexicon_package):
    config, _ = _with_glossary(tmp_path, lexicon_package, GLOSSARY)
    store = open_store(config.store_path)
    store.upsert_items([_item("1", "The Secretariat said",
                              "<p>The Secretary General said.</p>")], NOW)
    translate_pending(store, Engines(config), config, NOW)
    ru = store.translations_for("ru", ["s:1"])["s:1"]
    # "Secretary General" is kept; without the glossary the lexicon model would translate it.
    assert ru.title == "The Секретариат заявил"
    assert ru.body == "<p>The Secretary General заявил.</p>"


def test_changing_the_glossary_retranslates_only_the_affected_segments(tmp_path, lexicon_package):
    from syndicator.cycle import retranslate

    config, path = _with_glossary(tmp_path, lexicon_package, GLOSSARY)
    store = open_store(config.store_path)
    store.upsert_items([_item("1", "The Secretariat said", "<p>Nothing to see.</p>"),
                        _item("2", "Plain title", "<p>The CSTO said.</p>")], NOW)
    translate_pending(store, Engines(config), config, NOW)
    path.write_text(GLOSSARY.replace('ru = "Секретариат"', 'ru = "Секретариатом"'),
                    encoding="utf-8")
    spy_calls = []
    import syndicator.cycle as cycle

    class SpyEngines(Engines):
        def engine(self, name):
            real = super().engine(name)
            spy = Spy(real)
            spy.calls = spy_calls
            return spy

    original = cycle.Engines
    cycle.Engines = SpyEngines
    try:
        _, marked, counts = retranslate(config, NOW, refresh=True)
    finally:
        cycle.Engines = original
    assert marked == 2 and counts == {"ru": 2}
    assert [texts for _, _, texts in spy_calls] == [["The ⟦T0⟧ said"]]
    assert store.translations_for("ru", ["s:1"])["s:1"].title == "The Секретариатом заявил"


def test_glossary_terms_reach_every_language_through_the_nllb_chain(tmp_path):
    """An NLLB-shaped model serves all six targets; the glossary forces its terms in each."""
    from syndicator.testing.nllb_model import build_nllb_model_dir

    said = {"ru": "заявил", "hy": "հայտարարեց", "be": "заявіў", "kk": "мәлімдеді",
            "ky": "билдирди", "tg": "изҳор кард"}
    model = build_nllb_model_dir(tmp_path / "nllb", {lang: {"said": word.split()[0]}
                                                     for lang, word in said.items()})
    config = make_config(tmp_path, translation={
        "argos": {"packages_dir": "argos-packages"}, "chain": ["nllb"],
        "nllb": {"model_dir": str(model)}, "glossary": str(ROOT / "translations" / "glossary.toml")})
    store = open_store(config.store_path)
    store.upsert_items([_item("1", "The CSTO said", "<p>Imangali Tasmagambetov said.</p>")], NOW)
    assert translate_pending(store, Engines(config), config, NOW) == {
        lang: 1 for lang in ("ru", "hy", "be", "kk", "ky", "tg")}
    terms = {"ru": "ОДКБ", "hy": "ՀԱՊԿ", "be": "АДКБ", "kk": "ҰҚШҰ", "ky": "ЖКМУ", "tg": "СПАД"}
    for lang, term in terms.items():
        tr = store.translations_for(lang, ["s:1"])["s:1"]
        assert tr.title == f"The {term} {said[lang].split()[0]}", lang
        assert tr.body == f"<p>Imangali Tasmagambetov {said[lang].split()[0]}.</p>", lang
        assert tr.engine.startswith("nllb:")
