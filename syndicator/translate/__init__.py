"""Translation stage: bring every recent item up to date in every target language.

Per language: plan the segments of the items that need it, take what the
translation memory already has, send the rest through the first route of the
language's chain that can serve it (one batch per route), and store one
``Translation`` per item: ``translated``, ``awaiting`` (no route serves the
language) or ``failed`` (with the reason; retried next cycle).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import datetime
from typing import Callable, Protocol

from ..config import Config, parse_route
from ..errors import ModelError, TranslationError
from ..models import REVISION, Item, Segment, Translation
from ..store import Store
from . import control
from .blocks import render_body, segments
from .glossary import Glossary, load_glossary

log = logging.getLogger(__name__)


class Engine(Protocol):
    name: str

    def model_version(self, src: str, tgt: str) -> str:
        """Engine and model that serve src→tgt, e.g. ``argos:en_ru-1.9``; '' if none."""

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        """Translate a batch; raises TranslationError or ModelError."""

    def refresh(self) -> None:
        """Notice models installed or removed since the last cycle."""


class Route:
    """One entry of a chain: one engine, or several hops through pivot languages."""

    def __init__(self, spec: str, hops: list[tuple[Engine, str | None]]):
        self.spec, self.hops = spec, hops
        self.name = "+".join(engine.name for engine, _ in hops)

    def _steps(self, src: str, tgt: str) -> list[tuple[Engine, str, str]]:
        steps, current = [], src
        for engine, to in self.hops:
            steps.append((engine, current, to or tgt))
            current = to or tgt
        return steps

    def model_version(self, src: str, tgt: str) -> str:
        versions = [e.model_version(a, b) for e, a, b in self._steps(src, tgt)]
        return " > ".join(versions) if all(versions) else ""

    def translate(self, texts: list[str], src: str, tgt: str,
                  hops: "HopMemory | None" = None) -> list[str]:
        for engine, a, b in self._steps(src, tgt):
            texts = hops.run(engine, a, b, texts) if hops else engine.translate(texts, a, b)
        return texts


class HopMemory:
    """Engine outputs of the language pairs that routes pivot through, kept in the
    translation memory: ``argos@ru > apertium`` for Belarusian sends the very
    sentences en→ru that Russian's own route sent a moment before. Keyed on the
    text as sent (glossary placeholders included) and the engine's model version."""

    def __init__(self, store: Store, pivots: set[tuple[str, str, str]]):
        self.store, self.pivots = store, pivots

    def run(self, engine: Engine, src: str, tgt: str, texts: list[str]) -> list[str]:
        if (engine.name, src, tgt) not in self.pivots or not texts:
            return engine.translate(texts, src, tgt)
        version = engine.model_version(src, tgt)
        keys = [memory_key(t, src, tgt, version, "hop") for t in texts]
        known = self.store.memory_get(sorted(set(keys)))
        missing = sorted({t for t, k in zip(texts, keys) if k not in known})
        outputs = engine.translate(missing, src, tgt) if missing else []
        if len(outputs) != len(missing):
            raise TranslationError(f"{engine.name} {src}→{tgt} returned {len(outputs)} texts "
                                   f"for {len(missing)}")
        found = dict(zip(missing, outputs))
        # An empty output is passed on (the last hop's caller judges it), never kept.
        self.store.memory_put({memory_key(t, src, tgt, version, "hop"): out
                               for t, out in found.items() if out.strip()})
        return [known[k] if k in known else found[t] for t, k in zip(texts, keys)]


class Engines:
    """The engines of one process; models load once and serve every cycle."""

    def __init__(self, config: Config):
        self.config = config
        self._engines: dict[str, Engine] = {}
        self.glossary = load_glossary(config.translation.glossary)

    def engine(self, name: str) -> Engine:
        if name not in self._engines:
            self._engines[name] = _make_engine(name, self.config)
        return self._engines[name]

    def refresh(self) -> None:
        for engine in self._engines.values():
            engine.refresh()

    def route(self, spec: str) -> Route:
        return Route(spec, [(self.engine(name), to) for name, to in parse_route(spec)])

    def pivots(self) -> set[tuple[str, str, str]]:
        """(engine name, from, to) of every hop that some route continues after."""
        found = set()
        for lang in self.config.targets:
            for spec in self.config.translation.routes(lang):
                current = self.config.source_language
                for name, to in parse_route(spec)[:-1]:
                    found.add((name, current, to))
                    current = to
        return found

    def for_pair(self, src: str, tgt: str) -> Route | None:
        """The first route of ``tgt``'s chain that serves src→tgt."""
        for spec in self.config.translation.routes(tgt):
            route = self.route(spec)
            if route.model_version(src, tgt):
                return route
        return None


