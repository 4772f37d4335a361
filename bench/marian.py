"""A Marian-base-sized argos package with random weights, for speed measurements.

6+6 layers, d_model 512, 8 heads, FFN 2048, 16k vocabulary, int8 — the size of
the real argos en→ru model, so CTranslate2 does the same amount of work per
token. Its output is noise, and a random model never emits </s>, so it always
decodes to ``max_decoding_length``. ``fixed_decoding_length(L)`` therefore
makes *every* ``translate_batch`` in the process (argostranslate's, syndicator's
and the bare one) decode exactly L tokens per sentence: all contenders do the
same decoding work and only the calling pattern differs. The benchmarks use
L = the mean source length in pieces: with L = 32 on ~30-piece news sentences
this model runs at ~12 sentences/s batched and ~3.2/s one sentence per call on
the 2-core bench machine, which is what /work/shared/REFERENCE.md measured with
the real argos en→ru model (12.8–16.9 and 3.3–3.6).
"""
from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import sentencepiece as spm

LAYERS, D_MODEL, HEADS, FFN, VOCAB = 6, 512, 8, 2048, 16000
SEED = 20261127


def build_marian_package(dest: Path, from_code: str = "en", to_code: str = "ru") -> Path:
    """Build (once) ``dest/translate-<from>_<to>-marian`` and return the folder."""
    package = Path(dest) / f"translate-{from_code}_{to_code}-marian"
    if (package / "model" / "model.bin").is_file():
        return package
    # Build outside ``dest``: argostranslate fails on any folder there without metadata.
    with tempfile.TemporaryDirectory() as tmp_root:
        tmp = Path(tmp_root) / package.name
        (tmp / "model").mkdir(parents=True)  # spec.save() writes into an existing folder
        sp_bytes = _train_sentencepiece(_training_lines())
        (tmp / "sentencepiece.model").write_bytes(sp_bytes)
        sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
        vocab = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        vocab += [f"<extra_{i}>" for i in range(VOCAB - len(vocab))]  # pad to 16k
        spec = _random_spec(vocab)
        spec.optimize(quantization="int8")
        spec.save(str(tmp / "model"))
        (tmp / "metadata.json").write_text(json.dumps({
            "package_version": "1.0", "argos_version": "1.9.0", "type": "translate",
            "from_code": from_code, "to_code": to_code,
            "from_name": from_code, "to_name": to_code}, indent=2))
        package.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp, package)
    return package


def cached_package(from_code: str = "en", to_code: str = "ru") -> Path:
    """The package under bench/.cache/packages/, built on first use (a few seconds).

    Delete bench/.cache/ after changing how the package is built.
    """
    from common import CACHE

    return build_marian_package(CACHE / "packages", from_code, to_code)


@contextlib.contextmanager
def fixed_decoding_length(length: int):
    """Make every ctranslate2.Translator created inside decode exactly ``length`` tokens.

    ctranslate2.Translator is replaced by a subclass whose translate_batch adds
    min/max_decoding_length; argostranslate and syndicator both look the class
    up as ``ctranslate2.Translator`` when they load a model, so both get it.
    The yielded class has two knobs: ``length`` (may be changed later) and
    ``recorded`` (set it to a list to collect every batch of source tokens).
    """
    import ctranslate2

    original = ctranslate2.Translator

    class FixedLength(original):
        recorded: list | None = None

        def translate_batch(self, source, *args, **kwargs):
            if FixedLength.recorded is not None:
                FixedLength.recorded.extend(source)
            kwargs.update(min_decoding_length=FixedLength.length,
                          max_decoding_length=FixedLength.length)
            return super().translate_batch(source, *args, **kwargs)

    FixedLength.length = length
    ctranslate2.Translator = FixedLength
    try:
        yield FixedLength
    finally:
        ctranslate2.Translator = original


# --- building ----------------------------------------------------------------

def _training_lines() -> list[str]:
    """News sentences plus a seeded salad of pseudo-words (Latin and Cyrillic), so
    the trainer can reach a ~16k vocabulary."""
    from common import news_paragraphs

    rng = random.Random(SEED)
    lines = news_paragraphs(2000, per=1)  # English words become whole pieces
    syllables = {"lat": [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"],
                 "cyr": [c + v for c in "бвгдзклмнпрстфхч" for v in "аеиоуыя"]}
    for script in ("lat", "cyr"):
        words = ["".join(rng.choices(syllables[script], k=rng.randint(1, 4)))
                 for _ in range(40000)]
        zipf = np.cumsum(1 / np.arange(1, len(words) + 1)).tolist()
        for _ in range(15000):
            lines.append(" ".join(rng.choices(words, cum_weights=zipf,
                                              k=rng.randint(6, 20))) + ".")
    return lines


def _train_sentencepiece(lines: list[str]) -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=VOCAB,
        hard_vocab_limit=False, character_coverage=1.0, model_type="bpe",
        num_threads=2, minloglevel=2)  # bpe: news words stay whole (unigram split them)
    return model.getvalue()


def _specs():
    # ctranslate2.specs imports torch if it can (~2.5 s); we need numpy only.
    if "ctranslate2.specs" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None
        try:
            import ctranslate2.specs
        finally:
            del sys.modules["torch"]
    import ctranslate2.specs

    return ctranslate2.specs


def _random_spec(vocab: list[str]):
    rng = np.random.default_rng(SEED)
    d, v = D_MODEL, len(vocab)

    def linear(layer, rows, cols):
        layer.weight = rng.normal(0, cols ** -0.5, (rows, cols)).astype(np.float32)
        layer.bias = rng.normal(0, 0.02, rows).astype(np.float32)

    def norm(layer):
        layer.gamma = (1 + rng.normal(0, 0.05, d)).astype(np.float32)
        layer.beta = rng.normal(0, 0.02, d).astype(np.float32)

    def ffn(layer):
        norm(layer.layer_norm)
        linear(layer.linear_0, FFN, d)
        linear(layer.linear_1, d, FFN)

    spec = _specs().TransformerSpec.from_config((LAYERS, LAYERS), HEADS)
    enc, dec = spec.encoder, spec.decoder
    enc.embeddings[0].weight = rng.normal(0, d ** -0.5, (v, d)).astype(np.float32)
    dec.embeddings.weight = rng.normal(0, d ** -0.5, (v, d)).astype(np.float32)
    norm(enc.layer_norm)
    norm(dec.layer_norm)
    for layer in enc.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d, d)  # fused QKV
        linear(layer.self_attention.linear[1], d, d)
        ffn(layer.ffn)
    for layer in dec.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d, d)
        linear(layer.self_attention.linear[1], d, d)
        norm(layer.attention.layer_norm)
        linear(layer.attention.linear[0], d, d)  # Q
        linear(layer.attention.linear[1], 2 * d, d)  # fused KV
        linear(layer.attention.linear[2], d, d)
        ffn(layer.ffn)
    linear(dec.projection, v, d)
    spec.register_source_vocabulary(vocab)
    spec.register_target_vocabulary(vocab)
    spec.validate()
    return spec


if __name__ == "__main__":
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    start = time.perf_counter()
    path = cached_package(*sys.argv[1:3])  # [from_code [to_code]], en ru by default
    print(f"{path} ready in {time.perf_counter() - start:.1f} s")
