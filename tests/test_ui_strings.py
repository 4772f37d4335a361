"""UI strings: extracted with pybabel, translated in every language's messages.po."""
from __future__ import annotations

import subprocess
import sys

import polib
import pytest

from syndicator.publish import i18n

from conftest import ROOT

LANGS = ["en", "ru", "hy", "be", "kk", "ky", "tg"]


@pytest.mark.parametrize("lang", LANGS)
def test_every_ui_string_is_translated_in_every_language(lang):
    po = polib.pofile(str(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po"))
    translated = {e.msgid: e.msgstr for e in po if e.msgstr and not e.fuzzy and not e.obsolete}
    missing = [s for s in (*i18n.UI_STRINGS, i18n.SITE_TITLE) if not translated.get(s)]
    assert not missing, f"{lang} messages.po lacks: {missing}"


def test_the_template_matches_what_pybabel_extracts(tmp_path):
    out = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-k", "N_",
                    "--no-default-keywords", "--no-location", "-o", str(out),
                    str(ROOT / "syndicator")], check=True, capture_output=True)
    extracted = {e.msgid for e in polib.pofile(str(out))}
    committed = {e.msgid for e in polib.pofile(str(ROOT / "translations" / "messages.pot"))}
    assert extracted == committed, "run the pybabel extract command from the README"
    assert extracted == {*i18n.UI_STRINGS, i18n.SITE_TITLE}


@pytest.mark.parametrize("lang", LANGS)
def test_ui_catalogs_pass_msgfmt_check(lang):
    path = ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po"
    result = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
