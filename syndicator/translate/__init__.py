"""Translation stage: bring every recent item up to date in every target language.

Per language: plan the segments of the items that need it, take what the
translation memory already has, send the rest to the engine in one batch,
and store one ``Translation`` per item: ``translated``, ``awaiting`` (no
engine serves the language) or ``failed`` (with the reason; retried next cycle).
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Callable, Protocol

from ..config import Config
from ..errors import ModelError, TranslationError
from ..models import Item, Segment, Translation
from ..store import Store
from .argos import ArgosEngine
from .blocks import render_body, segments

log = logging.getLogger(__name__)


class Engine(Protocol):
    name: str

    def model_version(self, src: str, tgt: str) -> str:
        """Engine and model that serve src→tgt, e.g. ``argos:en_ru-1.9``; '' if none."""

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        """Translate a batch; raises TranslationError or ModelError."""

    def refresh(self) -> None:
        """Notice models installed or removed since the last cycle."""


class Engines:
    """The engines of one process; models load once and serve every cycle."""

    def __init__(self, config: Config):
        self.chain: list[Engine] = [ArgosEngine(config.argos)]

    def refresh(self) -> None:
        for engine in self.chain:
            engine.refresh()

    def for_pair(self, src: str, tgt: str) -> Engine | None:
        return next((e for e in self.chain if e.model_version(src, tgt)), None)


def memory_key(text: str, src: str, tgt: str, version: str, glossary: str = "") -> str:
    """Everything that changes the output is in the key, so a hit is always right."""
    text_hash = hashlib.sha256(text.encode()).hexdigest()
    return hashlib.sha256(f"{text_hash}|{src}|{tgt}|{version}|{glossary}".encode()).hexdigest()


Progress = Callable[[str, int, int], None]  # (language, done, total)


def translate_pending(store: Store, engines: Engines, config: Config, now: datetime,
                      progress: Progress | None = None) -> dict[str, int]:
    """Translate what changed; returns the number of items translated per language."""
    engines.refresh()
    counts = {}
    for lang in config.targets:
        if lang == config.source_language:
            continue
        items = store.items_needing(lang, config.max_items)
        counts[lang] = _translate_language(store, engines, config.source_language, lang,
                                           items, now, progress)
    return counts


def _translate_language(store: Store, engines: Engines, src: str, lang: str,
                        items: list[Item], now: datetime, progress: Progress | None) -> int:
    if not items:
        return 0
    engine = engines.for_pair(src, lang)
    if engine is None:
        _mark_awaiting(store, src, lang, items, now)
        return 0
    version = engine.model_version(src, lang)
    plan = [(item, segments(item)) for item in items]
    keys = {seg.text: memory_key(seg.text, src, lang, version) for _, segs in plan for seg in segs}
    known = store.memory_get(sorted(set(keys.values())))
    missing = sorted({text for text, key in keys.items() if key not in known})
    if progress:
        progress(lang, 0, len(missing))
    try:
        outputs = engine.translate(missing, src, lang) if missing else []
    except (TranslationError, ModelError) as exc:
        log.error("translation %s→%s failed for %d item(s): %s", src, lang, len(items), exc)
        store.save_translations([Translation(i.id, lang, i.content_hash, "failed",
                                             engine=version, reason=str(exc)) for i in items],
                                now)
        return 0
    fresh = {keys[text]: out for text, out in zip(missing, outputs) if out.strip()}
    store.memory_put(fresh)
    known.update(fresh)
    if progress:
        progress(lang, len(missing), len(missing))
    done = [_assemble(item, segs, lang, version, {s.text: known.get(keys[s.text]) for s in segs})
            for item, segs in plan]
    store.save_translations(done, now)
    return sum(t.status == "translated" for t in done)


def _assemble(item: Item, segs: list[Segment], lang: str, version: str,
              texts: dict[str, str | None]) -> Translation:
    empty = [s.key for s in segs if not texts[s.text]]
    if empty:
        # Never publish an empty translation: the item is retried next cycle.
        return Translation(item.id, lang, item.content_hash, "failed", engine=version,
                           reason=f"the engine returned empty text for {', '.join(empty)}")
    by_field = {(s.field, s.block): texts[s.text] for s in segs}
    body = render_body(item.body, {b: t for (f, b), t in by_field.items() if f == "body"})
    return Translation(item.id, lang, item.content_hash, "translated",
                       title=by_field[("title", 0)], summary=by_field.get(("summary", 0), ""),
                       body=body, engine=version)


def _mark_awaiting(store: Store, src: str, lang: str, items: list[Item], now: datetime) -> None:
    existing = store.translations_for(lang, [i.id for i in items])
    reason = f"no engine translates {src}→{lang}; install a model (syndicator models install)"
    store.save_translations(
        [Translation(i.id, lang, i.content_hash, "awaiting", reason=reason) for i in items
         if not (i.id in existing and existing[i.id].status == "awaiting"
                 and existing[i.id].content_hash == i.content_hash)], now)
