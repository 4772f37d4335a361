"""Tiny, deterministic Argos Translate packages for tests (no torch needed).

The CTranslate2 model is a hand-wired 1-layer, 1-head Transformer that copies
the source sentencepiece by piece, except that pieces listed in a lexicon are
replaced by their target piece.  Building one takes well under a second, and
its output is exact at any beam size, so tests can assert on strings.

How the weights work (D = V + 4K, V = vocabulary size, K = position frequencies):
  * residual stream = [onehot(token) | +pos(t) | -pos(t)].  Its mean (1/D) and
    norm are the same for every token and position, so each LayerNorm is one
    fixed affine map and never mixes token and position information.  (A
    -onehot half is not needed for that and would make every matrix 4x larger.)
  * self-attention and FFN are all zero, decoder token embeddings are zero;
  * cross-attention: Q = pos(decoder step), K = pos(source position), scaled so
    step t attends only to source position t; V copies the token one-hot;
  * the output projection reads the one-hot through a source->target id map,
    which is where the lexicon applies.  The source </s> (add_source_eos=True)
    maps to target </s>, so decoding stops right after the last source piece.

Limitations: one target piece per source piece, so give "Secretary General" ->
"Генеральный секретарь" as two entries (Secretary->Генеральный,
General->секретарь); a target with a space raises ValueError.  Lexicon words
are case-sensitive sentencepiece user-defined symbols, so they also match at
the start of longer words ("Generally" -> "секретарьly").  Repeated spaces are
collapsed, as in real argos models.  At most MAX_POSITIONS - 1 source pieces
(</s> takes a position), and translate_batch's max_decoding_length (default
256) still caps the output.
"""

from __future__ import annotations

import importlib
import io
import json
import random
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import sentencepiece as spm

MAX_POSITIONS = 1024
# Frequencies pi/2**k, k < 11: for any offset 0 < |o| < 2**11, the frequency of
# the lowest set bit of o gives cos(pi * odd) = -1, so every wrong position
# scores at least 2 * _ATTENTION_SHARPNESS below the right one.
_FREQUENCIES = np.pi / 2.0 ** np.arange(11)
_ATTENTION_SHARPNESS = 30.0
_LOGIT_GAP = 50.0  # correct piece beats every other one by ~50 nats

_LANGUAGE_NAMES = {"en": "English", "ru": "Russian", "hy": "Armenian",
                   "be": "Belarusian", "kk": "Kazakh", "ky": "Kyrgyz", "tg": "Tajik"}

_WORDS = """the a an of to in on for with at by from and or but not is are was were
has have had will would said says told announced stated reported according
meeting summit talks agreement treaty security defence defense cooperation
organization council ministers minister foreign president prime secretary
general deputy chairman delegation member states state country countries
government parliament official officials press service news agency today
yesterday week month year years new first second third last next during after
before between within about against over under military exercise exercises
forces troops peacekeeping border region regional international collective
joint session conference held took part discussed signed adopted decision
statement visit capital city Moscow Minsk Yerevan Astana Bishkek Dushanbe
Russia Armenia Belarus Kazakhstan Kyrgyzstan Tajikistan CSTO UN CIS EU
January February March April May June July August September October November
December Monday Tuesday Wednesday Thursday Friday Saturday Sunday The This It
He She They We In On At According During After Secretary General""".split()  # noqa: SIM905

# Fixed text so the vocabulary covers digits, punctuation, Cyrillic and Armenian.
_EXTRA_LINES = [
    "0 1 2 3 4 5 6 7 8 9 10 12 25 100 2023 2024 2025 05.09.2024 15:30 3.5% №1",
    '. , ; : ! ? ( ) [ ] " \' - – — / & % $ € « » … @ # * + = _',
    "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "Іі Ўў Її Єє Ґґ Әә Ғғ Ққ Ңң Өө Ұұ Үү Һһ Ҷҷ Ӣӣ Ӯӯ Ҳҳ",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Организация Договора о коллективной безопасности (ОДКБ) провела учения.",
    "ԱԲԳԴԵԶԷԸԹԺԻԼԽԾԿՀՁՂՃՄՅՆՇՈՉՊՋՌՍՎՏՐՑՒՓՔՕՖ աբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆև",
    "Հավաքական անվտանգության պայմանագրի կազմակերպություն (ՀԱՊԿ)։ Երևան, 2024 թ.",
]


