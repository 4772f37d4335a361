"""The ``nllb`` engine: one multilingual NLLB-200 model on CTranslate2, offline.

NLLB-200 covers every language syndicator targets (ru, hy, be, kk, ky, tg)
from English and between each other, with no pivot.  The model is loaded once
per process; all the sentences of a batch go through one ``translate_batch``
call, built the way the Hugging Face NLLB tokenizer builds them (current,
non-legacy behaviour): source ``[src_lang, pieces..., </s>]`` and the target
language token forced as the first output token.  M2M-100 models converted
the same way also work: their ``__ru__``-style language tokens are found in
the vocabulary when no NLLB token is.

Getting a model
---------------
On a machine with internet access (the conversion needs PyTorch and
Transformers and downloads the 2.5 GB checkpoint; syndicator itself needs
neither)::

    python -m venv nllb-convert && . nllb-convert/bin/activate
    pip install torch --index-url https://download.pytorch.org/whl/cpu
    pip install ctranslate2 transformers sentencepiece protobuf
    ct2-transformers-converter --model facebook/nllb-200-distilled-600M \\
        --output_dir nllb-200-distilled-600M-ct2 --quantization int8 \\
        --copy_files sentencepiece.bpe.model

``--quantization int8`` stores 8-bit weights (about 600 MB instead of 2.4 GB;
CPU inference runs in int8 too); ``--copy_files`` copies the tokenizer file
from the Hugging Face repository into the output folder; ``--force``
overwrites an existing output folder.  The result holds ``model.bin``,
``config.json``, ``shared_vocabulary.json`` and ``sentencepiece.bpe.model``.
Copy that folder to the syndicator machine and point the configuration at
it (relative paths are relative to ``config.toml``)::

    [translation.nllb]
    model_dir = "models/nllb-200-distilled-600M-ct2"

and put ``"nllb"`` in ``translation.chain``.  The folder is checked at the
start of every cycle, so a model copied in later is used without a restart.
The folder name is part of the model version recorded with each translation:
give a different model (e.g. the 1.3B one) a different folder name.  Note
that the NLLB-200 weights are licensed CC-BY-NC 4.0 (non-commercial use).
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, TranslationError
from . import control
from .split import split_sentences

log = logging.getLogger(__name__)

# Our language codes -> NLLB-200 (FLORES-200) language tokens.  Extendable:
# any code whose token is in the model vocabulary is served.
NLLB_CODES = {"en": "eng_Latn", "ru": "rus_Cyrl", "hy": "hye_Armn", "be": "bel_Cyrl",
              "kk": "kaz_Cyrl", "ky": "kir_Cyrl", "tg": "tgk_Cyrl"}
SP_MODEL_NAMES = ("sentencepiece.bpe.model", "sentencepiece.model")
EOS = "</s>"
# Only language-token-like entries are kept from the (256k-token) vocabulary.
_LANGUAGE_TOKEN = re.compile(r"[a-z]{3}_[A-Z][a-z]{3}|__[A-Za-z_-]+__")


@dataclass(frozen=True)
class _ModelFiles:
    """What refresh() found in the model folder."""

    sp_model: Path
    fingerprint: tuple
    source_tokens: frozenset[str]  # language tokens in the source vocabulary
    target_tokens: frozenset[str]


def _vocabulary_files(model_dir: Path) -> tuple[Path, Path] | None:
    """(source, target) vocabulary files; CTranslate2 writes one shared file
    when both sides are equal (NLLB), and .txt files before version 3."""
    for ext in (".json", ".txt"):
        shared = model_dir / f"shared_vocabulary{ext}"
        if shared.is_file():
            return shared, shared
        source, target = (model_dir / f"{side}_vocabulary{ext}" for side in ("source", "target"))
        if source.is_file() and target.is_file():
            return source, target
    return None


def _language_tokens(path: Path) -> frozenset[str]:
    text = path.read_text(encoding="utf-8")
    tokens = json.loads(text) if path.suffix == ".json" else text.splitlines()
    return frozenset(t for t in tokens if _LANGUAGE_TOKEN.fullmatch(t))


def _fingerprint(paths: list[Path]) -> tuple:
    # ctime and inode too: copies that keep the mtime (cp -p, shutil.copytree)
    # of a same-size file still count as a change.
    stats = [p.stat() for p in paths]
    return tuple((p.name, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino)
                 for p, s in zip(paths, stats))


def scan_model_dir(model_dir: Path | None) -> _ModelFiles | None:
    """The usable model in ``model_dir``, or None (logged at debug level)."""
    if model_dir is None or not (model_dir / "model.bin").is_file():
        return None
    sp_model = next((model_dir / n for n in SP_MODEL_NAMES if (model_dir / n).is_file()), None)
    vocabularies = _vocabulary_files(model_dir)
    if sp_model is None or vocabularies is None:
        log.debug("nllb: %s lacks a sentencepiece model or a vocabulary", model_dir)
        return None
    files = [model_dir / "model.bin", sp_model, *dict.fromkeys(vocabularies)]
    try:
        fingerprint = _fingerprint(files)
        source, target = (_language_tokens(p) for p in vocabularies)
    except (OSError, ValueError) as exc:  # being copied, or a broken vocabulary
        log.warning("nllb: cannot read the model in %s: %s", model_dir, exc)
        return None
    return _ModelFiles(sp_model, fingerprint, source, target)


class _Loaded:
    """The CTranslate2 translator and SentencePiece model, loaded once."""

    def __init__(self, model_dir: Path, files: _ModelFiles, inter_threads: int,
                 intra_threads: int):
        import ctranslate2
        import sentencepiece

        started = time.monotonic()
        self.files = files
        try:
            self.translator = ctranslate2.Translator(
                str(model_dir), device="cpu", inter_threads=inter_threads,
                intra_threads=intra_threads)
            self.sp = sentencepiece.SentencePieceProcessor(model_file=str(files.sp_model))
        except (RuntimeError, OSError, ValueError) as exc:
            raise ModelError(f"cannot load the NLLB model in {model_dir}: {exc}") from None
        log.info("nllb: loaded %s in %.1f s", model_dir, time.monotonic() - started)


class NllbEngine:
    """Translate batches of texts with one NLLB-200 model folder."""

    name = "nllb"

    def __init__(self, model_dir: Path | None, *, beam_size: int = 4, max_batch_size: int = 32,
                 inter_threads: int = 1, intra_threads: int = 0):
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.beam_size, self.max_batch_size = beam_size, max_batch_size
        self.inter_threads, self.intra_threads = inter_threads, intra_threads
        self._files: _ModelFiles | None = None
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Re-check the model folder: a few stat() calls while it is unchanged.

        A changed or removed model is dropped; the new one loads on next use.
        """
        if self._files is not None and self._unchanged(self._files):
            return
        files = scan_model_dir(self.model_dir)
        with self._lock:
            if files != self._files:
                log.info("nllb: model in %s %s", self.model_dir,
                         "found" if files else "not available")
            self._files = files
            if self._loaded is not None and self._loaded.files != files:
                self._loaded = None

    def _unchanged(self, files: _ModelFiles) -> bool:
        paths = [self.model_dir / entry[0] for entry in files.fingerprint]
        try:
            return _fingerprint(paths) == files.fingerprint
        except OSError:
            return False

    def _tokens(self, src: str, tgt: str) -> tuple[str, str] | None:
        files = self._files
        if files is None:
            return None
        src_token = _token_for(src, files.source_tokens)
        tgt_token = _token_for(tgt, files.target_tokens)
        return (src_token, tgt_token) if src_token and tgt_token else None

    def model_version(self, src: str, tgt: str) -> str:
        return f"nllb:{self.model_dir.name}" if self._tokens(src, tgt) else ""

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        tokens = self._tokens(src, tgt)
        if tokens is None:
            raise TranslationError(f"nllb: no model for {src}→{tgt} in {self.model_dir}")
        sentences = [split_sentences(text, src) for text in texts]
        flat = [s for group in sentences for s in group]
        if not flat:
            return ["" for _ in texts]
        decoded = self._translate_sentences(self._model(), flat, *tokens)
        out, pos = [], 0
        for text, group in zip(texts, sentences):
            joined = " ".join(decoded[pos:pos + len(group)]).strip()
            pos += len(group)
            if group and not joined:
                raise TranslationError(f"nllb {src}→{tgt}: empty output for {text[:60]!r}")
            out.append(joined)
        return out

    def _model(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                if self._files is None:  # removed since _tokens() looked
                    raise ModelError(f"nllb: the model in {self.model_dir} is gone")
                self._loaded = _Loaded(self.model_dir, self._files, self.inter_threads,
                                       self.intra_threads)
            return self._loaded

    def _translate_sentences(self, model: _Loaded, sentences: list[str], src_token: str,
                             tgt_token: str) -> list[str]:
        pieces = model.sp.encode(sentences, out_type=str)
        source = [[src_token, *p, EOS] for p in pieces]

        def batch(chunk: list[list[str]]) -> list[str]:
            try:
                results = model.translator.translate_batch(
                    chunk, target_prefix=[[tgt_token]] * len(chunk), beam_size=self.beam_size,
                    max_batch_size=self.max_batch_size, batch_type="examples",
                    replace_unknowns=True)
            except (RuntimeError, ValueError) as exc:
                raise TranslationError(f"nllb {src_token}→{tgt_token}: {exc}") from exc
            return [_decode(model, r.hypotheses[0] if r.hypotheses else [], tgt_token)
                    for r in results]

        # One CTranslate2 batch per call (sorted by length first, as one big call
        # would): a batch of a 600M model can take many seconds, and a stop
        # request is checked between calls.
        return control.in_slices(source, self.max_batch_size, batch)


def _token_for(code: str, tokens: frozenset[str]) -> str | None:
    """The vocabulary's token for ``code``: NLLB's, else M2M-100's ``__xx__``."""
    for token in (NLLB_CODES.get(code), f"__{code}__"):
        if token in tokens:
            return token
    return None


def _decode(model: _Loaded, tokens: list[str], tgt_token: str) -> str:
    if tokens and tokens[0] == tgt_token:  # the forced prefix is echoed back
        tokens = tokens[1:]
    return model.sp.decode(tokens).strip()