def _make_engine(name: str, config: Config) -> Engine:
    # Imported here so that a machine without, say, apertium never loads its module.
    if name == "argos":
        from .argos import ArgosEngine
        return ArgosEngine(config.argos)
    if name == "nllb":
        from .nllb import NllbEngine
        nllb = config.translation.nllb
        return NllbEngine(nllb.model_dir, beam_size=nllb.beam_size,
                          max_batch_size=nllb.max_batch_size,
                          inter_threads=nllb.inter_threads, intra_threads=nllb.intra_threads)
    if name == "apertium":
        from .apertium import ApertiumEngine
        return ApertiumEngine(command=config.translation.apertium_command,
                              timeout=config.translation.apertium_timeout,
                              workdir=config.store_path.parent / "apertium")
    raise ValueError(f"unknown engine {name!r}")


def memory_key(text: str, src: str, tgt: str, version: str, glossary: str = "") -> str:
    """Everything that changes the output is in the key, so a hit is always right."""
    text_hash = hashlib.sha256(text.encode()).hexdigest()
    return hashlib.sha256(f"{text_hash}|{src}|{tgt}|{version}|{glossary}".encode()).hexdigest()


Progress = Callable[[str, int, int], None]  # (language, done, total)
ITEMS_PER_BATCH = 32


def translate_pending(store: Store, engines: Engines, config: Config, now: datetime,
                      progress: Progress | None = None) -> dict[str, int]:
    """Translate what changed; returns the number of items translated per language."""
    engines.refresh()
    counts = {}
    for lang in config.targets:
        if lang == config.source_language:
            continue
        served = engines.for_pair(config.source_language, lang) is not None
        version = store.data_version()
        items = store.items_needing(lang, include_awaiting=served)
        counts[lang] = 0
        # Chunks bound memory and make each chunk's work durable before the next one:
        # a crash or SIGTERM loses at most one chunk.
        for start in range(0, len(items), ITEMS_PER_BATCH):
            control.check()
            counts[lang] += _translate_language(
                store, engines, config.source_language, lang,
                items[start:start + ITEMS_PER_BATCH], now, progress,
                config.review.keeps_stale_approvals(lang))
        # Only now, with every chunk stored, may the next cycle skip these items.
        store.translated_up_to(lang, version)
    return counts


def _translate_language(store: Store, engines: Engines, src: str, lang: str,
                        items: list[Item], now: datetime, progress: Progress | None,
                        keep_stale: bool = False) -> int:
    if not items:
        return 0
    # approvals imports store; keep this module light
    from ..approvals import Approved, approvals_of_items

    plan = [(item, segments(item)) for item in items]
    ids = [item.id for item in items]
    # Before the approvals: an approval made after this read is caught at the save.
    read_at = {(item_id, lang): seq for item_id, seq in store.translation_seqs(lang, ids).items()}
    approved = Approved(approvals_of_items(store, lang, ids))
    route = engines.for_pair(src, lang)
    version = route.model_version(src, lang) if route else ""
    machine: dict[str, str | None] = {}
    reason = f"no engine translates {src}→{lang}; install a model (syndicator models install)"
    if route:
        try:
            machine = _machine_texts(store, engines, route, version, src, lang, plan, progress)
            reason = ""
        except (TranslationError, ModelError) as exc:
            log.error("translation %s→%s failed for %d item(s): %s", src, lang, len(items),
                      exc)
            reason = str(exc)
    done = [_assemble(item, segs, lang, version, machine, approved, keep_stale,
                      "failed" if route else "awaiting", reason) for item, segs in plan]
    existing = store.translations_for(lang, ids)
    store.save_translations([_dated(existing.get(t.item_id), t) for t in done
                             if _changed(existing.get(t.item_id), t)], now, read_at)
    return sum(t.status in ("translated", "reviewed") for t in done)


def _changed(old: Translation | None, new: Translation) -> bool:
    """Skip rewriting an identical row (an awaiting item, every cycle)."""
    if old is None or old.status == "stale":
        return True
    return (old.status, old.content_hash, old.title, old.body, old.summary, old.segments,
            old.reason) != (new.status, new.content_hash, new.title, new.body, new.summary,
                            new.segments, new.reason)