def build_lexicon_model_dir(
    dest: Path, lexicon: Mapping[str, str], *, from_code="en", to_code="ru",
    corpus: Iterable[str] = (), package_version="1.0", from_name=None, to_name=None,
    quantization: str | None = None,
) -> Path:
    """Build an unzipped argos package folder at dest/<name> and return it.

    Contains metadata.json, model/ (CTranslate2) and sentencepiece.model.
    <name> is translate-<from>_<to>-<version> and must not exist yet.  corpus
    lines are added to the sentencepiece training text (their characters join
    the vocabulary); quantization is passed to CTranslate2 (e.g. "int8").
    """
    lexicon = _checked_lexicon(lexicon)
    package_dir = Path(dest) / f"translate-{from_code}_{to_code}-{package_version}"
    package_dir.mkdir(parents=True)
    sp_bytes = _train_sentencepiece(_training_lines(lexicon, corpus), lexicon)
    (package_dir / "sentencepiece.model").write_bytes(sp_bytes)
    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    vocab = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    spec = _build_spec(vocab, _token_map(vocab, lexicon))
    spec.optimize(quantization=quantization)
    (package_dir / "model").mkdir()  # spec.save() writes into an existing folder
    spec.save(str(package_dir / "model"))
    metadata = {
        "package_version": package_version, "argos_version": "1.9.0",
        "from_code": from_code, "to_code": to_code,
        "from_name": from_name or _LANGUAGE_NAMES.get(from_code, from_code),
        "to_name": to_name or _LANGUAGE_NAMES.get(to_code, to_code),
        # argostranslate reads "type"; "package_type" is kept for our own readers.
        "package_type": "translate", "type": "translate",
    }
    (package_dir / "metadata.json").write_text(
        json.dumps(metadata, ensure_ascii=False, indent=2), encoding="utf-8")
    return package_dir


