"""The lexicon test model really runs through ctranslate2, sentencepiece and argos."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import ctranslate2
import pytest
import sentencepiece as spm

from syndicator.testing.lexicon_model import (
    build_lexicon_model_dir,
    build_lexicon_package,
)

LEXICON = {"said": "заявил", "Secretary": "Генеральный", "General": "секретарь"}


def translate(package_dir, sources):
    """Translate the way argos does: same sentencepiece model on both sides."""
    sp = spm.SentencePieceProcessor(model_file=str(package_dir / "sentencepiece.model"))
    translator = ctranslate2.Translator(str(package_dir / "model"))
    batch = [sp.encode(source, out_type=str) for source in sources]
    results = translator.translate_batch(
        batch, beam_size=4, length_penalty=0.2, replace_unknowns=True)
    return [sp.decode(result.hypotheses[0]) for result in results]


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory):
    return build_lexicon_model_dir(tmp_path_factory.mktemp("model"), LEXICON)


def test_lexicon_model_translates_mapped_words_and_copies_the_rest(package_dir):
    assert translate(package_dir, ["The Secretary General said"]) == [
        "The Генеральный секретарь заявил"]


def test_batch_of_different_lengths_copies_numbers_and_punctuation(package_dir):
    sources = [
        "On 5 September 2024, the CSTO said.",
        "said",
        "Ministers met in Moscow (Russia) on 05.09.2024 at 15:30; 3.5% of troops left!",
        "General?",
    ]
    assert translate(package_dir, sources) == [
        "On 5 September 2024, the CSTO заявил.",
        "заявил",
        "Ministers met in Moscow (Russia) on 05.09.2024 at 15:30; 3.5% of troops left!",
        "секретарь?",
    ]


def test_cyrillic_armenian_and_unseen_characters_are_copied(package_dir):
    source = "ОДКБ said: «Երևան, ՀԱՊԿ» — ҰҚШҰ 東京"
    assert translate(package_dir, [source]) == [
        "ОДКБ заявил: «Երևան, ՀԱՊԿ» — ҰҚШҰ 東京"]


def test_corpus_characters_join_vocabulary_and_int8_model_translates(tmp_path):
    corpus = ["Делегация прибыла в Тбилиси (თბილისი)."]
    package = build_lexicon_model_dir(
        tmp_path, {"troops": "войска"}, corpus=corpus, quantization="int8")
    sp = spm.SentencePieceProcessor(model_file=str(package / "sentencepiece.model"))
    assert sp.unk_id() not in sp.encode("თბილისი")
    assert translate(package, ["The troops left თბილისი."]) == [
        "The войска left თბილისი."]


def test_package_folder_has_argos_layout_and_metadata(tmp_path):
    package = build_lexicon_model_dir(
        tmp_path, LEXICON, from_code="en", to_code="hy", package_version="2.1")
    assert package == tmp_path / "translate-en_hy-2.1"
    assert (package / "sentencepiece.model").is_file()
    assert (package / "model" / "model.bin").is_file()
    config = json.loads((package / "model" / "config.json").read_text())
    assert config["add_source_eos"] is True
    metadata = json.loads((package / "metadata.json").read_text(encoding="utf-8"))
    assert metadata == {
        "package_version": "2.1", "argos_version": "1.9.0",
        "from_code": "en", "to_code": "hy",
        "from_name": "English", "to_name": "Armenian",
        "package_type": "translate", "type": "translate",
    }


def test_multi_word_target_is_rejected_before_anything_is_built(tmp_path):
    with pytest.raises(ValueError, match="one word"):
        build_lexicon_model_dir(
            tmp_path, {"Secretary General": "Генеральный секретарь"})
    with pytest.raises(ValueError, match="one word"):
        build_lexicon_model_dir(tmp_path, {"General": "Генеральный секретарь"})
    assert list(tmp_path.iterdir()) == []


def test_same_lexicon_builds_byte_identical_packages(tmp_path):
    first = build_lexicon_model_dir(tmp_path / "a", LEXICON)
    second = build_lexicon_model_dir(tmp_path / "b", LEXICON)
    for name in ("sentencepiece.model", "model/model.bin", "model/config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_argosmodel_zip_installs_with_argostranslate(tmp_path):
    archive = build_lexicon_package(
        tmp_path / "dist", LEXICON, from_name="English", to_name="Russian")
    assert archive == tmp_path / "dist" / "translate-en_ru-1.0.argosmodel"
    with zipfile.ZipFile(archive) as zf:
        assert {name.split("/")[0] for name in zf.namelist()} == {"translate-en_ru-1.0"}
    # argostranslate reads its directories from the environment at import time,
    # so install in a fresh interpreter pointed at throwaway folders.
    # install_from_path() only imports argostranslate.translate to clear a
    # cache, but that import loads spacy, stanza and torch (~5 s); a stub with
    # the same cache keeps the install itself real and the test fast.
    script = textwrap.dedent("""
        import functools, json, sys, types
        import ctranslate2
        stub = types.ModuleType("argostranslate.translate")
        stub.get_installed_languages = functools.lru_cache(lambda: [])
        sys.modules["argostranslate.translate"] = stub
        import argostranslate.package as package
        package.install_from_path(sys.argv[1])
        [pkg] = package.get_installed_packages()
        pieces = pkg.tokenizer.encode("The Secretary General said")
        translator = ctranslate2.Translator(str(pkg.package_path / "model"))
        [result] = translator.translate_batch([pieces], beam_size=4)
        print(json.dumps([pkg.from_code, pkg.to_code, pkg.package_version,
                          pkg.to_name, pkg.tokenizer.decode(result.hypotheses[0])]))
    """)
    folders = {"ARGOS_PACKAGES_DIR": "packages", "HOME": "home",
               "XDG_DATA_HOME": "data", "XDG_CONFIG_HOME": "config",
               "XDG_CACHE_HOME": "cache"}
    env = {**os.environ, **{var: str(tmp_path / sub) for var, sub in folders.items()}}
    run = subprocess.run(
        [sys.executable, "-c", script, str(archive)], env=env,
        capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == [
        "en", "ru", "1.0", "Russian", "The Генеральный секретарь заявил"]
    assert (tmp_path / "packages" / "translate-en_ru-1.0" / "metadata.json").is_file()
