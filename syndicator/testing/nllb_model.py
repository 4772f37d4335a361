"""A tiny, deterministic NLLB-shaped CTranslate2 model for tests (no torch needed).

It is the copy model of ``lexicon_model`` laid out like a converted NLLB-200
folder (``model.bin``, ``config.json``, ``shared_vocabulary.json``,
``sentencepiece.bpe.model``), with NLLB language tokens (``eng_Latn``,
``rus_Cyrl``, ...) and a lexicon that can differ per target language, so
``NllbEngine`` runs its real code path (sentencepiece + ctranslate2) in tests.

Sequences, as the NLLB tokenizer builds them:
  source  [src_lang, p1 .. pn, </s>]            (positions 0 .. n+1)
  decoder [</s>, tgt_lang, p1' .. pn']          (</s> is NLLB's decoder start)
  output  [tgt_lang (forced prefix), p1' .. pn', </s>]
so decoder step t reads source position t and emits its translation.

Residual stream (D = V + 2P + 2(L+1) + 2L; V vocabulary incl. language tokens,
P position features, L languages), every part but the token a +/- pair, so
the mean and norm are fixed at each stage and each LayerNorm is one known
affine map:
  [token | +pos | -pos | ±lang/none (interleaved) | +carried lang | -carried lang]
  * decoder embeddings write lang (language tokens) or "none" (everything else);
  * decoder self-attention: every step attends to the step whose input is a
    language token (the forced prefix) and copies it into "carried lang";
  * cross-attention copies the source token one-hot (as in lexicon_model);
  * FFN: one ReLU unit per (language, word) lexicon entry fires only when both
    the word and the carried language are present (an AND, which no linear
    map can compute) and moves the one-hot from the word to its translation;
  * the projection reads the token one-hot.

Limitations are lexicon_model's: one target piece per source piece, lexicon
words are case-sensitive sentencepiece user-defined symbols (so they also
match the start of longer words), repeated spaces collapse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import sentencepiece as spm

from ..translate.nllb import NLLB_CODES
from .lexicon_model import (
    _ATTENTION_SHARPNESS,
    _LOGIT_GAP,
    MAX_POSITIONS,
    _checked_lexicon,
    _ctranslate2_specs,
    _positions,
    _set_cross_attention,
    _set_layer_norm,
    _set_linear,
    _train_sentencepiece,
    _training_lines,
    _zero_layer,
)

DEFAULT_LANGUAGES = ("en", "ru", "hy", "be", "kk", "ky", "tg")
SP_MODEL_NAME = "sentencepiece.bpe.model"  # the file name NLLB-200 ships


def build_nllb_model_dir(
    dest: Path, lexicon: Mapping[str, Mapping[str, str]] | Mapping[str, str],
    languages: Iterable[str] = DEFAULT_LANGUAGES, *, corpus: Iterable[str] = (),
    quantization: str | None = None,
) -> Path:
    """Build a CTranslate2 NLLB-style model folder at ``dest`` (must not exist).

    ``lexicon`` is either one word map for every target language
    ({"said": "заявил"}) or one per target language ({"ru": {"CSTO": "ОДКБ"},
    "hy": {"CSTO": "ՀԱՊԿ"}}); languages without an entry copy their input.
    ``languages`` are short codes from NLLB_CODES; their NLLB tokens join the
    vocabulary.  ``corpus`` lines join the sentencepiece training text.
    """
    languages = tuple(dict.fromkeys(languages))
    per_language = _per_language(lexicon, languages)
    words = {w for entries in per_language.values() for pair in entries.items() for w in pair}
    flat = {w: w for w in sorted(words)}  # what the sentencepiece helpers expect
    sp_bytes = _train_sentencepiece(_training_lines(flat, corpus), flat)

    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    lang_tokens = [NLLB_CODES[code] for code in languages]
    vocab = pieces + lang_tokens  # NLLB also appends its language tokens
    spec = _build_spec(vocab, lang_tokens, _entries(vocab, per_language))
    spec.optimize(quantization=quantization)
    dest = Path(dest)
    dest.mkdir(parents=True)  # spec.save() writes into an existing folder
    spec.save(str(dest))
    (dest / SP_MODEL_NAME).write_bytes(sp_bytes)
    return dest


def _per_language(lexicon, languages) -> dict[str, dict[str, str]]:
    unknown = [code for code in languages if code not in NLLB_CODES]
    if unknown:
        raise ValueError(f"no NLLB code for {unknown}; extend NLLB_CODES")
    if all(isinstance(v, str) for v in lexicon.values()):
        shared = _checked_lexicon(lexicon)
        return {code: shared for code in languages}
    stray = sorted(set(lexicon) - set(languages))
    if stray:
        raise ValueError(f"lexicon languages {stray} are not in languages={languages}")
    return {code: _checked_lexicon(lexicon.get(code, {})) for code in languages}


def _entries(vocab, per_language) -> list[tuple[int, int, int]]:
    """(language index, source id, target id) for every entry that changes a word."""
    ids = {piece: i for i, piece in enumerate(vocab)}
    return [(k, ids["▁" + src], ids["▁" + tgt])
            for k, entries in enumerate(per_language.values())
            for src, tgt in entries.items() if src != tgt]


class _Layout:
    """Where each part of the residual stream sits, and the LayerNorm statistics."""

    def __init__(self, v: int, n_lang: int):
        p = _positions(1).shape[1]  # cos + sin features
        self.v, self.p, self.n_lang = v, p, n_lang
        self.tok, self.pos = slice(0, v), slice(v, v + p)
        self.neg_pos = slice(v + p, v + 2 * p)
        # +lang/-lang interleaved: the self-attention query and key rows read
        # several +lang entries, and CTranslate2's int8 GEMM on AVX2 adds
        # neighbouring (u8 x s8) products in int16, which saturates when two
        # neighbours both carry large weights.  Index k is language k; the
        # last index, n_lang, is "none".
        start = v + 2 * p
        self.lang = start + 2 * np.arange(n_lang + 1)
        self.neg_lang = self.lang + 1
        self.carried = slice(start + 2 * (n_lang + 1), start + 2 * (n_lang + 1) + n_lang)
        self.neg_carried = slice(self.carried.stop, self.carried.stop + n_lang)
        d = self.d = self.neg_carried.stop
        # Encoder stream [one-hot | ±pos]: mean 1/d.
        self.std_src = np.sqrt((1 + p) / d - 1 / d**2)
        # Decoder before self-attention [±pos | ±lang]: mean 0, |x|^2 = p + 2.
        self.std_self = np.sqrt((p + 2) / d)
        # ... before cross-attention, plus ±carried language: |x|^2 = p + 4.
        self.std_cross = np.sqrt((p + 4) / d)
        # ... after it: the copied token is one-hot minus 1/d everywhere (it
        # went through the encoder's LayerNorm), so the mean is (1 - v/d)/d.
        self.mean_ffn = (1 - v / d) / d
        sum_sq = (1 - 1 / d) ** 2 + (v - 1) / d**2 + p + 4
        self.std_ffn = np.sqrt(sum_sq / d - self.mean_ffn**2)


def _build_spec(vocab, lang_tokens, entries):
    lay = _Layout(len(vocab), len(lang_tokens))
    d = lay.d
    table = _positions(MAX_POSITIONS)
    encodings = np.zeros((MAX_POSITIONS, d), np.float32)
    encodings[:, lay.pos], encodings[:, lay.neg_pos] = table, -table

    spec = _ctranslate2_specs().TransformerSpec.from_config((1, 1), 1)
    # NLLB's decoder starts from </s>; the engine adds </s> to the source itself.
    spec.config.decoder_start_token = "</s>"
    enc, dec = spec.encoder, spec.decoder
    enc.scale_embeddings = dec.scale_embeddings = False
    enc.embeddings[0].weight = np.eye(lay.v, d, dtype=np.float32)
    dec.embeddings.weight = _decoder_embeddings(lay, vocab, lang_tokens)
    enc.position_encodings.encodings = dec.position_encodings.encodings = encodings
    for layer_norm in (enc.layer_norm, dec.layer_norm):
        _set_layer_norm(layer_norm, d)
    _zero_layer(enc.layer[0], d)
    _zero_layer(dec.layer[0], d, ffn_width=max(4, 2 * len(entries)))
    _set_language_attention(dec.layer[0].self_attention, lay)
    _set_cross_attention(dec.layer[0].attention, d, lay.tok, lay.pos, lay.std_src,
                         lay.std_cross)
    _set_lexicon_ffn(dec.layer[0].ffn, lay, entries)
    # logits[j] = gap * (stream[j] - mean) for token j, after the final LayerNorm.
    projection = np.zeros((lay.v, d))
    projection[np.arange(lay.v), np.arange(lay.v)] = _LOGIT_GAP * lay.std_ffn
    _set_linear(dec.projection, projection)
    spec.register_source_vocabulary(vocab)
    spec.register_target_vocabulary(vocab)
    spec.validate()
    return spec


def _decoder_embeddings(lay: _Layout, vocab, lang_tokens) -> np.ndarray:
    # Every token gets exactly one ±1 pair, so the stream norm never depends on
    # whether the input is a language token.
    emb = np.zeros((lay.v, lay.d), np.float32)
    index = {tok: k for k, tok in enumerate(lang_tokens)}
    for i, piece in enumerate(vocab):
        k = index.get(piece, lay.n_lang)  # n_lang = the "none" entry
        emb[i, lay.lang[k]], emb[i, lay.neg_lang[k]] = 1.0, -1.0
    return emb


def _set_language_attention(attn, lay: _Layout):
    """Each step attends to the language-token step and copies it to 'carried'."""
    d, n = lay.d, lay.n_lang
    _set_layer_norm(attn.layer_norm, d)
    qkv = np.zeros((3 * d, d))
    # query[0] = the same constant at every step (every step has one lang/none
    # entry), undoing CTranslate2's 1/sqrt(head_dim); key[0] = 1 on the
    # language-token step: it scores `sharpness`, every other step 0.
    qkv[0, lay.lang] = _ATTENTION_SHARPNESS * np.sqrt(d) * lay.std_self
    qkv[d, lay.lang[:n]] = lay.std_self
    # Values: the ± language one-hot (not "none"), undoing the LayerNorm scale.
    for k in range(n):
        qkv[2 * d + lay.carried.start + k, lay.lang[k]] = lay.std_self
        qkv[2 * d + lay.neg_carried.start + k, lay.neg_lang[k]] = lay.std_self
    _set_linear(attn.linear[0], qkv)
    out = np.zeros((d, d))
    for part in (lay.carried, lay.neg_carried):
        out[part, part] = np.eye(n)
    _set_linear(attn.linear[1], out)


def _set_lexicon_ffn(ffn, lay: _Layout, entries):
    """One ReLU unit per entry: word AND language -> swap the one-hot."""
    if not entries:
        return  # _zero_layer left an all-zero FFN
    width = ffn.linear_0.weight.shape[0]
    w0, b0, w1 = np.zeros((width, lay.d)), np.zeros(width), np.zeros((lay.d, width))
    # After the LayerNorm, (x - mean) / std: the word reads 1 - 1/d - mean and
    # the carried language 1 - mean (times 1/std, which the weights undo), so
    # the unit gets 0.5 when both are present and at most -0.5 otherwise.
    both = (1 - 1 / lay.d - lay.mean_ffn) + (1 - lay.mean_ffn)
    # Units sit in every other column, so that no int8 GEMM pair (see
    # _Layout) holds two units writing the same word's row.
    for u, (k, src, tgt) in zip(range(0, width, 2), entries):
        w0[u, lay.tok.start + src] = w0[u, lay.carried.start + k] = lay.std_ffn
        b0[u] = 0.5 - both
        w1[lay.tok.start + src, u], w1[lay.tok.start + tgt, u] = -2.0, 2.0
    ffn.linear_0.weight, ffn.linear_0.bias = w0.astype(np.float32), b0.astype(np.float32)
    _set_linear(ffn.linear_1, w1)
