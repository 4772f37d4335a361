"""The nllb engine on a tiny NLLB-shaped model: real sentencepiece + ctranslate2."""
from __future__ import annotations

import shutil
import threading
from types import SimpleNamespace

import pytest

from syndicator.errors import ModelError, TranslationError
from syndicator.testing.nllb_model import build_nllb_model_dir
from syndicator.translate import nllb
from syndicator.translate.nllb import NLLB_CODES, NllbEngine

# (CSTO, said) in each target language; "en" maps the Russian words back.
WORDS = {"ru": ("ОДКБ", "заявила"), "hy": ("ՀԱՊԿ", "հայտարարեց"), "be": ("АДКБ", "заявіла"),
         "kk": ("ҰҚШҰ", "мәлімдеді"), "ky": ("ЖКМУ", "билдирди"), "tg": ("СПАД", "гуфт")}
LEXICON = {code: {"CSTO": csto, "said": said} for code, (csto, said) in WORDS.items()}
LEXICON["en"] = {"ОДКБ": "CSTO", "заявила": "said"}
TARGETS = sorted(set(NLLB_CODES) - {"en"})


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return build_nllb_model_dir(tmp_path_factory.mktemp("nllb") / "nllb-tiny", LEXICON)


@pytest.fixture(scope="session")
def flat_model_dir(tmp_path_factory):
    """One lexicon for every target language."""
    return build_nllb_model_dir(tmp_path_factory.mktemp("nllb") / "nllb-flat",
                                {"said": "заявил"})


def make_engine(model_dir, **kw):
    # One intra thread: the test machine's cores are shared with other work.
    return NllbEngine(model_dir, intra_threads=1, **kw)


@pytest.fixture
def engine(model_dir):
    return make_engine(model_dir)