def build_lexicon_package(dest: Path, lexicon: Mapping[str, str], **kw) -> Path:
    """Same, zipped into dest/translate-<from>_<to>-<version>.argosmodel.

    The zip holds one top-level folder, as argostranslate.package expects.
    Returns the .argosmodel path.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as build_root:
        package_dir = build_lexicon_model_dir(Path(build_root), lexicon, **kw)
        archive = dest / f"{package_dir.name}.argosmodel"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(package_dir.rglob("*")):
                zf.write(path, path.relative_to(build_root).as_posix())
    return archive


def _ctranslate2_specs():
    """Import ctranslate2.specs without pulling in torch (~2.5 s) if not loaded.

    The specs module only uses torch for torch tensors and bfloat16, neither of
    which we need.  Side effect: in this process ctranslate2.specs then treats
    torch as unavailable (it matters only when converting torch checkpoints).
    """
    if "ctranslate2.specs" in sys.modules or "torch" in sys.modules:
        return importlib.import_module("ctranslate2.specs")
    sys.modules["torch"] = None  # makes "import torch" raise ImportError
    try:
        return importlib.import_module("ctranslate2.specs")
    finally:
        del sys.modules["torch"]


def _checked_lexicon(lexicon: Mapping[str, str]) -> dict[str, str]:
    # One piece in, one piece out: the model emits exactly one target piece per
    # source position, so multi-word targets cannot be expressed.
    for source, target in lexicon.items():
        for word in (source, target):
            if not word or any(c.isspace() for c in word):
                raise ValueError(
                    f"lexicon entry {source!r} -> {target!r}: each side must be one "
                    "word; split phrases into one entry per source word")
    return dict(lexicon)


def _training_lines(lexicon: dict[str, str], corpus: Iterable[str]) -> list[str]:
    # A seeded word salad: enough text for the unigram trainer, identical on
    # every run so the vocabulary (and therefore the model) is reproducible.
    rng = random.Random(20240905)
    words = _WORDS + list(lexicon) + list(lexicon.values())
    lines = []
    for _ in range(300):
        sentence = rng.sample(words, rng.randint(5, 12))
        sentence.insert(rng.randrange(len(sentence)), str(rng.randint(1, 2030)))
        lines.append(" ".join(sentence) + rng.choice([".", ",", "?", "!", ";", ":"]))
    return lines + _EXTRA_LINES + [line for line in corpus if line.strip()]


def _train_sentencepiece(lines: list[str], lexicon: dict[str, str]) -> bytes:
    # Each lexicon word is a user-defined symbol so it is always a single piece.
    symbols = list(dict.fromkeys("▁" + w for w in [*lexicon, *lexicon.values()]))
    # Room for every character (coverage 1.0) plus ~150 multi-char pieces; the
    # model width grows with the vocabulary, so keep it small.
    vocab_size = len(set("".join(lines))) + 150 + len(symbols)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model,
        vocab_size=vocab_size, hard_vocab_limit=False,
        user_defined_symbols=symbols, character_coverage=1.0, byte_fallback=False,
        # "identity" keeps text as typed (NFKC would turn "և" into "եւ"), so a
        # copied piece decodes to exactly the source characters.
        normalization_rule_name="identity",
        model_type="unigram", num_threads=1, minloglevel=2)
    return model.getvalue()


def _token_map(vocab: list[str], lexicon: dict[str, str]) -> np.ndarray:
    """Target id for every source id: identity except lexicon words."""
    ids = {piece: i for i, piece in enumerate(vocab)}
    mapping = np.arange(len(vocab))
    for source, target in lexicon.items():
        mapping[ids["▁" + source]] = ids["▁" + target]
    return mapping


def _positions(n: int) -> np.ndarray:
    """[n, 2K] cos/sin features; every row has the same norm sqrt(K)."""
    angles = np.arange(n)[:, None] * _FREQUENCIES[None, :]
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=1)


def _build_spec(vocab: list[str], token_map: np.ndarray):
    v, p = len(vocab), 2 * len(_FREQUENCIES)
    d = v + 2 * p
    tok, pos = slice(0, v), slice(v, v + p)  # neg. positions live in [v+p, d)
    table = _positions(MAX_POSITIONS)
    encodings = np.zeros((MAX_POSITIONS, d), np.float32)
    encodings[:, pos], encodings[:, v + p:] = table, -table
    # LayerNorm divides by the stream's std, a constant we fold into weights.
    std_src = np.sqrt((1 + p) / d - 1 / d**2)  # one-hot + ±pos, mean 1/d
    std_dec = np.sqrt(p / d)  # decoder before cross-attention: ±pos, mean 0

    spec = _ctranslate2_specs().TransformerSpec.from_config((1, 1), 1)
    spec.config.add_source_eos = True
    enc, dec = spec.encoder, spec.decoder
    enc.scale_embeddings = dec.scale_embeddings = False
    enc.embeddings[0].weight = np.eye(v, d, dtype=np.float32)
    dec.embeddings.weight = np.zeros((v, d), np.float32)
    enc.position_encodings.encodings = dec.position_encodings.encodings = encodings
    for layer_norm in (enc.layer_norm, dec.layer_norm):
        _set_layer_norm(layer_norm, d)
    _zero_layer(enc.layer[0], d)
    _zero_layer(dec.layer[0], d)
    _set_cross_attention(dec.layer[0].attention, d, tok, pos, std_src, std_dec)
    # logits[j] = gap * [token_map[i] == j] for source token i (after final LN).
    projection = np.zeros((v, d))
    projection[token_map, np.arange(v)] = _LOGIT_GAP * std_src
    _set_linear(dec.projection, projection)
    spec.register_source_vocabulary(vocab)
    spec.register_target_vocabulary(vocab)
    spec.validate()
    return spec


def _set_cross_attention(attn, d, tok, pos, std_src, std_dec):
    _set_layer_norm(attn.layer_norm, d)
    n_pos = pos.stop - pos.start
    # CTranslate2 scales queries by 1/sqrt(head_dim); undo it and both LNs so
    # score(t, s) = sharpness * pos(t).pos(s) (+ a constant over s).
    query = np.zeros((d, d))
    query[:n_pos, pos] = np.eye(n_pos) * _ATTENTION_SHARPNESS * std_dec * np.sqrt(d)
    key_value = np.zeros((2 * d, d))
    key_value[:n_pos, pos] = np.eye(n_pos) * std_src
    key_value[d + tok.start:d + tok.stop, tok] = np.eye(tok.stop) * std_src
    _set_linear(attn.linear[0], query)
    _set_linear(attn.linear[1], key_value)
    # Output writes the copied one-hot into the token slot of the decoder stream.
    _set_linear(attn.linear[2], np.eye(d) * (np.arange(d) < tok.stop))


def _zero_layer(layer, d, ffn_width=4):
    """All-zero self-attention and FFN: the residual stream passes unchanged."""
    _set_layer_norm(layer.self_attention.layer_norm, d)
    _set_linear(layer.self_attention.linear[0], np.zeros((3 * d, d)))
    _set_linear(layer.self_attention.linear[1], np.zeros((d, d)))
    # The FFN must exist, but its inner width is free, so keep it tiny.
    _set_layer_norm(layer.ffn.layer_norm, d)
    _set_linear(layer.ffn.linear_0, np.zeros((ffn_width, d)))
    _set_linear(layer.ffn.linear_1, np.zeros((d, ffn_width)))


def _set_linear(linear, weight):
    linear.weight = np.asarray(weight, np.float32)
    linear.bias = np.zeros(len(weight), np.float32)


def _set_layer_norm(layer_norm, d):
    layer_norm.gamma = np.ones(d, np.float32)
    layer_norm.beta = np.zeros(d, np.float32)
