"""UI strings and localised dates for each published language.

UI strings come from ``translations/<lang>/LC_MESSAGES/messages.po``, compiled
with Babel when first needed; they are never machine-translated. Dates that
people read are formatted by Babel/CLDR with an explicit ``locale=``.
"""
from __future__ import annotations

import io
import logging
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import DateTimePattern, get_date_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from markupsafe import escape

log = logging.getLogger(__name__)


def N_(message: str) -> str:
    """Mark a string for ``pybabel extract`` without translating it here."""
    return message


# Every UI string that feeds and pages show; `pybabel extract` finds them here.
# The site title (config `site.title`) is looked up as a msgid too; the bundled
# deployment's title is marked here so `pybabel update` keeps its entry.
SITE_TITLE = N_("CSTO News")
DESCRIPTION = N_("%(site)s — latest news (%(language)s)")
AWAITING = N_("Awaiting translation")
MACHINE = N_("Machine translation")
REVIEWED = N_("Translation reviewed by a translator")
READ_ORIGINAL = N_("Read the original")
SUBSCRIBE = N_("Subscribe:")
OTHER_LANGUAGES = N_("Other languages:")
LATEST = N_("Latest news")
UI_STRINGS = (DESCRIPTION, AWAITING, MACHINE, REVIEWED, READ_ORIGINAL, SUBSCRIBE,
              OTHER_LANGUAGES, LATEST)


def catalog_path(translations_dir: Path, lang: str) -> Path:
    return translations_dir / lang / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=64)
def _compiled(path: Path, mtime: float) -> NullTranslations:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


class UI:
    """The UI strings of one language."""

    def __init__(self, translations_dir: Path, lang: str, site_title: str):
        self.lang = lang
        path = catalog_path(translations_dir, lang)
        if path.is_file():
            self._t = _compiled(path, path.stat().st_mtime)
        else:
            log.warning("no UI catalog %s; %s pages use English UI strings", path, lang)
            self._t = NullTranslations()
        self.site_title = site_title

    def _(self, message: str) -> str:
        return self._t.gettext(message)

    @cached_property
    def notes(self) -> dict[str, str]:
        """Per entry status, the escaped provenance note entry HTML starts with."""
        notes = {"translated": MACHINE, "reviewed": REVIEWED, "awaiting": AWAITING,
                 "failed": AWAITING}
        return {status: str(escape(self._(message))) for status, message in notes.items()}

    @cached_property
    def read_original(self) -> str:
        """The escaped text of the link to an item's original."""
        return str(escape(self._(READ_ORIGINAL)))

    @property
    def title(self) -> str:
        # The site title itself is a msgid, so each catalog can give its own name
        # (e.g. "Новости ОДКБ" for "CSTO News").
        return self._(self.site_title)

    @property
    def description(self) -> str:
        return self._(DESCRIPTION) % {"site": self.title,
                                      "language": language_name(self.lang)}


@lru_cache(maxsize=64)
def bcp47(lang: str) -> str:
    """The BCP 47 tag of a configured language, for every published field that
    names one (xml:lang, hreflang, lang, RSS <language>, JSON Feed "language"):
    the config uses Babel's identifiers ("pt_BR", "sr_Latn"), whose parts are
    BCP 47 subtags joined by "_". Folders and URLs keep the configured name."""
    return lang.replace("_", "-")


def language_name(lang: str) -> str:
    """The language's own name for itself, from CLDR ("русский", "Հայերեն")."""
    return Locale.parse(lang).get_display_name(lang) or lang


def date_line(moment: datetime, lang: str, timezone: str) -> str:
    """The human date of an item, in the site's zone: "5 сентября 2024 г."."""
    return _long_date(_local_day(moment, timezone), lang)


@lru_cache(maxsize=1 << 14)
def _local_day(moment: datetime, timezone: str):
    # Every language asks for the same item's day: convert it once, not 7 times.
    return moment.astimezone(ZoneInfo(timezone)).date()


@lru_cache(maxsize=4096)
def _long_date(day, lang: str) -> str:
    # What format_date(day, "long", locale=lang) gives. A full rebuild of 10,000
    # items over ~3 years still formats ~9,000 distinct (day, language) pairs:
    # format_date parses the locale and the pattern on each call (30-50 µs), the
    # parsed pattern alone takes 8-10 µs.
    pattern, locale = _long_pattern(lang)
    return pattern.apply(day, locale=locale)


@lru_cache(maxsize=64)
def _long_pattern(lang: str) -> tuple[DateTimePattern, Locale]:
    locale = Locale.parse(lang)
    return get_date_format("long", locale=locale), locale