class SpyTranslator:
    """Records every translate_batch call made through the real translator."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def translate_batch(self, source, **kw):
        self.calls.append((source, kw))
        return self.inner.translate_batch(source, **kw)


@pytest.mark.parametrize("tgt", TARGETS)
def test_translates_into_every_nllb_language(engine, tgt):
    csto, said = WORDS[tgt]
    assert engine.model_version("en", tgt) == "nllb:nllb-tiny"
    assert engine.translate(["The CSTO said."], "en", tgt) == [f"The {csto} {said}."]


def test_translates_into_english_and_between_other_languages(engine):
    assert engine.translate(["ОДКБ заявила."], "ru", "en") == ["CSTO said."]
    # No pivot: the target token alone selects the lexicon.
    assert engine.translate(["The CSTO said."], "hy", "kk") == ["The ҰҚШҰ мәлімдеді."]


def test_a_small_batch_is_one_call_sorted_by_length_and_keeps_order_and_boundaries(engine):
    texts = ["The CSTO said. Ministers met in Moscow.", "", "   ",
             "Yesterday the CSTO said! 東京 (Tokyo) 2024? It held talks.", "CSTO"]
    engine.translate(["warm-up"], "en", "kk")  # loads the model
    spy = engine._loaded.translator = SpyTranslator(engine._loaded.translator)
    assert engine.translate(texts, "en", "kk") == [
        "The ҰҚШҰ мәлімдеді. Ministers met in Moscow.", "", "",
        # 東京 is not in the vocabulary: <unk>, then replace_unknowns copies it.
        "Yesterday the ҰҚШҰ мәлімдеді! 東京 (Tokyo) 2024? It held talks.", "ҰҚШҰ"]
    [(source, kw)] = spy.calls
    assert len(source) == 6  # sentences, not texts
    assert all(s[0] == "eng_Latn" and s[-1] == "</s>" for s in source)
    pieces = engine._loaded.sp.encode("The CSTO said.", out_type=str)
    assert ["eng_Latn", *pieces, "</s>"] in source and "▁CSTO" in pieces
    assert [len(s) for s in source] == sorted(len(s) for s in source)
    assert kw["target_prefix"] == [["kaz_Cyrl"]] * 6
    assert (kw["beam_size"], kw["max_batch_size"], kw["replace_unknowns"]) == (4, 32, True)


def test_texts_without_sentences_make_no_call(engine):
    assert engine.translate(["", " \n "], "en", "ru") == ["", ""]
    assert engine._loaded is None


def test_model_version_is_empty_for_languages_the_model_lacks(engine, monkeypatch):
    assert engine.model_version("en", "xx") == ""
    assert engine.model_version("xx", "ru") == ""
    # A code we know, but whose token is not in this model's vocabulary.
    monkeypatch.setitem(NLLB_CODES, "uk", "ukr_Cyrl")
    assert engine.model_version("en", "uk") == ""
    with pytest.raises(TranslationError):
        engine.translate(["The CSTO said."], "en", "uk")


def test_model_version_is_empty_without_a_usable_model(tmp_path, model_dir):
    (tmp_path / "empty").mkdir()
    no_sp = tmp_path / "no-sp"
    shutil.copytree(model_dir, no_sp, ignore=shutil.ignore_patterns("*.model"))
    for path in (None, tmp_path / "missing", tmp_path / "empty", no_sp):
        engine = make_engine(path)
        assert engine.model_version("en", "ru") == "", path
        with pytest.raises(TranslationError):
            engine.translate(["The CSTO said."], "en", "ru")


def test_refresh_picks_up_added_replaced_and_removed_models(tmp_path, model_dir,
                                                            flat_model_dir):
    later = tmp_path / "later"
    engine = make_engine(later)
    assert engine.model_version("en", "ru") == ""
    shutil.copytree(model_dir, later)
    assert engine.model_version("en", "ru") == ""  # only refresh() looks again
    engine.refresh()
    assert engine.model_version("en", "ru") == "nllb:later"
    assert engine.translate(["The CSTO said."], "en", "ru") == ["The ОДКБ заявила."]
    loaded = engine._loaded
    engine.refresh()
    assert engine._loaded is loaded  # unchanged: no reload

    shutil.rmtree(later)
    shutil.copytree(flat_model_dir, later)  # keeps the files' mtimes
    engine.refresh()
    assert engine.translate(["The CSTO said."], "en", "hy") == ["The CSTO заявил."]

    shutil.rmtree(later)
    engine.refresh()
    assert engine.model_version("en", "ru") == ""


def test_unreadable_model_raises_model_error(tmp_path, model_dir):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.bin").write_bytes(b"not a model")
    engine = make_engine(broken)
    assert engine.model_version("en", "ru") == "nllb:broken"  # only a load can tell
    with pytest.raises(ModelError):
        engine.translate(["The CSTO said."], "en", "ru")


def test_empty_output_for_non_empty_input_raises(engine):
    class Silent:
        def translate_batch(self, source, **kw):
            # Only the forced prefix comes back.
            return [SimpleNamespace(hypotheses=[["rus_Cyrl"]]) for _ in source]

    engine.translate(["warm-up"], "en", "ru")
    engine._loaded.translator = Silent()
    with pytest.raises(TranslationError, match="empty output"):
        engine.translate(["The CSTO said."], "en", "ru")


def test_concurrent_first_use_loads_the_model_once(model_dir, monkeypatch):
    loads = []
    real = nllb._Loaded

    def counting(*args):
        loads.append(args)
        return real(*args)

    monkeypatch.setattr(nllb, "_Loaded", counting)
    engine = make_engine(model_dir)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        engine.translate(["The CSTO said."], "en", "be"))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [["The АДКБ заявіла."]] * 3
    assert len(loads) == 1


def test_int8_model_gives_the_same_output(tmp_path):
    # The real NLLB model is int8; the tiny one must survive int8 GEMMs too.
    lexicon = {code: LEXICON[code] for code in ("en", "ru", "tg")}
    int8_dir = build_nllb_model_dir(tmp_path / "int8", lexicon, lexicon, quantization="int8")
    engine = make_engine(int8_dir)
    assert engine.translate(["The CSTO said.", "CSTO"], "en", "tg") == [
        "The СПАД гуфт.", "СПАД"]
    assert engine.model_version("en", "hy") == ""  # not built with hy
