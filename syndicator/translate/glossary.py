"""The glossary: forced translations and do-not-translate terms, applied around the engine.

``translations/glossary.toml``::

    [terms."CSTO"]            # forced translation per language
    ru = "ОДКБ"
    hy = "ՀԱՊԿ"

    [keep]                    # names that must come out unchanged in every language
    terms = ["Imangali Tasmagambetov"]

Before the engine call each term is replaced by a placeholder (``⟦T0⟧``) that
engines copy through; afterwards the placeholder becomes the forced text. The
version that goes into a segment's translation-memory key covers only the
glossary entries that match that segment, so changing the glossary makes only
the affected segments miss the memory.
"""
from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

PLACEHOLDER = re.compile(r"⟦T(\d+)⟧")


@dataclass(frozen=True)
class Protected:
    text: str
    replacements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Glossary:
    terms: dict[str, dict[str, str]] = field(default_factory=dict)
    keep: tuple[str, ...] = ()

    def _matches(self, text: str, lang: str) -> list[tuple[str, str]]:
        """(term, replacement) pairs found in ``text``, longest terms first."""
        found = []
        for term in sorted(set(self.terms) | set(self.keep), key=len, reverse=True):
            replacement = term if term in self.keep else self.terms[term].get(lang)
            if replacement is not None and _pattern(term).search(text):
                found.append((term, replacement))
        return found

    def version_for(self, text: str, lang: str) -> str:
        matches = self._matches(text, lang)
        if not matches:
            return ""
        return hashlib.sha256(json.dumps(matches, ensure_ascii=False).encode()).hexdigest()[:16]

    def protect(self, text: str, lang: str) -> Protected:
        replacements: list[str] = []
        for term, replacement in self._matches(text, lang):
            def swap(_match, replacement=replacement):
                replacements.append(replacement)
                return f"⟦T{len(replacements) - 1}⟧"
            text = _pattern(term).sub(swap, text)
        return Protected(text, tuple(replacements))

    @staticmethod
    def restore(translated: str, protected: Protected) -> str:
        def back(match):
            n = int(match[1])
            return protected.replacements[n] if n < len(protected.replacements) else match[0]
        return PLACEHOLDER.sub(back, translated)


def _pattern(term: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)")


def load_glossary(path: Path) -> Glossary:
    if not path.is_file():
        return Glossary()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    problems = [f"{key}: unknown key (known: terms, keep)" for key in data
                if key not in ("terms", "keep")]
    terms = data.get("terms", {})
    for term, table in terms.items():
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            problems.append(f'terms."{term}": expected a table of language = "text"')
    keep = data.get("keep", {}).get("terms", [])
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        problems.append("keep.terms: expected an array of strings")
    if problems:
        raise ConfigError(str(path), problems)
    return Glossary(terms=terms, keep=tuple(keep))