def _dated(old: Translation | None, new: Translation) -> Translation:
    """``new``, with the ``changed`` it is stored with.

    A review delay counts from ``changed``, and a revision's dates the entry
    (``models.REVISION``): re-assembling a stale row (``translate --refresh``, an
    approval that left the text as it was) into the same text moves neither. A
    new text for the same item version is a revision; a first text of a version
    (a new item, an edit) is not: the item's own ``updated`` dates it.
    """
    if old is not None and old.changed is not None and _shown(old) == _shown(new):
        return dataclasses.replace(new, changed=old.changed)
    if old is not None and old.content_hash == new.content_hash:
        return dataclasses.replace(new, changed=REVISION)
    return new


def _shown(tr: Translation) -> tuple[str, str, str, str]:
    """What a feed shows of a translation: its status and its text. A row marked stale
    still holds the text it had; "human" is the engine of reviewed rows only
    (``_assemble``), and only translated and reviewed rows have a title."""
    status = tr.status
    if status == "stale" and tr.title:
        status = "reviewed" if tr.engine == "human" else "translated"
    return status, tr.title, tr.summary, tr.body


def _machine_texts(store: Store, engines: Engines, route: Route, version: str, src: str,
                   lang: str, plan, progress: Progress | None) -> dict[str, str | None]:
    """Machine text per source text: from the memory, else from one engine batch."""
    texts = sorted({seg.text for _, segs in plan for seg in segs})
    keys = {t: memory_key(t, src, lang, version, engines.glossary.version_for(t, lang))
            for t in texts}
    known = store.memory_get(sorted(set(keys.values())))
    missing = [t for t in texts if keys[t] not in known]
    if progress:
        progress(lang, 0, len(missing))
    outputs = _engine_call(route, engines.glossary, missing, src, lang,
                           HopMemory(store, engines.pivots()))
    fresh = {keys[text]: out for text, out in zip(missing, outputs) if out.strip()}
    store.memory_put(fresh)
    known.update(fresh)
    if progress:
        progress(lang, len(missing), len(missing))
    return {t: known.get(keys[t]) for t in texts}


def _engine_call(route: Route, glossary: Glossary, texts: list[str], src: str,
                 lang: str, hops: HopMemory | None = None) -> list[str]:
    if not texts:
        return []
    protected = [glossary.protect(t, lang) for t in texts]
    outputs = route.translate([p.text for p in protected], src, lang, hops)
    if len(outputs) != len(texts):
        raise TranslationError(f"{route.spec} returned {len(outputs)} texts for {len(texts)}")
    return [glossary.restore(out, p) for out, p in zip(outputs, protected)]


def _assemble(item: Item, segs: list[Segment], lang: str, version: str,
              machine: dict[str, str | None], approved: dict, keep_stale: bool,
              missing_status: str, reason: str) -> Translation:
    """One item in one language: approved human text wins, machine text fills the rest."""
    chosen: dict[str, str | None] = {}
    human: set[str] = set()  # the keys given approved text for their own source
    texts = {seg.text for seg in segs}
    for seg in segs:
        approval = approved.get(seg.key, seg.text)
        if approval:
            chosen[seg.key] = approval.text
            human.add(seg.key)
        elif keep_stale and (approval := approved.stale(seg.key, texts)):
            chosen[seg.key] = approval.text  # its source was edited: the old text stays
        else:
            chosen[seg.key] = machine.get(seg.text)
    record = tuple((s.key, s.text, machine.get(s.text) or "") for s in segs)
    empty = [s.key for s in segs if not chosen[s.key]]
    if empty:
        # Never publish an empty translation: the item waits (or is retried next cycle).
        why = reason or f"the engine returned empty text for {', '.join(empty)}"
        return Translation(item.id, lang, item.content_hash, missing_status, engine=version,
                           reason=why, segments=record)
    by_field = {s.field: chosen[s.key] for s in segs if s.field != "body"}
    body = render_body(item.body, _by_text([s for s in segs if s.field == "body"], chosen,
                                           human))
    reviewed = len(human) == len(segs)
    return Translation(item.id, lang, item.content_hash,
                       "reviewed" if reviewed else "translated",
                       title=by_field["title"], summary=by_field.get("summary", ""), body=body,
                       engine="human" if reviewed else version, segments=record)


def _by_text(segs: list[Segment], chosen: dict[str, str | None],
             human: set[str]) -> dict[str, str | None]:
    """The body's translations by source text, as render_body takes them. Two
    segments can share a text (a paragraph that is all one link, and that link):
    the approved translation wins over machine text for it."""
    found: dict[str, str | None] = {}
    for seg in segs:
        if seg.text not in found or seg.key in human:
            found[seg.text] = chosen[seg.key]
    return found


