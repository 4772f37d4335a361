"""The apertium engine against the real apertium and apertium-bel-rus packages (no mocks).

Missing packages fail these tests on purpose: the ru→be route depends on them.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from syndicator.errors import TranslationError
from syndicator.translate.apertium import PROBE, ApertiumEngine

EXAMPLE = "Полиция задержала двух человек после столкновений в столице."
EXPECTED = "Паліцыя затрымала двух людзей пасля сутыкненняў у сталіцы."
INSTALL = "apertium is required: apt-get install apertium apertium-bel-rus"


@pytest.fixture(scope="module", autouse=True)
def require_apertium():
    if shutil.which("apertium") is None:
        pytest.fail(f"no apertium binary; {INSTALL}")
    if not Path("/usr/share/apertium/modes/bel-rus.mode").is_file():
        pytest.fail(f"no bel-rus apertium mode; {INSTALL}")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> ApertiumEngine:
    return ApertiumEngine(workdir=tmp_path_factory.mktemp("apertium"))


def script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def fake(tmp_path: Path, otherwise: str, timeout: float = 60.0) -> ApertiumEngine:
    """An apertium that answers the availability probe correctly, then does `otherwise`."""
    command = script(tmp_path / "fake-apertium",
                     f'in=$(cat)\nif [ "$in" = "{PROBE}" ]; then echo "$in"; exit 0; fi\n'
                     + otherwise)
    fake_engine = ApertiumEngine({("be", "ru"): "bel-rus"}, command=command, timeout=timeout,
                                 workdir=tmp_path / "work")
    assert fake_engine.model_version("be", "ru")
    return fake_engine


def test_example_sentence_ru_be(engine):
    assert engine.model_version("ru", "be") == "apertium:rus-bel-notagger@0.2.1"
    assert engine.translate([EXAMPLE], "ru", "be") == [EXPECTED]
    assert engine.last_unknown == [[]]


def test_be_ru(engine):
    assert engine.model_version("be", "ru") == "apertium:bel-rus@0.2.1"
    assert engine.translate(["Мама мыла раму, і гэта добра."], "be", "ru") \
        == ["Мама мыло раму, и эта хорошо."]


def test_batch_runs_in_one_process_in_order(tmp_path):
    calls = tmp_path / "calls.log"
    command = script(tmp_path / "apertium", f'echo run >> "{calls}"\nexec apertium "$@"')
    counted = ApertiumEngine(command=command, workdir=tmp_path / "work")
    assert counted.model_version("ru", "be")  # the one availability probe
    probes = len(calls.read_text().splitlines())
    texts = [f"Статья {n}: полиция задержала {n + 100} человек." for n in range(50)]
    started = time.monotonic()
    out = counted.translate(texts, "ru", "be")
    assert time.monotonic() - started < 10  # 50 processes take ~10 s here
    assert len(calls.read_text().splitlines()) == probes + 1
    assert len(out) == 50 and all(o.strip() for o in out)
    for n, text in enumerate(out):
        assert text == f"Стацця {n}: паліцыя затрымала {n + 100} людзей."


def test_newlines_inside_segments_and_numbers_survive(engine):
    texts = ["Глава 1\n\nВ 2024 году 3,5 % жителей — 1 234 567 человек.",
             "Президент России\nзадержал двух человек",
             "",
             "  ⟦0⟧ и ⟦1⟧  "]
    out = engine.translate(texts, "ru", "be")
    assert out[0] == "Кіраўнік 1\n\nУ 2024 году 3,5 % жыхароў — 1 234 567 людзей."
    assert out[1] == "Прэзідэнт Расіі\nзатрымаў двух людзей"
    assert out[2] == ""
    assert out[3] == "  ⟦0⟧ і ⟦1⟧  "


def test_unknown_words_are_stripped_and_recorded(engine):
    out = engine.translate(["Мама мыла раму xyzzy.", "Пишите на a@b.ru #новости *важно*"],
                           "ru", "be")
    assert out[0] == "Мама мыла раму xyzzy."
    assert engine.last_unknown[0] == ["xyzzy"]
    # Marks the source itself contains are not apertium's: they stay.
    assert "a@b.ru" in out[1] and "#" in out[1] and out[1].count("*") == 2
    assert {"a", "b", "ru"} <= set(engine.last_unknown[1])


def test_packaged_rus_bel_crash_is_detected(tmp_path):
    packaged = ApertiumEngine({("ru", "be"): "rus-bel"}, workdir=tmp_path)
    assert packaged.model_version("ru", "be")  # it survives the probe...
    with pytest.raises(TranslationError, match="no output"):  # ...but not real text
        packaged.translate([EXAMPLE], "ru", "be")


def test_empty_output_with_exit_0_is_an_error(tmp_path):
    with pytest.raises(TranslationError, match="no output"):
        fake(tmp_path, "exit 0").translate(["Добры дзень."], "be", "ru")


def test_lost_segments_are_an_error(tmp_path):
    squeezed = fake(tmp_path, "printf '%s\\n' \"$in\" | tr -s '\\n'")
    with pytest.raises(TranslationError, match="returned 1 segment"):
        squeezed.translate(["Добры дзень.", "Дзякуй."], "be", "ru")


def test_non_zero_exit_is_an_error(tmp_path):
    with pytest.raises(TranslationError, match="exited with 3"):
        fake(tmp_path, "echo oops >&2; exit 3").translate(["Добры дзень."], "be", "ru")


def test_timeout_kills_the_pipeline(tmp_path):
    slow = fake(tmp_path, "sleep 30 | cat", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TranslationError, match="no answer within"):
        slow.translate(["Добры дзень."], "be", "ru")
    assert time.monotonic() - started < 5


def test_missing_binary(tmp_path):
    missing = ApertiumEngine(command=str(tmp_path / "no-such-apertium"), workdir=tmp_path)
    assert missing.model_version("ru", "be") == ""
    with pytest.raises(TranslationError, match="apt-get install"):
        missing.translate([EXAMPLE], "ru", "be")


def test_unknown_pair_and_refresh(engine):
    assert engine.model_version("en", "be") == ""
    engine.refresh()  # cheap: the probe result is kept while the mode is unchanged
    assert engine.model_version("ru", "be") == "apertium:rus-bel-notagger@0.2.1"
