"""The ``argos`` engine: Argos Translate packages, run directly on CTranslate2.

Packages are read from ``translation.argos.packages_dir`` (their
``metadata.json``, ``model/`` and ``sentencepiece.model``). We do not call
argostranslate's ``translate()``: it downloads a sentence splitter on first
use (fatal offline) and makes one ``translate_batch`` call per paragraph.
Instead each model is loaded once per process and all the sentences of a
cycle go through one batched call per language pair, with argostranslate's
own decoding settings (beam 4, length penalty 0.2, replace unknowns), so the
output quality is the same.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..config import ArgosConfig
from ..errors import ModelError, TranslationError
from . import control
from .split import split_sentences

log = logging.getLogger(__name__)
PIVOT = "en"


@dataclass(frozen=True)
class Package:
    from_code: str
    to_code: str
    version: str
    path: Path
    target_prefix: str = ""

    @property
    def name(self) -> str:
        return f"{self.from_code}_{self.to_code}-{self.version}"


def installed_packages(packages_dir: Path) -> list[Package]:
    """Every argos package in ``packages_dir``; folders without metadata are ignored."""
    found = []
    for meta_file in sorted(packages_dir.glob("*/metadata.json")):
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            found.append(Package(meta["from_code"], meta["to_code"],
                                 str(meta.get("package_version", "0")), meta_file.parent,
                                 meta.get("target_prefix", "") or ""))
        except (ValueError, KeyError) as exc:
            log.warning("ignoring argos package %s: bad metadata.json (%s)", meta_file.parent,
                        exc)
    return found


MAX_REPLICAS = 4  # automatic inter_threads at most (working buffers ~25 MB each)


def threads(config: ArgosConfig) -> tuple[int, int]:
    """CTranslate2's (inter_threads, intra_threads) for ``config``, 0 meaning auto.

    CTranslate2 runs the batches of a call in parallel on ``inter_threads``
    replicas, which share the weights. On CPU, parallel batches beat threads
    inside one batch: on 2 cores, (2, 1) gave 12.7 sentences/s and (1, 2) 11.2
    with the Marian-size model (bench/translate.py's text, 4 alternating
    rounds).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    inter = config.inter_threads or min(cores, MAX_REPLICAS)
    return inter, config.intra_threads or max(1, cores // inter)


class _Loaded:
    """One package's CTranslate2 translator and SentencePiece model, loaded once."""

    def __init__(self, package: Package, config: ArgosConfig):
        import ctranslate2
        import sentencepiece

        model_dir = package.path / "model"
        if not (model_dir / "model.bin").is_file():
            raise ModelError(f"argos package {package.path} has no model/model.bin")
        self.package = package
        try:
            inter, intra = threads(config)
            self.replicas = inter
            self.translator = ctranslate2.Translator(
                str(model_dir), device="cpu", inter_threads=inter, intra_threads=intra)
            self.sp = sentencepiece.SentencePieceProcessor(
                model_file=str(package.path / "sentencepiece.model"))
        except (RuntimeError, OSError, ValueError) as exc:
            raise ModelError(f"cannot load argos package {package.path}: {exc}") from None


class ArgosEngine:
    """Translate batches of texts with installed argos packages, pivoting through English."""

    name = "argos"

    def __init__(self, config: ArgosConfig):
        self.config = config
        self._loaded: dict[Package, _Loaded] = {}
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the installed packages (cheap), so `run` sees models installed later.

        A loaded model stays loaded while its package is unchanged; a package
        re-installed with another version is loaded afresh.
        """
        self._packages = {(p.from_code, p.to_code): p
                          for p in installed_packages(self.config.packages_dir)}
        with self._lock:
            current = set(self._packages.values())
            self._loaded = {p: m for p, m in self._loaded.items() if p in current}

    def route(self, src: str, tgt: str) -> list[Package] | None:
        """The packages that take ``src`` to ``tgt``: direct, or through English."""
        if (src, tgt) in self._packages:
            return [self._packages[src, tgt]]
        if PIVOT not in (src, tgt) and (src, PIVOT) in self._packages \
                and (PIVOT, tgt) in self._packages:
            return [self._packages[src, PIVOT], self._packages[PIVOT, tgt]]
        return None

    def model_version(self, src: str, tgt: str) -> str:
        route = self.route(src, tgt)
        return "argos:" + "+".join(p.name for p in route) if route else ""

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        route = self.route(src, tgt)
        if route is None:
            raise TranslationError(f"argos has no package for {src}→{tgt}")
        for package in route:
            texts = self._translate_step(texts, package)
        return texts

    def _model(self, package: Package) -> _Loaded:
        with self._lock:
            if package not in self._loaded:
                log.info("loading argos package %s", package.name)
                self._loaded[package] = _Loaded(package, self.config)
            return self._loaded[package]

    def _translate_step(self, texts: list[str], package: Package) -> list[str]:
        model = self._model(package)
        sentences = [split_sentences(text, package.from_code) for text in texts]
        flat = [s for group in sentences for s in group]
        if not flat:
            return ["" for _ in texts]
        tokens = model.sp.encode(flat, out_type=str)
        decoded = self._run(model, package, tokens)
        out, pos = [], 0
        for group in sentences:
            out.append(" ".join(decoded[pos:pos + len(group)]))
            pos += len(group)
        return out

    def _run(self, model: _Loaded, package: Package, tokens: list[list[str]]) -> list[str]:
        """Translate every sentence, sorted by length and cut into a few calls."""
        def batch(chunk: list[list[str]]) -> list[str]:
            prefix = [[package.target_prefix]] * len(chunk) if package.target_prefix else None
            try:
                results = model.translator.translate_batch(
                    chunk, target_prefix=prefix,
                    beam_size=self.config.beam_size, length_penalty=0.2,
                    replace_unknowns=True, max_batch_size=self.config.max_batch_size,
                    batch_type="examples")
            except (RuntimeError, ValueError) as exc:
                raise TranslationError(f"argos {package.name}: {exc}") from exc
            return [self._decode(model, r.hypotheses[0], package) for r in results]

        # SUB_BATCHES batches per replica and call: a stop request still waits for
        # at most SUB_BATCHES batch times, and no replica idles while another ends
        # a short call (with 4 batches per call on 2 replicas, the engine was 13%
        # slower than one translate_batch of the same sentences).
        step = self.config.max_batch_size * control.SUB_BATCHES * model.replicas
        return control.in_slices(tokens, step, batch)

    @staticmethod
    def _decode(model: _Loaded, tokens: list[str], package: Package) -> str:
        if package.target_prefix and tokens and tokens[0] == package.target_prefix:
            tokens = tokens[1:]
        return model.sp.decode(tokens).strip()
