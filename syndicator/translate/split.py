"""Offline sentence splitting (argostranslate's MiniSBD would download a model)."""
from __future__ import annotations

import re
from functools import lru_cache

import pysbd
from pysbd.languages import LANGUAGE_CODES

# Fallback for languages pysbd lacks (be, ky, tg): split after . ! ? … when the
# next word starts with a capital letter or a digit.
_RULE = re.compile(r"(?<=[.!?…])[\"»”)]*\s+(?=[\"«“(]*[A-ZА-ЯЁЎІҚҒҢӨҰҮҲҶӢӮԱ-Ֆ0-9])")


@lru_cache(maxsize=None)
def _segmenter(lang: str) -> pysbd.Segmenter | None:
    return pysbd.Segmenter(language=lang, clean=False) if lang in LANGUAGE_CODES else None


def split_sentences(text: str, lang: str) -> list[str]:
    """Sentences of ``text``, stripped; joining them with spaces gives the text back."""
    text = text.strip()
    if not text:
        return []
    segmenter = _segmenter(lang)
    parts = segmenter.segment(text) if segmenter else _RULE.split(text)
    return [p.strip() for p in parts if p.strip()]
